/**
 * LZMA, LZMA2, .xz and .lzma ("lzma-alone", Python's FORMAT_ALONE, joblib 'lzma') decoding.
 *
 * Why our own decoder: the npm options decode whole buffers (LZMA-JS) or serialise every
 * stream behind one global lock (xz-decompress: an .xz inside an .xz would deadlock), and
 * neither lets us stop after a bounded amount of output. This one is resumable at symbol
 * boundaries, so it produces output in small steps and holds only:
 *   - the dictionary, grown lazily up to min(declared dictionary size, MAX_DICT) — a header
 *     declaring 4 GiB costs nothing until that much output actually exists;
 *   - a bounded input look-ahead (64 KiB for LZMA1, one LZMA2 chunk ≤ 64 KiB packed);
 *   - the output step (≤ 256 KiB).
 * Checks (CRC32/CRC64/SHA-256 of .xz blocks) are skipped: we scan the data whatever it is.
 * Filters other than LZMA2 in .xz (BCJ, delta) are reported as 'unsupported'.
 */
import { SourceError } from '../types.js';
import { BufferedInput, corrupt, truncated, type DecoderStream } from './input.js';
import { Dictionary, LzmaCore, RangeDecoder, STEP, SYMBOL_INPUT, decodePropsByte, type LzmaProps, type StepResult } from './lzma-core.js';


export interface AloneHeader {
  props: LzmaProps;
  dictSize: number;
  /** null = unknown (all ones): the stream must end with an end marker. */
  size: number | null;
}

/** Parses the 13-byte .lzma header; null when it is not plausible. */
export function parseAloneHeader(h: Uint8Array): AloneHeader | null {
  if (h.length < 13) return null;
  const props = decodePropsByte(h[0]!);
  if (!props) return null;
  const dictSize = (h[1]! | (h[2]! << 8) | (h[3]! << 16) | (h[4]! << 24)) >>> 0;
  const lo = (h[5]! | (h[6]! << 8) | (h[7]! << 16) | (h[8]! << 24)) >>> 0;
  const hi = (h[9]! | (h[10]! << 8) | (h[11]! << 16) | (h[12]! << 24)) >>> 0;
  let size: number | null;
  if (lo === 0xffffffff && hi === 0xffffffff) size = null;
  else if (hi >= 1 << 21) return null; // beyond 2^53: no real stream declares that
  else size = hi * 2 ** 32 + lo;
  return { props, dictSize, size };
}

/** liblzma's "picky" .lzma check (FORMAT_AUTO uses it): dictionary 2^n or 2^n + 2^(n-1). */
export function isPickyDictSize(d: number): boolean {
  if (d === 0xffffffff) return true;
  if (d < 4096) return false;
  let n = 0;
  while (2 ** (n + 1) <= d) n++;
  return d === 2 ** n || d === 2 ** n + 2 ** (n - 1);
}

const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];

export function hasXzMagic(b: Uint8Array, at = 0): boolean {
  for (let i = 0; i < 6; i++) if (b[at + i] !== XZ_MAGIC[i]) return false;
  return true;
}

/** Streams one LZMA1 range-coded stream (after its header) from the buffered input. */
async function* lzma1Body(input: BufferedInput, props: LzmaProps, dictSize: number, size: number | null): DecoderStream {
  const dict = new Dictionary(dictSize);
  const core = new LzmaCore(dict);
  core.setProps(props);
  core.resetState();
  const rc = new RangeDecoder();
  await input.ensure(SYMBOL_INPUT * 4);
  rc.attach(input.buf, input.pos, input.end);
  if (!rc.init()) throw corrupt('LZMA stream does not start like range-coded data', { offset: input.offset() });
  input.pos = rc.pos;
  let produced = 0;
  for (;;) {
    if (size !== null && produced >= size) return;
    const want = size === null ? STEP : Math.min(STEP, size - produced);
    dict.startStep(want);
    let result: StepResult;
    for (;;) {
      rc.attach(input.buf, input.pos, input.end);
      result = core.step(rc, !input.eof);
      input.pos = rc.pos;
      if (result !== 'input') break;
      await input.ensure(64 * 1024);
    }
    produced += dict.outPos;
    if (dict.outPos > 0) yield dict.takeStep();
    if (result === 'eos') {
      if (size !== null && produced !== size) throw corrupt('LZMA end marker before the declared size', { declared: size, produced });
      return;
    }
  }
}

