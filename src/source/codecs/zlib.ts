/**
 * Deflate family through node:zlib's streaming classes (native, fast). Bounded by stream
 * back-pressure: the inflater's output chunk is 64 KiB and it only pulls more input when we
 * consume its output, so at most a few chunks are in flight; stopping early destroys it.
 *  - raw deflate (zip method 8): one stream, trailing bytes ignored (as zip readers do);
 *  - zlib: concatenated zlib streams are decoded one after another, as joblib's
 *    BinaryZlibFile does, trailing non-zlib bytes ignored;
 *  - gzip: node decodes concatenated members itself (Python's GzipFile does too).
 */
import { Readable, pipeline } from 'node:stream';
import { createGunzip, createInflate, createInflateRaw, type Inflate, type Gunzip, type InflateRaw } from 'node:zlib';
import { SourceError, type ByteSource } from '../types.js';
import { corrupt, type DecoderStream } from './input.js';

const CHUNK = 64 * 1024;

export type DeflateKind = 'deflate-raw' | 'zlib' | 'gzip';

/** Byte pair plausibility of a zlib header (CMF/FLG), without a preset dictionary. */
export function isZlibHeader(a: number | undefined, b: number | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  return (a & 0x0f) === 8 && a >>> 4 <= 7 && ((a << 8) | b) % 31 === 0 && (b & 0x20) === 0;
}

class Progress {
  /** Bytes of input the last finished stream used (zlib's own count, exact). */
  used = 0;
}

async function* one(src: ByteSource, start: number, kind: DeflateKind, progress: Progress): DecoderStream {
  const z: Inflate | Gunzip | InflateRaw =
    kind === 'gzip' ? createGunzip({ chunkSize: CHUNK }) : kind === 'zlib' ? createInflate({ chunkSize: CHUNK }) : createInflateRaw({ chunkSize: CHUNK });
  async function* feed(): AsyncGenerator<Uint8Array> {
    let pos = start;
    for (;;) {
      const b = await src.read(pos, CHUNK);
      if (b.length === 0) return;
      pos += b.length;
      // Copy: node may keep the chunk after we move on, and sources may reuse their buffers.
      yield Buffer.from(b);
      if (b.length < CHUNK) return;
    }
  }
  const feeder = Readable.from(feed(), { objectMode: false, highWaterMark: CHUNK });
  pipeline(feeder, z, () => {
    /* errors surface through the iterator below */
  });
  try {
    for await (const chunk of z as AsyncIterable<Buffer>) {
      yield new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    }
    progress.used = z.bytesWritten;
  } catch (e) {
    if (e instanceof SourceError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw corrupt(`${kind} data is corrupt: ${err.message}`, { code: err.code ?? 'unknown' });
  } finally {
    feeder.destroy();
    z.destroy();
  }
  return;
}

export async function* deflateFamily(src: ByteSource, kind: DeflateKind): DecoderStream {
  const progress = new Progress();
  if (kind !== 'zlib') {
    yield* one(src, 0, kind, progress);
    return;
  }
  let start = 0;
  for (;;) {
    progress.used = 0;
    yield* one(src, start, kind, progress);
    if (progress.used <= 0) return;
    start += progress.used;
    const next = await src.read(start, 2);
    if (next.length < 2 || !isZlibHeader(next[0], next[1])) return;
  }
}
