/**
 * A small FlatBuffers table reader over a ByteSource, with bounds checks on every offset, vtable
 * and vector: enough to walk a TFLite model's operator codes and operators without reading its
 * weight buffers. Reads go through a page cache, so following offsets around a file costs a few
 * KiB each. Hostile offsets (out of the file, vtables that lie, vectors longer than the file) stop
 * the walk with a FlatError the analyzer turns into a finding.
 */
import type { ByteSource } from '../source/types.js';

export type FlatErrorKind = 'out-of-bounds' | 'bad-vtable' | 'too-many';

export class FlatError extends Error {
  constructor(
    readonly kind: FlatErrorKind,
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'FlatError';
  }
}

export interface Table {
  pos: number;
  vt: number;
  vtSize: number;
}

export interface Vector {
  /** Position of the first element. */
  start: number;
  length: number;
}

const PAGE = 4096;
const MAX_PAGES = 1024;
/** FlatBuffers addresses are 32-bit: no table or vector lives past 2 GiB. */
const MAX_ADDRESS = 2 ** 31;
const UTF8 = new TextDecoder('utf-8', { fatal: false });

export class FlatReader {
  private readonly pages = new Map<number, Uint8Array>();

  constructor(
    private readonly source: ByteSource,
    /** Size when known; otherwise reads past the end are detected as short reads. */
    private readonly size: number | null,
  ) {}

  private limit(): number {
    return Math.min(this.size ?? MAX_ADDRESS, MAX_ADDRESS);
  }

  private async page(n: number): Promise<Uint8Array> {
    let p = this.pages.get(n);
    if (p) return p;
    if (this.pages.size >= MAX_PAGES) this.pages.clear();
    p = await this.source.read(n * PAGE, PAGE);
    this.pages.set(n, p);
    return p;
  }

  /** `n` bytes at `off`, all within the file. */
  async bytes(off: number, n: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(off) || off < 0 || n < 0 || off + n > this.limit()) {
      throw new FlatError('out-of-bounds', `${n} bytes at ${off} lie outside the ${this.size ?? 'unknown-size'}-byte file`, off);
    }
    const first = Math.floor(off / PAGE);
    const last = Math.floor((off + n - 1) / PAGE);
    let out: Uint8Array;
    if (n === 0) out = new Uint8Array(0);
    else if (first === last) out = (await this.page(first)).subarray(off - first * PAGE, off - first * PAGE + n);
    else out = await this.source.read(off, n);
    if (out.length < n) throw new FlatError('out-of-bounds', `${n} bytes at ${off} run past the end of the data`, off);
    return out;
  }

  /** Check that [off, off+n) lies in the file without reading it (one byte when the size is unknown). */
  async ensure(off: number, n: number): Promise<void> {
    if (!Number.isSafeInteger(off) || off < 0 || n < 0 || off + n > this.limit()) {
      throw new FlatError('out-of-bounds', `${n} bytes at ${off} lie outside the ${this.size ?? 'unknown-size'}-byte file`, off);
    }
    if (this.size === null && n > 0) await this.bytes(off + n - 1, 1);
  }

  async u16(off: number): Promise<number> {
    const b = await this.bytes(off, 2);
    return b[0]! | (b[1]! << 8);
  }

  async u32(off: number): Promise<number> {
    const b = await this.bytes(off, 4);
    return (b[0]! | (b[1]! << 8) | (b[2]! << 16)) + b[3]! * 2 ** 24;
  }

  async i32(off: number): Promise<number> {
    const b = await this.bytes(off, 4);
    return b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24);
  }

  async table(pos: number): Promise<Table> {
    const vt = pos - (await this.i32(pos));
    const vtSize = await this.u16(vt);
    if (vtSize < 4 || vtSize % 2 !== 0) throw new FlatError('bad-vtable', `vtable at ${vt} declares size ${vtSize}`, vt);
    await this.bytes(vt, vtSize);
    const inline = await this.u16(vt + 2);
    await this.bytes(pos, Math.max(4, inline));
    return { pos, vt, vtSize };
  }

  /** The root table, found through the offset in the first four bytes. */
  async root(): Promise<Table> {
    return this.table(await this.u32(0));
  }

  /** Position of field `i` in the table, or null when the field is absent. */
  async field(t: Table, i: number): Promise<number | null> {
    const entry = 4 + 2 * i;
    if (entry + 2 > t.vtSize) return null;
    const off = await this.u16(t.vt + entry);
    return off === 0 ? null : t.pos + off;
  }

  async scalar(t: Table, i: number, kind: 'u8' | 'i8' | 'i32' | 'u32', dflt: number): Promise<number> {
    const p = await this.field(t, i);
    if (p === null) return dflt;
    if (kind === 'u32') return this.u32(p);
    if (kind === 'i32') return this.i32(p);
    const b = (await this.bytes(p, 1))[0]!;
    return kind === 'i8' && b > 127 ? b - 256 : b;
  }

  /** Follow the uoffset stored at `p`. */
  async deref(p: number): Promise<number> {
    return p + (await this.u32(p));
  }

  async tableField(t: Table, i: number): Promise<Table | null> {
    const p = await this.field(t, i);
    return p === null ? null : this.table(await this.deref(p));
  }

  /** A vector field; its declared length must fit in the file at `elemSize` bytes per element. */
  async vector(t: Table, i: number, elemSize: number, maxLength: number): Promise<Vector | null> {
    const p = await this.field(t, i);
    if (p === null) return null;
    const at = await this.deref(p);
    const length = await this.u32(at);
    if (length > maxLength) throw new FlatError('too-many', `vector at ${at} declares ${length} elements (limit ${maxLength})`, at);
    await this.ensure(at + 4, length * elemSize);
    return { start: at + 4, length };
  }

  /** Element `k` of a vector of tables. */
  async vectorTable(v: Vector, k: number): Promise<Table> {
    return this.table(await this.deref(v.start + 4 * k));
  }

  /** A string field, decoded up to `cap` bytes; null when absent. */
  async string(t: Table, i: number, cap = 1024): Promise<string | null> {
    const p = await this.field(t, i);
    if (p === null) return null;
    const at = await this.deref(p);
    const n = await this.u32(at);
    await this.ensure(at + 4, n);
    return UTF8.decode(await this.bytes(at + 4, Math.min(n, cap)));
  }

  /** A [ubyte] vector field's bytes, up to `cap`; null when absent. */
  async ubytes(t: Table, i: number, cap: number): Promise<Uint8Array | null> {
    const v = await this.vector(t, i, 1, MAX_ADDRESS);
    return v === null ? null : this.bytes(v.start, Math.min(v.length, cap));
  }
}