/** Streams the LZMA2 chunks of one .xz block. */
async function* lzma2Body(input: BufferedInput, dictSize: number): DecoderStream {
  const dict = new Dictionary(dictSize);
  const core = new LzmaCore(dict);
  const rc = new RangeDecoder();
  let needDictReset = true;
  let needProps = true;
  for (;;) {
    const control = await input.byte('an LZMA2 chunk header');
    if (control === 0x00) return;
    if (control === 0x01 || control === 0x02) {
      const h = await input.take(2, 'an LZMA2 chunk header');
      const n = ((h[0]! << 8) | h[1]!) + 1;
      if (control === 0x01) {
        dict.reset();
        needDictReset = false;
      } else if (needDictReset) throw corrupt('LZMA2 stream does not start with a dictionary reset');
      const data = await input.take(n, 'an uncompressed LZMA2 chunk');
      dict.startStep(n);
      for (let i = 0; i < n; i++) dict.put(data[i]!);
      yield dict.takeStep();
      continue;
    }
    if (control < 0x80) throw corrupt('invalid LZMA2 control byte', { control, offset: input.offset() - 1 });
    const reset = (control >>> 5) & 3;
    const h = await input.take(reset >= 2 ? 5 : 4, 'an LZMA2 chunk header');
    let unpacked = (control & 0x1f) * 65536 + ((h[0]! << 8) | h[1]!) + 1;
    const packed = ((h[2]! << 8) | h[3]!) + 1;
    if (reset === 3) {
      dict.reset();
      needDictReset = false;
    } else if (needDictReset) throw corrupt('LZMA2 stream does not start with a dictionary reset');
    if (reset >= 2) {
      const p = decodePropsByte(h[4]!);
      if (!p || p.lc + p.lp > 4) throw corrupt('invalid LZMA2 properties', { props: h[4]! });
      core.setProps(p);
      needProps = false;
    } else if (needProps) throw corrupt('LZMA2 chunk without properties');
    if (reset >= 1) core.resetState();
    if ((await input.ensure(packed)) < packed) throw truncated('an LZMA2 chunk', input.offset());
    const start = input.pos;
    rc.attach(input.buf, start, start + packed);
    if (!rc.init()) throw corrupt('LZMA2 chunk does not start like range-coded data', { offset: input.offset() });
    while (unpacked > 0) {
      dict.startStep(Math.min(STEP, unpacked));
      // The whole chunk is in memory: an overrun is a real truncation, never a refill.
      const r = core.step(rc, false);
      if (r === 'eos') throw corrupt('end marker inside an LZMA2 chunk');
      unpacked -= dict.outPos;
      if (dict.outPos > 0) yield dict.takeStep();
    }
    if (core.pending > 0) throw corrupt('LZMA2 match crosses a chunk boundary');
    // The generator may have paused: the buffer is unchanged because only we touch the input.
    input.pos = start + packed;
  }
}

async function vli(input: BufferedInput, what: string): Promise<number> {
  let v = 0;
  for (let i = 0; i < 9; i++) {
    const b = await input.byte(what);
    v += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) {
      if (v > Number.MAX_SAFE_INTEGER) throw corrupt(`${what} is too large`);
      return v;
    }
  }
  throw corrupt(`${what} is not a valid variable-length integer`);
}

const CHECK_SIZES = [0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64];

function vliFrom(b: Uint8Array, at: { i: number }, what: string): number {
  let v = 0;
  for (let k = 0; k < 9; k++) {
    const x = b[at.i++];
    if (x === undefined) throw corrupt(`${what} runs past the block header`);
    v += (x & 0x7f) * 2 ** (7 * k);
    if ((x & 0x80) === 0) return v;
  }
  throw corrupt(`${what} is not a valid variable-length integer`);
}

/** One .xz stream: header, blocks, index, footer. */
async function* xzStream(input: BufferedInput): DecoderStream {
  const start = input.offset();
  const h = await input.take(12, 'the xz stream header');
  if (!hasXzMagic(h)) throw corrupt('not an xz stream', { offset: start });
  if (h[6] !== 0 || (h[7]! & 0xf0) !== 0) throw new SourceError('unsupported', 'unknown xz stream flags', { flags: (h[6]! << 8) | h[7]! });
  const checkSize = CHECK_SIZES[h[7]! & 0x0f]!;
  for (;;) {
    const blockStart = input.offset();
    const first = await input.byte('an xz block header');
    if (first === 0) break; // index indicator
    const headerSize = (first + 1) * 4;
    const rest = await input.take(headerSize - 1, 'an xz block header');
    const flags = rest[0]!;
    if ((flags & 0x3c) !== 0) throw new SourceError('unsupported', 'unknown xz block flags', { flags });
    const at = { i: 1 };
    if (flags & 0x40) vliFrom(rest, at, 'xz compressed size');
    if (flags & 0x80) vliFrom(rest, at, 'xz uncompressed size');
    const filters: number[] = [];
    let dictByte = -1;
    for (let f = 0; f <= (flags & 3); f++) {
      const id = vliFrom(rest, at, 'xz filter id');
      const propSize = vliFrom(rest, at, 'xz filter properties size');
      if (id === 0x21 && propSize === 1) dictByte = rest[at.i] ?? -1;
      at.i += propSize;
      filters.push(id);
    }
    if (filters.length !== 1 || filters[0] !== 0x21) {
      throw new SourceError('unsupported', `xz filter chain ${filters.map((f) => '0x' + f.toString(16)).join('+')} is not supported (only LZMA2)`, {
        filters: filters.join(','),
      });
    }
    if (dictByte < 0 || dictByte > 40) throw corrupt('invalid LZMA2 dictionary size', { props: dictByte });
    const dictSize = dictByte === 40 ? 0xffffffff : (2 | (dictByte & 1)) * 2 ** (Math.floor(dictByte / 2) + 11);
    yield* lzma2Body(input, dictSize);
    const unpadded = input.offset() - blockStart;
    await input.skip((4 - (unpadded % 4)) % 4 + checkSize, 'xz block padding and check');
  }
  // Index: count, (unpadded size, uncompressed size) records, padding, CRC32.
  const indexStart = input.offset() - 1;
  const count = await vli(input, 'xz index record count');
  for (let i = 0; i < count; i++) {
    await vli(input, 'xz index record');
    await vli(input, 'xz index record');
  }
  const used = input.offset() - indexStart;
  await input.skip((4 - (used % 4)) % 4 + 4, 'xz index padding');
  const footer = await input.take(12, 'the xz stream footer');
  if (footer[10] !== 0x59 || footer[11] !== 0x5a) throw corrupt('xz stream footer magic missing', { offset: input.offset() - 2 });
}

