/**
 * scipy.stats distributions execute a string of their pickled state: rv_generic.__setstate__
 * calls _attach_argparser_methods, which runs exec(self._parse_arg_template). Files are written
 * by the real scipy (some with the template replaced before pickling); hand-assembled pickles
 * cover the states no library writes. Nothing is ever loaded.
 */
import { describe, expect, it } from 'vitest';
import { atLeast, scanBytes, type Finding } from '../../src/index.js';
import { argparserProblem } from '../../src/formats/pickle/argparser-state.js';
import { asm, op, type Part } from '../helpers/asm.js';
import { runPython } from '../helpers/python.js';

async function findings(bytes: Uint8Array): Promise<Finding[]> {
  return (await scanBytes(bytes, 'dist.pickle')).files[0]!.findings;
}
const of = (f: Finding[], canonical: string) => f.find((x) => x.rule === 'PICKLE_UNKNOWN_GLOBAL' && x.evidence.canonical === canonical);
const loud = (f: Finding[]) => f.filter((x) => atLeast(x.severity, 'medium')).map((x) => `${x.severity} ${x.rule}: ${x.message}`);

// What scipy 1.17 writes for a continuous distribution with shapes a, b (rv_continuous) and a
// discrete one without shapes (rv_discrete: loc only, scale fixed at 1).
const TEMPLATE = (shapes: string, inn: string, out: string) => `
def _parse_args(self, ${shapes} ${inn}):
    return (${shapes}), ${out}

def _parse_args_rvs(self, ${shapes} ${inn}, size=None):
    return self._argcheck_rvs(${shapes} ${out}, size=size)

def _parse_args_stats(self, ${shapes} ${inn}, moments='mv'):
    return (${shapes}), ${out}, moments
`;

describe('templates scipy generates are accepted', () => {
  it.each([
    ['a, b, ', 'loc=0, scale=1', 'loc, scale'],
    ['', 'loc=0, scale=1', 'loc, scale'],
    ['mu, ', 'loc=0', 'loc, 1'],
    ['_x1, n, p, ', 'loc=0', 'loc, 1'],
  ])('shapes %j, %s', (shapes, inn, out) => {
    expect(argparserProblem(TEMPLATE(shapes, inn, out))).toBeNull();
  });
});

describe('anything else is refused', () => {
  it.each([
    ["import os\nos.system('id')\n" + TEMPLATE('', 'loc=0', 'loc, 1'), 'it is not the argument parsers scipy generates'],
    [TEMPLATE("a=__import__('os').system('id'), ", 'loc=0', 'loc, 1'), 'it is not the argument parsers scipy generates'],
    [TEMPLATE('lambda, ', 'loc=0', 'loc, 1'), 'its shape name lambda is a Python keyword'],
    [TEMPLATE('a, ', 'loc=0', 'loc, 1') + '\nprint(1)\n', 'it is not the argument parsers scipy generates'],
    [TEMPLATE('a, ', 'loc=1', 'loc, 1'), 'it is not the argument parsers scipy generates'],
  ])('%j', (template, why) => {
    expect(argparserProblem(template)).toBe(why);
  });
});

