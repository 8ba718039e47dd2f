/**
 * The `scipy-argparser-state` condition of rules/call-conditions.yaml: scipy.stats distributions
 * (rv_continuous, rv_discrete and every *_gen subclass) run a string of their pickled state.
 * rv_generic.__setstate__ updates __dict__ with the state and calls _attach_methods, which calls
 * _attach_argparser_methods: exec(self._parse_arg_template, ns). scipy writes that template from
 * the distribution's shape names, so a template is accepted only when it is exactly what scipy
 * generates for some list of identifiers (and one of its two loc/scale signatures).
 */
import { isPlainKey, stateLookup, STATE_OK, type StateVerdict } from './state-lookup.js';
import type { Value } from '../../pickle/values.js';
import { render } from '../../pickle/values.js';


const OK = STATE_OK;
export const ARGPARSER_KEY = '_parse_arg_template';

/** scipy/stats/_distn_infrastructure.py's parse_arg_template, with the values it is filled with. */
function template(shapes: string, locscaleIn: string, locscaleOut: string): string {
  return `
def _parse_args(self, ${shapes} ${locscaleIn}):
    return (${shapes}), ${locscaleOut}

def _parse_args_rvs(self, ${shapes} ${locscaleIn}, size=None):
    return self._argcheck_rvs(${shapes} ${locscaleOut}, size=size)

def _parse_args_stats(self, ${shapes} ${locscaleIn}, moments='mv'):
    return (${shapes}), ${locscaleOut}, moments
`;
}

/** _construct_argparser's callers: rv_continuous (loc and scale), rv_discrete and rv_sample (loc; scale is 1). */
const LOCSCALE = new Map([
  ['loc=0, scale=1', 'loc, scale'],
  ['loc=0', 'loc, 1'],
]);
const HEAD = /^\ndef _parse_args\(self, ((?:[A-Za-z_][A-Za-z0-9_]*, )*) (loc=0, scale=1|loc=0)\):\n/;
const KEYWORDS = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def', 'del', 'elif', 'else',
  'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal', 'not', 'or', 'pass', 'raise',
  'return', 'try', 'while', 'with', 'yield',
]);
const NOT_SCIPYS = 'it is not the argument parsers scipy generates';

/** Why `text` is not a template scipy generates, or null when it is one. */
export function argparserProblem(text: string): string | null {
  const m = HEAD.exec(text);
  if (!m) return NOT_SCIPYS;
  const shapes = m[1]!;
  // scipy refuses keywords as shape names (_construct_argparser); a keyword here was not written by it.
  for (const name of shapes.split(', ').filter(Boolean)) if (KEYWORDS.has(name)) return `its shape name ${name} is a Python keyword`;
  return text === template(shapes, m[2]!, LOCSCALE.get(m[2]!)!) ? null : NOT_SCIPYS;
}

/**
 * What `__dict__.update(state)` would set `key` to: the value, undefined when it is not set, or
 * null when the state cannot be read well enough to say. update() takes a dict or an iterable of
 * key/value pairs, so a list or tuple of pairs sets attributes too.
 */
export function updatedValue(state: Value, key: string): Value | undefined | null {
  const isKey = (k: Value) => k.k === 'str' && k.v === key;
  switch (state.k) {
    case 'dict':
      return stateLookup(state, key);
    case 'list':
    case 'tuple': {
      let found: Value | undefined;
      for (const item of state.items) {
        if ((item.k === 'tuple' || item.k === 'list') && item.items.length === 2 && item.len === 2) {
          const k = item.items[0]!;
          if (!isPlainKey(k)) return null; // an object key (numpy.str_) can equal the name
          if (isKey(k)) found = item.items[1]!; // the last pair wins, as in update()
          continue;
        }
        if (item.k === 'str' || item.k === 'bytes') continue; // a 2-character string sets a 1-character name
        return null;
      }
      return state.items.length >= state.len ? found : null;
    }
    case 'none':
    case 'bool':
    case 'int':
    case 'float':
    case 'str':
    case 'bytes':
    case 'set':
      return undefined;
    default:
      return null;
  }
}

/**
 * Methods rv_generic.__setstate__ calls on the instance after `__dict__.update(state)`:
 * _attach_methods, which calls _attach_argparser_methods, and __init__ when that raises
 * ValueError (scipy/stats/_distn_infrastructure.py). Functions are non-data descriptors, so an
 * instance-dict entry of one of these names is what gets called.
 */
const CALLED_AFTER_UPDATE = ['_attach_methods', '_attach_argparser_methods', '__init__'];

/** Judges the state one BUILD hands a class under a scipy-argparser-state entry (or any class whose state holds the template). */
export function judgeArgparserState(state: Value): StateVerdict {
  for (const name of CALLED_AFTER_UPDATE) {
    const shadow = updatedValue(state, name);
    if (shadow === null) return { ok: false, why: `its state is ${render(state)}, which the scanner cannot read`, seen: false };
    if (shadow !== undefined) return { ok: false, why: `its state sets ${name} to ${render(shadow)}, which __setstate__ then calls in place of the method`, seen: true };
  }
  const v = updatedValue(state, ARGPARSER_KEY);
  if (v === undefined) return OK;
  if (v === null) return { ok: false, why: `its state is ${render(state)}, which the scanner cannot read`, seen: false };
  if (v.k !== 'str' || v.v.length < v.len) {
    return { ok: false, why: `its state's ${ARGPARSER_KEY} is ${render(v)}, which the scanner cannot read, and it is run with exec when the object is unpickled`, seen: false };
  }
  const problem = argparserProblem(v.v);
  return problem === null ? OK : { ok: false, why: `its state's ${ARGPARSER_KEY} ${render(v)} is run with exec when the object is unpickled, and ${problem}`, seen: true };
}
