/**
 * A forward cursor over a ByteSource with a read-ahead window, for formats made of many small
 * fields (GGUF metadata holds hundreds of thousands of short strings). Reads are checked against
 * the source size when it is known and against short reads when it is not; skipping never
 * reads the skipped bytes, so a 2^62-byte length costs nothing but a bounds check.
 */
import type { ByteSource } from '../../source/types.js';

export type CursorErrorKind = 'truncated' | 'absurd';

/** Thrown inside a parse and turned into a finding at the analyzer's boundary. */
export class CursorError extends Error {
  constructor(
    readonly kind: CursorErrorKind,
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'CursorError';
  }
}

const WINDOW = 256 * 1024;

export class Cursor {
  pos = 0;
  littleEndian = true;
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart = 0;

  constructor(
    private readonly source: ByteSource,
    readonly size: number | null,
  ) {}

  /** Bytes known to remain, or +Infinity when the size is unknown. */
  remaining(): number {
    return this.size === null ? Number.POSITIVE_INFINITY : Math.max(0, this.size - this.pos);
  }

  private async ensure(n: number, what: string): Promise<void> {
    if (this.size !== null && this.pos + n > this.size) {
      throw new CursorError('truncated', `${what} at offset ${this.pos} needs ${n} bytes, only ${this.remaining()} remain`, this.pos);
    }
    const off = this.pos - this.bufStart;
    if (off >= 0 && off + n <= this.buf.length) return;
    this.buf = await this.source.read(this.pos, Math.max(n, WINDOW));
    this.bufStart = this.pos;
    if (this.buf.length < n) throw new CursorError('truncated', `${what} at offset ${this.pos}: the data ends after ${this.buf.length} bytes`, this.pos);
  }

  async bytes(n: number, what: string): Promise<Uint8Array> {
    await this.ensure(n, what);
    const off = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.subarray(off, off + n);
  }

  private async view(n: number, what: string): Promise<DataView> {
    const b = await this.bytes(n, what);
    return new DataView(b.buffer, b.byteOffset, n);
  }

  async u8(what: string): Promise<number> {
    return (await this.view(1, what)).getUint8(0);
  }
  async u32(what: string): Promise<number> {
    return (await this.view(4, what)).getUint32(0, this.littleEndian);
  }
  async i32(what: string): Promise<number> {
    return (await this.view(4, what)).getInt32(0, this.littleEndian);
  }
  /** Unsigned 64-bit value; above 2^53 it cannot be a real length, count or offset. */
  async u64(what: string): Promise<number> {
    const at = this.pos;
    const v = (await this.view(8, what)).getBigUint64(0, this.littleEndian);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CursorError('absurd', `${what} at offset ${at} is ${v}, more than any file can hold`, at);
    return Number(v);
  }
  /** Signed 64-bit value as a bigint (GGUF dimensions are int64 in llama.cpp). */
  async i64(what: string): Promise<bigint> {
    return (await this.view(8, what)).getBigInt64(0, this.littleEndian);
  }

  /** Skip n bytes without reading them; fails if they run past the known end. */
  skip(n: number, what: string): void {
    if (this.size !== null && n > this.remaining()) {
      throw new CursorError('truncated', `${what} at offset ${this.pos} declares ${n} bytes, only ${this.remaining()} remain`, this.pos);
    }
    this.pos += n;
  }

  /** Read the first `keep` bytes of an n-byte field and skip the rest. */
  async prefix(n: number, keep: number, what: string): Promise<Uint8Array> {
    if (this.size !== null && n > this.remaining()) {
      throw new CursorError('truncated', `${what} at offset ${this.pos} declares ${n} bytes, only ${this.remaining()} remain`, this.pos);
    }
    const k = Math.min(n, keep);
    const out = k <= WINDOW ? (await this.bytes(k, what)).slice() : await this.source.read(this.pos, k).then((b) => {
      if (b.length < k) throw new CursorError('truncated', `${what} at offset ${this.pos}: the data ends after ${b.length} bytes`, this.pos);
      this.pos += k;
      return b;
    });
    this.pos += n - k;
    return out;
  }
}
