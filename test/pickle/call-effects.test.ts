/**
 * rules/call-effects.yaml: safe callables that return an object the whole process shares (a BUILD
 * or SETITEM on it changes process state: PICKLE_GLOBAL_MUTATION), item assignment into globals,
 * and safe callables that call a method looked up by name on an argument (a method the pickle
 * stored there is called). Hand-assembled, never loaded.
 */
import { describe, expect, it } from 'vitest';
import { callConditionCatalogue } from '../../src/rules/call-conditions.js';
import { atLeast, scanBytes, type Finding } from '../../src/index.js';
import { asm, op, type Part } from '../helpers/asm.js';
import { callEffectsCatalogue, parseCallEffects } from '../../src/rules/call-effects.js';
import { defaultGlobalCatalogue } from '../../src/rules/globals.js';

async function findings(bytes: Uint8Array): Promise<Finding[]> {
  return (await scanBytes(bytes, 't.pkl')).files[0]!.findings;
}
const loud = (f: Finding[]) => f.filter((x) => atLeast(x.severity, 'medium')).map((x) => `${x.severity} ${x.rule}: ${x.message}`);
const mutations = (f: Finding[]) => f.filter((x) => x.rule === 'PICKLE_GLOBAL_MUTATION');

/** {'disabled': True, 'propagate': False} as a BUILD state. */
const loggerState: Part[] = [op.EMPTY_DICT, op.STRING('disabled'), op.NEWTRUE, op.SETITEM, op.STRING('propagate'), op.NEWFALSE, op.SETITEM];
const getLogger = (name: string): Part[] => [op.GLOBAL('logging', 'getLogger'), op.STRING(name), op.TUPLE1, op.REDUCE];
const boundMethod: Part[] = [op.GLOBAL('builtins', 'getattr'), op.GLOBAL('mylib.models', 'Net'), op.EMPTY_TUPLE, op.NEWOBJ, op.EMPTY_DICT, op.BUILD, op.STRING('fit'), op.TUPLE2, op.REDUCE];
const namespaceWith = (name: string, value: Part[]): Part[] => [op.GLOBAL('types', 'SimpleNamespace'), op.EMPTY_TUPLE, op.REDUCE, op.EMPTY_DICT, op.STRING(name), ...value, op.SETITEM, op.BUILD];
const COMPUTED = 'high PICKLE_COMPUTED_CALL: calls a value computed at load time: mylib.models.Net().__setstate__({}).fit()';

