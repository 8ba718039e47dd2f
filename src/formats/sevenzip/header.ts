/**
 * The 7z header structures (7-Zip's 7zFormat.txt): the 32-byte signature header, and the
 * property-tagged header that lists pack streams, folders (coder graphs), substreams and files.
 * Parsing is synchronous over bytes already in memory (headers are bounded by the caller) and
 * every count is checked against the bytes left, so a hostile count cannot allocate more than
 * the header itself could describe. Anything malformed throws SourceError('corrupt').
 */
import { crc32 } from 'node:zlib';
import { SourceError } from '../../source/types.js';

export const SIGNATURE = Uint8Array.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]);
export const SIGNATURE_HEADER_SIZE = 32;

/** Property ids (one byte each in every real archive). */
export const Id = {
  End: 0x00,
  Header: 0x01,
  ArchiveProperties: 0x02,
  AdditionalStreamsInfo: 0x03,
  MainStreamsInfo: 0x04,
  FilesInfo: 0x05,
  PackInfo: 0x06,
  UnpackInfo: 0x07,
  SubStreamsInfo: 0x08,
  Size: 0x09,
  Crc: 0x0a,
  Folder: 0x0b,
  CodersUnpackSize: 0x0c,
  NumUnpackStream: 0x0d,
  EmptyStream: 0x0e,
  EmptyFile: 0x0f,
  Anti: 0x10,
  Name: 0x11,
  WinAttributes: 0x15,
  EncodedHeader: 0x17,
  Dummy: 0x19,
} as const;

const MAX_CODERS = 64;
/**
 * Most files, folders, pack streams or substreams one header may list: counts are also bounded by
 * the header's bytes, but a 64 MiB header could still declare hundreds of millions of one-bit
 * entries, each an object here. Past this the archive is reported unreadable, never clean.
 */
export const MAX_ITEMS = 1 << 21;
const MAX_CODER_STREAMS = 64;

export interface StartHeader {
  version: [number, number];
  nextHeaderOffset: number;
  nextHeaderSize: number;
  nextHeaderCrc: number;
}

export interface Coder {
  /** Method id as lowercase hex, e.g. `21` (LZMA2), `030101` (LZMA), `06f10701` (7zAES). */
  method: string;
  numIn: number;
  numOut: number;
  props: Uint8Array;
}

export interface BindPair {
  inIndex: number;
  outIndex: number;
}

export interface Folder {
  coders: Coder[];
  bindPairs: BindPair[];
  /** Folder in-stream index of each packed stream, in pack-stream order. */
  packed: number[];
  /** Size of every coder out-stream, in out-stream order. */
  unpackSizes: number[];
  crc: number | null;
  /** Index of this folder's first pack stream in StreamsInfo.packSizes. */
  firstPack: number;
}

export interface Substream {
  folder: number;
  /** Offset inside the folder's output. */
  offset: number;
  size: number;
  crc: number | null;
}

export interface StreamsInfo {
  packPos: number;
  packSizes: number[];
  folders: Folder[];
  substreams: Substream[];
}

export interface FileEntry {
  name: string;
  hasStream: boolean;
  isDir: boolean;
  isAnti: boolean;
  attributes: number | null;
}

export interface Header {
  main: StreamsInfo | null;
  files: FileEntry[];
}

export function corrupt(message: string, details: Record<string, string | number> = {}): SourceError {
  return new SourceError('corrupt', `7z: ${message}`, details);
}

function u32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

function u64(b: Uint8Array, at: number, what: string): number {
  const lo = u32(b, at);
  const hi = u32(b, at + 4);
  if (hi >= 1 << 21) throw corrupt(`${what} is beyond 2^53`);
  return hi * 2 ** 32 + lo;
}

/** Parses and CRC-checks the signature header; null when the magic is absent. */
export function parseStartHeader(b: Uint8Array): StartHeader | null {
  if (b.length < SIGNATURE_HEADER_SIZE || !SIGNATURE.every((x, i) => b[i] === x)) return null;
  const stored = u32(b, 8);
  const computed = crc32(b.subarray(12, 32)) >>> 0;
  if (stored !== computed) throw corrupt('signature header CRC mismatch', { stored, computed });
  return {
    version: [b[6]!, b[7]!],
    nextHeaderOffset: u64(b, 12, 'next header offset'),
    nextHeaderSize: u64(b, 20, 'next header size'),
    nextHeaderCrc: u32(b, 28),
  };
}

