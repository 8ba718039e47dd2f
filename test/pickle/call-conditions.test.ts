/**
 * rules/call-conditions.yaml: globals judged by the arguments the load passes them. Benign
 * files come from the real libraries; malicious ones are assembled by hand and never loaded.
 */
import { describe, expect, it } from 'vitest';
import { atLeast, scanBytes, type Finding } from '../../src/index.js';
import { parseCallConditions, callConditionCatalogue } from '../../src/rules/call-conditions.js';
import { asm, op } from '../helpers/asm.js';
import { runPython } from '../helpers/python.js';

async function findings(bytes: Uint8Array): Promise<Finding[]> {
  return (await scanBytes(bytes, 't.pkl')).files[0]!.findings;
}
const loud = (f: Finding[]) => f.filter((x) => atLeast(x.severity, 'medium')).map((x) => `${x.severity} ${x.rule}: ${x.message}`);
const unknown = (f: Finding[], canonical: string) => f.find((x) => x.rule === 'PICKLE_UNKNOWN_GLOBAL' && x.evidence.canonical === canonical);

const SIN = ['sympy.functions.elementary.trigonometric', 'sin'] as const;
const SYMBOL = ['sympy.core.symbol', 'Symbol'] as const;
const TZFILE = ['dateutil.tz.tz', 'tzfile'] as const;
const PAYLOAD = "__import__('os').system('echo mg')";

