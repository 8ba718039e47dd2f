/**
 * bzip2 decoding, block by block.
 *
 * Why our own decoder: seek-bzip decodes a whole block synchronously into its output (one
 * block can expand to ~46 MB through the run-length stage) and unbzip2-stream is a push stream
 * without a way to stop early. Here a block is entropy-decoded into a 900k-entry table
 * (3.6 MB at most), then its output is generated lazily in small steps, so memory is bounded
 * by one block whatever the expansion. Each block's compressed bits are bounded too
 * (≤ 900k symbols × 20-bit codes + tables < 2.4 MB), so we buffer that much look-ahead
 * before decoding a block and never need to suspend inside one.
 * Block CRCs and the stream CRC are verified (Python's bz2 rejects mismatches too), after the
 * block's output has been handed on, as libbz2 does.
 */
import { SourceError } from '../types.js';
import { BufferedInput, corrupt, truncated, type DecoderStream } from './input.js';

const BLOCK_LOOKAHEAD = 2_500_000;
const STEP = 64 * 1024;
const MAX_GROUPS = 6;
const MAX_ALPHA = 258;
const MAX_CODE_LEN = 20;
const MAX_SELECTORS = 32768;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** MSB-first bit reader over the BufferedInput's current window. */
class Bits {
  private acc = 0;
  private n = 0;
  constructor(private readonly input: BufferedInput) {}

  /** count ≤ 24, so the accumulator never exceeds 31 bits. */
  read(count: number): number {
    const inp = this.input;
    while (this.n < count) {
      if (inp.pos >= inp.end) throw truncated('a bzip2 block', inp.offset());
      this.acc = ((this.acc << 8) | inp.buf[inp.pos++]!) >>> 0;
      this.n += 8;
    }
    this.n -= count;
    const v = (this.acc >>> this.n) & ((1 << count) - 1);
    this.acc &= (1 << this.n) - 1;
    return v >>> 0;
  }

  bit(): number {
    return this.read(1);
  }

  read32(): number {
    return ((this.read(16) << 16) | this.read(16)) >>> 0;
  }

  /** Drops the bits left in the current byte (streams end byte-aligned). */
  align(): void {
    this.acc = 0;
    this.n = 0;
  }
}

interface Huffman {
  minLen: number;
  limit: Int32Array;
  base: Int32Array;
  perm: Int32Array;
}

function buildHuffman(lengths: Uint8Array, alpha: number): Huffman {
  let minLen = 32;
  let maxLen = 0;
  for (let i = 0; i < alpha; i++) {
    minLen = Math.min(minLen, lengths[i]!);
    maxLen = Math.max(maxLen, lengths[i]!);
  }
  const perm = new Int32Array(MAX_ALPHA);
  const base = new Int32Array(MAX_CODE_LEN + 2);
  const limit = new Int32Array(MAX_CODE_LEN + 2).fill(-1);
  let pp = 0;
  for (let l = minLen; l <= maxLen; l++) for (let j = 0; j < alpha; j++) if (lengths[j] === l) perm[pp++] = j;
  for (let i = 0; i < alpha; i++) base[lengths[i]! + 1]!++;
  for (let i = 1; i < base.length; i++) base[i]! += base[i - 1]!;
  let vec = 0;
  for (let l = minLen; l <= maxLen; l++) {
    vec += base[l + 1]! - base[l]!;
    limit[l] = vec - 1;
    vec <<= 1;
  }
  for (let l = minLen + 1; l <= maxLen; l++) base[l] = ((limit[l - 1]! + 1) << 1) - base[l]!;
  return { minLen, limit, base, perm };
}

function decodeSymbol(bits: Bits, h: Huffman, alpha: number): number {
  let len = h.minLen;
  let v = bits.read(len);
  while (v > h.limit[len]!) {
    if (++len > MAX_CODE_LEN) throw corrupt('invalid bzip2 Huffman code');
    v = (v << 1) | bits.bit();
  }
  const idx = v - h.base[len]!;
  if (idx < 0 || idx >= alpha) throw corrupt('invalid bzip2 Huffman code');
  return h.perm[idx]!;
}

