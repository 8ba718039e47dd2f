/**
 * What calling a wrapper evaluates to. Wrapper and factory callables (functools.partial,
 * operator.attrgetter / itemgetter / methodcaller, getattr, dill's _create_array) do nothing
 * dangerous by themselves: what matters is the callable they end up reaching and whether the
 * load calls it. The machine uses these rules to follow values the way the real unpickler would,
 * so that `partial(os.system, 'id')()` is reported as a call of os.system, and
 * `getattr(zoneinfo.ZoneInfo, '_unpickle')` as the attribute it names.
 */
import { dottedPath, type Value } from './values.js';

/** Canonical dotted name of a global (aliases such as _functools -> functools applied). */
export type Canonical = (module: string, name: string) => string;

/** Wrapper modules under their C or Python 2 names; enough for the machine to recognise them. */
const MODULE_ALIASES: Record<string, string> = {
  _functools: 'functools',
  _operator: 'operator',
  __builtin__: 'builtins',
  __builtins__: 'builtins',
};

export const defaultCanonical: Canonical = (module, name) => `${MODULE_ALIASES[module] ?? module}.${name}`;

export type WrapperKind = 'getattr' | 'partial' | 'attrgetter' | 'itemgetter' | 'methodcaller' | 'create_array' | 'rebuild_from_type';

/** Canonical names of the wrappers the machine evaluates. */
export const WRAPPERS: ReadonlyMap<string, WrapperKind> = new Map<string, WrapperKind>([
  ['builtins.getattr', 'getattr'],
  ['dill._dill._get_attr', 'getattr'],
  ['functools.partial', 'partial'],
  ['operator.attrgetter', 'attrgetter'],
  ['operator.itemgetter', 'itemgetter'],
  ['operator.methodcaller', 'methodcaller'],
  // dill pickles numpy arrays as _create_array(f, args, state, npdict): f(*args), then __setstate__.
  ['dill._dill._create_array', 'create_array'],
  // Tensor subclasses: _rebuild_from_type_v2(func, new_type, args, state) calls func(*args), then
  // turns the result into new_type and gives it the state.
  ['torch._tensor._rebuild_from_type_v2', 'rebuild_from_type'],
]);

/** Canonical dotted path of a value that names an importable object, aliases applied at the root. */
export function canonicalPath(v: Value, canonical: Canonical): string | null {
  if (v.k === 'global') return canonical(v.module, v.name);
  if (v.k === 'attr') {
    const base = canonicalPath(v.obj, canonical);
    return base === null ? null : `${base}.${v.name}`;
  }
  return dottedPath(v);
}

export function wrapperKind(v: Value, canonical: Canonical): WrapperKind | null {
  if (v.k !== 'global') return null;
  return WRAPPERS.get(canonical(v.module, v.name)) ?? null;
}

/**
 * functools.partial(func, *args) pickles as partial(func) followed by BUILD with the state
 * (func, args, keywords, dict); protocol-less constructions pass the arguments directly.
 */
export function partialParts(inst: Extract<Value, { k: 'call' }>): { func: Value | undefined; args: Value[] } {
  const st = inst.state;
  if (st?.k === 'tuple' && st.items.length >= 2) {
    const a = st.items[1]!;
    return { func: st.items[0], args: a.k === 'tuple' ? a.items : [] };
  }
  return { func: inst.args[0], args: inst.args.slice(1) };
}

/** obj.a.b for attrgetter('a.b')(obj). */
export function attrChain(obj: Value, dotted: string, offset: number): Value {
  let v = obj;
  for (const part of dotted.split('.')) v = { k: 'attr', obj: v, name: part, offset };
  return v;
}

/** obj[key] where it can be read from the symbolic value; an attribute for module-like objects. */
export function itemOf(obj: Value, key: Value, offset: number): Value {
  if (obj.k === 'dict') {
    for (const [k, v] of obj.entries) {
      if (k.k === key.k && 'v' in k && 'v' in key && k.v === key.v) return v;
    }
  }
  if ((obj.k === 'list' || obj.k === 'tuple') && key.k === 'int' && typeof key.v === 'number' && key.v >= 0 && key.v < obj.items.length) {
    return obj.items[key.v]!;
  }
  // A namespace mapping indexed by name (vars(module)['system']) reaches that attribute.
  if ((obj.k === 'global' || obj.k === 'attr' || obj.k === 'call') && key.k === 'str') return { k: 'attr', obj, name: key.v, offset };
  return { k: 'unknown', why: 'item of a value the scanner cannot evaluate' };
}