describe('scipy.stats distributions pickled by scipy', () => {
  const py = runPython(`
import pickle, warnings
warnings.filterwarnings("ignore")
import numpy as np
from scipy import stats
from scipy.stats import _continuous_distns
plain = [stats.norm(0, 1), stats.gamma(2.0), stats.beta(2, 3, loc=1), stats.loguniform(1e-3, 1e3),
         stats.rv_histogram(np.histogram([1, 2, 2, 3, 3, 3], bins=3)), stats.rv_discrete(values=([0, 1, 2], [0.2, 0.5, 0.3])), stats.norm]
with open(os.path.join(OUT, "plain.pickle"), "wb") as f:
    pickle.dump(plain, f, protocol=4)
with open(os.path.join(OUT, "discrete.pickle"), "wb") as f:
    pickle.dump([stats.poisson(3), stats.binom(10, 0.3), stats.randint(1, 7)], f, protocol=4)
frozen = _continuous_distns.norm_gen(name="norm")(loc=1.0)
dist = frozen.dist  # freezing copies the distribution: the copy is what is pickled
dist._parse_arg_template = "import os\\nos.system('echo mg')\\n" + dist._parse_arg_template
with open(os.path.join(OUT, "code.pickle"), "wb") as f:
    pickle.dump(frozen, f, protocol=2)
`);

  it('distributions as scipy writes them stay low constructions', async () => {
    const f = await findings(py.file('plain.pickle'));
    expect(loud(f)).toEqual([]);
    expect(of(f, 'scipy.stats._continuous_distns.norm_gen')?.severity).toBe('low');
    expect(of(f, 'scipy.stats._distn_infrastructure.rv_sample')?.severity).toBe('low');
  });

  it("discrete distributions' templates (loc only) are accepted too", async () => {
    // Their state also holds vecentropy, a numpy.vectorize of a bound method, which the catalogue
    // reports on its own (critical): that finding is not this condition's.
    const f = await findings(py.file('discrete.pickle'));
    for (const g of ['poisson_gen', 'binom_gen', 'randint_gen']) expect(of(f, `scipy.stats._discrete_distns.${g}`)?.severity).toBe('low');
  });

  it('a template that also runs a command is high, saying where it runs', async () => {
    const f = await findings(py.file('code.pickle'));
    const d = of(f, 'scipy.stats._continuous_distns.norm_gen');
    expect(d?.severity).toBe('high');
    expect(d?.message).toMatch(
      /^constructs scipy\.stats\._continuous_distns\.norm_gen, which is not known to be safe; its state's _parse_arg_template 'import os\\nos\.system\(.*' is run with exec when the object is unpickled, and it is not the argument parsers scipy generates$/,
    );
    expect(d?.evidence.opcode).toBe('BUILD');
    expect(d?.evidence.reason).toMatch(/exec\(self\._parse_arg_template/);
  });
});

describe('states no library writes', () => {
  const dictOf = (...pairs: Part[]) => [op.EMPTY_DICT, op.MARK, ...pairs, op.SETITEMS];
  const build = (module: string, name: string, ...state: Part[]) => asm(op.PROTO(2), op.GLOBAL(module, name), op.EMPTY_TUPLE, op.NEWOBJ, ...state, op.BUILD, op.STOP);

  it("a subclass the loading script defines (__main__) is judged by the state's key", async () => {
    const f = await findings(build('__main__', 'MyDist', ...dictOf(op.BINUNICODE('_parse_arg_template'), op.BINUNICODE("import os\nos.system('id')\n"))));
    expect(of(f, '__main__.MyDist')?.severity).toBe('high');
  });

  it('a template that is not a fully read string is medium', async () => {
    const f = await findings(build('scipy.stats._continuous_distns', 'norm_gen', ...dictOf(op.BINUNICODE('_parse_arg_template'), op.GLOBAL('mylib', 'Template'), op.EMPTY_TUPLE, op.NEWOBJ)));
    expect(of(f, 'scipy.stats._continuous_distns.norm_gen')?.severity).toBe('medium');
  });

  it('a state entry named after a method __setstate__ calls replaces that method: high', async () => {
    // {'_attach_argparser_methods': functools.partial(sympy.sympify, '<code>')}: called by _attach_methods.
    const partial = [op.GLOBAL('functools', 'partial'), op.GLOBAL('sympy.core.sympify', 'sympify'), op.TUPLE1, op.REDUCE, op.MARK, op.GLOBAL('sympy.core.sympify', 'sympify'), op.MARK, op.BINUNICODE('1'), op.TUPLE, op.EMPTY_DICT, op.NONE, op.TUPLE, op.BUILD];
    const f = await findings(build('scipy.stats._continuous_distns', 'gamma_gen', ...dictOf(op.BINUNICODE('_attach_argparser_methods'), ...partial)));
    const d = of(f, 'scipy.stats._continuous_distns.gamma_gen');
    expect(d?.severity).toBe('high');
    expect(d?.message).toMatch(/its state sets _attach_argparser_methods to .*, which __setstate__ then calls in place of the method$/);
  });

  it('a state without the template stays low', async () => {
    const f = await findings(build('scipy.stats._continuous_distns', 'norm_gen', ...dictOf(op.BINUNICODE('shapes'), op.BINUNICODE('a'))));
    expect(of(f, 'scipy.stats._continuous_distns.norm_gen')?.severity).toBe('low');
  });
});
