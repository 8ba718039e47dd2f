/**
 * Calls the loader makes without a REDUCE: BUILD looks __setstate__ up on the instance, APPENDS
 * looks up extend (else append), APPEND append and ADDITEMS add on anything that is not a list or
 * set, and dict(x) / OrderedDict(x) call x.keys(). An attribute the pickle itself put on the
 * instance (a first BUILD's state, a SimpleNamespace's mapping) is therefore called; and BUILD on
 * a module or class writes its attributes. Hand-assembled, never loaded.
 */
import { describe, expect, it } from 'vitest';
import { atLeast, scanBytes, type Finding } from '../../src/index.js';
import { asm, op, type Part } from '../helpers/asm.js';

async function findings(bytes: Uint8Array): Promise<Finding[]> {
  return (await scanBytes(bytes, 't.pkl')).files[0]!.findings;
}
const loud = (f: Finding[]) => f.filter((x) => atLeast(x.severity, 'medium')).map((x) => `${x.severity} ${x.rule}: ${x.message}`);

/** mylib.models.Net.__new__(Net) + an empty BUILD, then getattr(net, 'fit'): a bound method, low as data. */
const boundMethod: Part[] = [op.GLOBAL('builtins', 'getattr'), op.GLOBAL('mylib.models', 'Net'), op.EMPTY_TUPLE, op.NEWOBJ, op.EMPTY_DICT, op.BUILD, op.STRING('fit'), op.TUPLE2, op.REDUCE];
/** types.SimpleNamespace() given the state {name: value} by a first BUILD. */
const namespaceWith = (name: string, value: Part[]): Part[] => [op.GLOBAL('types', 'SimpleNamespace'), op.EMPTY_TUPLE, op.REDUCE, op.EMPTY_DICT, op.STRING(name), ...value, op.SETITEM, op.BUILD];
const COMPUTED = "high PICKLE_COMPUTED_CALL: calls a value computed at load time: mylib.models.Net().__setstate__({}).fit";

