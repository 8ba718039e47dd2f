/**
 * Buffered forward reader over a ByteSource for the pickle machine. The hot path (an opcode and
 * a short argument already in the buffer) is synchronous; the machine awaits `ensure` only near
 * the end of the buffer, so a 10-million-opcode stream costs a few hundred awaits, not millions.
 * Memory is bounded: the buffer holds one chunk plus at most one kept argument. Between opcodes
 * (nothing then points into the buffer) the machine lets the reader refill into the buffer it
 * left before, so a long stream reuses two buffers instead of leaving one per chunk to the
 * garbage collector.
 */
import type { ByteSource } from '../source/types.js';

const CHUNK = 1 << 20;
/** Size of a reusable buffer: a chunk and the unread bytes carried over between opcodes. */
const STANDARD = CHUNK + 4096;

export class PickleReader {
  buf: Uint8Array = new Uint8Array(0);
  /** The allocation `buf` is a view of. */
  private whole: Uint8Array | null = null;
  /** The allocation before it, kept for reuse by a refill that allows it. */
  private spare: Uint8Array | null = null;
  /** Index of the next unread byte in buf. */
  p = 0;
  /** Absolute offset of buf[0] in the source. */
  base: number;
  eof = false;

  constructor(
    private readonly src: ByteSource,
    start: number,
  ) {
    this.base = start;
  }

  /** Absolute offset of the next unread byte. */
  get pos(): number {
    return this.base + this.p;
  }

  get sourceSize(): number | null {
    return this.src.size;
  }

  get available(): number {
    return this.buf.length - this.p;
  }

  /**
   * Make at least n bytes available (fewer only at end of data). Keeps unread bytes, drops read
   * ones, so the buffer never exceeds max(CHUNK, n) + CHUNK. With `reuse`, the caller holds no
   * view into this reader's buffers (the machine between opcodes), so the refill may go into the
   * spare one; otherwise views taken before (a line, a payload) stay valid.
   */
  async ensure(n: number, reuse = false): Promise<boolean> {
    if (this.available >= n) return true;
    if (this.eof) return false;
    while (this.available < n && !this.eof) {
      const restLen = this.available;
      const at = this.base + this.buf.length;
      // A source of known size is asked for what is left of it and one byte more (so the read
      // still comes back short at its end), not a whole chunk: a 300-byte pickle otherwise
      // allocated and zeroed a megabyte (mixed-168: ~100 of them, 4 % of its instructions, and
      // the garbage collector's work on that external memory).
      const size = this.src.size;
      const want = Math.min(Math.max(CHUNK, n - restLen), size === null ? Infinity : Math.max(0, size - at) + 1);
      const spare = this.spare;
      let next: Uint8Array;
      if (reuse && spare !== null && spare.length >= restLen + want) next = spare;
      else next = new Uint8Array(restLen + want <= STANDARD && want >= CHUNK ? STANDARD : restLen + want);
      next.set(this.buf.subarray(this.p), 0);
      const got = await this.fill(at, next.subarray(restLen, restLen + want));
      // Only standard-size buffers are kept for reuse: a long line's buffer is let go.
      const prev = this.whole;
      this.whole = next;
      if (prev !== null && prev.length === STANDARD) this.spare = prev;
      else if (next === spare) this.spare = null;
      this.base += this.p;
      this.buf = next.subarray(0, restLen + got);
      this.p = 0;
      // ByteSource contract: a short read happens only at the end of data.
      if (got < want) this.eof = true;
    }
    return this.available >= n;
  }

  /** Read into `into` from `offset`; the number of bytes read (fewer only at the end of data). */
  private async fill(offset: number, into: Uint8Array): Promise<number> {
    if (this.src.readInto) return this.src.readInto(offset, into);
    const chunk = await this.src.read(offset, into.length);
    into.set(chunk, 0);
    return chunk.length;
  }

  /** Skip n bytes without keeping them (large strings, joblib array data). */
  async skip(n: number): Promise<boolean> {
    if (this.available >= n) {
      this.p += n;
      return true;
    }
    const target = this.pos + n;
    this.base = target;
    this.buf = new Uint8Array(0);
    this.p = 0;
    this.eof = false;
    if (this.src.size !== null) {
      if (target > this.src.size) {
        this.base = this.src.size;
        this.eof = true;
        return false;
      }
      return true;
    }
    // Streaming sources: we cannot know the end without reading; a read at `target` decodes through.
    const probe = await this.ensure(1);
    if (!probe) {
      // Could be exactly at the end; the caller treats a later short read as truncation.
      return this.pos === target;
    }
    return true;
  }

  /** Find the next '\n' at or after p, reading more if needed, up to maxLen bytes. -1 if not found. */
  async findNewline(maxLen: number): Promise<number> {
    let from = this.p;
    for (;;) {
      const idx = this.buf.indexOf(0x0a, from);
      if (idx >= 0) return idx - this.p <= maxLen ? idx : -2;
      if (this.available > maxLen) return -2;
      if (this.eof) return -1;
      from = this.buf.length;
      const have = this.available;
      from -= this.p;
      await this.ensure(have + CHUNK);
      from += this.p;
      if (this.available === have) return -1;
    }
  }
}
