/**
 * Issue 9: what a load really does decides the verdict. Wrappers are judged by what they reach
 * and whether it is called; dill/cloudpickle rebuilt code by its names and whether the load calls
 * it; unknown globals by whether they are called or only constructed/referenced. Malicious inputs
 * are assembled by hand or written by the real libraries, and never loaded.
 */
import { describe, expect, it } from 'vitest';
import { atLeast, scanBytes, type Finding } from '../../src/index.js';
import { asm, op } from '../helpers/asm.js';
import { runPython } from '../helpers/python.js';

async function findings(bytes: Uint8Array): Promise<Finding[]> {
  return (await scanBytes(bytes, 't.pkl')).files[0]!.findings;
}
const loud = (f: Finding[]) => f.filter((x) => atLeast(x.severity, 'medium')).map((x) => `${x.severity} ${x.rule}: ${x.message}`);
const dangerous = (f: Finding[], canonical: string) => f.find((x) => x.rule === 'PICKLE_DANGEROUS_GLOBAL' && x.evidence.canonical === canonical);

describe('wrappers are judged by what they reach', () => {
  it('partial(os.system, ...) called during the load is a critical call of os.system through the partial', async () => {
    const f = await findings(asm(op.GLOBAL('functools', 'partial'), op.GLOBAL('os', 'system'), op.STRING('echo mg'), op.TUPLE2, op.REDUCE, op.EMPTY_TUPLE, op.REDUCE, op.STOP));
    const sys = dangerous(f, 'os.system');
    expect(sys?.severity).toBe('critical');
    expect(sys?.evidence.use).toBe('called');
    expect(sys?.evidence.chain).toBe("os.system('echo mg')");
    expect(dangerous(f, 'functools.partial')?.message).toBe('calls functools.partial; calls os.system');
    expect(f.find((x) => x.rule === 'PICKLE_COMPUTED_CALL')?.message).toBe("calls a value computed at load time: os.system('echo mg') (through functools.partial)");
  });

  it('a partial whose BUILD state swaps in subprocess.check_output is judged by the function after BUILD', async () => {
    const f = await findings(asm(
      op.GLOBAL('_functools', 'partial'), op.GLOBAL('builtins', 'print'), op.TUPLE1, op.REDUCE,
      op.MARK, op.GLOBAL('subprocess', 'check_output'), op.MARK, op.STRING('id'), op.TUPLE, op.EMPTY_DICT, op.NONE, op.TUPLE, op.BUILD,
      op.EMPTY_TUPLE, op.REDUCE, op.STOP,
    ));
    expect(dangerous(f, 'subprocess.check_output')?.evidence.use).toBe('called');
    expect(dangerous(f, 'functools.partial')?.severity).toBe('critical');
  });

  it('an optimizer-factory partial kept as data (Hydra-style checkpoint) is not flagged', async () => {
    // As pickle writes functools.partial(torch.optim.AdamW, lr=0.001): partial(AdamW) + BUILD (func, args, keywords, dict).
    const f = await findings(asm(op.PROTO(2), op.EMPTY_DICT, op.STRING('optimizer'),
      op.GLOBAL('functools', 'partial'), op.GLOBAL('torch.optim.adamw', 'AdamW'), op.TUPLE1, op.REDUCE,
      op.MARK, op.GLOBAL('torch.optim.adamw', 'AdamW'), op.EMPTY_TUPLE, op.EMPTY_DICT, op.STRING('lr'), op.STRING('0.001'), op.SETITEM, op.NONE, op.TUPLE, op.BUILD, op.SETITEM, op.STOP));
    expect(f.filter((x) => x.rule === 'PICKLE_DANGEROUS_GLOBAL')).toEqual([]);
    expect(loud(f)).toEqual([]);
  });

  it('getattr(<instance>, name) kept as data is a bound method of its class (statsmodels ETS results): low, not critical', async () => {
    // copyreg-free protocol 2: ETSModel.__new__(ETSModel) + BUILD, then getattr(model, 'loglike') stored in a dict.
    const model = [op.GLOBAL('statsmodels.tsa.exponential_smoothing.ets', 'ETSModel'), op.EMPTY_TUPLE, op.NEWOBJ, op.EMPTY_DICT, op.STRING('nobs'), op.INT(60), op.SETITEM, op.BUILD];
    const f = await findings(asm(op.PROTO(2), op.EMPTY_DICT, op.STRING('fn'), op.GLOBAL('builtins', 'getattr'), ...model, op.STRING('loglike'), op.TUPLE2, op.REDUCE, op.SETITEM, op.STOP));
    expect(loud(f)).toEqual([]);
    expect(f.find((x) => x.evidence.canonical === 'statsmodels.tsa.exponential_smoothing.ets.ETSModel.loglike')?.severity).toBe('low');
  });

  it('getattr(<instance>, name) still reaches what the instance state put there, leads out through dunders, and is a call when called', async () => {
    const inst = (state: Parameters<typeof asm>) => [op.GLOBAL('mylib.models', 'Net'), op.EMPTY_TUPLE, op.NEWOBJ, op.EMPTY_DICT, ...state, op.BUILD];
    // The state sets `run` to os.system: getattr(net, 'run') is os.system.
    const own = await findings(asm(op.PROTO(2), op.GLOBAL('builtins', 'getattr'), ...inst([op.STRING('run'), op.GLOBAL('os', 'system'), op.SETITEM]), op.STRING('run'), op.TUPLE2, op.REDUCE, op.STOP));
    expect(dangerous(own, 'builtins.getattr')?.message).toBe('calls builtins.getattr; reaches os.system');
    // A dunder leads out of the instance (__class__, __init__.__globals__...): unresolved, critical.
    const dunder = await findings(asm(op.PROTO(2), op.GLOBAL('builtins', 'getattr'), ...inst([]), op.STRING('__class__'), op.TUPLE2, op.REDUCE, op.STOP));
    expect(dangerous(dunder, 'builtins.getattr')?.severity).toBe('critical');
    expect(dangerous(dunder, 'builtins.getattr')?.message).toBe("calls builtins.getattr; reaches a value the scanner cannot resolve: mylib.models.Net().__setstate__({}).__class__");
    // The bound method called during the load: a call of a computed value.
    const called = await findings(asm(op.PROTO(2), op.GLOBAL('builtins', 'getattr'), ...inst([]), op.STRING('fit'), op.TUPLE2, op.REDUCE, op.STRING('x'), op.TUPLE1, op.REDUCE, op.STOP));
    expect(called.find((x) => x.rule === 'PICKLE_COMPUTED_CALL')?.severity).toBe('high');
    expect(loud(called)).toContain("high PICKLE_COMPUTED_CALL: calls a value computed at load time: mylib.models.Net().__setstate__({}).fit('x')");
  });

  it('attrgetter reaching os.system through a module attribute, then called, is critical', async () => {
    // operator.attrgetter('os.system')(torch.serialization)('echo mg'): torch.serialization.os is os.
    const f = await findings(asm(op.GLOBAL('operator', 'attrgetter'), op.STRING('os.system'), op.TUPLE1, op.REDUCE,
      op.GLOBAL('torch', 'serialization'), op.TUPLE1, op.REDUCE, op.STRING('echo mg'), op.TUPLE1, op.REDUCE, op.STOP));
    expect(f.find((x) => x.rule === 'PICKLE_DANGEROUS_GLOBAL' && x.evidence.use === 'called' && x.severity === 'critical' && /os\.system/.test(x.evidence.canonical ?? ''))).toBeDefined();
    expect(dangerous(f, 'operator.attrgetter')?.message).toMatch(/reaches .*os\.system/);
    expect(f.some((x) => x.rule === 'PICKLE_COMPUTED_CALL')).toBe(true);
  });

  it('methodcaller calling system on the os module is a critical call', async () => {
    const f = await findings(asm(op.GLOBAL('_operator', 'methodcaller'), op.STRING('system'), op.STRING('echo mg'), op.TUPLE2, op.REDUCE,
      op.GLOBAL('importlib', 'import_module'), op.STRING('os'), op.TUPLE1, op.REDUCE, op.TUPLE1, op.REDUCE, op.STOP));
    expect(dangerous(f, 'os.system')?.evidence.use).toBe('called');
    expect(dangerous(f, 'operator.methodcaller')?.message).toBe('calls operator.methodcaller (named _operator.methodcaller); calls os.system');
  });

  it('torch._tensor._rebuild_from_type_v2 is judged by the function it calls: a tensor rebuild is quiet, os.system critical', async () => {
    const benign = await findings(asm(op.GLOBAL('torch._tensor', '_rebuild_from_type_v2'), op.MARK, op.GLOBAL('torch._utils', '_rebuild_tensor_v2'), op.GLOBAL('torch', 'Tensor'), op.EMPTY_TUPLE, op.EMPTY_DICT, op.TUPLE, op.REDUCE, op.STOP));
    expect(loud(benign)).toEqual([]);
    const f = await findings(asm(op.GLOBAL('torch._tensor', '_rebuild_from_type_v2'), op.MARK, op.GLOBAL('posix', 'system'), op.GLOBAL('torch', 'Tensor'), op.STRING('echo mg'), op.TUPLE1, op.EMPTY_DICT, op.TUPLE, op.REDUCE, op.STOP));
    expect(dangerous(f, 'os.system')?.evidence.use).toBe('called');
    expect(dangerous(f, 'os.system')?.evidence.chain).toBe("posix.system('echo mg')");
    expect(dangerous(f, 'torch._tensor._rebuild_from_type_v2')?.message).toBe('calls torch._tensor._rebuild_from_type_v2; calls os.system');
  });

  it('getattr with a literal name is judged by the attribute it reaches: safe, or dangerous', async () => {
    const benign = await findings(asm(op.GLOBAL('builtins', 'getattr'), op.GLOBAL('zoneinfo', 'ZoneInfo'), op.STRING('_unpickle'), op.TUPLE2, op.REDUCE,
      op.STRING('UTC'), op.INT(1), op.TUPLE2, op.REDUCE, op.STOP));
    expect(loud(benign)).toEqual([]);
    const evil = await findings(asm(op.GLOBAL('builtins', 'getattr'), op.GLOBAL('builtins', 'object'), op.STRING('__subclasses__'), op.TUPLE2, op.REDUCE, op.EMPTY_TUPLE, op.REDUCE, op.STOP));
    expect(dangerous(evil, 'builtins.getattr')?.severity).toBe('critical');
  });

  it('getattr with a computed name stays critical', async () => {
    const f = await findings(asm(op.GLOBAL('builtins', 'getattr'), op.GLOBAL('zoneinfo', 'ZoneInfo'), op.GLOBAL('builtins', 'str'), op.STRING('x'), op.TUPLE1, op.REDUCE, op.TUPLE2, op.REDUCE, op.STOP));
    expect(dangerous(f, 'builtins.getattr')?.message).toBe('calls builtins.getattr; the attribute name is computed at load time');
  });
});

