/**
 * Symbolic values of the pickle machine. Nothing is ever constructed or called: a call is a
 * record of what would be called with what. Containers keep their length and a small sample so
 * that memory stays bounded however large the pickle, while call chains still render readably.
 */

export const SAMPLE = 8;

export type Value =
  | { k: 'none' }
  | { k: 'bool'; v: boolean }
  | { k: 'int'; v: number | bigint }
  | { k: 'float'; v: number }
  | { k: 'str'; v: string; len: number; at?: number }
  | { k: 'bytes'; v: Uint8Array; len: number; mutable: boolean; at?: number }
  | { k: 'tuple'; items: Value[]; len: number }
  | { k: 'list'; items: Value[]; len: number }
  | { k: 'dict'; entries: Array<[Value, Value]>; len: number }
  | { k: 'set'; items: Value[]; len: number; frozen: boolean }
  | { k: 'global'; module: string; name: string; offset: number }
  | { k: 'call'; fn: Value; args: Value[]; kwargs?: Value; op: string; offset: number; state?: Value; earlier?: Value[]; items?: Extract<Value, { k: 'dict' }> }
  | { k: 'attr'; obj: Value; name: string; offset: number }
  | { k: 'persid'; pid: Value }
  | { k: 'ext'; code: number }
  | { k: 'buffer'; readonly: boolean }
  | { k: 'unknown'; why: string };

export const NONE: Value = { k: 'none' };
export const TRUE: Value = { k: 'bool', v: true };
export const FALSE: Value = { k: 'bool', v: false };

export function sample(items: Value[], keep = SAMPLE): Value[] {
  return items.length > keep ? items.slice(0, keep) : items;
}

export function str(v: string, len = v.length): Value {
  return { k: 'str', v, len };
}

/** Dotted path of a value that names an importable object, e.g. `os.system`; null otherwise. */
export function dottedPath(v: Value): string | null {
  switch (v.k) {
    case 'global':
      return `${v.module}.${v.name}`;
    case 'attr': {
      const base = dottedPath(v.obj);
      return base === null ? null : `${base}.${v.name}`;
    }
    case 'call': {
      // importlib.import_module('os') / builtins.__import__('os') evaluate to the module itself.
      const fn = dottedPath(v.fn);
      const first = v.args[0];
      if (first?.k === 'str' && (fn === 'importlib.import_module' || fn === 'builtins.__import__' || fn === '__builtin__.__import__')) {
        return first.v;
      }
      if (first?.k === 'str' && (fn === 'pkgutil.resolve_name')) {
        return first.v.replace(':', '.');
      }
      return null;
    }
    default:
      return null;
  }
}

const MAX_RENDER = 400;

function quote(s: string, len: number): string {
  const body = JSON.stringify(s).slice(1, -1).replace(/'/g, "\\'");
  return `'${body}${len > s.length ? `…(${len} chars)` : ''}'`;
}

function renderBytes(b: Uint8Array, len: number, mutable: boolean): string {
  let out = '';
  for (const c of b.subarray(0, 48)) {
    out += c >= 0x20 && c < 0x7f && c !== 0x27 && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  const tail = len > Math.min(48, b.length) ? `…(${len} bytes)` : '';
  return mutable ? `bytearray(b'${out}${tail}')` : `b'${out}${tail}'`;
}

function renderSeq(items: Value[], len: number, depth: number, open: string, close: string): string {
  const shown = items.map((x) => render(x, depth + 1));
  if (len > items.length) shown.push(`…${len - items.length} more`);
  return `${open}${shown.join(', ')}${len === 1 && open === '(' ? ',' : ''}${close}`;
}

/** Python-like rendering of a value, e.g. `os.system('echo pwned')`. Bounded in length and depth. */
export function render(v: Value, depth = 0): string {
  if (depth > 6) return '…';
  let s: string;
  switch (v.k) {
    case 'none': s = 'None'; break;
    case 'bool': s = v.v ? 'True' : 'False'; break;
    case 'int': s = String(v.v); break;
    case 'float': s = String(v.v); break;
    case 'str': s = quote(v.v, v.len); break;
    case 'bytes': s = renderBytes(v.v, v.len, v.mutable); break;
    case 'tuple': s = renderSeq(v.items, v.len, depth, '(', ')'); break;
    case 'list': s = renderSeq(v.items, v.len, depth, '[', ']'); break;
    case 'set': s = v.frozen ? `frozenset(${renderSeq(v.items, v.len, depth, '{', '}')})` : renderSeq(v.items, v.len, depth, '{', '}'); break;
    case 'dict': {
      const parts = v.entries.map(([a, b]) => `${render(a, depth + 1)}: ${render(b, depth + 1)}`);
      if (v.len > v.entries.length) parts.push(`…${v.len - v.entries.length} more`);
      s = `{${parts.join(', ')}}`;
      break;
    }
    case 'global': s = `${v.module}.${v.name}`; break;
    case 'attr': s = `${render(v.obj, depth + 1)}.${v.name}`; break;
    case 'call': {
      const args = v.args.map((a) => render(a, depth + 1));
      if (v.kwargs && v.kwargs.k === 'dict') {
        for (const [key, val] of v.kwargs.entries) args.push(`${key.k === 'str' ? key.v : render(key, depth + 1)}=${render(val, depth + 1)}`);
      }
      s = `${render(v.fn, depth + 1)}(${args.join(', ')})`;
      if (v.state) s += `.__setstate__(${render(v.state, depth + 1)})`;
      break;
    }
    case 'persid': s = `persistent_load(${render(v.pid, depth + 1)})`; break;
    case 'ext': s = `<extension ${v.code}>`; break;
    case 'buffer': s = v.readonly ? '<readonly buffer>' : '<out-of-band buffer>'; break;
    case 'unknown': s = `<${v.why}>`; break;
  }
  return s.length > MAX_RENDER ? `${s.slice(0, MAX_RENDER)}…` : s;
}

/** The elements a call receives as positional arguments when its argument value is a tuple. */
export function argList(v: Value): Value[] {
  if (v.k === 'tuple') return v.items;
  return [v];
}