/** Entropy-decodes one block into tt (BWT vector) and returns its length and origPtr. */
function readBlock(bits: Bits, tt: Uint32Array, maxBlock: number): { n: number; origPtr: number } {
  if (bits.bit()) throw new SourceError('unsupported', 'randomised bzip2 blocks (bzip2 < 0.9.5) are not supported');
  const origPtr = bits.read(24);
  const used = bits.read(16);
  const seqToUnseq: number[] = [];
  for (let i = 0; i < 16; i++) {
    if (used & (0x8000 >>> i)) {
      const row = bits.read(16);
      for (let j = 0; j < 16; j++) if (row & (0x8000 >>> j)) seqToUnseq.push(i * 16 + j);
    }
  }
  if (seqToUnseq.length === 0) throw corrupt('bzip2 block uses no symbols');
  const alpha = seqToUnseq.length + 2;
  const groups = bits.read(3);
  if (groups < 2 || groups > MAX_GROUPS) throw corrupt('invalid bzip2 Huffman group count', { groups });
  const nSelectors = bits.read(15);
  if (nSelectors < 1) throw corrupt('bzip2 block has no selectors');
  const mtfGroups = [0, 1, 2, 3, 4, 5].slice(0, groups);
  const selectors = new Uint8Array(Math.min(nSelectors, MAX_SELECTORS));
  for (let i = 0; i < nSelectors; i++) {
    let j = 0;
    while (bits.bit()) if (++j >= groups) throw corrupt('invalid bzip2 selector');
    const v = mtfGroups[j]!;
    mtfGroups.splice(j, 1);
    mtfGroups.unshift(v);
    if (i < selectors.length) selectors[i] = v;
  }
  const tables: Huffman[] = [];
  const lengths = new Uint8Array(MAX_ALPHA);
  for (let t = 0; t < groups; t++) {
    let cur = bits.read(5);
    for (let i = 0; i < alpha; i++) {
      for (;;) {
        if (cur < 1 || cur > MAX_CODE_LEN) throw corrupt('invalid bzip2 code length');
        if (!bits.bit()) break;
        cur += bits.bit() ? -1 : 1;
      }
      lengths[i] = cur;
    }
    tables.push(buildHuffman(lengths, alpha));
  }
  const eob = alpha - 1;
  const mtf = new Uint8Array(256);
  for (let i = 0; i < 256; i++) mtf[i] = i;
  let n = 0;
  let group = -1;
  let groupLeft = 0;
  let run = 0;
  let runWeight = 1;
  let table = tables[0]!;
  for (;;) {
    if (groupLeft === 0) {
      if (++group >= selectors.length) throw corrupt('bzip2 block runs past its selectors');
      groupLeft = 50;
      table = tables[selectors[group]!]!;
    }
    groupLeft--;
    const sym = decodeSymbol(bits, table, alpha);
    if (sym <= 1) {
      run += runWeight << sym;
      runWeight <<= 1;
      if (run > maxBlock) throw corrupt('bzip2 run exceeds the block size');
      continue;
    }
    if (run > 0) {
      if (n + run > maxBlock) throw corrupt('bzip2 block exceeds its declared size');
      const b = seqToUnseq[mtf[0]!]!;
      tt.fill(b, n, n + run);
      n += run;
      run = 0;
      runWeight = 1;
    }
    if (sym === eob) break;
    if (n >= maxBlock) throw corrupt('bzip2 block exceeds its declared size');
    const idx = sym - 1;
    const v = mtf[idx]!;
    mtf.copyWithin(1, 0, idx);
    mtf[0] = v;
    tt[n++] = seqToUnseq[v]!;
  }
  if (origPtr >= n) throw corrupt('bzip2 block origin pointer out of range', { origPtr, length: n });
  return { n, origPtr };
}