describe('unknown globals: called vs constructed', () => {
  it('an unknown function called with arguments is medium', async () => {
    const f = await findings(asm(op.GLOBAL('somepkg.util', 'run_things'), op.STRING('x'), op.TUPLE1, op.REDUCE, op.STOP));
    const u = f.find((x) => x.rule === 'PICKLE_UNKNOWN_GLOBAL');
    expect([u?.severity, u?.message]).toEqual(['medium', 'calls somepkg.util.run_things, which is not known to be safe']);
  });

  it('an unknown class constructed with NEWOBJ and given plain state is low', async () => {
    const f = await findings(asm(op.PROTO(2), op.GLOBAL('somepkg.models', 'Net'), op.EMPTY_TUPLE, op.NEWOBJ, op.EMPTY_DICT, op.STRING('w'), op.INT(3), op.SETITEM, op.BUILD, op.STOP));
    const u = f.find((x) => x.rule === 'PICKLE_UNKNOWN_GLOBAL');
    expect([u?.severity, u?.message]).toEqual(['low', 'constructs somepkg.models.Net, which is not known to be safe']);
    expect(loud(f)).toEqual([]);
  });

  it('an unknown class whose __new__ receives arguments from the file is medium', async () => {
    const f = await findings(asm(op.PROTO(2), op.GLOBAL('somepkg.expr', 'Func'), op.STRING('__import__("os")'), op.TUPLE1, op.NEWOBJ, op.STOP));
    const u = f.find((x) => x.rule === 'PICKLE_UNKNOWN_GLOBAL');
    expect([u?.severity, u?.message]).toEqual(['medium', 'calls somepkg.expr.Func, which is not known to be safe']);
  });

  it('a rebuilt class defining __setstate__ makes the rebuilt code a problem (BUILD runs it during the load)', async () => {
    const f = await findings(asm(op.GLOBAL('dill._dill', '_create_type'), op.MARK, op.GLOBAL('builtins', 'type'), op.STRING('C'), op.GLOBAL('builtins', 'object'), op.TUPLE1,
      op.EMPTY_DICT, op.STRING('__setstate__'), op.GLOBAL('builtins', 'print'), op.SETITEM, op.TUPLE, op.REDUCE, op.STOP));
    expect(f.find((x) => x.rule === 'PICKLE_CODE_REBUILT')?.message).toMatch(/rebuilt class C defines __setstate__, which the load itself can invoke/);
    expect(dangerous(f, 'dill._dill._create_type')?.severity).toBe('critical');
  });

  it('copyreg._reconstructor over a dangerous base still reports the base as called', async () => {
    const f = await findings(asm(op.GLOBAL('copy_reg', '_reconstructor'), op.GLOBAL('somepkg', 'X'), op.GLOBAL('subprocess', 'Popen'), op.STRING('id'), op.TUPLE3, op.REDUCE, op.STOP));
    expect(dangerous(f, 'subprocess.Popen')?.evidence.use).toBe('called');
  });
});

