/**
 * A bounded reader for the Thrift compact protocol, the encoding of Parquet's footer
 * (FileMetaData). It decodes an in-memory buffer (the footer is read whole, its size capped by
 * Limits.maxParquetFooterBytes). Every declared length is checked against the bytes left, nesting
 * is capped, and fields a caller does not ask for are skipped by their wire type, as the generated
 * C++ readers pyarrow uses skip them. Every element consumes at least one byte, so a walk is linear
 * in the footer size whatever the counts claim. Hostile input ends in a ThriftError (kind, offset
 * in the file) that the analyzer turns into a finding.
 *
 * Encoding: https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md
 */

export type ThriftErrorKind = 'truncated' | 'varint-too-long' | 'length-out-of-bounds' | 'bad-type' | 'too-deep';

export class ThriftError extends Error {
  constructor(
    readonly kind: ThriftErrorKind,
    message: string,
    /** Offset in the file (the buffer's base added). */
    readonly offset: number,
  ) {
    super(message);
    this.name = 'ThriftError';
  }
}

/** Compact-protocol type codes (field headers and collection element types). */
export const CT = {
  STOP: 0,
  TRUE: 1,
  FALSE: 2,
  BYTE: 3,
  I16: 4,
  I32: 5,
  I64: 6,
  DOUBLE: 7,
  BINARY: 8,
  LIST: 9,
  SET: 10,
  MAP: 11,
  STRUCT: 12,
  /** Added in Thrift 0.19; 16 raw bytes. Parquet does not use it, but a skip must know its size. */
  UUID: 13,
} as const;

/** Thrift C++'s default recursion limit; its readers refuse anything deeper. */
export const DEFAULT_MAX_DEPTH = 64;

const UTF8 = new TextDecoder('utf-8', { fatal: false });

export interface CollectionHeader {
  /** Element type (for maps: the key type). */
  type: number;
  /** Value type of a map; 0 otherwise. */
  valueType: number;
  size: number;
}

export class CompactReader {
  pos = 0;
  private depth = 0;

  constructor(
    private readonly buf: Uint8Array,
    /** Offset of `buf` in the file, so error offsets point into the file. */
    private readonly base = 0,
    private readonly maxDepth = DEFAULT_MAX_DEPTH,
  ) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** File offset of the next byte. */
  get offset(): number {
    return this.base + this.pos;
  }

  private fail(kind: ThriftErrorKind, message: string, at = this.pos): never {
    throw new ThriftError(kind, message, this.base + at);
  }

  byte(): number {
    if (this.pos >= this.buf.length) this.fail('truncated', 'the footer ends inside a value');
    return this.buf[this.pos++]!;
  }

