/**
 * LZ4 frames (the format of the `lz4` tool, Python's lz4.frame and joblib's compress='lz4'),
 * our own decoder. Memory is bounded by the frame's declared block maximum (4 MiB at most):
 * each block is read whole (its size is checked against that maximum first), decoded into a
 * buffer of the maximum plus, for linked blocks, the 64 KiB of earlier output a match may
 * reach back into. Nothing else grows with the input.
 *
 * Checked as the reference decoder checks them: magic, version, reserved bits, block maximum,
 * the header checksum, block checksums and the content checksum (XXH32) when the frame has
 * them, and the declared content size. Skippable frames are skipped; frames may be
 * concatenated. Dictionaries (a dictionary id in the header) and the legacy format are
 * 'unsupported'. Every loop consumes input, so malformed data ends in an error, never a hang.
 */
import { SourceError } from '../types.js';
import { BufferedInput, corrupt, type DecoderStream } from './input.js';
import { Xxh32, xxh32 } from './xxh32.js';

export const LZ4_FRAME_MAGIC = 0x184d2204;
const LEGACY_MAGIC = 0x184c2102;
const HISTORY = 64 * 1024;
const BLOCK_MAX: Record<number, number> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 };

function u32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/** True when the bytes start an LZ4 frame (or a skippable frame followed by one is not required). */
export function hasLz4FrameMagic(h: Uint8Array): boolean {
  return h.length >= 5 && u32(h, 0) === LZ4_FRAME_MAGIC && h[4]! >>> 6 === 1;
}

interface FrameHeader {
  independent: boolean;
  blockChecksum: boolean;
  contentChecksum: boolean;
  contentSize: number | null;
  blockMax: number;
}

async function readHeader(input: BufferedInput, start: number): Promise<FrameHeader> {
  const fd = await input.take(2, 'an LZ4 frame descriptor');
  const flg = fd[0]!;
  const bd = fd[1]!;
  if (flg >>> 6 !== 1) throw corrupt('LZ4 frame version is not 01', { offset: start, flg });
  if (flg & 0x02) throw corrupt('LZ4 frame descriptor reserved bit set', { offset: start });
  if (bd & 0x8f) throw corrupt('LZ4 block descriptor reserved bits set', { offset: start, bd });
  const blockMax = BLOCK_MAX[(bd >>> 4) & 7];
  if (blockMax === undefined) throw corrupt('LZ4 block maximum size code is invalid', { offset: start, code: (bd >>> 4) & 7 });
  const hasSize = (flg & 0x08) !== 0;
  const hasDict = (flg & 0x01) !== 0;
  const rest = (await input.take((hasSize ? 8 : 0) + (hasDict ? 4 : 0) + 1, 'an LZ4 frame descriptor')).slice();
  const described = new Uint8Array(2 + rest.length - 1);
  described.set([flg, bd], 0);
  described.set(rest.subarray(0, rest.length - 1), 2);
  if (((xxh32(described) >>> 8) & 0xff) !== rest[rest.length - 1]) throw corrupt('LZ4 frame header checksum mismatch', { offset: start });
  let contentSize: number | null = null;
  if (hasSize) {
    const hi = u32(rest, 4);
    // Above 2^53 no real stream can be that long; the output limits stop it long before.
    contentSize = hi >= 0x200000 ? Number.MAX_SAFE_INTEGER : hi * 0x100000000 + u32(rest, 0);
  }
  if (hasDict) throw new SourceError('unsupported', 'LZ4 frame needs a dictionary', { dictId: u32(rest, hasSize ? 8 : 0) });
  return { independent: (flg & 0x20) !== 0, blockChecksum: (flg & 0x10) !== 0, contentChecksum: (flg & 0x04) !== 0, contentSize, blockMax };
}

/**
 * One LZ4 block into `dst` from `op` (bytes before `op` are earlier output a match may copy
 * from). Returns the new end. Every read and write is bounds-checked.
 */