describe('__main__ globals: the loading script decides what they are', () => {
  const unknown = (f: Finding[]) => f.filter((x) => x.rule === 'PICKLE_UNKNOWN_GLOBAL').map((x) => `${x.severity} ${x.message}`);
  const call = (name: string, ...args: Array<number[] | string>) => asm(op.GLOBAL('__main__', name), op.MARK, ...args, op.TUPLE, op.REDUCE, op.STOP);

  it('an Enum member rebuilt by value (Mode("train"), Level(3)) is a low construction, not a call', async () => {
    const why = 'called with one constant, as pickle rebuilds an Enum member, and nothing dangerous has this name: it is whatever the loading script defines';
    expect(unknown(await findings(call('Mode', op.STRING('train'))))).toEqual([`low constructs __main__.Mode, which is not known to be safe; ${why}`]);
    expect(unknown(await findings(call('Level', op.BININT1(3))))).toEqual([`low constructs __main__.Level, which is not known to be safe; ${why}`]);
  });

  it('a name that a dangerous module defines stays a medium call: Popen, system, CDLL', async () => {
    expect(unknown(await findings(call('Popen', op.STRING('/tmp/x'))))).toEqual(['medium calls __main__.Popen, which is not known to be safe']);
    expect(unknown(await findings(call('system', op.STRING('echo mg'))))).toEqual(['medium calls __main__.system, which is not known to be safe']);
    expect(unknown(await findings(call('CDLL', op.STRING('libc.so.6'))))).toEqual(['medium calls __main__.CDLL, which is not known to be safe']);
    // Capitalised, but subprocess defines it: the file could be betting on `from subprocess import *`.
    expect(unknown(await findings(call('CompletedProcess', op.STRING('x'))))).toEqual(['medium calls __main__.CompletedProcess, which is not known to be safe']);
  });

  it('any other shape stays a medium call: two arguments, a container, a name from another module', async () => {
    expect(unknown(await findings(call('Mode', op.STRING('a'), op.STRING('b'))))).toEqual(['medium calls __main__.Mode, which is not known to be safe']);
    expect(unknown(await findings(call('Mode', op.EMPTY_LIST)))).toEqual(['medium calls __main__.Mode, which is not known to be safe']);
    expect(unknown(await findings(asm(op.GLOBAL('train', 'Mode'), op.STRING('x'), op.TUPLE1, op.REDUCE, op.STOP)))).toEqual(['medium calls train.Mode, which is not known to be safe']);
  });

  it('one enum-shaped call does not excuse another call of the same name', async () => {
    const f = await findings(asm(op.MARK, op.GLOBAL('__main__', 'Mode'), op.STRING('train'), op.TUPLE1, op.REDUCE,
      op.GLOBAL('__main__', 'Mode'), op.STRING('a'), op.STRING('b'), op.TUPLE2, op.REDUCE, op.LIST, op.STOP));
    expect(unknown(f)).toEqual(['medium calls __main__.Mode, which is not known to be safe']);
  });
});

