/**
 * statsmodels' ModelData.__setstate__ evaluates the formula its state carries (patsy evals each
 * factor). Results files are written by the real statsmodels, some with the formula attribute
 * replaced before saving; hand-assembled pickles cover the states no library writes. Nothing
 * is ever loaded.
 */
import { describe, expect, it } from 'vitest';
import { atLeast, scanBytes, type Finding } from '../../src/index.js';
import { formulaProblem } from '../../src/formats/pickle/formula-state.js';
import { callConditionCatalogue } from '../../src/rules/call-conditions.js';
import { asm, op, type Part } from '../helpers/asm.js';
import { runPython } from '../helpers/python.js';

async function findings(bytes: Uint8Array): Promise<Finding[]> {
  return (await scanBytes(bytes, 'results.pickle')).files[0]!.findings;
}
const PANDAS_DATA = 'statsmodels.base.data.PandasData';
const data = (f: Finding[]) => f.find((x) => x.rule === 'PICKLE_UNKNOWN_GLOBAL' && x.evidence.canonical === PANDAS_DATA);
const loud = (f: Finding[]) => f.filter((x) => atLeast(x.severity, 'medium')).map((x) => `${x.severity} ${x.rule}: ${x.message}`);

const FUNCTIONS = callConditionCatalogue().byGlobal.get(PANDAS_DATA)!.formulaFunctions;

describe('formulas that only compute are accepted', () => {
  it.each([
    'y ~ a + b + C(g)',
    'y ~ a * b - 1',
    'np.log(y) ~ a + I(a ** 2) + I(b / 2) + a:b',
    "y ~ C(g, Treatment('x')) + Q('odd name') + center(a) + standardize(b)",
    'y ~ bs(a, df=4) + C(g, levels=[1, 2, 3])',
    'y ~ C(g, Sum) + C(h, Treatment(reference=2)) + C(k, [[1, 0], [0, 1]])',
    'y ~ a + b | g',
    '~ 0 + a + numpy.exp(-1.5e-3 * b)',
  ])('%s', (formula) => {
    expect(formulaProblem(formula, FUNCTIONS)).toBeNull();
  });
});

describe('formulas that run code are refused, naming what', () => {
  it.each([
    ["y ~ I(__import__('os').system('id'))", 'the name __import__'],
    ["y ~ a + eval('1')", 'the builtin eval, which patsy may call (a contrast that is callable is called)'],
    ['y ~ C(x, exit)', "a contrast for C that is not one of patsy's coding classes (exit)"],
    ['y ~ I(exit)', 'the builtin exit, which patsy may call (a contrast that is callable is called)'],
    ["y ~ C(x, Q('__builtins__')['breakpoint'])", "a contrast for C that is not one of patsy's coding classes (Q)"],
    ["y ~ Q('__builtins__')", "the string '__builtins__'"],
    ['y ~ C(x, mycoding)', "a contrast for C that is not one of patsy's coding classes (mycoding)"],
    ['y ~ C(x, reference=mycoding)', "C's keyword reference"],
    ["y ~ np.load('x.npy')", 'a call of np.load'],
    ['y ~ (lambda: 0)()', 'the keyword lambda'],
    ["y ~ I((np.log)('x'))", 'a call of a computed value after )'],
    ["y ~ I(a[0]('x'))", 'a call of a computed value after ]'],
    ["y ~ I('x'('y'))", "a call of a computed value after 'x'"],
    ['y ~ I(f"{a}")', 'a prefixed string literal ("{a}")'],
    ['y ~ I((log := a))', 'an assignment expression (:=)'],
    ["y ~ I('a'.join(b))", 'a call of join'],
    ['y ~ I((a).real)', 'the character ".", which formulas are not written with'],
    ['y ~ ｅｖａｌ(a)', 'the character "ｅ", which formulas are not written with'],
    ['y ~ a # comment', 'the character "#", which formulas are not written with'],
  ])('%s', (formula, why) => {
    expect(formulaProblem(formula, FUNCTIONS)).toBe(why);
  });
});

describe('statsmodels results files', () => {
  const py = runPython(`
import io, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd, statsmodels.formula.api as smf
rng = np.random.default_rng(1)
df = pd.DataFrame({"y": rng.normal(size=30), "a": rng.normal(size=30), "b": rng.normal(size=30) + 5, "g": rng.integers(0, 3, size=30)})
res = smf.ols("y ~ a + np.log(b) + I(a ** 2) + C(g, Treatment(0))", df).fit()
res.save(os.path.join(OUT, "plain.pickle"))
res.model.data.formula = "y ~ a + I(__import__('os').system('echo mg'))"
res.save(os.path.join(OUT, "code.pickle"), remove_data=True)
res.model.data.formula = "y ~ a + np.load('weights.npy')"
res.save(os.path.join(OUT, "call.pickle"), remove_data=True)
`);

  it('a formula-fitted OLS saved by statsmodels stays a low construction', async () => {
    const f = await findings(py.file('plain.pickle'));
    expect(loud(f)).toEqual([]);
    expect(data(f)?.severity).toBe('low');
    expect(data(f)?.message).toBe(`constructs ${PANDAS_DATA}, which is not known to be safe`);
  });

  it('the same results with a code term in the formula are high, quoting the formula', async () => {
    const f = await findings(py.file('code.pickle'));
    const d = data(f);
    expect(d?.severity).toBe('high');
    expect(d?.message).toBe(
      `constructs ${PANDAS_DATA}, which is not known to be safe; its state's formula 'y ~ a + I(__import__(\\'os\\').system(\\'echo mg\\'))' is evaluated with eval when the object is unpickled, and holds the name __import__`,
    );
    expect(d?.evidence.opcode).toBe('BUILD');
    expect(d?.evidence.reason).toMatch(/patsy evaluates every factor of the formula with eval/);
    const c = await findings(py.file('call.pickle'));
    expect(data(c)?.severity).toBe('high');
    expect(data(c)?.message).toMatch(/holds a call of np\.load$/);
  });
});

