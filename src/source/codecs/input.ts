/**
 * Sequential buffered reading of a compressed ByteSource for the decoders. Decoders are
 * synchronous inner loops over `buf[pos..end)`; between loops they `ensure()` enough input
 * (asynchronously). Only a bounded look-ahead is ever held, so memory does not grow with input.
 */
import { SourceError, type ByteSource } from '../types.js';

const READ_CHUNK = 64 * 1024;
const EMPTY = new Uint8Array(0);

export class BufferedInput {
  /** Hot-loop access: unread bytes are buf[pos..end). Valid until the next ensure()/skip(). */
  buf: Uint8Array = EMPTY;
  pos = 0;
  end = 0;
  /** True once the source returned short: no more bytes will arrive. */
  eof = false;
  private srcPos: number;
  private fetchedBytes = 0;

  constructor(
    private readonly src: ByteSource,
    start = 0,
  ) {
    this.srcPos = start;
  }

  available(): number {
    return this.end - this.pos;
  }

  /** Offset in the source of the next unread byte. */
  offset(): number {
    return this.srcPos - (this.end - this.pos);
  }

  fetched(): number {
    return this.fetchedBytes;
  }

  /** Reads until at least n unread bytes are buffered or the source ends; returns what is available. */
  async ensure(n: number): Promise<number> {
    while (this.end - this.pos < n && !this.eof) {
      const want = Math.max(READ_CHUNK, n - (this.end - this.pos));
      const got = await this.src.read(this.srcPos, want);
      this.fetchedBytes += got.length;
      this.srcPos += got.length;
      // A short read means the end of data (ByteSource contract); a known size lets us stop early.
      this.eof = got.length < want || (this.src.size !== null && this.srcPos >= this.src.size);
      if (got.length === 0) break;
      const rest = this.end - this.pos;
      const next = new Uint8Array(rest + got.length);
      next.set(this.buf.subarray(this.pos, this.end), 0);
      next.set(got, rest);
      this.buf = next;
      this.pos = 0;
      this.end = next.length;
    }
    return this.end - this.pos;
  }

  /** Exactly n bytes or a 'corrupt' (truncated) error; the view is valid until the next ensure(). */
  async take(n: number, what: string): Promise<Uint8Array> {
    if ((await this.ensure(n)) < n) throw truncated(what, this.offset());
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  async byte(what: string): Promise<number> {
    return (await this.take(1, what))[0]!;
  }

  /** Skips n bytes without holding them. */
  async skip(n: number, what: string): Promise<void> {
    let left = n;
    while (left > 0) {
      if ((await this.ensure(Math.min(left, READ_CHUNK))) === 0) throw truncated(what, this.offset());
      const step = Math.min(left, this.end - this.pos);
      this.pos += step;
      left -= step;
    }
  }

  /** True when no byte is left at all. */
  async atEnd(): Promise<boolean> {
    return (await this.ensure(1)) === 0;
  }
}

export function truncated(what: string, offset: number): SourceError {
  return new SourceError('corrupt', `compressed data ends inside ${what}`, { offset });
}

export function corrupt(message: string, details: Record<string, string | number> = {}): SourceError {
  return new SourceError('corrupt', message, details);
}

/** A decoder yields output chunks (each small: at most a few hundred KiB) until the data ends. */
export type DecoderStream = AsyncGenerator<Uint8Array, void, void>;