describe('BUILD or SETITEM on an object the process shares', () => {
  it('BUILD on logging.getLogger(name) changes the registered logger: critical, with the reason from the catalogue (was clean)', async () => {
    const f = await findings(asm(op.PROTO(2), ...getLogger('app'), ...loggerState, op.BUILD, op.STOP));
    const m = mutations(f);
    expect(m).toHaveLength(1);
    expect(m[0]!.severity).toBe('critical');
    expect(m[0]!.message).toBe("sets attributes of logging.getLogger('app') with BUILD: logging.getLogger returns an object the whole process shares, so the load changes it for every user");
    expect(m[0]!.evidence.canonical).toBe('logging.getLogger');
    expect(m[0]!.evidence.opcode).toBe('BUILD');
    expect(m[0]!.evidence.reason).toMatch(/loggerDict/);
    expect(m[0]!.references).toContain('https://docs.python.org/3/library/logging.html#logging.getLogger');
  });

  it('the slot-state half (setattr, e.g. __class__) and a getLogger reached through functools.partial count too', async () => {
    const slots = await findings(asm(op.PROTO(2), ...getLogger(''), op.NONE, op.EMPTY_DICT, op.STRING('__class__'), op.GLOBAL('argparse', 'Namespace'), op.SETITEM, op.TUPLE2, op.BUILD, op.STOP));
    expect(mutations(slots).map((x) => x.evidence.canonical)).toEqual(['logging.getLogger']);
    const partial = await findings(asm(op.PROTO(2), op.GLOBAL('functools', 'partial'), op.GLOBAL('logging', 'getLogger'), op.STRING('app'), op.TUPLE2, op.REDUCE,
      op.EMPTY_TUPLE, op.REDUCE, ...loggerState, op.BUILD, op.STOP));
    expect(mutations(partial).map((x) => x.evidence.canonical)).toEqual(['logging.getLogger']);
  });

  it("SymPy's cached numbers, by __new__ (copyreg.__newobj__, NEWOBJ) or by a call; Enum members; pytz zones", async () => {
    const state: Part[] = [op.EMPTY_DICT, op.STRING('p'), op.INT(7), op.SETITEM, op.BUILD];
    const newobj = await findings(asm(op.PROTO(2), op.GLOBAL('copyreg', '__newobj__'), op.GLOBAL('sympy.core.numbers', 'Integer'), op.INT(5), op.TUPLE2, op.REDUCE, ...state, op.STOP));
    expect(mutations(newobj).map((x) => `${x.severity} ${x.message}`)).toEqual([
      'critical sets attributes of copyreg.__newobj__(sympy.core.numbers.Integer, 5) with BUILD: sympy.core.numbers.Integer returns an object the whole process shares, so the load changes it for every user',
    ]);
    const opcode = await findings(asm(op.PROTO(2), op.GLOBAL('sympy.core.numbers', 'One'), op.EMPTY_TUPLE, op.NEWOBJ, ...state, op.STOP));
    expect(mutations(opcode).map((x) => x.evidence.canonical)).toEqual(['sympy.core.numbers.One']);
    const called = await findings(asm(op.PROTO(2), op.GLOBAL('sympy.core.symbol', 'Symbol'), op.STRING('x'), op.TUPLE1, op.REDUCE, op.EMPTY_DICT, op.STRING('name'), op.STRING('y'), op.SETITEM, op.BUILD, op.STOP));
    expect(mutations(called).map((x) => x.evidence.canonical)).toEqual(['sympy.core.symbol.Symbol']);
    const member = await findings(asm(op.PROTO(2), op.GLOBAL('transformers.trainer_utils', 'IntervalStrategy'), op.STRING('steps'), op.TUPLE1, op.REDUCE, op.EMPTY_DICT, op.STRING('_value_'), op.STRING('no'), op.SETITEM, op.BUILD, op.STOP));
    expect(mutations(member).map((x) => x.evidence.canonical)).toEqual(['transformers.trainer_utils.IntervalStrategy']);
    expect(loud(await findings(asm(op.PROTO(2), op.GLOBAL('transformers.trainer_utils', 'IntervalStrategy'), op.STRING('steps'), op.TUPLE1, op.REDUCE, op.STOP)))).toEqual([]);
    const pytz = await findings(asm(op.PROTO(2), op.GLOBAL('pytz', '_p'), op.STRING('Europe/Paris'), op.TUPLE1, op.REDUCE, op.EMPTY_DICT, op.STRING('_utcoffset'), op.INT(0), op.SETITEM, op.BUILD, op.STOP));
    expect(mutations(pytz).map((x) => x.evidence.canonical)).toEqual(['pytz._p']);
  });

  it('SETITEM/SETITEMS into a module-level object (a global or an attribute path) is a mutation, on the slow and the fast path alike', async () => {
    const slow = asm(op.PROTO(2), op.GLOBAL('copyreg', '_inverted_registry'), op.INT(240), op.GLOBAL('builtins', 'str'), op.SETITEM, op.STOP);
    expect(mutations(await findings(slow)).map((x) => `${x.severity} ${x.message} @${x.location.offset}`)).toEqual([
      `critical sets items of copyreg._inverted_registry with SETITEM (changes a module, class or function for the whole process) @${slow.length - 2}`,
    ]);
    // A run of numbers into SETITEMS takes the opcode-dense fast path: same finding, same offset.
    const ints: Part[] = [op.BININT(1), op.BININT(2), op.BININT(3), op.BININT(4)];
    const bytes = asm(op.PROTO(2), op.GLOBAL('copyreg', '_extension_registry'), op.MARK, ...ints, op.SETITEMS, op.STOP);
    const fast = mutations(await findings(bytes));
    expect(fast.map((x) => `${x.message} @${x.location.offset}`)).toEqual([`sets items of copyreg._extension_registry with SETITEMS (changes a module, class or function for the whole process) @${bytes.length - 2}`]);
    const shared = await findings(asm(op.PROTO(2), op.GLOBAL('sympy.core.numbers', 'Half'), op.EMPTY_TUPLE, op.NEWOBJ, op.MARK, op.STRING('p'), op.INT(3), op.SETITEMS, op.STOP));
    expect(mutations(shared).map((x) => x.evidence.opcode)).toEqual(['SETITEMS']);
  });

  it("a slot state that makes a module-level dict an instance's __dict__ routes the next BUILD into it; a torch global hook table", async () => {
    const f = await findings(asm(op.PROTO(2), op.GLOBAL('argparse', 'Namespace'), op.EMPTY_TUPLE, op.REDUCE,
      op.NONE, op.EMPTY_DICT, op.STRING('__dict__'), op.GLOBAL('copyreg', '_extension_registry'), op.SETITEM, op.TUPLE2, op.BUILD,
      op.EMPTY_DICT, op.STRING('k'), op.INT(240), op.SETITEM, op.BUILD, op.STOP));
    expect(mutations(f).map((x) => x.message)).toEqual(['makes copyreg._extension_registry the __dict__ of argparse.Namespace() with BUILD (later state is written into it, for the whole process)']);
    // A harmless first `__dict__` pair does not hide the second: setattr runs for both, in order.
    const twice = await findings(asm(op.PROTO(2), op.GLOBAL('argparse', 'Namespace'), op.EMPTY_TUPLE, op.REDUCE,
      op.NONE, op.EMPTY_DICT, op.MARK, op.STRING('__dict__'), op.EMPTY_DICT, op.STRING('__dict__'), op.GLOBAL('copyreg', '_extension_registry'), op.SETITEMS, op.TUPLE2, op.BUILD, op.STOP));
    expect(mutations(twice).map((x) => x.message)).toEqual(['makes copyreg._extension_registry the __dict__ of argparse.Namespace() with BUILD (later state is written into it, for the whole process)']);
    // Every nn.Module's forward calls the hooks of this module-level table.
    const hook = await findings(asm(op.PROTO(2), op.GLOBAL('torch.nn.modules.module', '_global_forward_hooks'), op.INT(0), ...boundMethod, op.SETITEM, op.STOP));
    expect(mutations(hook).map((x) => `${x.severity} ${x.evidence.canonical}`)).toEqual(['critical torch.nn.modules.module._global_forward_hooks']);
  });

  it("numpy's scalar(dtype('O'), obj) returns obj itself (NumPy 1.20 to 2.x): BUILD through it patches the module it was given", async () => {
    const f = await findings(asm(op.PROTO(2), op.GLOBAL('numpy.core.multiarray', 'scalar'), op.GLOBAL('numpy', 'dtype'), op.STRING('O'), op.TUPLE1, op.REDUCE,
      op.GLOBAL('collections', 'abc'), op.TUPLE2, op.REDUCE, op.NONE, op.EMPTY_DICT, op.STRING('Mapping'), op.GLOBAL('builtins', 'dict'), op.SETITEM, op.TUPLE2, op.BUILD, op.STOP));
    expect(mutations(f).map((x) => `${x.severity} ${x.message}`)).toEqual(['critical sets attributes of collections.abc with BUILD (changes a module, class or function for the whole process)']);
    // The instance it passes through keeps its stored methods: dict(scalar(dtype('O'), x)) calls x.keys().
    const through = await findings(asm(op.PROTO(2), op.GLOBAL('builtins', 'dict'), op.GLOBAL('numpy.core.multiarray', 'scalar'), op.GLOBAL('numpy', 'dtype'), op.STRING('O'), op.TUPLE1, op.REDUCE,
      ...namespaceWith('keys', boundMethod), op.TUPLE2, op.REDUCE, op.TUPLE1, op.REDUCE, op.STOP));
    expect(loud(through)).toContain(COMPUTED);
    // A real scalar: scalar(dtype, bytes) is a new value.
    expect(loud(await findings(asm(op.PROTO(2), op.GLOBAL('numpy.core.multiarray', 'scalar'), op.GLOBAL('numpy', 'dtype'), op.STRING('f8'), op.TUPLE1, op.REDUCE,
      op.SHORT_BINBYTES([0, 0, 0, 0, 0, 0, 0, 0]), op.TUPLE2, op.REDUCE, op.STOP)))).toEqual([]);
  });

  it('what libraries write stays quiet: getLogger without state, fresh objects given state or items, unlisted caches', async () => {
    expect(loud(await findings(asm(op.PROTO(2), ...getLogger('lightning'), op.STOP)))).toEqual([]);
    // numpy.dtype('f8', False, True) then its state; numpy leaves builtin dtypes unchanged anyway.
    expect(loud(await findings(asm(op.PROTO(2), op.GLOBAL('numpy', 'dtype'), op.STRING('f8'), op.NEWFALSE, op.NEWTRUE, op.TUPLE3, op.REDUCE,
      op.MARK, op.INT(3), op.STRING('<'), op.NONE, op.NONE, op.NONE, op.INT(-1), op.INT(-1), op.INT(0), op.TUPLE, op.BUILD, op.STOP)))).toEqual([]);
    expect(loud(await findings(asm(op.PROTO(2), op.GLOBAL('collections', 'OrderedDict'), op.EMPTY_TUPLE, op.REDUCE, op.MARK, op.BININT(1), op.BININT(2), op.SETITEMS, op.STOP)))).toEqual([]);
    expect(loud(await findings(asm(op.PROTO(2), op.GLOBAL('copyreg', '__newobj__'), op.GLOBAL('sympy.core.numbers', 'Integer'), op.INT(5), op.TUPLE2, op.REDUCE, op.STOP)))).toEqual([]);
    // Equality is not cached: its BUILD gives state to a new object.
    expect(mutations(await findings(asm(op.PROTO(2), op.GLOBAL('sympy.core.relational', 'Equality'), op.EMPTY_TUPLE, op.NEWOBJ, op.EMPTY_DICT, op.BUILD, op.STOP)))).toEqual([]);
  });
});