describe('attributes the pickle puts on an instance, then the loader calls', () => {
  it('a second BUILD calls the __setstate__ the first one stored: a bound method called is a computed call (was low)', async () => {
    const f = await findings(asm(op.PROTO(2), ...namespaceWith('__setstate__', boundMethod), op.STRING('echo mg'), op.BUILD, op.STOP));
    expect(loud(f)).toContain(`${COMPUTED}('echo mg')`);
  });

  it('APPENDS calls a stored extend, APPEND a stored append, ADDITEMS a stored add', async () => {
    const appends = await findings(asm(op.PROTO(2), ...namespaceWith('extend', boundMethod), op.MARK, op.STRING('echo mg'), op.APPENDS, op.STOP));
    expect(loud(appends)).toContain(`${COMPUTED}(['echo mg'])`);
    const append = await findings(asm(op.PROTO(2), ...namespaceWith('append', boundMethod), op.STRING('echo mg'), op.APPEND, op.STOP));
    expect(loud(append)).toContain(`${COMPUTED}('echo mg')`);
    // APPENDS falls back to append when there is no extend.
    const fallback = await findings(asm(op.PROTO(2), ...namespaceWith('append', boundMethod), op.MARK, op.STRING('echo mg'), op.APPENDS, op.STOP));
    expect(loud(fallback)).toContain(`${COMPUTED}(['echo mg'])`);
    const add = await findings(asm(op.PROTO(4), ...namespaceWith('add', [op.GLOBAL('mylib.tools', 'run')]), op.MARK, op.STRING('echo mg'), op.ADDITEMS, op.STOP));
    expect(loud(add)).toEqual(['medium PICKLE_UNKNOWN_GLOBAL: calls mylib.tools.run, which is not known to be safe']);
  });

  it('dict(x) and OrderedDict(x) call x.keys() where the pickle stored keys (also SimpleNamespace(mapping), Python 3.13)', async () => {
    const viaState = await findings(asm(op.PROTO(2), op.GLOBAL('builtins', 'dict'), ...namespaceWith('keys', boundMethod), op.TUPLE1, op.REDUCE, op.STOP));
    expect(loud(viaState)).toContain(`${COMPUTED}()`);
    const viaMapping = await findings(asm(op.PROTO(2), op.GLOBAL('collections', 'OrderedDict'), op.GLOBAL('types', 'SimpleNamespace'),
      op.EMPTY_DICT, op.STRING('keys'), op.GLOBAL('os', 'system'), op.SETITEM, op.TUPLE1, op.REDUCE, op.TUPLE1, op.REDUCE, op.STOP));
    const sys = viaMapping.find((x) => x.rule === 'PICKLE_DANGEROUS_GLOBAL' && x.evidence.canonical === 'os.system');
    expect(sys?.evidence.use).toBe('called');
  });

  it('a run of numbers into a stored extend or add is a call too (the opcode-dense fast path must not skip it)', async () => {
    const ints: Part[] = [op.BININT(1), op.BININT(2), op.BININT(3)];
    const extend = await findings(asm(op.PROTO(2), ...namespaceWith('extend', boundMethod), op.MARK, ...ints, op.APPENDS, op.STOP));
    expect(loud(extend)).toContain(`${COMPUTED}([1, 2, 3])`);
    const add = await findings(asm(op.PROTO(4), ...namespaceWith('add', boundMethod), op.MARK, ...ints, op.ADDITEMS, op.STOP));
    expect(loud(add)).toContain(`${COMPUTED}(1)`);
  });

  it('a stored attribute the scanner cannot read (a sampled state dict) is called as an unknown value: high', async () => {
    const many: Part[] = [];
    for (let i = 0; i < 40; i++) many.push(op.STRING(`k${i}`), op.INT(i));
    const f = await findings(asm(op.PROTO(2), op.GLOBAL('types', 'SimpleNamespace'), op.EMPTY_TUPLE, op.REDUCE,
      op.EMPTY_DICT, op.MARK, ...many, op.STRING('__setstate__'), op.GLOBAL('mylib.tools', 'run'), op.SETITEMS, op.BUILD, op.STRING('echo mg'), op.BUILD, op.STOP));
    expect(f.find((x) => x.rule === 'PICKLE_COMPUTED_CALL')?.severity).toBe('high');
  });

  it('what the standard pickler writes stays quiet: a deque and a list subclass get APPENDS before their BUILD', async () => {
    const deque = await findings(asm(op.PROTO(2), op.GLOBAL('collections', 'deque'), op.EMPTY_TUPLE, op.REDUCE, op.MARK, op.INT(1), op.INT(2), op.APPENDS, op.STOP));
    expect(loud(deque)).toEqual([]);
    const sub = await findings(asm(op.PROTO(2), op.GLOBAL('copyreg', '__newobj__'), op.GLOBAL('mylib.models', 'Items'), op.TUPLE1, op.REDUCE,
      op.MARK, op.INT(1), op.APPENDS, op.EMPTY_DICT, op.STRING('extend'), op.INT(3), op.SETITEM, op.BUILD, op.STOP));
    expect(loud(sub)).toEqual([]);
  });
});

describe('BUILD on an imported object', () => {
  it('patching a module or a class through BUILD is PICKLE_GLOBAL_MUTATION, critical (was clean or low)', async () => {
    const mod = await findings(asm(op.PROTO(2), op.GLOBAL('collections', 'abc'), op.NONE, op.EMPTY_DICT, op.STRING('Mapping'), op.GLOBAL('builtins', 'dict'), op.SETITEM, op.TUPLE2, op.BUILD, op.STOP));
    const m = mod.find((x) => x.rule === 'PICKLE_GLOBAL_MUTATION');
    expect(m?.severity).toBe('critical');
    expect(m?.evidence.canonical).toBe('collections.abc');
    // A class reached through getattr of a trusted module: the path is named.
    const cls = await findings(asm(op.PROTO(2), op.GLOBAL('builtins', 'getattr'), op.GLOBAL('torch', 'nn'), op.STRING('Linear'), op.TUPLE2, op.REDUCE,
      op.NONE, op.EMPTY_DICT, op.STRING('forward'), op.GLOBAL('builtins', 'print'), op.SETITEM, op.TUPLE2, op.BUILD, op.STOP));
    expect(cls.find((x) => x.rule === 'PICKLE_GLOBAL_MUTATION')?.message).toBe('sets attributes of torch.nn.Linear with BUILD (changes a module, class or function for the whole process)');
  });
});