/** Bounds-checked cursor over header bytes. */
export class Reader {
  pos = 0;
  constructor(readonly b: Uint8Array) {}

  left(): number {
    return this.b.length - this.pos;
  }

  byte(): number {
    if (this.pos >= this.b.length) throw corrupt('header ends early', { offset: this.pos });
    return this.b[this.pos++]!;
  }

  bytes(n: number): Uint8Array {
    if (n > this.left()) throw corrupt('header field runs past the end', { offset: this.pos, length: n });
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** 7z NUMBER: the leading one bits of the first byte say how many little-endian bytes follow. */
  number(): number {
    const first = this.byte();
    let mask = 0x80;
    let value = 0;
    for (let i = 0; i < 8; i++) {
      if ((first & mask) === 0) {
        value += (first & (mask - 1)) * 2 ** (8 * i);
        if (!Number.isSafeInteger(value)) throw corrupt('number beyond 2^53', { offset: this.pos });
        return value;
      }
      value += this.byte() * 2 ** (8 * i);
      mask >>>= 1;
    }
    if (!Number.isSafeInteger(value)) throw corrupt('number beyond 2^53', { offset: this.pos });
    return value;
  }

  /** A count of items that each take at least `minBits` bits of the remaining header. */
  count(what: string, minBits = 1): number {
    const n = this.number();
    if (n * minBits > this.left() * 8 + 64) throw corrupt(`${what} count ${n} is larger than the header could describe`, { count: n });
    if (n > MAX_ITEMS) throw corrupt(`${what} count ${n} is more than this reader holds (${MAX_ITEMS})`, { count: n });
    return n;
  }

  uint32(): number {
    return u32(this.bytes(4), 0);
  }

  bits(n: number): boolean[] {
    const raw = this.bytes(Math.ceil(n / 8));
    const out = new Array<boolean>(n);
    for (let i = 0; i < n; i++) out[i] = (raw[i >>> 3]! & (0x80 >>> (i & 7))) !== 0;
    return out;
  }

  /** "AllAreDefined" byte, then a bit vector when not all are. */
  defined(n: number): boolean[] {
    const all = this.byte();
    return all !== 0 ? new Array<boolean>(n).fill(true) : this.bits(n);
  }

  skipData(): void {
    this.bytes(this.number());
  }

  expect(id: number, what: string): void {
    const got = this.number();
    if (got !== id) throw corrupt(`expected ${what} (0x${id.toString(16)}), found 0x${got.toString(16)}`, { offset: this.pos });
  }
}

function digests(r: Reader, n: number): (number | null)[] {
  if (n > MAX_ITEMS) throw corrupt(`${n} checksums are more than this reader holds`, { count: n });
  const defined = r.defined(n);
  return defined.map((d) => (d ? r.uint32() : null));
}

function readFolder(r: Reader): Omit<Folder, 'unpackSizes' | 'crc' | 'firstPack'> {
  const numCoders = r.number();
  if (numCoders < 1 || numCoders > MAX_CODERS) throw corrupt(`folder has ${numCoders} coders`);
  const coders: Coder[] = [];
  let totalIn = 0;
  let totalOut = 0;
  for (let i = 0; i < numCoders; i++) {
    const flags = r.byte();
    if (flags & 0xc0) throw corrupt('coder uses reserved flags (alternative methods)', { flags });
    const method = Buffer.from(r.bytes(flags & 0x0f)).toString('hex');
    let numIn = 1;
    let numOut = 1;
    if (flags & 0x10) {
      numIn = r.number();
      numOut = r.number();
      if (numIn > MAX_CODER_STREAMS || numOut > MAX_CODER_STREAMS || numOut < 1) throw corrupt('coder has an invalid number of streams', { numIn, numOut });
    }
    const props = flags & 0x20 ? r.bytes(r.number()) : new Uint8Array(0);
    coders.push({ method, numIn, numOut, props });
    totalIn += numIn;
    totalOut += numOut;
  }
  const bindPairs: BindPair[] = [];
  for (let i = 0; i < totalOut - 1; i++) {
    const inIndex = r.number();
    const outIndex = r.number();
    if (inIndex >= totalIn || outIndex >= totalOut) throw corrupt('bind pair refers to a stream the folder does not have');
    bindPairs.push({ inIndex, outIndex });
  }
  const numPacked = totalIn - bindPairs.length;
  if (numPacked < 1) throw corrupt('folder has no packed stream');
  const packed: number[] = [];
  if (numPacked === 1) {
    for (let i = 0; i < totalIn; i++) if (!bindPairs.some((p) => p.inIndex === i)) packed.push(i);
    if (packed.length !== 1) throw corrupt('folder packed stream is ambiguous');
  } else {
    for (let i = 0; i < numPacked; i++) {
      const idx = r.number();
      if (idx >= totalIn) throw corrupt('packed stream index out of range');
      packed.push(idx);
    }
  }
  return { coders, bindPairs, packed };
}

function readStreamsInfo(r: Reader): StreamsInfo {
  const info: StreamsInfo = { packPos: 0, packSizes: [], folders: [], substreams: [] };
  let id = r.number();
  if (id === Id.PackInfo) {
    info.packPos = r.number();
    const n = r.count('pack stream');
    for (;;) {
      const t = r.number();
      if (t === Id.End) break;
      if (t === Id.Size) for (let i = 0; i < n; i++) info.packSizes.push(r.number());
      else if (t === Id.Crc) digests(r, n);
      else r.skipData();
    }
    if (info.packSizes.length !== n) throw corrupt('pack info has no sizes');
    id = r.number();
  }
  if (id === Id.UnpackInfo) {
    r.expect(Id.Folder, 'folder list');
    const n = r.count('folder', 16);
    if (r.byte() !== 0) throw corrupt('folders stored outside the header are not supported');
    let firstPack = 0;
    const partial = [];
    for (let i = 0; i < n; i++) {
      const f = readFolder(r);
      partial.push({ ...f, firstPack });
      firstPack += f.packed.length;
    }
    if (firstPack > info.packSizes.length) throw corrupt('folders use more pack streams than the archive has');
    r.expect(Id.CodersUnpackSize, 'coder unpack sizes');
    for (const f of partial) {
      const outs = f.coders.reduce((s, c) => s + c.numOut, 0);
      const unpackSizes: number[] = [];
      for (let i = 0; i < outs; i++) unpackSizes.push(r.number());
      info.folders.push({ ...f, unpackSizes, crc: null });
    }
    for (;;) {
      const t = r.number();
      if (t === Id.End) break;
      if (t === Id.Crc) digests(r, n).forEach((c, i) => (info.folders[i]!.crc = c));
      else r.skipData();
    }
    id = r.number();
  }
  const counts = info.folders.map(() => 1);
  let sizes: number[][] | null = null;
  if (id === Id.SubStreamsInfo) {
    let t = r.number();
    if (t === Id.NumUnpackStream) {
      for (let i = 0; i < counts.length; i++) counts[i] = r.count('substream');
      const total = counts.reduce((a, b) => a + b, 0);
      if (total > MAX_ITEMS) throw corrupt(`${total} substreams are more than this reader holds (${MAX_ITEMS})`, { count: total });
      t = r.number();
    }
    if (t === Id.Size) {
      sizes = counts.map((c, i) => {
        const out: number[] = [];
        let sum = 0;
        for (let j = 1; j < c; j++) {
          const s = r.number();
          out.push(s);
          sum += s;
        }
        const total = folderUnpackSize(info.folders[i]!);
        if (c > 0) {
          if (sum > total) throw corrupt('substream sizes exceed their folder', { folder: i });
          out.push(total - sum);
        }
        return out;
      });
      t = r.number();
    }
    const crcs: (number | null)[] = [];
    for (;;) {
      if (t === Id.End) break;
      if (t === Id.Crc) {
        const n = counts.reduce((s, c, i) => s + (c === 1 && info.folders[i]!.crc !== null ? 0 : c), 0);
        crcs.push(...digests(r, n));
      } else r.skipData();
      t = r.number();
    }
    info.substreams = layout(info.folders, counts, sizes, crcs);
  } else {
    info.substreams = layout(info.folders, counts, null, []);
  }
  if (id === Id.SubStreamsInfo) id = r.number();
  if (id !== Id.End) throw corrupt(`unexpected property 0x${id.toString(16)} in streams info`);
  return info;
}

function layout(folders: readonly Folder[], counts: readonly number[], sizes: number[][] | null, crcs: readonly (number | null)[]): Substream[] {
  const out: Substream[] = [];
  let k = 0;
  folders.forEach((f, i) => {
    const c = counts[i]!;
    if (c === 0) return;
    if (!sizes && c > 1) throw corrupt('folder has several substreams but no sizes', { folder: i });
    const list = sizes ? sizes[i]! : [folderUnpackSize(f)];
    let offset = 0;
    for (const size of list) {
      const crc = c === 1 && f.crc !== null ? f.crc : (crcs[k++] ?? null);
      out.push({ folder: i, offset, size, crc });
      offset += size;
    }
  });
  return out;
}

/** Size of the folder's final output: the out-stream no bind pair consumes. */
export function folderUnpackSize(f: Folder): number {
  const main = mainOutStream(f);
  return f.unpackSizes[main] ?? 0;
}

export function mainOutStream(f: Folder): number {
  for (let i = 0; i < f.unpackSizes.length; i++) if (!f.bindPairs.some((p) => p.outIndex === i)) return i;
  throw corrupt('folder has no final output stream');
}

function readFiles(r: Reader): FileEntry[] {
  const n = r.count('file');
  const files: FileEntry[] = Array.from({ length: n }, () => ({ name: '', hasStream: true, isDir: false, isAnti: false, attributes: null }));
  let empty: boolean[] = new Array<boolean>(n).fill(false);
  let numEmpty = 0;
  let emptyFile: boolean[] = [];
  let anti: boolean[] = [];
  for (;;) {
    const t = r.number();
    if (t === Id.End) break;
    const size = r.number();
    const sub = new Reader(r.bytes(size));
    switch (t) {
      case Id.EmptyStream:
        empty = sub.bits(n);
        numEmpty = empty.filter(Boolean).length;
        emptyFile = new Array<boolean>(numEmpty).fill(false);
        anti = new Array<boolean>(numEmpty).fill(false);
        break;
      case Id.EmptyFile:
        emptyFile = sub.bits(numEmpty);
        break;
      case Id.Anti:
        anti = sub.bits(numEmpty);
        break;
      case Id.Name: {
        if (sub.byte() !== 0) throw corrupt('file names stored outside the header are not supported');
        const raw = sub.bytes(sub.left());
        let start = 0;
        let i = 0;
        for (let at = 0; at + 1 < raw.length && i < n; at += 2) {
          if (raw[at] === 0 && raw[at + 1] === 0) {
            files[i++]!.name = Buffer.from(raw.subarray(start, at)).toString('utf16le');
            start = at + 2;
          }
        }
        if (i !== n) throw corrupt('fewer file names than files', { files: n, names: i });
        break;
      }
      case Id.WinAttributes: {
        const def = sub.defined(n);
        if (sub.byte() !== 0) throw corrupt('attributes stored outside the header are not supported');
        def.forEach((d, i) => {
          if (d) files[i]!.attributes = sub.uint32();
        });
        break;
      }
      default:
        break; // times, start positions, padding: not needed to find and read the data
    }
  }
  let e = 0;
  files.forEach((f, i) => {
    if (!empty[i]) return;
    f.hasStream = false;
    f.isDir = !emptyFile[e];
    f.isAnti = anti[e] ?? false;
    e++;
  });
  // 7-Zip decides by the streams alone: an entry with data is a file whatever its attributes say.
  for (const f of files) if (!f.hasStream && f.attributes !== null && f.attributes & 0x10) f.isDir = true;
  return files;
}

/** A plain header (first byte kHeader). */
export function parseHeader(b: Uint8Array): Header {
  const r = new Reader(b);
  r.expect(Id.Header, 'header');
  let id = r.number();
  if (id === Id.ArchiveProperties) {
    for (;;) {
      const t = r.number();
      if (t === Id.End) break;
      r.skipData();
    }
    id = r.number();
  }
  if (id === Id.AdditionalStreamsInfo) {
    readStreamsInfo(r);
    id = r.number();
  }
  let main: StreamsInfo | null = null;
  if (id === Id.MainStreamsInfo) {
    main = readStreamsInfo(r);
    id = r.number();
  }
  let files: FileEntry[] = [];
  if (id === Id.FilesInfo) {
    files = readFiles(r);
    id = r.number();
  }
  if (id !== Id.End) throw corrupt(`unexpected property 0x${id.toString(16)} in header`);
  const withStream = files.filter((f) => f.hasStream).length;
  const substreams = main?.substreams.length ?? 0;
  if (withStream !== substreams) throw corrupt(`${withStream} files have data but the archive holds ${substreams} streams`, { files: withStream, streams: substreams });
  return { main, files };
}

/** The streams info after kEncodedHeader: where the real header is packed. */
export function parseEncodedHeader(b: Uint8Array): StreamsInfo {
  const r = new Reader(b);
  r.expect(Id.EncodedHeader, 'encoded header');
  return readStreamsInfo(r);
}