describe('methods a safe callable looks up by name on its argument', () => {
  it('OrderedDict(x) calls x.items() when x has no keys; Counter(x) and SimpleNamespace(x) (3.13) call x.keys()', async () => {
    const items = await findings(asm(op.PROTO(2), op.GLOBAL('collections', 'OrderedDict'), ...namespaceWith('items', boundMethod), op.TUPLE1, op.REDUCE, op.STOP));
    expect(loud(items)).toContain(COMPUTED);
    const counter = await findings(asm(op.PROTO(2), op.GLOBAL('collections', 'Counter'), ...namespaceWith('keys', boundMethod), op.TUPLE1, op.REDUCE, op.STOP));
    expect(loud(counter)).toContain(COMPUTED);
    const ns = await findings(asm(op.PROTO(2), op.GLOBAL('types', 'SimpleNamespace'), ...namespaceWith('keys', boundMethod), op.TUPLE1, op.REDUCE, op.STOP));
    expect(loud(ns)).toContain(COMPUTED);
  });

  it('an aware datetime calls its tzinfo.utcoffset (hash, compare, format); pandas calls it while rebuilding a Timestamp', async () => {
    const tz = namespaceWith('utcoffset', boundMethod);
    const dt = await findings(asm(op.PROTO(2), op.GLOBAL('datetime', 'datetime'), op.SHORT_BINBYTES([7, 228, 1, 1, 0, 0, 0, 0, 0, 0]), ...tz, op.TUPLE2, op.REDUCE, op.STOP));
    expect(loud(dt)).toContain(COMPUTED);
    const ts2 = await findings(asm(op.PROTO(2), op.GLOBAL('pandas._libs.tslibs.timestamps', '_unpickle_timestamp'), op.MARK, op.INT(0), op.NONE, ...tz, op.INT(10), op.TUPLE, op.REDUCE, op.STOP));
    expect(loud(ts2)).toContain(COMPUTED);
  });

  it('dunder methods go to the type, not the instance: list(x), tuple(x), str(x) call nothing the pickle stored; dict.__new__ copies nothing', async () => {
    for (const [m, n, attr] of [['builtins', 'list', '__iter__'], ['builtins', 'tuple', '__iter__'], ['builtins', 'str', '__str__'], ['builtins', 'int', '__index__']] as const) {
      expect(loud(await findings(asm(op.PROTO(2), op.GLOBAL(m, n), ...namespaceWith(attr, boundMethod), op.TUPLE1, op.REDUCE, op.STOP)))).toEqual([]);
    }
    expect(loud(await findings(asm(op.PROTO(2), op.GLOBAL('builtins', 'dict'), ...namespaceWith('keys', boundMethod), op.TUPLE1, op.NEWOBJ, op.STOP)))).toEqual([]);
  });
});