/** Undoes the BWT in place and generates the block's bytes (run-length stage included) lazily. */
function* blockOutput(tt: Uint32Array, n: number, origPtr: number): Generator<Uint8Array, number, void> {
  const cf = new Int32Array(256);
  for (let i = 0; i < n; i++) cf[tt[i]! & 0xff]!++;
  for (let i = 0, sum = 0; i < 256; i++) {
    const c = cf[i]!;
    cf[i] = sum;
    sum += c;
  }
  for (let i = 0; i < n; i++) {
    const b = tt[i]! & 0xff;
    tt[cf[b]!]! |= i << 8;
    cf[b]!++;
  }
  let tPos = tt[origPtr]! >>> 8;
  let left = n;
  let prev = -1;
  let runLen = 0;
  let copies = 0;
  let crc = 0xffffffff;
  const out = new Uint8Array(STEP);
  for (;;) {
    let o = 0;
    while (o < STEP) {
      if (copies > 0) {
        out[o++] = prev;
        crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ prev) & 0xff]!) >>> 0;
        copies--;
        continue;
      }
      if (left === 0) break;
      const e = tt[tPos]!;
      const k = e & 0xff;
      tPos = e >>> 8;
      left--;
      if (runLen === 4) {
        copies = k;
        runLen = 0;
        continue;
      }
      if (k === prev) runLen++;
      else {
        prev = k;
        runLen = 1;
      }
      out[o++] = k;
      crc = ((crc << 8) ^ CRC_TABLE[(crc >>> 24) ^ k]!) >>> 0;
    }
    if (o > 0) yield out.slice(0, o);
    if (o < STEP) return ~crc >>> 0;
  }
}

async function* bzip2Stream(input: BufferedInput): DecoderStream {
  const magic = await input.take(4, 'the bzip2 header');
  if (magic[0] !== 0x42 || magic[1] !== 0x5a || magic[2] !== 0x68 || magic[3]! < 0x31 || magic[3]! > 0x39) {
    throw corrupt('not a bzip2 stream', { offset: input.offset() - 4 });
  }
  const maxBlock = (magic[3]! - 0x30) * 100_000;
  const tt = new Uint32Array(maxBlock);
  const bits = new Bits(input);
  let combined = 0;
  for (;;) {
    // Enough look-ahead for any whole block; bits left from the previous block are kept in `bits`.
    await input.ensure(BLOCK_LOOKAHEAD);
    const hi = bits.read(24);
    const lo = bits.read(24);
    if (hi === 0x177245 && lo === 0x385090) {
      const stored = bits.read32();
      bits.align();
      if (stored !== combined) throw corrupt('bzip2 stream CRC mismatch', { stored, computed: combined });
      return;
    }
    if (hi !== 0x314159 || lo !== 0x265359) throw corrupt('bzip2 block magic missing', { offset: input.offset() });
    const blockCrc = bits.read32();
    const { n, origPtr } = readBlock(bits, tt, maxBlock);
    const gen = blockOutput(tt, n, origPtr);
    let r = gen.next();
    while (!r.done) {
      yield r.value;
      r = gen.next();
    }
    if (r.value !== blockCrc) throw corrupt('bzip2 block CRC mismatch', { stored: blockCrc, computed: r.value });
    combined = (((combined << 1) | (combined >>> 31)) ^ blockCrc) >>> 0;
  }
}

/** Concatenated streams are decoded like Python's BZ2File; other trailing bytes are ignored. */
export async function* bzip2(input: BufferedInput): DecoderStream {
  do {
    yield* bzip2Stream(input);
    await input.ensure(4);
  } while (
    input.end - input.pos >= 4 &&
    input.buf[input.pos] === 0x42 &&
    input.buf[input.pos + 1] === 0x5a &&
    input.buf[input.pos + 2] === 0x68 &&
    input.buf[input.pos + 3]! >= 0x31 &&
    input.buf[input.pos + 3]! <= 0x39
  );
}