describe('sympy functions are judged by what they sympify', () => {
  it('sin(<string>) by NEWOBJ is high: the string reaches parse_expr (eval)', async () => {
    const f = await findings(asm(op.PROTO(2), op.GLOBAL(...SIN), op.BINUNICODE(PAYLOAD), op.TUPLE1, op.NEWOBJ, op.STOP));
    const u = unknown(f, 'sympy.functions.elementary.trigonometric.sin');
    expect(u?.severity).toBe('high');
    expect(u?.message).toBe(`calls sympy.functions.elementary.trigonometric.sin, which is not known to be safe; passes '${PAYLOAD.replace(/'/g, "\\'")}', which sympify parses with eval`);
    expect(u?.evidence.reason).toMatch(/parse_expr/);
  });

  it('sin(<string>) by REDUCE and through copyreg.__newobj__ is high too', async () => {
    const a = await findings(asm(op.GLOBAL(...SIN), op.STRING('x+1'), op.TUPLE1, op.REDUCE, op.STOP));
    expect(unknown(a, 'sympy.functions.elementary.trigonometric.sin')?.severity).toBe('high');
    const b = await findings(asm(op.PROTO(2), op.GLOBAL('copyreg', '__newobj__'), op.GLOBAL(...SIN), op.BINUNICODE(PAYLOAD), op.TUPLE2, op.REDUCE, op.STOP));
    expect(unknown(b, 'sympy.functions.elementary.trigonometric.sin')?.severity).toBe('high');
  });

  it('copyreg.__newobj_ex__(sin, (<string>,), {}) and NEWOBJ_EX with a string keyword are high', async () => {
    const ex = await findings(asm(op.PROTO(2), op.GLOBAL('copyreg', '__newobj_ex__'), op.GLOBAL(...SIN), op.BINUNICODE(PAYLOAD), op.TUPLE1, op.EMPTY_DICT, op.TUPLE3, op.REDUCE, op.STOP));
    expect(unknown(ex, 'sympy.functions.elementary.trigonometric.sin')?.severity).toBe('high');
    const kw = await findings(asm(op.PROTO(4), op.GLOBAL(...SIN), op.EMPTY_TUPLE, op.EMPTY_DICT, op.BINUNICODE('evaluate'), op.BINUNICODE(PAYLOAD), op.SETITEM, op.NEWOBJ_EX, op.STOP));
    expect(unknown(kw, 'sympy.functions.elementary.trigonometric.sin')?.severity).toBe('high');
  });

  it('a string hidden in a tuple argument or in a nested sympy call is found', async () => {
    const inTuple = await findings(asm(op.PROTO(2), op.GLOBAL(...SIN), op.MARK, op.INT(1), op.BINUNICODE(PAYLOAD), op.TUPLE, op.TUPLE1, op.NEWOBJ, op.STOP));
    expect(unknown(inTuple, 'sympy.functions.elementary.trigonometric.sin')?.severity).toBe('high');
    // exp(sin(<string>)): sin is the one handed the string.
    const nested = await findings(asm(op.PROTO(2), op.GLOBAL('sympy.functions.elementary.exponential', 'exp'), op.GLOBAL(...SIN), op.BINUNICODE(PAYLOAD), op.TUPLE1, op.NEWOBJ, op.TUPLE1, op.NEWOBJ, op.STOP));
    expect(unknown(nested, 'sympy.functions.elementary.trigonometric.sin')?.severity).toBe('high');
    // exp's argument is that harmful sin call, so exp is not accepted either.
    expect(unknown(nested, 'sympy.functions.elementary.exponential.exp')?.severity).toBe('high');
  });

  it('sin(Symbol("x")) is not reported; sin(<object of another library>) stays medium', async () => {
    const ok = await findings(asm(op.PROTO(2), op.GLOBAL(...SIN), op.GLOBAL(...SYMBOL), op.BINUNICODE('x'), op.TUPLE1, op.NEWOBJ, op.TUPLE1, op.NEWOBJ, op.STOP));
    expect(loud(ok)).toEqual([]);
    expect(unknown(ok, 'sympy.functions.elementary.trigonometric.sin')).toBeUndefined();
    const other = await findings(asm(op.PROTO(2), op.GLOBAL(...SIN), op.GLOBAL('collections', 'OrderedDict'), op.EMPTY_TUPLE, op.NEWOBJ, op.TUPLE1, op.NEWOBJ, op.STOP));
    const u = unknown(other, 'sympy.functions.elementary.trigonometric.sin');
    expect(u?.severity).toBe('medium');
    expect(u?.message).toContain('passes an object of collections.OrderedDict, which sympify would call into');
  });

  it('one harmful call among harmless ones is reported', async () => {
    const f = await findings(asm(
      op.PROTO(2), op.GLOBAL(...SIN), op.BINPUT(0), op.GLOBAL(...SYMBOL), op.BINUNICODE('x'), op.TUPLE1, op.NEWOBJ, op.TUPLE1, op.NEWOBJ,
      op.BINGET(0), op.BINUNICODE(PAYLOAD), op.TUPLE1, op.NEWOBJ, op.TUPLE2, op.STOP,
    ));
    expect(unknown(f, 'sympy.functions.elementary.trigonometric.sin')?.severity).toBe('high');
  });

  it('expressions and matrices as sympy pickles them are quiet', async () => {
    const py = runPython(`
import pickle, sympy as sp
x, y = sp.symbols('x y')
for name, e in {'trig': sp.sin(x) * sp.exp(-y) + sp.cos(sp.log(x + 2)), 'matrix': sp.Matrix([[x, 1], [0, sp.Rational(1, 2)]]),
                'intmatrix': sp.Matrix([[1, 2], [3, 4]]), 'immutable': sp.ImmutableMatrix([[sp.sin(x), y]]), 'tuple': sp.Tuple(x, sp.atan2(y, x))}.items():
    for p in (2, 4):
        open(os.path.join(OUT, f'{name}.{p}.pkl'), 'wb').write(pickle.dumps(e, protocol=p))
`);
    for (const name of ['trig', 'matrix', 'intmatrix', 'immutable', 'tuple']) {
      for (const p of [2, 4]) expect(loud(await findings(py.file(`${name}.${p}.pkl`))), `${name}.${p}`).toEqual([]);
    }
  }, 60_000);
});

