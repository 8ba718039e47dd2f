/**
 * What `d[key]` finds in a dict the pickle built, as a __setstate__ reading its state would. Null
 * when that cannot be told from what the machine kept: the dict was sampled (a later pair could
 * set the key), or a key is an object (a str subclass or numpy.str_ equal to the key string
 * matches it too). Duplicate keys: the last pair wins, as in CPython's SETITEMS.
 */
import type { Value } from '../../pickle/values.js';

/** A state judge's answer; `evaluates`: accepted, and the class evaluates something (a formula). */
export type StateVerdict = { ok: true; evaluates?: true } | { ok: false; why: string; seen: boolean };
export const STATE_OK: StateVerdict = { ok: true };
/** stateLookup answered null. */
export const UNREAD_DICT: StateVerdict = { ok: false, why: 'its state is a dict the scanner cannot read whole (larger than it keeps, or with keys that are objects)', seen: false };

const PLAIN_KEYS: ReadonlySet<Value['k']> = new Set(['str', 'bytes', 'int', 'float', 'bool', 'none']);

/** A key that equals a string only when it is that string (not an object with its own __eq__). */
export function isPlainKey(k: Value): boolean {
  return PLAIN_KEYS.has(k.k);
}

export function stateLookup(state: Extract<Value, { k: 'dict' }>, key: string): Value | undefined | null {
  if (state.entries.length < state.len) return null;
  let found: Value | undefined;
  for (const [k, v] of state.entries) {
    if (!isPlainKey(k)) return null;
    if (k.k === 'str' && k.v === key) found = v;
  }
  return found;
}
