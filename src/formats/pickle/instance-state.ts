/**
 * What a pickle itself wrote onto an instance (BUILD states, a SimpleNamespace's mapping), read
 * back when the loader later looks a method up on that instance and calls it.
 */
import { render, type Value } from '../../pickle/values.js';

/** Attribute sources a pickle may fill for types.SimpleNamespace: its mapping argument (3.13+). */
const NAMESPACE = 'types.SimpleNamespace';

/**
 * What the pickle itself set as one of `names` on an instance (the first name found wins, as the
 * loader tries them in order): from SimpleNamespace's constructor mapping, then each BUILD state
 * in order (a dict, or a (dict, slots) pair; later ones overwrite). Null when nothing the pickle
 * wrote can be that attribute; an unknown value when a state was sampled or has keys the scanner
 * cannot read, since the name may hide there.
 */
export function ownAttribute(inst: Extract<Value, { k: 'call' }>, names: readonly string[], states: readonly Value[], canonical: (m: string, n: string) => string): Value | null {
  const sources: Value[] = [];
  const fn = inst.fn;
  if (fn.k === 'global' && canonical(fn.module, fn.name) === NAMESPACE) {
    if (inst.args[0] !== undefined) sources.push(inst.args[0]);
    if (inst.kwargs !== undefined) sources.push(inst.kwargs);
  }
  for (const st of states) {
    if (st.k === 'tuple' && st.len === 2) sources.push(...st.items);
    else sources.push(st);
  }
  for (const name of names) {
    let found: Value | null = null;
    for (const src of sources) {
      if (src.k === 'none') continue;
      if (src.k !== 'dict') {
        // A state the class's own __setstate__ reads: what it sets is the class's code, except
        // where the scanner could not read the state at all.
        if (src.k === 'unknown') found = src;
        continue;
      }
      for (const [key, value] of src.entries) {
        if (key.k === 'str' && key.v === name) found = value;
        else if (key.k === 'call' || key.k === 'unknown') found = { k: 'unknown', why: `a key the scanner cannot read (${render(key)})` };
      }
      if (src.entries.length < src.len) found = { k: 'unknown', why: `a dict of ${src.len} entries, sampled` };
    }
    if (found !== null) return found;
  }
  return null;
}