async function* aloneStream(input: BufferedInput): DecoderStream {
  const h = parseAloneHeader(await input.take(13, 'the .lzma header'));
  if (!h) throw corrupt('invalid .lzma header');
  yield* lzma1Body(input, h.props, h.dictSize, h.size);
}

/**
 * Python's LZMAFile (FORMAT_AUTO, which joblib uses to read both 'xz' and 'lzma') decodes
 * concatenated streams and ignores trailing bytes that do not start a new stream; we do the same.
 * xz stream padding (zero bytes between streams) is skipped.
 */
export async function* lzmaAuto(input: BufferedInput, first: 'xz' | 'lzma-alone'): DecoderStream {
  let kind: 'xz' | 'lzma-alone' | null = first;
  while (kind) {
    yield* kind === 'xz' ? xzStream(input) : aloneStream(input);
    while ((await input.ensure(4)) >= 4 && input.buf[input.pos] === 0 && input.buf[input.pos + 1] === 0 && input.buf[input.pos + 2] === 0 && input.buf[input.pos + 3] === 0) input.pos += 4;
    await input.ensure(13);
    const view = input.buf.subarray(input.pos, input.end);
    if (hasXzMagic(view)) kind = 'xz';
    else {
      const h = parseAloneHeader(view);
      kind = h && isPickyDictSize(h.dictSize) && view[13] === 0 ? 'lzma-alone' : null;
    }
  }
}

/**
 * Zip method 14: 2-byte version, 2-byte properties length, 5 properties bytes, then LZMA1 data.
 * The size comes from the central directory unless flag bit 1 says an end marker is used.
 */
export async function* zipLzma(input: BufferedInput, size: number | null): DecoderStream {
  const h = await input.take(4, 'the zip LZMA header');
  const propLen = h[2]! | (h[3]! << 8);
  if (propLen < 5) throw corrupt('zip LZMA properties too short', { length: propLen });
  const p = await input.take(propLen, 'the zip LZMA properties');
  const props = decodePropsByte(p[0]!);
  if (!props) throw corrupt('invalid LZMA properties', { props: p[0]! });
  const dictSize = (p[1]! | (p[2]! << 8) | (p[3]! << 16) | (p[4]! << 24)) >>> 0;
  yield* lzma1Body(input, props, dictSize, size);
}

/**
 * 7z coder 03 01 01: raw LZMA1 data; the five property bytes (lc/lp/pb, dictionary size) sit in
 * the coder's properties, and the size comes from the folder's unpack sizes.
 */
export async function* rawLzma(input: BufferedInput, propBytes: Uint8Array, size: number | null): DecoderStream {
  if (propBytes.length < 5) throw corrupt('LZMA coder properties too short', { length: propBytes.length });
  const props = decodePropsByte(propBytes[0]!);
  if (!props) throw corrupt('invalid LZMA properties', { props: propBytes[0]! });
  const dictSize = (propBytes[1]! | (propBytes[2]! << 8) | (propBytes[3]! << 16) | (propBytes[4]! << 24)) >>> 0;
  yield* lzma1Body(input, props, dictSize, size);
}

/** 7z coder 21: raw LZMA2 chunks; the one property byte encodes the dictionary size as in .xz. */
export async function* rawLzma2(input: BufferedInput, propBytes: Uint8Array): DecoderStream {
  const dictByte = propBytes[0] ?? -1;
  if (propBytes.length < 1 || dictByte > 40) throw corrupt('invalid LZMA2 dictionary size', { props: dictByte });
  const dictSize = dictByte === 40 ? 0xffffffff : (2 | (dictByte & 1)) * 2 ** (Math.floor(dictByte / 2) + 11);
  yield* lzma2Body(input, dictSize);
}