describe("attributes a class's __getattr__ serves from what the pickle wrote", () => {
  /** torch Linear made with __new__, given a state whose _modules OrderedDict holds `name`. */
  const moduleWith = (name: string, value: Part[]): Part[] => [op.GLOBAL('torch.nn.modules.linear', 'Linear'), op.EMPTY_TUPLE, op.NEWOBJ,
    op.EMPTY_DICT, op.STRING('_modules'), op.GLOBAL('collections', 'OrderedDict'), op.EMPTY_TUPLE, op.REDUCE, op.STRING(name), ...value, op.SETITEM, op.SETITEM, op.BUILD];

  it("torch Module.__getattr__ reads _modules/_parameters/_buffers: APPENDS or dict(module) call what the pickle put there (was low)", async () => {
    const appends = await findings(asm(op.PROTO(2), ...moduleWith('extend', boundMethod), op.MARK, op.STRING('echo mg'), op.APPENDS, op.STOP));
    expect(loud(appends)).toContain("high PICKLE_COMPUTED_CALL: calls a value computed at load time: mylib.models.Net().__setstate__({}).fit(['echo mg'])");
    const keys = await findings(asm(op.PROTO(2), op.GLOBAL('builtins', 'dict'), ...moduleWith('keys', boundMethod), op.TUPLE1, op.REDUCE, op.STOP));
    expect(loud(keys)).toContain(COMPUTED);
    // __setstate__ is Module's own method: a second BUILD never asks __getattr__.
    const setstate = await findings(asm(op.PROTO(2), ...moduleWith('__setstate__', boundMethod), op.EMPTY_DICT, op.BUILD, op.STOP));
    expect(loud(setstate)).toEqual([]);
  });

  it("sklearn's Bunch serves its items as attributes: APPENDS on a Bunch calls the item named extend; its class's keys is never served", async () => {
    const bunch = (name: string): Part[] => [op.GLOBAL('sklearn.utils._bunch', 'Bunch'), op.EMPTY_TUPLE, op.NEWOBJ, op.STRING(name), ...boundMethod, op.SETITEM];
    const appends = await findings(asm(op.PROTO(2), ...bunch('extend'), op.MARK, op.STRING('echo mg'), op.APPENDS, op.STOP));
    expect(loud(appends)).toContain("high PICKLE_COMPUTED_CALL: calls a value computed at load time: mylib.models.Net().__setstate__({}).fit(['echo mg'])");
    expect(loud(await findings(asm(op.PROTO(2), op.GLOBAL('builtins', 'dict'), ...bunch('keys'), op.TUPLE1, op.REDUCE, op.STOP)))).toEqual([]);
  });

  it('what torch.save and joblib write stays quiet: a module with submodules, a Bunch with items and a state', async () => {
    const mod = await findings(asm(op.PROTO(2), op.GLOBAL('torch.nn.modules.container', 'Sequential'), op.EMPTY_TUPLE, op.NEWOBJ,
      op.EMPTY_DICT, op.STRING('_modules'), op.GLOBAL('collections', 'OrderedDict'), op.EMPTY_TUPLE, op.REDUCE,
      op.STRING('0'), op.GLOBAL('torch.nn.modules.linear', 'Linear'), op.EMPTY_TUPLE, op.NEWOBJ, op.EMPTY_DICT, op.BUILD, op.SETITEM, op.SETITEM, op.BUILD, op.STOP));
    expect(loud(mod)).toEqual([]);
    const b = await findings(asm(op.PROTO(2), op.GLOBAL('sklearn.utils._bunch', 'Bunch'), op.EMPTY_TUPLE, op.NEWOBJ, op.STRING('data'), op.INT(1), op.SETITEM,
      op.EMPTY_DICT, op.STRING('_deprecated_key_to_warnings'), op.EMPTY_DICT, op.SETITEM, op.BUILD, op.STOP));
    expect(loud(b)).toEqual([]);
  });
});