export function decodeLz4Block(src: Uint8Array, dst: Uint8Array, op: number): number {
  let ip = 0;
  const n = src.length;
  for (;;) {
    if (ip >= n) throw corrupt('LZ4 block ends inside a sequence');
    const token = src[ip++]!;
    let lit = token >>> 4;
    if (lit === 15) {
      for (;;) {
        if (ip >= n) throw corrupt('LZ4 block ends inside a literal length');
        const b = src[ip++]!;
        lit += b;
        if (b !== 255) break;
      }
    }
    if (ip + lit > n) throw corrupt('LZ4 literals run past the block');
    if (op + lit > dst.length) throw corrupt('LZ4 block output exceeds the block maximum');
    dst.set(src.subarray(ip, ip + lit), op);
    ip += lit;
    op += lit;
    // The last sequence has literals only.
    if (ip === n) return op;
    if (ip + 2 > n) throw corrupt('LZ4 block ends inside a match offset');
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || offset > op) throw corrupt('LZ4 match offset points before the data', { offset });
    let len = (token & 15) + 4;
    if ((token & 15) === 15) {
      for (;;) {
        if (ip >= n) throw corrupt('LZ4 block ends inside a match length');
        const b = src[ip++]!;
        len += b;
        if (b !== 255) break;
      }
    }
    if (op + len > dst.length) throw corrupt('LZ4 block output exceeds the block maximum');
    if (offset >= len) {
      dst.copyWithin(op, op - offset, op - offset + len);
      op += len;
    } else {
      // Overlapping copy repeats the last `offset` bytes.
      for (const end = op + len; op < end; op++) dst[op] = dst[op - offset]!;
    }
  }
}

async function* frame(input: BufferedInput, start: number): DecoderStream {
  const h = await readHeader(input, start);
  const sum = h.contentChecksum ? new Xxh32() : null;
  let history = new Uint8Array(0);
  let total = 0;
  for (;;) {
    const at = input.offset();
    const word = u32(await input.take(4, 'an LZ4 block size'), 0);
    if (word === 0) break;
    const raw = (word & 0x80000000) !== 0;
    const size = word & 0x7fffffff;
    if (size > h.blockMax) throw corrupt('LZ4 block larger than the frame allows', { offset: at, size, max: h.blockMax });
    const body = (await input.take(size, 'an LZ4 block')).slice();
    if (h.blockChecksum) {
      const want = u32(await input.take(4, 'an LZ4 block checksum'), 0);
      if (xxh32(body) !== want) throw corrupt('LZ4 block checksum mismatch', { offset: at });
    }
    let out: Uint8Array;
    if (raw) {
      out = body;
    } else {
      // A sequence of k input bytes yields at most ~255k bytes (a length byte of 255 adds 255),
      // so small blocks get small buffers: many tiny blocks cannot make us zero 4 MiB each.
      const dst = new Uint8Array(history.length + Math.min(h.blockMax, size * 260 + 64));
      dst.set(history, 0);
      let end: number;
      try {
        end = decodeLz4Block(body, dst, history.length);
      } catch (e) {
        if (e instanceof SourceError) throw new SourceError(e.kind, e.message, { ...e.details, offset: at });
        throw e;
      }
      out = dst.slice(history.length, end);
    }
    total += out.length;
    if (h.contentSize !== null && total > h.contentSize) throw corrupt('LZ4 frame holds more than its declared content size', { offset: at, declared: h.contentSize });
    if (!h.independent) {
      // Linked blocks: the next block's matches may reach 64 KiB back into this output.
      const keep = Math.min(HISTORY, history.length + out.length);
      const next = new Uint8Array(keep);
      const fromOut = Math.min(keep, out.length);
      next.set(history.subarray(history.length - (keep - fromOut)), 0);
      next.set(out.subarray(out.length - fromOut), keep - fromOut);
      history = next;
    }
    sum?.update(out);
    if (out.length) yield out;
  }
  if (h.contentSize !== null && total !== h.contentSize) throw corrupt('LZ4 frame content is shorter than declared', { declared: h.contentSize, actual: total });
  if (sum) {
    const want = u32(await input.take(4, 'the LZ4 content checksum'), 0);
    if (sum.digest() !== want) throw corrupt('LZ4 content checksum mismatch', { offset: input.offset() - 4 });
  }
}

export async function* lz4Frames(input: BufferedInput): DecoderStream {
  let frames = 0;
  for (;;) {
    if ((await input.ensure(4)) === 0 && frames > 0) return;
    const start = input.offset();
    if (input.available() < 4) throw corrupt('LZ4 data ends inside a frame magic', { offset: start });
    const magic = u32(input.buf, input.pos);
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
      const sh = await input.take(8, 'an LZ4 skippable frame');
      await input.skip(u32(sh, 4), 'an LZ4 skippable frame');
      frames++;
      continue;
    }
    if (magic === LEGACY_MAGIC) throw new SourceError('unsupported', 'LZ4 legacy frame format', { offset: start });
    if (magic !== LZ4_FRAME_MAGIC) throw corrupt(frames ? 'bytes after the last LZ4 frame are not a frame' : 'not an LZ4 frame', { offset: start });
    input.pos += 4;
    yield* frame(input, start);
    frames++;
  }
}
