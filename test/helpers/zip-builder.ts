/**
 * Builds zip archives byte by byte, so tests can make the header tricks no well-behaved tool
 * writes: local/central disagreements, flags, wrong CRCs, prepended bytes, duplicates, ZIP64.
 */
import { crc32, deflateRawSync } from 'node:zlib';

export interface ZipEntrySpec {
  name: string;
  data: Uint8Array | string;
  /** Central directory method (0 stored, 8 deflate; other numbers are written as given, data stored). */
  method?: number;
  flags?: number;
  /** Local header overrides (default: same as central). */
  localName?: string;
  localMethod?: number;
  localFlags?: number;
  localCompressedSize?: number;
  crc?: number;
  externalAttributes?: number;
  versionMadeBy?: number;
  /** Declared uncompressed size override. */
  uncompressedSize?: number;
  /** Raw compressed bytes override. */
  compressed?: Uint8Array;
}

export interface ZipSpec {
  prepend?: Uint8Array | string;
  zip64?: boolean;
  declaredEntries?: number;
  comment?: string;
  /** Offsets written as if the archive started at file offset 0 even with prepended bytes. */
  absoluteOffsets?: boolean;
}

export function bytes(x: Uint8Array | string): Uint8Array {
  return typeof x === 'string' ? new Uint8Array(Buffer.from(x, 'latin1')) : x;
}

class Writer {
  parts: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }
  u16(v: number): void {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v & 0xffff);
    this.push(b);
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.push(b);
  }
  u64(v: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  done(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.parts));
  }
}

export function buildZip(entries: ZipEntrySpec[], spec: ZipSpec = {}): Uint8Array {
  const w = new Writer();
  const pre = spec.prepend ? bytes(spec.prepend) : new Uint8Array(0);
  w.push(pre);
  const base = spec.absoluteOffsets ? 0 : pre.length;
  const central: { e: ZipEntrySpec; offset: number; comp: Uint8Array; crc: number; size: number }[] = [];
  for (const e of entries) {
    const data = bytes(e.data);
    const method = e.method ?? 0;
    const comp = e.compressed ?? (method === 8 ? new Uint8Array(deflateRawSync(data)) : data);
    const crc = e.crc ?? crc32(data);
    const offset = w.length - base;
    const lname = bytes(e.localName ?? e.name);
    w.u32(0x04034b50);
    w.u16(20);
    w.u16(e.localFlags ?? e.flags ?? 0);
    w.u16(e.localMethod ?? method);
    w.u16(0);
    w.u16(0x21);
    w.u32(crc);
    w.u32(e.localCompressedSize ?? comp.length);
    w.u32(e.uncompressedSize ?? data.length);
    w.u16(lname.length);
    w.u16(0);
    w.push(lname);
    w.push(comp);
    central.push({ e, offset, comp, crc, size: e.uncompressedSize ?? data.length });
  }
  const cdStart = w.length - base;
  for (const { e, offset, comp, crc, size } of central) {
    const name = bytes(e.name);
    const zip64 = spec.zip64 === true;
    w.u32(0x02014b50);
    w.u16(e.versionMadeBy ?? 0x031e);
    w.u16(zip64 ? 45 : 20);
    w.u16(e.flags ?? 0);
    w.u16(e.method ?? 0);
    w.u16(0);
    w.u16(0x21);
    w.u32(crc);
    w.u32(zip64 ? 0xffffffff : comp.length);
    w.u32(zip64 ? 0xffffffff : size);
    w.u16(name.length);
    w.u16(zip64 ? 4 + 24 : 0);
    w.u16(0);
    w.u16(0);
    w.u16(0);
    w.u32(e.externalAttributes ?? 0o100644 << 16);
    w.u32(zip64 ? 0xffffffff : offset);
    w.push(name);
    if (zip64) {
      w.u16(1);
      w.u16(24);
      w.u64(size);
      w.u64(comp.length);
      w.u64(offset);
    }
  }
  const cdSize = w.length - base - cdStart;
  const count = spec.declaredEntries ?? entries.length;
  if (spec.zip64) {
    const rec = w.length - base;
    w.u32(0x06064b50);
    w.u64(44);
    w.u16(45);
    w.u16(45);
    w.u32(0);
    w.u32(0);
    w.u64(count);
    w.u64(count);
    w.u64(cdSize);
    w.u64(cdStart);
    w.u32(0x07064b50);
    w.u32(0);
    w.u64(rec);
    w.u32(1);
  }
  const comment = bytes(spec.comment ?? '');
  w.u32(0x06054b50);
  w.u16(0);
  w.u16(0);
  w.u16(spec.zip64 ? 0xffff : count);
  w.u16(spec.zip64 ? 0xffff : count);
  w.u32(spec.zip64 ? 0xffffffff : cdSize);
  w.u32(spec.zip64 ? 0xffffffff : cdStart);
  w.u16(comment.length);
  w.push(comment);
  return w.done();
}

/** A tiny protocol-2 pickle calling os.system, the classic payload. */
export const EVIL_PICKLE = bytes('\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.');