describe('rules/call-effects.yaml', () => {
  it('lists only globals the catalogue calls safe, or safe under a call condition (the effect qualifies such an entry)', () => {
    const globals = defaultGlobalCatalogue();
    const conditioned = callConditionCatalogue().byGlobal;
    const c = callEffectsCatalogue();
    for (const name of [...c.shared.keys(), ...c.returnsArgument.keys(), ...c.argumentMethods.keys(), ...c.attributeFallbacks.flatMap((f) => f.classes)]) {
      const dot = name.lastIndexOf('.');
      const verdict = globals.classify(name.slice(0, dot), name.slice(dot + 1)).verdict;
      const how = verdict === 'unknown' && conditioned.has(name) ? `conditioned (${conditioned.get(name)!.condition})` : verdict;
      expect(`${name}: ${how}`).toMatch(new RegExp(`^${name.replace(/\./g, '\\.')}: (safe|conditioned \\(sympified-values\\))$`));
    }
    // sympy's Rational left the safe list (its one-argument form sympifies a list's strings) and
    // stays a shared result: Rational(1, 2) is S.Half.
    expect(c.shared.has('sympy.core.numbers.Rational')).toBe(true);
    expect(conditioned.get('sympy.core.numbers.Rational')?.condition).toBe('sympified-values');
  });

  it('refuses dunder method names (looked up on the type) and unknown keys', () => {
    const base = 'version: 1\nshared_results: []\nargument_methods:\n  - globals: [builtins.list]\n    via: [call]\n    arguments: [0]\n    reason: r\n    references: [x]\n';
    expect(() => parseCallEffects(`${base}    methods: [__iter__]\n`)).toThrow(/non-dunder/);
    expect(() => parseCallEffects(`${base}    methods: [keys]\n    oops: 1\n`)).toThrow(/unknown key "oops"/);
  });
});