  /** An unsigned varint of at most `maxBytes` bytes, as a number (exact up to 2^53). */
  private varint(maxBytes: number): number {
    const start = this.pos;
    let value = 0;
    let mul = 1;
    for (let i = 0; i < maxBytes; i++) {
      const b = this.byte();
      value += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) return value;
    }
    return this.fail('varint-too-long', `varint longer than ${maxBytes} bytes`, start);
  }

  /** i16 and i32 are zigzag varints of at most 5 bytes (Thrift reads both through varint32). */
  i32(): number {
    const n = this.varint(5);
    // n < 2^35; zigzag-decode with arithmetic, then wrap to 32 bits as the C++ reader does.
    const v = n % 2 === 0 ? n / 2 : -(n + 1) / 2;
    return v | 0;
  }

  /** Exact 64-bit value (num_rows can exceed 2^53 in a hostile footer). */
  i64(): bigint {
    const start = this.pos;
    let value = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      value |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (b < 0x80) {
        value = BigInt.asUintN(64, value);
        return BigInt.asIntN(64, (value >> 1n) ^ -(value & 1n));
      }
    }
    return this.fail('varint-too-long', 'varint longer than 10 bytes', start);
  }

  /** A length (string, collection size): a non-negative varint32. */
  private length(what: string): number {
    const at = this.pos;
    const n = this.varint(5);
    if (n > 0x7fffffff) this.fail('length-out-of-bounds', `${what} length ${n} is negative as a signed 32-bit value`, at);
    return n;
  }

  /** A binary/string value: a view of the buffer, never a copy. */
  binary(): Uint8Array {
    const at = this.pos;
    const n = this.length('binary');
    if (n > this.remaining) this.fail('length-out-of-bounds', `binary at ${this.base + at} declares ${n} bytes, only ${this.remaining} remain in the footer`, at);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    return UTF8.decode(this.binary());
  }

  /** Header of a list or set. Element counts are bounded by the bytes left: each takes one or more. */
  list(): CollectionHeader {
    const at = this.pos;
    const h = this.byte();
    const type = h & 0x0f;
    let size = h >> 4;
    if (size === 15) size = this.length('list');
    if (size > this.remaining) this.fail('length-out-of-bounds', `list at ${this.base + at} declares ${size} elements, only ${this.remaining} bytes remain`, at);
    if (size > 0) this.checkType(type, at);
    return { type, valueType: 0, size };
  }

  /** Header of a map: a size, then (when not empty) one byte of key and value types. */
  map(): CollectionHeader {
    const at = this.pos;
    const size = this.length('map');
    if (size === 0) return { type: 0, valueType: 0, size };
    const kv = this.byte();
    if (size * 2 > this.remaining) this.fail('length-out-of-bounds', `map at ${this.base + at} declares ${size} entries, only ${this.remaining} bytes remain`, at);
    this.checkType(kv >> 4, at);
    this.checkType(kv & 0x0f, at);
    return { type: kv >> 4, valueType: kv & 0x0f, size };
  }

  private checkType(type: number, at: number): void {
    if (type < CT.TRUE || type > CT.UUID) this.fail('bad-type', `unknown compact type ${type}`, at);
  }

  private enter(at: number): void {
    if (++this.depth > this.maxDepth) this.fail('too-deep', `values nested deeper than ${this.maxDepth}`, at);
  }

  /**
   * Reads the fields of a struct up to its STOP. `on(id, type)` reads the value of a field it
   * wants and returns true; it returns false for any other field (or a known id with an unexpected
   * type), which is then skipped, as generated readers skip mismatched fields.
   */
  struct(on: (id: number, type: number) => boolean): void {
    this.enter(this.pos);
    let last = 0;
    for (;;) {
      const at = this.pos;
      const h = this.byte();
      if (h === CT.STOP) break;
      const type = h & 0x0f;
      const delta = h >> 4;
      // A zero delta means the id follows as a zigzag i16 (ids beyond 15 apart, or negative ones).
      const id = delta === 0 ? this.i32() : last + delta;
      this.checkType(type, at);
      last = id;
      if (!on(id, type)) this.skip(type, true);
    }
    this.depth--;
  }

  /** Skips one value. Booleans are in the field header inside structs, one byte in collections. */
  skip(type: number, inField = false): void {
    const at = this.pos;
    switch (type) {
      case CT.TRUE:
      case CT.FALSE:
        if (!inField) this.advance(1, at);
        return;
      case CT.BYTE:
        this.advance(1, at);
        return;
      case CT.I16:
      case CT.I32:
        this.varint(5);
        return;
      case CT.I64:
        this.varint(10);
        return;
      case CT.DOUBLE:
        this.advance(8, at);
        return;
      case CT.UUID:
        this.advance(16, at);
        return;
      case CT.BINARY:
        this.binary();
        return;
      case CT.LIST:
      case CT.SET: {
        const h = this.list();
        this.enter(at);
        for (let i = 0; i < h.size; i++) this.skip(h.type);
        this.depth--;
        return;
      }
      case CT.MAP: {
        const h = this.map();
        this.enter(at);
        for (let i = 0; i < h.size; i++) {
          this.skip(h.type);
          this.skip(h.valueType);
        }
        this.depth--;
        return;
      }
      case CT.STRUCT:
        this.struct(() => false);
        return;
      default:
        this.fail('bad-type', `unknown compact type ${type}`, at);
    }
  }

  private advance(n: number, at: number): void {
    if (n > this.remaining) this.fail('truncated', `value at ${this.base + at} needs ${n} bytes, only ${this.remaining} remain`, at);
    this.pos += n;
  }
}
