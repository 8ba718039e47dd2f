/**
 * The `patsy-formula-state` condition of rules/call-conditions.yaml: statsmodels' ModelData
 * classes re-evaluate the model formula their pickled state carries (`__setstate__` sees
 * `restore_model_spec` and calls the formula engine on `formula`), and patsy evaluates each
 * factor of a formula as Python with `eval`. A formula is accepted only when it is made of
 * what formulas are written with: column names, numbers, plain string literals, formula
 * operators, and calls of the functions the entry lists (`C(g)`, `np.log(x)`). Everything else
 * (a call of any other name, `__` names, keywords such as lambda, a call of a parenthesised or
 * subscripted expression, f-strings, non-ASCII names that NFKC could turn into `eval`) fails.
 */
import type { CallCondition } from '../../rules/call-conditions.js';
import { render, type Value } from '../../pickle/values.js';
import { stateLookup, STATE_OK as OK, UNREAD_DICT, type StateVerdict } from './state-lookup.js';

const TRIGGER = 'restore_model_spec';
const FORMULA = 'formula';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/;
const NUMBER = /^(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[jJ]?/;
const STRING = /^(?:'[^'\\\n\r]*'|"[^"\\\n\r]*")/;
const SPACE = /^[ \t\r\n]+/;
/** Formula operators and the punctuation of calls, subscripts and keyword arguments. */
const OPERATORS = ['**', '~', '+', '-', '*', '/', ':', '|', '%', ',', '(', ')', '[', ']', '='];
const KEYWORDS = new Set([
  'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def', 'del', 'elif', 'else', 'except', 'finally',
  'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal', 'not', 'or', 'pass', 'raise', 'return', 'try',
  'while', 'with', 'yield',
]);

type Token = { t: 'name' | 'number' | 'string' | 'op'; v: string };

/**
 * Builtins that do something when called without arguments (exit ends the process, breakpoint
 * opens pdb, input reads the terminal, help and the site banners print): patsy calls a contrast
 * given as a callable (`C(x, exit)`), so these names are refused wherever they appear.
 */
const SIDE_EFFECT_BUILTINS = new Set(['exit', 'quit', 'breakpoint', 'input', 'help', 'copyright', 'credits', 'license', 'print', 'globals', 'locals', 'vars', 'dir', 'eval', 'exec', 'compile', 'open']);
/** What patsy accepts as C's contrast: one of its coding classes (called by patsy if bare) or a matrix literal. */
const CONTRASTS = new Set(['Treatment', 'Sum', 'Diff', 'Helmert', 'Poly']);

/**
 * C(factor, contrast, levels=...): patsy calls the contrast when it is callable, so anything but
 * a coding class, a call of one, or a list literal is refused. `open` is the index of C's `(`.
 */
function contrastProblem(tokens: readonly Token[], open: number): string | null {
  let depth = 0;
  let arg = 0;
  for (let j = open; j < tokens.length; j++) {
    const t = tokens[j]!;
    if (t.t === 'op' && (t.v === '(' || t.v === '[')) {
      depth++;
      continue;
    }
    if (t.t === 'op' && (t.v === ')' || t.v === ']')) {
      depth--;
      if (depth === 0) return null;
      continue;
    }
    if (depth === 1 && t.t === 'op' && t.v === ',') {
      arg++;
      const first = tokens[j + 1];
      const after = tokens[j + 2];
      if (first?.t === 'name' && after?.t === 'op' && after.v === '=') {
        if (first.v !== 'levels') return `C's keyword ${first.v}`;
        continue;
      }
      if (arg >= 1 && !(first?.t === 'name' && CONTRASTS.has(first.v)) && !(first?.t === 'op' && first.v === '[')) {
        return `a contrast for C that is not one of patsy's coding classes (${first ? first.v : 'nothing'})`;
      }
    }
  }
  return null;
}

/** Why `formula` is not a plain formula, or null when it is one. */
export function formulaProblem(formula: string, functions: ReadonlySet<string>): string | null {
  const tokens: Token[] = [];
  // What the tokenizer cannot read is reported after what the tokens show (`__import__` says
  // more than the `.` after its call).
  let unreadable: string | null = null;
  let rest = formula;
  while (rest.length > 0) {
    const space = SPACE.exec(rest);
    if (space) {
      rest = rest.slice(space[0].length);
      continue;
    }
    let m = NAME.exec(rest);
    if (m) {
      tokens.push({ t: 'name', v: m[0] });
      rest = rest.slice(m[0].length);
      continue;
    }
    m = NUMBER.exec(rest);
    if (m) {
      tokens.push({ t: 'number', v: m[0] });
      rest = rest.slice(m[0].length);
      continue;
    }
    m = STRING.exec(rest);
    if (m) {
      // A letter right before the quote makes a prefixed string: f'{...}' evaluates what it holds.
      if (/[A-Za-z0-9_]/.test(formula[formula.length - rest.length - 1] ?? '')) unreadable ??= `a prefixed string literal (${m[0].slice(0, 20)})`;
      tokens.push({ t: 'string', v: m[0] });
      rest = rest.slice(m[0].length);
      continue;
    }
    if (rest.startsWith(':=')) {
      unreadable ??= 'an assignment expression (:=)';
      rest = rest.slice(2);
      continue;
    }
    const op = OPERATORS.find((o) => rest.startsWith(o));
    if (!op) {
      const ch = String.fromCodePoint(rest.codePointAt(0)!);
      unreadable ??= `the character ${JSON.stringify(ch)}, which formulas are not written with`;
      rest = rest.slice(ch.length);
      continue;
    }
    tokens.push({ t: 'op', v: op });
    rest = rest.slice(op.length);
  }
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    const next = tokens[i + 1];
    const calls = next?.t === 'op' && next.v === '(';
    // Q('__builtins__') looks a name up by its text.
    if (tok.t === 'string' && tok.v.includes('__')) return `the string ${tok.v}`;
    if (tok.t === 'name') {
      if (tok.v.includes('__')) return `the name ${tok.v}`;
      if (KEYWORDS.has(tok.v)) return `the keyword ${tok.v}`;
      if (SIDE_EFFECT_BUILTINS.has(tok.v)) return `the builtin ${tok.v}, which patsy may call (a contrast that is callable is called)`;
      if (calls && !functions.has(tok.v)) return `a call of ${tok.v}`;
      if (tok.v === 'C' && calls) {
        const bad = contrastProblem(tokens, i + 1);
        if (bad !== null) return bad;
      }
      continue;
    }
    // A call of anything but a listed name: `(f)(x)`, `x[0](y)`, `'s'(…)`, `f(x)(y)`.
    if (calls && !(tok.t === 'op' && tok.v !== ')' && tok.v !== ']')) return `a call of a computed value after ${tok.v}`;
  }
  return unreadable;
}

