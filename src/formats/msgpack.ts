/**
 * msgpack, as Flax writes it (`flax.serialization.to_bytes`, `flax_model.msgpack`): a map of
 * parameter names whose leaves are numpy arrays in extension type 1 (ndarray), 2 (native
 * complex) or 3 (numpy scalar). The walker reads type bytes and lengths only: strings and
 * binary/extension payloads are skipped by length, never materialised, so cost does not grow
 * with the weights. Unknown extension codes and malformed structure are findings.
 *
 * Sniffing is conservative (msgpack has no magic): the first byte must open a non-empty map,
 * the head must parse as msgpack with string keys at the top level, and a file that fits in the
 * head must end exactly where the object ends.
 */
import type { AnalysisContext, Analyzer, Claim, SniffInput } from './types.js';
import { SizedSource, sizeOf } from './archive.js';
import type { ByteSource } from '../source/types.js';

/** flax.serialization._MsgpackExtType */
const FLAX_EXT: Record<number, string> = { 1: 'ndarray', 2: 'native complex', 3: 'numpy scalar' };
const MAX_DEPTH = 256;
/** Read-ahead on a window miss: small, because a miss usually follows a skipped payload. */
const CHUNK = 4 * 1024;

class MsgpackError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/** Random-access reads through a small window; skipping moves the offset without reading. */
class Window {
  private buf: Uint8Array = new Uint8Array(0);
  private start = 0;
  constructor(
    private readonly src: ByteSource,
    readonly size: number,
  ) {}
  async bytes(at: number, n: number): Promise<Uint8Array> {
    if (at + n > this.size) throw new MsgpackError(`data ends inside a value (needs ${n} bytes at ${at})`, at);
    if (at >= this.start && at + n <= this.start + this.buf.length) return this.buf.subarray(at - this.start, at - this.start + n);
    this.buf = await this.src.read(at, Math.max(n, CHUNK));
    this.start = at;
    if (this.buf.length < n) throw new MsgpackError('data ends inside a value', at);
    return this.buf.subarray(0, n);
  }
}

export interface WalkResult {
  end: number;
  elements: number;
  topKeys: string[];
  ext: Map<number, number>;
  /** Set when the walk stopped at `stopAt` (sniffing a head) before the object ended. */
  partial: boolean;
}

interface Options {
  stopAt?: number;
  expired?: () => boolean;
  maxElements?: number;
}

const be = (b: Uint8Array) => b.reduce((v, x) => v * 256 + x, 0);

const emptyResult = (): WalkResult => ({ end: 0, elements: 0, topKeys: [], ext: new Map(), partial: false });

interface Need {
  at: number;
  n: number;
}

/**
 * The walk as a generator of byte requests, so the same code runs synchronously over a
 * sniffed head and asynchronously over a ByteSource. Throws MsgpackError on malformed data.
 */
function* walker(size: number, opts: Options, res: WalkResult): Generator<Need, WalkResult, Uint8Array> {
  // Each open array or map counts the values still to read (a map counts keys and values).
  const stack: Array<{ left: number; map: boolean; top: boolean }> = [];
  const utf8 = new TextDecoder('utf-8', { fatal: false });
  let at = 0;
  for (;;) {
    if (opts.stopAt !== undefined && at >= opts.stopAt) {
      res.partial = true;
      break;
    }
    if (++res.elements % 65536 === 0 && opts.expired?.()) throw new MsgpackError('time budget exhausted', at);
    if (opts.maxElements !== undefined && res.elements > opts.maxElements) throw new MsgpackError(`more than ${opts.maxElements} values`, at);
    const frame = stack[stack.length - 1];
    const topKey = frame !== undefined && frame.top && frame.map && frame.left % 2 === 0;
    const start = at;
    const t = (yield { at, n: 1 })[0]!;
    at += 1;
    let count = -1; // values in a container opened here
    let isMap = false;
    let str = -1; // length of a string value
    let payload = 0; // bytes skipped (numbers, binary, extension data)
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) {
      // positive/negative fixint, nil, false, true
    } else if (t <= 0x8f) [count, isMap] = [t & 0x0f, true];
    else if (t <= 0x9f) count = t & 0x0f;
    else if (t <= 0xbf) str = t & 0x1f;
    else if (t === 0xc1) throw new MsgpackError('byte 0xc1 is never used in msgpack', start);
    else if (t <= 0xc6) {
      const lw = 1 << (t - 0xc4);
      payload = be(yield { at, n: lw });
      at += lw;
    } else if (t <= 0xc9) {
      const lw = 1 << (t - 0xc7);
      payload = be(yield { at, n: lw });
      const code = ((yield { at: at + lw, n: 1 })[0]! << 24) >> 24;
      res.ext.set(code, (res.ext.get(code) ?? 0) + 1);
      at += lw + 1;
    } else if (t <= 0xd3) payload = [4, 8, 1, 2, 4, 8, 1, 2, 4, 8][t - 0xca]!;
    else if (t <= 0xd8) {
      const code = ((yield { at, n: 1 })[0]! << 24) >> 24;
      res.ext.set(code, (res.ext.get(code) ?? 0) + 1);
      at += 1;
      payload = 1 << (t - 0xd4);
    } else if (t <= 0xdb) {
      const lw = 1 << (t - 0xd9);
      str = be(yield { at, n: lw });
      at += lw;
    } else {
      const lw = t === 0xdc || t === 0xde ? 2 : 4;
      count = be(yield { at, n: lw });
      isMap = t >= 0xde;
      at += lw;
    }
    if (topKey && str < 0) throw new MsgpackError('a top-level key is not a string', start);
    if (str >= 0) {
      if (topKey && res.topKeys.length < 50) res.topKeys.push(utf8.decode(yield { at, n: Math.min(str, 200, size - at) }));
      payload = str;
    }
    if (at + payload > size) throw new MsgpackError(`value of ${payload} bytes runs past the end of the data`, start);
    at += payload;
    if (frame) frame.left--;
    if (count > 0) {
      const left = isMap ? count * 2 : count;
      // Every value takes at least one byte: a count above the bytes left is a lie.
      if (left > size - at) throw new MsgpackError(`container declares ${left} values but only ${size - at} bytes remain`, start);
      if (stack.length >= MAX_DEPTH) throw new MsgpackError(`nesting deeper than ${MAX_DEPTH}`, start);
      stack.push({ left, map: isMap, top: stack.length === 0 });
    }
    while (stack.length && stack[stack.length - 1]!.left === 0) stack.pop();
    if (stack.length === 0) break;
  }
  res.end = at;
  return res;
}