describe('states no library writes', () => {
  const build = (...state: Part[]) => asm(op.PROTO(2), op.GLOBAL('statsmodels.base.data', 'PandasData'), op.EMPTY_TUPLE, op.NEWOBJ, ...state, op.BUILD, op.STOP);
  const dictOf = (...pairs: Part[]) => [op.EMPTY_DICT, op.MARK, ...pairs, op.SETITEMS];

  it('restore_model_spec with a formula that is an object the scanner cannot read is medium', async () => {
    const f = await findings(build(...dictOf(op.BINUNICODE('restore_model_spec'), op.NEWTRUE, op.BINUNICODE('formula'), op.GLOBAL('patsy.desc', 'ModelDesc'), op.EMPTY_TUPLE, op.NEWOBJ)));
    expect(data(f)?.severity).toBe('medium');
    expect(data(f)?.message).toMatch(/its state asks for the formula to be evaluated again, and the formula is patsy\.desc\.ModelDesc\(\), which the scanner cannot read$/);
  });

  it('a plain formula evaluated against a dict the pickle built is medium: its names are looked up there first', async () => {
    // {'C': mylib.helpers.run}: `C(a)` would call that function with the column.
    const frame = [op.EMPTY_DICT, op.BINUNICODE('C'), op.GLOBAL('mylib.helpers', 'run'), op.SETITEM];
    const f = await findings(build(...dictOf(op.BINUNICODE('restore_model_spec'), op.NEWTRUE, op.BINUNICODE('formula'), op.BINUNICODE('y ~ C(a)'), op.BINUNICODE('frame'), ...frame)));
    expect(data(f)?.severity).toBe('medium');
    expect(data(f)?.message).toMatch(/its state's formula is evaluated against frame, which is \{'C': mylib\.helpers\.run\}, not a pandas DataFrame or Series$/);
  });

  it('a repeated formula key is judged by its last value, as the dict keeps it', async () => {
    const f = await findings(build(...dictOf(op.BINUNICODE('restore_model_spec'), op.NEWTRUE, op.BINUNICODE('formula'), op.BINUNICODE('y ~ a'), op.BINUNICODE('formula'), op.BINUNICODE("y ~ I(__import__('os'))"))));
    expect(data(f)?.severity).toBe('high');
    expect(data(f)?.message).toMatch(/holds the name __import__$/);
  });

  it('a key that is an object (a str subclass equal to "formula" finds the same entry) makes the state unreadable: medium', async () => {
    // {'restore_model_spec': True, mylib.Key('formula'): <code>}: d['formula'] would find it.
    const key = [op.GLOBAL('copyreg', '_reconstructor'), op.GLOBAL('mylib', 'Key'), op.GLOBAL('builtins', 'str'), op.BINUNICODE('formula'), op.TUPLE3, op.REDUCE];
    const f = await findings(build(...dictOf(op.BINUNICODE('restore_model_spec'), op.NEWTRUE, ...key, op.BINUNICODE("y ~ I(__import__('os'))"))));
    expect(data(f)?.severity).toBe('medium');
    expect(data(f)?.message).toMatch(/its state is a dict the scanner cannot read whole \(larger than it keeps, or with keys that are objects\)$/);
  });

  it('a plain formula is unverified when the file also holds callables it could find in the data (a column np is a Series whose log is a cell)', async () => {
    // frame = {'np': <sympy sin>} stands for a DataFrame column; any referenced unknown callable in the file counts.
    const f = await findings(build(...dictOf(op.BINUNICODE('restore_model_spec'), op.NEWTRUE, op.BINUNICODE('formula'), op.BINUNICODE("y ~ np.log('x')"),
      op.BINUNICODE('frame'), op.GLOBAL('pandas', 'DataFrame'), op.EMPTY_TUPLE, op.NEWOBJ, op.EMPTY_DICT, op.BINUNICODE('cell'), op.GLOBAL('sympy.functions.elementary.trigonometric', 'sin'), op.SETITEM, op.BUILD)));
    expect(data(f)?.severity).toBe('medium');
    expect(data(f)?.message).toMatch(/the file also holds callables the scanner cannot place \(sympy\.functions\.elementary\.trigonometric\.sin\)$/);
  });

  it('a code formula without restore_model_spec is not evaluated: low', async () => {
    const f = await findings(build(...dictOf(op.BINUNICODE('formula'), op.BINUNICODE("I(__import__('os'))"))));
    expect(data(f)?.severity).toBe('low');
  });

  it('a direct call of PandasData stays a medium call, whatever its arguments', async () => {
    const f = await findings(asm(op.GLOBAL('statsmodels.base.data', 'PandasData'), op.BINUNICODE('y ~ a'), op.TUPLE1, op.REDUCE, op.STOP));
    expect(data(f)?.severity).toBe('medium');
    expect(data(f)?.message).toBe(`calls ${PANDAS_DATA}, which is not known to be safe`);
  });
});