describe('dill and cloudpickle rebuilt code', () => {
  const made = runPython(`
import dill, cloudpickle
import numpy as np
def w(name, data):
    open(os.path.join(OUT, name), 'wb').write(data)
w('dill_benign.pkl', dill.dumps(lambda x: x * 2 + 1))
w('cloud_benign.pkl', cloudpickle.dumps(lambda x: [v + 1 for v in x]))
w('dill_array.pkl', dill.dumps(np.arange(4)))
# Never loaded: the payload is only written.
w('dill_system.pkl', dill.dumps(lambda: __import__('os').system('echo modelgate-test')))
w('cloud_popen.pkl', cloudpickle.dumps(lambda: __import__('subprocess').Popen(['echo', 'modelgate-test'])))
`);

  it('benign by-value functions are a low PICKLE_CODE_REBUILT and nothing louder', async () => {
    for (const name of ['dill_benign.pkl', 'cloud_benign.pkl']) {
      const f = await findings(made.file(name));
      expect(loud(f), name).toEqual([]);
      const r = f.find((x) => x.rule === 'PICKLE_CODE_REBUILT');
      expect(r?.severity, name).toBe('low');
      expect(r?.message, name).toMatch(/^rebuilds 1 function \(<lambda>\) from bytecode \(dill\/cloudpickle\); it runs when called, and the load does not call it$/);
    }
  });

  it('dill._dill._create_array of a plain numpy array is judged by the array reconstructor it calls', async () => {
    expect(loud(await findings(made.file('dill_array.pkl')))).toEqual([]);
  });

  it('rebuilt code that uses system / Popen is high, and the helpers are critical dangerous globals', async () => {
    const f = await findings(made.file('dill_system.pkl'));
    expect(f.find((x) => x.rule === 'PICKLE_CODE_REBUILT')?.severity).toBe('high');
    expect(f.find((x) => x.rule === 'PICKLE_CODE_REBUILT')?.message).toMatch(/uses __import__, system/);
    expect(dangerous(f, 'dill._dill._create_function')?.severity).toBe('critical');
    expect(dangerous(f, 'dill._dill._create_code')?.severity).toBe('critical');
    const c = await findings(made.file('cloud_popen.pkl'));
    expect(c.find((x) => x.rule === 'PICKLE_CODE_REBUILT')?.message).toMatch(/uses Popen, __import__, subprocess/);
    expect(dangerous(c, 'cloudpickle.cloudpickle._make_function')?.severity).toBe('critical');
  });

  it('a rebuilt function called during the load is critical, whatever its names', async () => {
    // _create_function(_create_code(...), {}, 'f')() — harmless-looking code, but it runs inside the load.
    const code = [op.GLOBAL('dill._dill', '_create_code'), op.MARK, op.INT(0), op.INT(0), op.INT(0), op.INT(0), op.INT(1), op.INT(3),
      op.SHORT_BINBYTES([0x97, 0x00, 0x64, 0x00, 0x53, 0x00]), op.NONE, op.TUPLE1, op.EMPTY_TUPLE, op.EMPTY_TUPLE, op.STRING('m.py'), op.STRING('f'), op.STRING('f'), op.INT(1),
      op.SHORT_BINBYTES([]), op.SHORT_BINBYTES([]), op.EMPTY_TUPLE, op.EMPTY_TUPLE, op.TUPLE, op.REDUCE];
    const f = await findings(asm(op.GLOBAL('dill._dill', '_create_function'), op.MARK, ...code, op.EMPTY_DICT, op.STRING('f'), op.TUPLE, op.REDUCE, op.EMPTY_TUPLE, op.REDUCE, op.STOP));
    expect(f.find((x) => x.rule === 'PICKLE_CODE_REBUILT')?.message).toMatch(/calls function f, rebuilt from bytecode in the pickle, during the load/);
    expect(f.find((x) => x.rule === 'PICKLE_CODE_REBUILT')?.severity).toBe('critical');
    expect(dangerous(f, 'dill._dill._create_function')?.severity).toBe('critical');
    expect(f.some((x) => x.rule === 'PICKLE_COMPUTED_CALL')).toBe(true);
  });
});

describe('joblib arrays of structured dtypes', () => {
  const made = runPython(`
import joblib, numpy as np, pickle
class Evil:
    def __reduce__(self):
        import os
        return (os.system, ('echo modelgate-test',))
arr = np.zeros(7, dtype=[('a', '<i8'), ('b', '<f8', (2,)), ('c', [('x', 'u1')])])
for name, comp in [('raw.joblib', 0), ('zlib.joblib', ('zlib', 3)), ('xz.joblib', ('xz', 3))]:
    joblib.dump([arr, Evil()], os.path.join(OUT, name), compress=comp)
    joblib.dump({'nodes': arr}, os.path.join(OUT, 'benign_' + name), compress=comp)
`);

  for (const name of ['raw.joblib', 'zlib.joblib', 'xz.joblib']) {
    it(`${name}: the array is skipped exactly and the payload after it is found`, async () => {
      const f = await findings(made.file(name));
      expect(f.map((x) => x.rule)).not.toContain('JOBLIB_UNRESOLVED_ARRAY');
      expect(dangerous(f, 'os.system')?.evidence.use).toBe('called');
      expect(loud(await findings(made.file(`benign_${name}`)))).toEqual([]);
    });
  }
});
