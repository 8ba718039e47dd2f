/**
 * numpy.vectorize is a call wrapper: called, it calls what it wraps. scipy.stats discrete
 * distributions keep vectorize objects, which pickle rebuilds with __new__ and a state, never
 * calling them; a RandomizedSearchCV over randint was reported critical for that. Real files come
 * from scikit-learn and scipy; hand-assembled ones are never loaded.
 */
import { describe, expect, it } from 'vitest';
import { atLeast, scanBytes, type Finding } from '../../src/index.js';
import { asm, op } from '../helpers/asm.js';
import { runPython } from '../helpers/python.js';

async function findings(bytes: Uint8Array): Promise<Finding[]> {
  return (await scanBytes(bytes, 'search.joblib')).files[0]!.findings;
}
const loud = (f: Finding[]) => f.filter((x) => atLeast(x.severity, 'medium')).map((x) => `${x.severity} ${x.rule}: ${x.message}`);
const vectorize = (f: Finding[]) => f.filter((x) => x.rule === 'PICKLE_DANGEROUS_GLOBAL' && x.evidence.canonical === 'numpy.vectorize');

describe('numpy.vectorize', () => {
  it('a RandomizedSearchCV over scipy randint and poisson (joblib.dump) is not flagged: the vectorize objects are only rebuilt', async () => {
    const py = runPython(`
import warnings; warnings.filterwarnings("ignore")
import joblib
from scipy.stats import poisson, randint
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import RandomizedSearchCV
X, y = make_classification(n_samples=60, random_state=0)
s = RandomizedSearchCV(RandomForestClassifier(n_estimators=3, random_state=0), {"max_depth": randint(2, 6), "min_samples_leaf": poisson(2)}, n_iter=2, cv=2, random_state=0).fit(X, y)
joblib.dump(s, os.path.join(OUT, "search.joblib"))
`);
    const f = await findings(py.file('search.joblib'));
    expect(loud(f)).toEqual([]);
    const v = vectorize(f);
    expect(v.map((x) => `${x.severity} ${x.message}`)).toEqual(['low constructs numpy.vectorize without calling it']);
    expect(v[0]!.evidence.reason).toMatch(/defines no __setstate__/);
  });

  it('calling numpy.vectorize, or rebuilding one around os.system, stays critical', async () => {
    const called = await findings(asm(op.GLOBAL('numpy', 'vectorize'), op.GLOBAL('mylib', 'fn'), op.TUPLE1, op.REDUCE, op.STOP));
    expect(vectorize(called).map((x) => `${x.severity} ${x.message}`)).toEqual(['critical calls numpy.vectorize']);
    const wrapsSystem = await findings(asm(op.PROTO(2), op.GLOBAL('numpy', 'vectorize'), op.EMPTY_TUPLE, op.NEWOBJ, op.EMPTY_DICT, op.BINUNICODE('pyfunc'), op.GLOBAL('os', 'system'), op.SETITEM, op.BUILD, op.STOP));
    expect(wrapsSystem.find((x) => x.rule === 'PICKLE_DANGEROUS_GLOBAL' && x.evidence.canonical === 'os.system')?.severity).toBe('critical');
  });

  it('a rebuilt vectorize that the load then calls is a computed call', async () => {
    // vectorize.__new__(vectorize) given {'pyfunc': mylib.fn}, then called with ('x',) by REDUCE.
    const f = await findings(asm(op.PROTO(2), op.GLOBAL('numpy', 'vectorize'), op.EMPTY_TUPLE, op.NEWOBJ, op.EMPTY_DICT, op.BINUNICODE('pyfunc'), op.GLOBAL('mylib', 'fn'), op.SETITEM, op.BUILD, op.BINUNICODE('x'), op.TUPLE1, op.REDUCE, op.STOP));
    expect(loud(f)).toEqual(["high PICKLE_COMPUTED_CALL: calls a value computed at load time: numpy.vectorize().__setstate__({'pyfunc': mylib.fn})('x')"]);
  });
});