describe('dateutil tzfile is judged by its first argument', () => {
  it("tzfile('/etc/passwd') opens a host file: medium, saying so", async () => {
    const f = await findings(asm(op.GLOBAL(...TZFILE), op.STRING('/etc/passwd'), op.TUPLE1, op.REDUCE, op.STOP));
    const u = unknown(f, 'dateutil.tz.tz.tzfile');
    expect(u?.severity).toBe('medium');
    expect(u?.message).toBe("calls dateutil.tz.tz.tzfile, which is not known to be safe; its first argument is a path, which it opens: '/etc/passwd'");
  });

  it('tzfile(<object>) stays medium; tzfile(None, name) as dateutil pickles it is quiet', async () => {
    const obj = await findings(asm(op.GLOBAL(...TZFILE), op.GLOBAL('io', 'BytesIO'), op.EMPTY_TUPLE, op.REDUCE, op.TUPLE1, op.REDUCE, op.STOP));
    expect(unknown(obj, 'dateutil.tz.tz.tzfile')?.severity).toBe('medium');
    const py = runPython(`
import pickle, pandas as pd, dateutil.tz
s = pd.Series(pd.date_range('2024-01-01', periods=3, tz=dateutil.tz.gettz('Asia/Tokyo')))
open(os.path.join(OUT, 's.pkl'), 'wb').write(pickle.dumps(s, protocol=4))
open(os.path.join(OUT, 'tz.pkl'), 'wb').write(pickle.dumps(dateutil.tz.gettz('Europe/Paris'), protocol=2))
`);
    expect(loud(await findings(py.file('s.pkl')))).toEqual([]);
    const tz = await findings(py.file('tz.pkl'));
    expect(loud(tz)).toEqual([]);
    expect(unknown(tz, 'dateutil.tz.tz.tzfile')).toBeUndefined();
  }, 60_000);
});

describe('rules/call-conditions.yaml', () => {
  it('loads, and every global it lists is a class in the installed library', () => {
    const names = [...callConditionCatalogue().byGlobal.keys()];
    expect(names).toContain('dateutil.tz.tz.tzfile');
    const py = runPython(`
import importlib, json
names = ${JSON.stringify(names)}
bad = []
for g in names:
    m, n = g.rsplit('.', 1)
    if not isinstance(getattr(importlib.import_module(m), n, None), type): bad.append(g)
open(os.path.join(OUT, 'bad.json'), 'w').write(json.dumps(bad))
`);
    expect(JSON.parse(new TextDecoder().decode(py.file('bad.json')))).toEqual([]);
  }, 60_000);

  it('refuses entries without a reason or with an unknown condition', () => {
    expect(() => parseCallConditions('version: 1\nconditions:\n  - globals: [a.b]\n    condition: first-argument-none\n    violated: medium\n    references: [x]\n')).toThrow(/reason/);
    expect(() => parseCallConditions('version: 1\nconditions:\n  - globals: [a.b]\n    condition: anything\n    violated: medium\n    reason: r\n    references: [x]\n')).toThrow(/condition/);
  });
});

describe("sympy's own string parsers are dangerous globals, not conditioned ones", () => {
  const dangerous = (f: Finding[]) => f.filter((x) => x.rule === 'PICKLE_DANGEROUS_GLOBAL').map((x) => `${x.severity} ${x.message}`);

  it('sympify, S and parse_expr called by the load are critical; a partial binding sympify is too', async () => {
    expect(dangerous(await findings(asm(op.PROTO(2), op.GLOBAL('sympy.core.sympify', 'sympify'), op.BINUNICODE(PAYLOAD), op.TUPLE1, op.REDUCE, op.STOP)))).toEqual(['critical calls sympy.core.sympify.sympify']);
    expect(dangerous(await findings(asm(op.PROTO(2), op.GLOBAL('sympy', 'S'), op.BINUNICODE('x+1'), op.TUPLE1, op.REDUCE, op.STOP)))).toEqual(['critical calls sympy.S']);
    expect(dangerous(await findings(asm(op.PROTO(2), op.GLOBAL('sympy.parsing.sympy_parser', 'parse_expr'), op.BINUNICODE(PAYLOAD), op.TUPLE1, op.REDUCE, op.STOP)))).toEqual(['critical calls sympy.parsing.sympy_parser.parse_expr']);
    expect(dangerous(await findings(asm(op.PROTO(2), op.GLOBAL('functools', 'partial'), op.GLOBAL('sympy', 'sympify'), op.TUPLE1, op.REDUCE, op.STOP)))).toEqual(['critical calls functools.partial; reaches sympy.sympify', 'critical imports sympy.sympify']);
  });
});
