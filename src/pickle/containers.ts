/**
 * What the container opcodes do with the items they pop (APPENDS, SETITEMS, TUPLE...): a
 * symbolic container keeps its length and a small sample (values.ts). Each function takes the
 * leading items and the full count, so a caller that never built the rest (the scalar fast path,
 * scalars.ts) gets the same container as one that did; `*Keep` says how many leading items
 * that is.
 */
import { CALL_ARGS } from './calls.js';
import { SAMPLE, type Value } from './values.js';

/** Entries a symbolic dict keeps. */
export const DICT_SAMPLE = 32;

/** APPEND, APPENDS, ADDITEMS: list.extend / set.update on a list or set; anything else keeps nothing. */
export function appendTo(target: Value, items: readonly Value[], count = items.length): void {
  if (target.k !== 'list' && target.k !== 'set') return;
  for (let i = 0; i < items.length && target.items.length < SAMPLE; i++) target.items.push(items[i]!);
  target.len += count;
}

export function appendKeep(target: Value): number {
  return target.k === 'list' || target.k === 'set' ? Math.max(0, SAMPLE - target.items.length) : 0;
}

/**
 * SETITEM, SETITEMS, DICT: key/value pairs into a dict (an odd last item is dropped, as CPython's
 * loop does). Into an instance (a dict subclass the pickle made), the pairs are kept as its
 * `items`: some classes serve them as attributes (sklearn's Bunch.__getattr__), which the loader
 * may then call (instance-state.ts).
 */
export function addPairs(target: Value, items: readonly Value[], count = items.length): void {
  if (target.k === 'call') {
    target.items ??= { k: 'dict', entries: [], len: 0 };
    addPairs(target.items, items, count);
    return;
  }
  if (target.k !== 'dict') return;
  const pairs = Math.floor(count / 2);
  for (let i = 0; i + 1 < items.length && i < 2 * pairs && target.entries.length < DICT_SAMPLE; i += 2) target.entries.push([items[i]!, items[i + 1]!]);
  target.len += pairs;
}

export function pairsKeep(target: Value): number {
  if (target.k === 'call') return target.items ? pairsKeep(target.items) : 2 * DICT_SAMPLE;
  return target.k === 'dict' ? 2 * Math.max(0, DICT_SAMPLE - target.entries.length) : 0;
}

/** TUPLE: the items a tuple keeps (as many as a call's arguments). */
export function tupleOf(items: Value[], count = items.length): Value {
  return { k: 'tuple', items: items.length > CALL_ARGS ? items.slice(0, CALL_ARGS) : items, len: count };
}

export const TUPLE_KEEP = CALL_ARGS;

/** FROZENSET. */
export function frozensetOf(items: Value[], count = items.length): Value {
  return { k: 'set', items: items.length > SAMPLE ? items.slice(0, SAMPLE) : items, len: count, frozen: true };
}

export const SET_KEEP = SAMPLE;