/** Walks the msgpack object at the start of `src` (reads only type bytes, lengths and top-level keys). */
export async function walkMsgpack(src: ByteSource, size: number, opts: Options = {}): Promise<WalkResult> {
  const w = new Window(src, size);
  const gen = walker(size, opts, emptyResult());
  let step = gen.next();
  while (!step.done) step = gen.next(await w.bytes(step.value.at, step.value.n));
  return step.value;
}

/** The same walk over bytes in memory; stops (partial) where the bytes end. */
export function walkMsgpackBytes(b: Uint8Array, size: number, opts: Options = {}): WalkResult {
  const res = emptyResult();
  const gen = walker(size, { ...opts, stopAt: Math.min(opts.stopAt ?? b.length, b.length) }, res);
  let step = gen.next();
  while (!step.done) {
    const { at, n } = step.value;
    // A request reaching past the head ends the sniff walk: what was seen parsed.
    if (at + n > b.length) return { ...res, end: at, partial: true };
    step = gen.next(b.subarray(at, at + n));
  }
  return step.value;
}

function sniffMsgpack(input: SniffInput): Claim | null {
  const h = input.head;
  const t = h[0];
  if (h.length < 8 || t === undefined || !((t >= 0x81 && t <= 0x8f) || t === 0xde || t === 0xdf)) return null;
  try {
    // Walk the head as if the data went on: running out of head bytes is "partial", not an error,
    // so a truncated small file is still claimed (and then reported by the analysis).
    const r = walkMsgpackBytes(h, Number.MAX_SAFE_INTEGER);
    if (r.topKeys.length === 0) return null;
    // A complete object must either be the whole file or be substantial (then trailing bytes are reported).
    const whole = input.size !== null && r.end === input.size;
    if (!r.partial && !whole && r.end < 16) return null;
  } catch {
    return null;
  }
  return { format: 'msgpack', confidence: 0.6 };
}

function malformed(ctx: AnalysisContext, message: string, offset?: number): void {
  ctx.emit({ rule: 'MSGPACK_MALFORMED', message, ...(offset !== undefined ? { offset } : {}) });
}

export const msgpackAnalyzer: Analyzer = {
  id: 'msgpack',
  version: '2',
  description: 'msgpack (Flax flax_model.msgpack): bounded structural walk skipping payloads by length; extension type codes checked against Flax\'s (1 ndarray, 2 complex, 3 numpy scalar)',
  sniff: sniffMsgpack,
  async analyze(input, ctx) {
    const size = await sizeOf(input);
    const source = input.size === null ? new SizedSource(input, size) : input;
    let r: WalkResult;
    try {
      r = await walkMsgpack(source, size, { expired: () => ctx.expired() });
    } catch (e) {
      if (!(e instanceof MsgpackError)) throw e;
      malformed(ctx, `msgpack structure: ${e.message}`, e.offset);
      ctx.incomplete(`msgpack: ${e.message}`, e.offset);
      return;
    }
    ctx.fact('msgpack.values', r.elements);
    if (r.topKeys.length) ctx.fact('msgpack.top_keys', r.topKeys.slice(0, 20));
    const flax = [...r.ext.entries()].filter(([c]) => c in FLAX_EXT);
    if (flax.length) ctx.fact('msgpack.flax_extensions', flax.map(([c, n]) => `${FLAX_EXT[c]} (${c}) × ${n}`));
    for (const [code, n] of r.ext) {
      if (code in FLAX_EXT) continue;
      ctx.emit({
        rule: 'MSGPACK_UNKNOWN_EXTENSION',
        message: `msgpack extension type ${code} is used ${n} time${n === 1 ? '' : 's'}; Flax defines only 1 (ndarray), 2 (complex) and 3 (numpy scalar)`,
        evidence: { details: { code, count: n } },
      });
    }
    if (r.end < size) malformed(ctx, `${size - r.end} bytes follow the msgpack object; msgpack.unpackb (flax.serialization.from_bytes) rejects the file`, r.end);
  },
};
