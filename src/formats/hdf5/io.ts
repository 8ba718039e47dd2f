/**
 * Bounded random-access reading for the HDF5 reader. Every address and length an HDF5 file
 * states is hostile input: it is checked against the file size before any read, reads are
 * counted against a budget, and every problem becomes an H5Error with a kind that the analyzer
 * turns into a finding (never an exception escaping analyze()).
 */
import type { ByteSource } from '../../source/types.js';

export type H5ErrorKind = 'malformed' | 'limit' | 'unsupported';

export class H5Error extends Error {
  constructor(
    readonly kind: H5ErrorKind,
    message: string,
    readonly offset?: number,
  ) {
    super(message);
    this.name = 'H5Error';
  }
}

export const malformed = (message: string, offset?: number) => new H5Error('malformed', message, offset);

/** Bounds that keep the reader's cost independent of the data a file holds. */
export interface H5Limits {
  /** Largest single structure read (object header chunk, heap block, attribute value). */
  maxRead: number;
  /** Total number of reads for one file. */
  maxReads: number;
  /** Messages read from one object header, continuation blocks included. */
  maxMessages: number;
  /** Continuation blocks followed for one object header. */
  maxContinuations: number;
  /** Records read from one v2 B-tree. */
  maxRecords: number;
  /** Elements decoded from one attribute value. */
  maxElements: number;
}

export const DEFAULT_H5_LIMITS: Readonly<H5Limits> = Object.freeze({
  maxRead: 64 * 1024 * 1024,
  maxReads: 20_000,
  maxMessages: 10_000,
  maxContinuations: 256,
  maxRecords: 100_000,
  maxElements: 100_000,
});

/** Little-endian decoding over one buffer; running past its end is a malformed structure. */
export class Cursor {
  constructor(
    readonly buf: Uint8Array,
    /** File address of buf[0], for messages. */
    readonly at: number,
    public pos = 0,
  ) {}

  get left(): number {
    return this.buf.length - this.pos;
  }

  need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.buf.length) throw malformed(`${what} runs past the end of its structure`, this.at + this.pos);
  }

  u8(what = 'byte'): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what = 'field'): number {
    this.need(2, what);
    const v = this.buf[this.pos]! | (this.buf[this.pos + 1]! << 8);
    this.pos += 2;
    return v;
  }

  u32(what = 'field'): number {
    this.need(4, what);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }

  /**
   * An unsigned integer of n bytes (n <= 8). Values above 2^53 lose precision, which is fine:
   * they are far beyond any file and fail the bounds checks that follow. All-ones is returned as
   * UNDEFINED (HDF5's "undefined address").
   */
  uint(n: number, what = 'field'): number {
    if (n < 1 || n > 8) throw new H5Error('unsupported', `${n}-byte integers are not supported`, this.at + this.pos);
    this.need(n, what);
    let v = 0;
    let ones = true;
    for (let i = n - 1; i >= 0; i--) {
      const byte = this.buf[this.pos + i]!;
      if (byte !== 0xff) ones = false;
      v = v * 256 + byte;
    }
    this.pos += n;
    return ones ? UNDEFINED : v;
  }

  bytes(n: number, what = 'bytes'): Uint8Array {
    this.need(n, what);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(n: number, what = 'field'): void {
    this.need(n, what);
    this.pos += n;
  }

  signature(sig: string, what: string): void {
    const got = String.fromCharCode(...this.bytes(sig.length, what));
    if (got !== sig) throw malformed(`${what}: expected signature ${sig}, found ${JSON.stringify(got)}`, this.at + this.pos - sig.length);
  }
}

/** HDF5's undefined address (all bits set), as returned by Cursor.uint. */
export const UNDEFINED = -1;

/** The file as the structures see it: sizes of offsets and lengths, base address, bounded reads. */
export class H5File {
  offsetSize = 8;
  lengthSize = 8;
  /** Absolute position that relative addresses count from (the superblock, normally 0). */
  base = 0;
  private reads = 0;

  constructor(
    readonly source: ByteSource,
    readonly size: number,
    readonly limits: H5Limits,
    private readonly expired: () => boolean,
  ) {}

  /** Reads `length` bytes at relative address `addr`, all of which must lie inside the file. */
  async read(addr: number, length: number, what: string): Promise<Cursor> {
    if (addr === UNDEFINED) throw malformed(`${what} has an undefined address`);
    const abs = this.base + addr;
    if (!Number.isSafeInteger(abs) || abs < 0 || !Number.isSafeInteger(length) || length < 0 || abs + length > this.size) {
      throw malformed(`${what} at address ${addr} (${length} bytes) lies outside the ${this.size}-byte file`, Number.isSafeInteger(abs) ? abs : undefined);
    }
    if (length > this.limits.maxRead) throw new H5Error('limit', `${what} is ${length} bytes, above the ${this.limits.maxRead}-byte read limit`, abs);
    if (++this.reads > this.limits.maxReads) throw new H5Error('limit', `more than ${this.limits.maxReads} structure reads`, abs);
    if (this.expired()) throw new H5Error('limit', 'time budget exhausted while reading HDF5 structures', abs);
    const bytes = await this.source.read(abs, length);
    if (bytes.length < length) throw malformed(`${what} at address ${addr} is truncated`, abs);
    return new Cursor(bytes, abs);
  }

  offset(c: Cursor, what = 'address'): number {
    return c.uint(this.offsetSize, what);
  }

  length(c: Cursor, what = 'length'): number {
    return c.uint(this.lengthSize, what);
  }
}
