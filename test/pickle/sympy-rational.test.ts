/**
 * sympy's Rational was on the safe list as a node "whose constructor uses the strict _sympify",
 * but Rational.__new__(p) with one argument that is neither a number nor a string runs the
 * non-strict sympify(p), which sympifies the items of a list or tuple and parses string items
 * with parse_expr (eval). Found by the session 7 audit (docs/rules/state-audit.md). Malicious
 * pickles are assembled by hand; benign ones are written by sympy. Nothing is ever loaded.
 */
import { describe, expect, it } from 'vitest';
import { atLeast, scanBytes, type Finding } from '../../src/index.js';
import { asm, op } from '../helpers/asm.js';
import { runPython } from '../helpers/python.js';

async function findings(bytes: Uint8Array): Promise<Finding[]> {
  return (await scanBytes(bytes, 'expr.pkl')).files[0]!.findings;
}
const RATIONAL = 'sympy.core.numbers.Rational';
const rational = (f: Finding[]) => f.find((x) => x.evidence.canonical === RATIONAL);
const loud = (f: Finding[]) => f.filter((x) => atLeast(x.severity, 'medium')).map((x) => `${x.severity} ${x.rule}: ${x.message}`);
const PAYLOAD = "__import__('os').system('echo mg')";

describe('sympy Rational', () => {
  it('Rational([<string>]) is high: sympify parses the list item with eval', async () => {
    const f = await findings(asm(op.GLOBAL('sympy.core.numbers', 'Rational'), op.EMPTY_LIST, op.BINUNICODE(PAYLOAD), op.APPEND, op.TUPLE1, op.REDUCE, op.STOP));
    expect(rational(f)?.severity).toBe('high');
    expect(rational(f)?.rule).toBe('PICKLE_UNKNOWN_GLOBAL');
  });

  it('Rational(1, 3) as sympy pickles it is quiet', async () => {
    const f = await findings(asm(op.PROTO(2), op.GLOBAL('sympy.core.numbers', 'Rational'), op.BININT1(1), op.BININT1(3), op.TUPLE2, op.NEWOBJ, op.STOP));
    expect(loud(f)).toEqual([]);
    expect(rational(f)).toBeUndefined();
  });

  it('expressions with rationals written by sympy stay quiet', async () => {
    const py = runPython(`
import pickle, sympy
x, y = sympy.symbols("x y")
e = [sympy.Rational(1, 3) * x + sympy.Rational(-7, 2) * y ** 2, sympy.Eq(x, sympy.Rational(5, 4)), sympy.S.Half * x]
open(os.path.join(OUT, "e.pkl"), "wb").write(pickle.dumps(e, protocol=4))
`);
    const f = await findings(py.file('e.pkl'));
    expect(loud(f)).toEqual([]);
  });
});
