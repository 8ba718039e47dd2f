/**
 * Zstandard decoding with fzstd, bounded by walking the frame structure ourselves:
 *  - each frame header is checked before fzstd sees it, and frames whose window exceeds
 *    MAX_WINDOW are refused (fzstd would allocate the declared window, up to 2 GiB, for a
 *    few bytes of input; libzstd refuses windows above 2^27 by default too);
 *  - fzstd is fed one block at a time (a block is ≤ 128 KiB of input and of output), so each
 *    push produces at most one or two blocks' output and we can stop between any two blocks;
 *  - a fresh fzstd decoder per frame, so skippable frames and the next frame's header go
 *    through our checks as well.
 * Dictionaries (dictionary id ≠ 0) are 'unsupported'. Content checksums are not verified.
 */
import { lazyModule } from '../../core/lazy.js';
import { SourceError } from '../types.js';
import { BufferedInput, corrupt, type DecoderStream } from './input.js';

export const ZSTD_MAX_WINDOW = 1 << 27;
const MAX_BLOCK = 128 * 1024;
const FRAME_MAGIC = 0xfd2fb528;

function le(b: Uint8Array, at: number, n: number): number {
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = v * 256 + b[at + i]!;
  return v;
}

/** Loaded when a zstd stream is met, not at start-up (src/core/lazy.ts). */
const fzstd = lazyModule<typeof import('fzstd')>('fzstd');

export async function* zstd(input: BufferedInput): DecoderStream {
  const { Decompress } = fzstd();
  let frames = 0;
  for (;;) {
    if ((await input.ensure(4)) === 0 && frames > 0) return;
    const start = input.offset();
    if (input.available() < 4) throw corrupt('zstd data ends inside a frame magic', { offset: start });
    const magic = le(input.buf, input.pos, 4);
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
      const h = await input.take(8, 'a zstd skippable frame');
      await input.skip(le(h, 4, 4), 'a zstd skippable frame');
      frames++;
      continue;
    }
    if (magic !== FRAME_MAGIC) throw corrupt(frames ? 'bytes after the last zstd frame are not a frame' : 'not a zstd frame', { offset: start });
    await input.ensure(18);
    const b = input.buf.subarray(input.pos, input.end);
    const fhd = b[4];
    if (fhd === undefined) throw corrupt('zstd frame header truncated', { offset: start });
    if (fhd & 0x08) throw corrupt('zstd frame header reserved bit set', { offset: start });
    const fcsFlag = fhd >>> 6;
    const single = (fhd >>> 5) & 1;
    const hasChecksum = (fhd >>> 2) & 1;
    const dictBytes = [0, 1, 2, 4][fhd & 3]!;
    let at = 5;
    let window = 0;
    if (!single) {
      const wd = b[at++]!;
      const wb = 2 ** (10 + (wd >>> 3));
      window = wb + (wb / 8) * (wd & 7);
    }
    const dictId = le(b, at, dictBytes);
    at += dictBytes;
    const fcsBytes = fcsFlag === 0 ? single : [0, 2, 4, 8][fcsFlag]!;
    let fcs = fcsBytes ? le(b, at, fcsBytes) : 0;
    if (fcsFlag === 1) fcs += 256;
    at += fcsBytes;
    if (single) window = fcs;
    if (b.length < at) throw corrupt('zstd frame header truncated', { offset: start });
    if (dictId !== 0) throw new SourceError('unsupported', 'zstd frame needs a dictionary', { dictId });
    if (window > ZSTD_MAX_WINDOW) {
      throw new SourceError('unsupported', 'zstd frame window larger than decoders accept by default', { window, max: ZSTD_MAX_WINDOW });
    }
    const out: Uint8Array[] = [];
    const dec = new Decompress((chunk) => {
      if (chunk.length) out.push(chunk);
    });
    let pending: Uint8Array | null = input.buf.slice(input.pos, input.pos + at);
    input.pos += at;
    for (;;) {
      const bh = await input.take(3, 'a zstd block header');
      const h = le(bh, 0, 3);
      const last = h & 1;
      const type = (h >>> 1) & 3;
      const size = h >>> 3;
      if (type === 3) throw corrupt('reserved zstd block type', { offset: input.offset() - 3 });
      if (size > MAX_BLOCK) throw corrupt('zstd block larger than 128 KiB', { offset: input.offset() - 3, size });
      const header = bh.slice();
      const body = await input.take(type === 1 ? 1 : size, 'a zstd block');
      const parts = [pending ?? new Uint8Array(0), header, body.slice()];
      pending = null;
      if (last && hasChecksum) parts.push((await input.take(4, 'the zstd checksum')).slice());
      const chunk = concat(parts);
      try {
        dec.push(chunk, last === 1);
      } catch (e) {
        throw corrupt(`zstd data is corrupt: ${(e as Error).message}`, { offset: input.offset() });
      }
      while (out.length) yield out.shift()!;
      if (last) break;
    }
    frames++;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const r = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    r.set(p, o);
    o += p.length;
  }
  return r;
}
