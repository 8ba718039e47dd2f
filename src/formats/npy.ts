/**
 * NumPy .npy: magic, version, a Python-literal header dict, then raw data — or, for object
 * dtypes, a pickle (np.load needs allow_pickle=True, and then runs it).
 */
import type { Analyzer } from './types.js';
import { scanPickleStream } from './pickle/stream.js';
import { decodeLatin1 } from '../pickle/text.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

type Lit = string | number | boolean | null | Lit[] | { [k: string]: Lit };

/** A small parser for the header's Python literal (dict, tuple, list, str, int, bool, None). */
function parseLiteral(s: string): Lit {
  let i = 0;
  const ws = () => {
    while (i < s.length && /\s/.test(s[i]!)) i++;
  };
  const fail = (what: string): never => {
    throw new Error(`${what} at ${i}`);
  };
  let depth = 0;
  const value = (): Lit => {
    ws();
    const c = s[i];
    if (c === undefined) fail('unexpected end');
    if (++depth > 32) fail('nesting too deep');
    try {
      if (c === '{') {
        i++;
        const out: { [k: string]: Lit } = {};
        for (;;) {
          ws();
          if (s[i] === '}') {
            i++;
            return out;
          }
          const k = value();
          ws();
          if (s[i] !== ':') fail('expected :');
          i++;
          out[String(k)] = value();
          ws();
          if (s[i] === ',') i++;
        }
      }
      if (c === '(' || c === '[') {
        const close = c === '(' ? ')' : ']';
        i++;
        const out: Lit[] = [];
        for (;;) {
          ws();
          if (s[i] === close) {
            i++;
            return out;
          }
          out.push(value());
          ws();
          if (s[i] === ',') i++;
          else if (s[i] !== close) fail('expected , or close');
        }
      }
      if (c === "'" || c === '"') {
        const end = s.indexOf(c, i + 1);
        if (end < 0) fail('unterminated string');
        const v = s.slice(i + 1, end);
        i = end + 1;
        return v;
      }
      const m = /^(True|False|None|-?\d+L?)/.exec(s.slice(i, i + 40));
      if (!m) return fail('unexpected token');
      i += m[0].length;
      if (m[0] === 'True') return true;
      if (m[0] === 'False') return false;
      if (m[0] === 'None') return null;
      return Number(m[0].replace('L', ''));
    } finally {
      depth--;
    }
  };
  return value();
}

function hasObject(descr: Lit): boolean {
  if (typeof descr === 'string') return /O/.test(descr.replace(/^[<>|=]/, ''));
  if (Array.isArray(descr)) return descr.some(hasObject);
  return false;
}

function itemsize(descr: Lit): number | null {
  if (typeof descr === 'string') {
    const m = /^[<>|=]?([a-zA-Z?])(\d*)/.exec(descr);
    if (!m) return null;
    const n = m[2] ? Number(m[2]) : m[1] === '?' || m[1] === 'b' ? 1 : NaN;
    if (!Number.isFinite(n)) return null;
    return m[1] === 'U' ? n * 4 : n;
  }
  if (Array.isArray(descr)) {
    // structured: [(name, type[, shape]), ...]
    let total = 0;
    for (const f of descr) {
      if (!Array.isArray(f) || f.length < 2) return null;
      const sz = itemsize(f[1]!);
      if (sz === null) return null;
      let mult = 1;
      if (Array.isArray(f[2])) for (const d of f[2]) mult *= typeof d === 'number' ? d : NaN;
      total += sz * mult;
    }
    return Number.isFinite(total) ? total : null;
  }
  return null;
}

export const npyAnalyzer: Analyzer = {
  id: 'npy',
  version: '7',
  description: 'NumPy .npy arrays (object arrays carry a pickle)',
  sniff(input) {
    return MAGIC.every((b, i) => input.head[i] === b) ? { format: 'npy', confidence: 0.95 } : null;
  },
  async analyze(source, ctx) {
    const pre = await source.read(0, 12);
    const major = pre[6] ?? 0;
    if (pre.length < 10 || major < 1 || major > 3) {
      ctx.emit({ rule: 'NPY_MALFORMED', message: `unsupported .npy version ${major}.${pre[7] ?? 0}` });
      // np.load would refuse it; nothing else runs.
      return;
    }
    const headerLen = major === 1 ? pre[8]! | (pre[9]! << 8) : pre[8]! | (pre[9]! << 8) | (pre[10]! << 16) | (pre[11]! * 2 ** 24);
    const headerStart = major === 1 ? 10 : 12;
    if (headerLen > 1 << 20) {
      ctx.emit({ rule: 'NPY_MALFORMED', message: `header length ${headerLen} is implausible` });
      return;
    }
    const hdr = await source.read(headerStart, headerLen);
    const text = decodeLatin1(hdr);
    let dict: Lit;
    try {
      dict = parseLiteral(text);
    } catch (e) {
      ctx.emit({ rule: 'NPY_MALFORMED', message: `header is not a Python literal: ${(e as Error).message}` });
      return;
    }
    if (dict === null || typeof dict !== 'object' || Array.isArray(dict) || !('descr' in dict) || !('shape' in dict)) {
      ctx.emit({ rule: 'NPY_MALFORMED', message: 'header lacks descr or shape' });
      return;
    }
    const dataStart = headerStart + headerLen;
    const shape = dict['shape'];
    const descr = dict['descr']!;
    ctx.fact('npy.descr', JSON.stringify(descr).slice(0, 200));
    ctx.fact('npy.shape', JSON.stringify(shape).slice(0, 200));
    if (hasObject(descr)) {
      ctx.emit({
        rule: 'NPY_OBJECT_ARRAY',
        message: 'object array: np.load runs the pickle that follows the header when allow_pickle=True',
        offset: dataStart,
        references: ['CVE-2019-6446'],
      });
      await scanPickleStream(source, ctx, dataStart, { maxPickles: 1 });
      return;
    }
    const size = itemsize(descr);
    if (Array.isArray(shape) && size !== null && source.size !== null) {
      let count = 1;
      for (const d of shape) count *= typeof d === 'number' ? d : NaN;
      const want = count * size;
      const have = source.size - dataStart;
      if (Number.isFinite(want) && want !== have) {
        ctx.emit({ rule: 'NPY_MALFORMED', severity: 'low', message: `header declares ${want} data bytes, file has ${have}`, offset: dataStart });
      }
    }
  },
};