/**
 * Judges the state one BUILD hands to a class under a patsy-formula-state entry. Only a dict
 * reaches the formula engine (any other state fails on `d["frame"]` with a TypeError first);
 * a dict the machine sampled, a formula that is not a fully read string (a patsy ModelDesc
 * holds code too) or an object state cannot be verified.
 */
export function judgeFormulaState(entry: CallCondition, state: Value, classOf: (v: Value) => string | null): StateVerdict {
  switch (state.k) {
    case 'none':
    case 'bool':
    case 'int':
    case 'float':
    case 'str':
    case 'bytes':
    case 'tuple':
    case 'list':
    case 'set':
      return OK;
    case 'dict':
      break;
    default:
      return { ok: false, why: `its state is ${render(state)}, which the scanner cannot read`, seen: false };
  }
  const trigger = stateLookup(state, TRIGGER);
  if (trigger === null) return UNREAD_DICT;
  if (trigger === undefined) return OK;
  const formula = stateLookup(state, FORMULA);
  if (formula === null) return UNREAD_DICT;
  if (formula === undefined) return OK;
  if (formula.k !== 'str' || formula.v.length < formula.len) {
    return { ok: false, why: `its state asks for the formula to be evaluated again, and the formula is ${render(formula)}, which the scanner cannot read`, seen: false };
  }
  const problem = formulaProblem(formula.v, entry.formulaFunctions);
  if (problem !== null) return { ok: false, why: `its state's formula ${render(formula)} is evaluated with eval when the object is unpickled, and holds ${problem}`, seen: true };
  // The formula's names are looked up in the data first: a dict the pickle built could map `C`
  // to any callable. A DataFrame's columns are Series, but a Series serves its cells as
  // attributes (`np.log` on a column `np`), so the file's callables are checked at flush
  // (ConditionedCalls.formulasAgainst). Without `frame`, the data is orig_endog.join(orig_exog),
  // a method looked up on whatever that is.
  const find = (key: string) => stateLookup(state, key) ?? undefined; // the dict was read whole above
  const frame = find('frame');
  const sources = frame !== undefined ? [['frame', frame] as const] : [['orig_endog', find('orig_endog')] as const, ['orig_exog', find('orig_exog')] as const];
  for (const [key, v] of sources) {
    const cls = v === undefined ? null : classOf(v);
    if (cls === null || !PANDAS_DATA.has(cls)) {
      return { ok: false, why: `its state's formula is evaluated against ${key}, which is ${v === undefined ? 'missing' : render(v)}, not a pandas DataFrame or Series`, seen: false };
    }
  }
  return { ok: true, evaluates: true };
}

/** What a formula's names may be looked up in without finding a callable the pickle chose. */
const PANDAS_DATA: ReadonlySet<string> = new Set(['pandas.DataFrame', 'pandas.core.frame.DataFrame', 'pandas.Series', 'pandas.core.series.Series']);
