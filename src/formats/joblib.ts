/**
 * joblib writes numpy arrays as raw bytes *inside* the pickle stream: after the BUILD of a
 * NumpyArrayWrapper, its unpickler reads the array data straight from the file, then goes on
 * unpickling. To reach the opcodes (and any payload) after an array, the machine must skip
 * exactly those bytes, computed from the wrapper's state. Object arrays are a nested pickle.
 */
import type { BuildAction } from '../pickle/machine.js';
import { dottedPath, type Value } from '../pickle/values.js';

const WRAPPERS = new Set([
  'joblib.numpy_pickle.NumpyArrayWrapper',
  'sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper',
]);

function entry(state: Value, key: string): Value | undefined {
  if (state.k !== 'dict') return undefined;
  for (const [k, v] of state.entries) if (k.k === 'str' && k.v === key) return v;
  return undefined;
}

const MAX_DTYPE_DEPTH = 8;

/**
 * Whether a structured or subarray dtype (from its BUILD state tuple: version, byteorder,
 * subarray, names, fields, elsize, alignment, flags) can hold Python objects. Only a dtype whose
 * every field is seen and free of objects is raw data; anything not fully visible (fields beyond
 * the sampled ones, a memo reference the machine lost) is reported as unresolved.
 */
function structuredHoldsObjects(st: Extract<Value, { k: 'tuple' }>, depth: number): boolean | string {
  if (depth > MAX_DTYPE_DEPTH) return 'dtype nested too deeply';
  const flags = st.items[7];
  // NPY_ITEM_REFCOUNT (bit 0) is set on every dtype that contains an object anywhere.
  if (flags?.k === 'int' && typeof flags.v === 'number' && flags.v & 1) return true;
  const sub = st.items[2];
  if (sub && sub.k !== 'none') {
    if (sub.k !== 'tuple' || !sub.items[0]) return 'subarray dtype not readable';
    const base = dtypeInfo(sub.items[0], depth + 1);
    if (typeof base === 'string') return base;
    if (base.object) return true;
  }
  const fields = st.items[4];
  if (fields && fields.k !== 'none') {
    if (fields.k !== 'dict' || fields.entries.length !== fields.len) return 'structured dtype fields not all visible';
    for (const [, spec] of fields.entries) {
      if (spec.k !== 'tuple' || !spec.items[0]) return 'structured dtype field not readable';
      const f = dtypeInfo(spec.items[0], depth + 1);
      if (typeof f === 'string') return f;
      if (f.object) return true;
    }
  }
  return false;
}

/** numpy dtype itemsize from the dtype's pickled form: numpy.dtype('f8', False, True) + BUILD state. */
function dtypeInfo(d: Value, depth = 0): { itemsize: number; object: boolean } | string {
  if (d.k !== 'call' || !(dottedPath(d.fn) ?? '').endsWith('.dtype')) return 'dtype is not a numpy.dtype call';
  const spec = d.args[0];
  if (spec?.k !== 'str') return 'dtype spec is not a string';
  const m = /^([a-zA-Z])(\d*)$/.exec(spec.v);
  if (!m) return `unrecognised dtype ${spec.v}`;
  const kind = m[1]!;
  if (kind === 'O') return { itemsize: 8, object: true };
  // Flexible and structured dtypes carry their size in the state tuple (elsize, index 5).
  const st = d.state;
  if (st?.k === 'tuple') {
    const holds = structuredHoldsObjects(st, depth);
    if (typeof holds === 'string') return holds;
    // joblib writes any array whose dtype has objects (dtype.hasobject) as a nested pickle.
    if (holds) return { itemsize: 8, object: true };
    const elsize = st.items[5];
    if (elsize?.k === 'int' && typeof elsize.v === 'number' && elsize.v > 0) return { itemsize: elsize.v, object: false };
  }
  const n = m[2] ? Number(m[2]) : NaN;
  if (kind === 'U' && Number.isFinite(n)) return { itemsize: 4 * n, object: false };
  if (Number.isFinite(n) && n > 0) return { itemsize: n, object: false };
  if (kind === '?' || kind === 'b' || kind === 'B') return { itemsize: 1, object: false };
  return `unknown itemsize for dtype ${spec.v}`;
}

export function joblibBuildHook(inst: Value, state: Value): BuildAction | undefined {
  if (inst.k !== 'call') return undefined;
  const cls = dottedPath(inst.fn);
  if (cls === null || !WRAPPERS.has(cls)) return undefined;
  const shape = entry(state, 'shape');
  const dtype = entry(state, 'dtype');
  if (!shape || shape.k !== 'tuple' || shape.items.length !== shape.len) return { kind: 'unresolved', why: 'array shape unknown' };
  let count = 1;
  for (const dim of shape.items) {
    if (dim.k !== 'int' || typeof dim.v !== 'number' || dim.v < 0) return { kind: 'unresolved', why: 'array shape is not a tuple of small ints' };
    count *= dim.v;
  }
  if (!dtype) return { kind: 'unresolved', why: 'array dtype missing' };
  const info = dtypeInfo(dtype);
  if (typeof info === 'string') return { kind: 'unresolved', why: info };
  if (info.object) return { kind: 'nested-pickle' };
  const align = entry(state, 'numpy_array_alignment_bytes');
  const aligned = align !== undefined && align.k !== 'none';
  const bytes = count * info.itemsize;
  if (!Number.isSafeInteger(bytes)) return { kind: 'unresolved', why: 'array size overflows' };
  return { kind: 'skip', bytes, paddingPrefix: aligned };
}
