/**
 * What a pickle itself wrote onto an instance (BUILD states, a SimpleNamespace's mapping), read
 * back when the loader later looks a method up on that instance and calls it.
 */
import { render, type Value } from '../../pickle/values.js';
import { canonicalPath, type Canonical } from '../../pickle/wrappers.js';
import type { AttributeFallback } from '../../rules/call-effects.js';

/** Attribute sources a pickle may fill for types.SimpleNamespace: its mapping argument (3.13+). */
const NAMESPACE = 'types.SimpleNamespace';

/** The class an instance was made from, canonical: cls(...), NEWOBJ of cls, copyreg.__newobj__/_reconstructor(cls, ...). */
function classOf(inst: Extract<Value, { k: 'call' }>, canonical: Canonical): string | null {
  const path = canonicalPath(inst.fn, canonical);
  if (path === 'copyreg.__newobj__' || path === 'copyreg.__newobj_ex__' || path === 'copyreg._reconstructor') {
    const cls = inst.args[0];
    return cls ? canonicalPath(cls, canonical) : null;
  }
  return path;
}

/**
 * The value `name` has in `sources` (later ones overwrite); an unknown value when a source was
 * sampled or has keys the scanner cannot read, since the name may hide there; null when absent.
 */
function lookup(sources: readonly Value[], name: string): Value | null {
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
  return found;
}

/** The mappings under `keys` of the state dicts (an OrderedDict the pickle built counts by its items). */
function stateMappings(states: readonly Value[], keys: readonly string[]): Value[] {
  const out: Value[] = [];
  for (const st of states) {
    const d = st.k === 'tuple' && st.len === 2 ? st.items[0] : st;
    if (d?.k !== 'dict') continue;
    for (const [key, value] of d.entries) {
      if (key.k !== 'str' || !keys.includes(key.v)) continue;
      if (value.k === 'dict') out.push(value);
      else if (value.k === 'call' && value.items) out.push(value.items);
    }
  }
  return out;
}

/**
 * What the pickle itself set as one of `names` on an instance (the first name found wins, as the
 * loader tries them in order): from SimpleNamespace's constructor mapping, then each BUILD state
 * in order (a dict, or a (dict, slots) pair; later ones overwrite); failing those, from what a
 * class's __getattr__ serves (rules/call-effects.yaml attribute_fallbacks: a Bunch's items, a
 * torch Module's _modules), unless the class defines the name. Null when nothing the pickle
 * wrote can be that attribute; an unknown value when a state was sampled or has keys the scanner
 * cannot read, since the name may hide there.
 */
export function ownAttribute(inst: Extract<Value, { k: 'call' }>, names: readonly string[], states: readonly Value[], canonical: Canonical, fallbacks: readonly AttributeFallback[] = []): Value | null {
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
    const found = lookup(sources, name);
    if (found !== null) return found;
  }
  if (fallbacks.length === 0) return null;
  const cls = classOf(inst, canonical);
  for (const name of names) {
    for (const fb of fallbacks) {
      if (fb.classAttributes.has(name)) continue;
      const served = fb.from === 'items' ? (cls !== null && fb.classes.includes(cls) && inst.items ? [inst.items] : []) : stateMappings(states, fb.stateKeys);
      const found = lookup(served, name);
      if (found !== null) return found;
    }
  }
  return null;
}
