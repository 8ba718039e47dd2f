/**
 * Zip structure reading, the way PyTorch's miniz and Python's zipfile find things:
 * end-of-central-directory record found by scanning back from the end (the last signature
 * wins, as in both), ZIP64 locator/record, a shift for bytes prepended to the archive computed
 * from the EOCD position vs. the central directory's stated offset (Python's `concat`), then
 * the central directory walked by its byte size (Python) rather than only its entry count
 * (miniz), so an entry count that lies cannot hide entries.
 */
import { SourceError, type ByteSource } from '../../source/types.js';
import { BufferedInput } from '../../source/codecs/input.js';

export const SIG_LOCAL = 0x04034b50;
export const SIG_CENTRAL = 0x02014b50;
export const SIG_EOCD = 0x06054b50;
/** SIG_EOCD as it is laid out in a file (little-endian). */
const SIG_EOCD_BYTES = Buffer.from([0x50, 0x4b, 0x05, 0x06]);
export const SIG_EOCD64_LOCATOR = 0x07064b50;
export const SIG_EOCD64 = 0x06064b50;

export const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
/** How far back from the end an EOCD can sit (record + longest comment + ZIP64 locator). */
export const TAIL_BYTES = EOCD_SIZE + MAX_COMMENT + 20;

export function u16(b: Uint8Array, at: number): number {
  return (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
}
export function u32(b: Uint8Array, at: number): number {
  return ((b[at] ?? 0) | ((b[at + 1] ?? 0) << 8) | ((b[at + 2] ?? 0) << 16) | ((b[at + 3] ?? 0) << 24)) >>> 0;
}
export function u64(b: Uint8Array, at: number): number {
  return u32(b, at) + u32(b, at + 4) * 2 ** 32;
}

export interface EndRecord {
  /** Absolute offset of the EOCD record. */
  eocdOffset: number;
  /** Where the archive's own bytes begin in the file (Python's concat): > 0 means prepended bytes. */
  shift: number;
  /** Absolute offset of the central directory. */
  cdStart: number;
  cdSize: number;
  declaredEntries: number;
  zip64: boolean;
}

/** EOCD signature positions in `tail`, last first. */
export function eocdCandidates(tail: Uint8Array): number[] {
  const out: number[] = [];
  // A native search from the end (every file's tail is searched by the zip sniff).
  const t = Buffer.from(tail.buffer, tail.byteOffset, tail.length);
  for (let i = tail.length - EOCD_SIZE; i >= 0; i--) {
    i = t.lastIndexOf(SIG_EOCD_BYTES, i);
    if (i === -1) break;
    out.push(i);
  }
  return out;
}

/**
 * Interprets the EOCD at `pos` inside `tail` (tail starts at absolute `tailStart` of a file of
 * `size` bytes). Returns null when the record cannot describe an archive in this file.
 * ZIP64 records are looked up directly before the locator (Python) and then at the locator's
 * stated offset (miniz); the first that has the right signature is used.
 */
export async function readEndRecord(source: ByteSource, size: number, tail: Uint8Array, tailStart: number, pos: number): Promise<EndRecord | null> {
  const eocdOffset = tailStart + pos;
  let entries = u16(tail, pos + 10);
  let cdSize = u32(tail, pos + 12);
  let cdOffset = u32(tail, pos + 16);
  let zip64 = false;
  let recordStart = eocdOffset;
  if (eocdOffset >= 20) {
    const loc = await source.read(eocdOffset - 20, 20);
    if (loc.length === 20 && u32(loc, 0) === SIG_EOCD64_LOCATOR) {
      const stated = u64(loc, 8);
      for (const at of [eocdOffset - 20 - 56, stated]) {
        if (at < 0 || at + 56 > size) continue;
        const rec = await source.read(at, 56);
        if (rec.length === 56 && u32(rec, 0) === SIG_EOCD64) {
          entries = u64(rec, 32);
          cdSize = u64(rec, 40);
          cdOffset = u64(rec, 48);
          zip64 = true;
          recordStart = eocdOffset - 20 - 56;
          break;
        }
      }
    }
  }
  const shift = recordStart - cdSize - cdOffset;
  if (shift < 0 || cdSize > recordStart) return null;
  return { eocdOffset, shift, cdStart: cdOffset + shift, cdSize, declaredEntries: entries, zip64 };
}

/** The end-of-central-directory record a loader would use, searched back from the end. */
export async function findEnd(source: ByteSource, size: number): Promise<EndRecord | null> {
  const tailStart = Math.max(0, size - TAIL_BYTES);
  const tail = await source.read(tailStart, size - tailStart);
  for (const pos of eocdCandidates(tail)) {
    const end = await readEndRecord(source, size, tail, tailStart, pos);
    if (end) return end;
  }
  return null;
}

export interface CentralEntry {
  index: number;
  /** Offset of this central directory record. */
  offset: number;
  nameBytes: Uint8Array;
  name: string;
  versionMadeBy: number;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  uncompressedSize: number;
  externalAttributes: number;
  /** Absolute local header offset (shift applied). */
  localOffset: number;
}

export interface LocalHeader {
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  uncompressedSize: number;
  nameBytes: Uint8Array;
  name: string;
  /** Absolute offset of the member's data (after the local name and extra field). */
  dataOffset: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const latin1 = new TextDecoder('latin1');

export function decodeName(b: Uint8Array, flags: number): string {
  // Bit 11: UTF-8 names; otherwise CP437, whose ASCII half is all that matters for matching.
  return flags & 0x800 ? utf8.decode(b) : latin1.decode(b);
}

/** ZIP64 extended information: fields present only where the fixed field is saturated. */
function applyZip64Extra(extra: Uint8Array, e: { uncompressedSize: number; compressedSize: number; localOffset?: number }): void {
  let i = 0;
  while (i + 4 <= extra.length) {
    const id = u16(extra, i);
    const len = u16(extra, i + 2);
    const body = extra.subarray(i + 4, i + 4 + len);
    if (id === 0x0001) {
      let at = 0;
      if (e.uncompressedSize === 0xffffffff && at + 8 <= body.length) {
        e.uncompressedSize = u64(body, at);
        at += 8;
      }
      if (e.compressedSize === 0xffffffff && at + 8 <= body.length) {
        e.compressedSize = u64(body, at);
        at += 8;
      }
      if (e.localOffset === 0xffffffff && at + 8 <= body.length) e.localOffset = u64(body, at);
      return;
    }
    i += 4 + len;
  }
}

export type CentralWalk =
  | { kind: 'entry'; entry: CentralEntry }
  | { kind: 'corrupt'; error: SourceError };

/** Walks the central directory record by record; a broken record ends the walk with 'corrupt'. */
export async function* walkCentral(source: ByteSource, end: EndRecord): AsyncGenerator<CentralWalk> {
  const input = new BufferedInput(source, end.cdStart);
  const cdEnd = end.cdStart + end.cdSize;
  let index = 0;
  while (input.offset() + 46 <= cdEnd) {
    const offset = input.offset();
    if ((await input.ensure(46)) < 46) {
      yield { kind: 'corrupt', error: new SourceError('corrupt', 'central directory truncated', { offset }) };
      return;
    }
    const h = input.buf.subarray(input.pos, input.pos + 46);
    if (u32(h, 0) !== SIG_CENTRAL) {
      yield { kind: 'corrupt', error: new SourceError('corrupt', 'central directory record signature missing', { offset, entry: index }) };
      return;
    }
    const nameLen = u16(h, 28);
    const extraLen = u16(h, 30);
    const commentLen = u16(h, 32);
    const fixed = {
      versionMadeBy: u16(h, 4),
      flags: u16(h, 8),
      method: u16(h, 10),
      crc: u32(h, 16),
      compressedSize: u32(h, 20),
      uncompressedSize: u32(h, 24),
      externalAttributes: u32(h, 38),
      localOffset: u32(h, 42),
    };
    input.pos += 46;
    if ((await input.ensure(nameLen + extraLen + commentLen)) < nameLen + extraLen + commentLen) {
      yield { kind: 'corrupt', error: new SourceError('corrupt', 'central directory record truncated', { offset, entry: index }) };
      return;
    }
    const nameBytes = input.buf.slice(input.pos, input.pos + nameLen);
    const extra = input.buf.subarray(input.pos + nameLen, input.pos + nameLen + extraLen);
    applyZip64Extra(extra, fixed);
    input.pos += nameLen + extraLen + commentLen;
    yield {
      kind: 'entry',
      entry: {
        index: index++,
        offset,
        nameBytes,
        name: decodeName(nameBytes, fixed.flags),
        ...fixed,
        localOffset: fixed.localOffset + end.shift,
      },
    };
  }
}

export async function readLocalHeader(source: ByteSource, offset: number): Promise<LocalHeader | SourceError> {
  const h = await source.read(offset, 30);
  if (h.length < 30) return new SourceError('corrupt', 'local header lies past the end of the file', { offset });
  if (u32(h, 0) !== SIG_LOCAL) return new SourceError('corrupt', 'local header signature missing', { offset });
  const nameLen = u16(h, 26);
  const extraLen = u16(h, 28);
  const nameBytes = await source.read(offset + 30, nameLen);
  const flags = u16(h, 6);
  const local = {
    flags,
    method: u16(h, 8),
    crc: u32(h, 14),
    compressedSize: u32(h, 18),
    uncompressedSize: u32(h, 22),
  };
  if (local.compressedSize === 0xffffffff || local.uncompressedSize === 0xffffffff) {
    applyZip64Extra(await source.read(offset + 30 + nameLen, extraLen), local);
  }
  return { ...local, nameBytes: nameBytes.slice(), name: decodeName(nameBytes, flags), dataOffset: offset + 30 + nameLen + extraLen };
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
