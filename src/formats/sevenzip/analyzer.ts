/**
 * 7z archives, as 7-Zip and py7zr write them: signature header (CRC-checked), the header itself
 * (CRC-checked, possibly packed behind kEncodedHeader, possibly encrypted), then every file
 * with data is handed to the engine like a zip member. Members of a solid block are views of
 * one lazily decoded folder stream, read in order, so a block is decoded once front to back.
 *  - Methods decoded: Copy, LZMA, LZMA2, BCJ (x86), Delta, Deflate, BZip2 (the defaults of
 *    7-Zip and py7zr, and their common options). 7zAES -> ARCHIVE_ENCRYPTED (headers or
 *    contents); anything else -> ARCHIVE_UNSUPPORTED_METHOD. Neither is ever clean.
 *  - Limits as for zip and tar: decompressed size and ratio per folder, the per-file budget,
 *    member count, traversal names, links (Unix mode in the attributes, target as the data),
 *    the time budget. Structural errors -> ARCHIVE_CORRUPT, with what was read before kept.
 */
import { crc32 } from 'node:zlib';
import { SliceSource } from '../../source/slice.js';
import { SourceError, type ByteSource } from '../../source/types.js';
import type { AnalysisContext, Analyzer, Claim, SniffInput } from '../types.js';
import { CrcSource, asError, emitSourceFailure, emitTraversal, readLinkTarget, reportLinks, scanAndReport, type ArchiveLink } from '../archive.js';
import { Id, SIGNATURE, SIGNATURE_HEADER_SIZE, corrupt, folderUnpackSize, parseEncodedHeader, parseHeader, parseStartHeader, type FileEntry, type Header, type StreamsInfo } from './header.js';
import { FolderSource, folderMethods, openFolder } from './folder.js';

/** Largest header (packed or unpacked) held in memory; 100 000 files with long names fit in a few MiB. */
const MAX_HEADER_BYTES = 64 * 1024 * 1024;
/** kEncodedHeader may in principle wrap another encoded header; real archives use one level. */
const MAX_HEADER_LEVELS = 4;
/** Output kept behind the read position of a solid block, so the engine's tail-then-head sniff of one member does not restart the block. */
const SOLID_WINDOW = 32 * 1024 * 1024;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const UNIX_EXTENSION = 0x8000;
const REPARSE_POINT = 0x400;

export function sniffSevenZip(input: SniffInput): Claim | null {
  return SIGNATURE.every((x, i) => input.head[i] === x) ? { format: '7z', confidence: 0.95 } : null;
}

/**
 * 7-Zip (-snl) and py7zr store a symlink as a file whose data is the target, marked by a Unix mode
 * in the high half of the attributes; py7zr also sets the Windows reparse-point bit, which on its
 * own (7-Zip on Windows) means the data is a reparse buffer: read as a target it is unreadable, and
 * the link is reported as such.
 */
function isSymlink(f: FileEntry): boolean {
  if (f.attributes === null) return false;
  const unixLink = (f.attributes & UNIX_EXTENSION) !== 0 && ((f.attributes >>> 16) & S_IFMT) === S_IFLNK;
  return unixLink || (f.attributes & REPARSE_POINT) !== 0;
}

async function readFully(source: ByteSource, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let at = 0;
  while (at < size) {
    const b = await source.read(at, Math.min(size - at, 1 << 20));
    if (b.length === 0) break;
    out.set(b, at);
    at += b.length;
  }
  if (at < size) throw corrupt(`data ends after ${at} of ${size} bytes`);
  return out;
}

/** Unpacks an encoded header; null (with the finding emitted) when it cannot be read. */
async function unpackHeader(ctx: AnalysisContext, source: ByteSource, info: StreamsInfo): Promise<Uint8Array | null> {
  if (info.folders.length === 0) throw corrupt('encoded header has no folder');
  const parts: Uint8Array[] = [];
  let total = 0;
  for (let i = 0; i < info.folders.length; i++) {
    const folder = info.folders[i]!;
    const size = folderUnpackSize(folder);
    total += size;
    if (total > MAX_HEADER_BYTES) throw corrupt(`header unpacks to more than ${MAX_HEADER_BYTES} bytes`, { declared: total });
    const out = openFolder(ctx, source, info, i, '<7z header>', { charge: false });
    if (out instanceof SourceError) {
      if (out.kind === 'encrypted') {
        ctx.emit({
          rule: 'ARCHIVE_ENCRYPTED',
          message: `7z archive headers are encrypted (7zAES): file names and contents cannot be read without the password`,
          evidence: { details: { methods: folderMethods(folder).join(' + ') } },
        });
        ctx.incomplete('7z archive headers are encrypted');
      } else emitSourceFailure(ctx, out, '<7z header>');
      return null;
    }
    try {
      const bytes = await readFully(out, size);
      if (folder.crc !== null && (crc32(bytes) >>> 0) !== folder.crc) throw corrupt('packed header CRC mismatch', { stored: folder.crc });
      parts.push(bytes);
    } catch (e) {
      throw out.failure() ?? asError(e);
    } finally {
      await out.close();
    }
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** Where pack streams sit, to find bytes no stream covers (see unlisted()). */
function packRanges(info: StreamsInfo, into: Array<[number, number]>): void {
  let at = SIGNATURE_HEADER_SIZE + info.packPos;
  for (const s of info.packSizes) {
    into.push([at, at + s]);
    at += s;
  }
}

interface Layout {
  header: Header;
  /** End of the packed area (where the header starts). */
  packedEnd: number;
  ranges: Array<[number, number]>;
}

async function readHeader(ctx: AnalysisContext, source: ByteSource): Promise<Layout | null> {
  const start = parseStartHeader(await source.read(0, SIGNATURE_HEADER_SIZE));
  if (!start) throw corrupt('signature header missing or truncated');
  ctx.fact('7z.version', `${start.version[0]}.${start.version[1]}`);
  const ranges: Array<[number, number]> = [];
  const packedEnd = SIGNATURE_HEADER_SIZE + start.nextHeaderOffset;
  if (start.nextHeaderSize === 0) return { header: { main: null, files: [] }, packedEnd, ranges };
  if (start.nextHeaderSize > MAX_HEADER_BYTES) throw corrupt(`header of ${start.nextHeaderSize} bytes is larger than the ${MAX_HEADER_BYTES}-byte limit`, { declared: start.nextHeaderSize });
  const at = SIGNATURE_HEADER_SIZE + start.nextHeaderOffset;
  let bytes = await source.read(at, start.nextHeaderSize);
  if (bytes.length < start.nextHeaderSize) throw corrupt('header runs past the end of the file (truncated archive?)', { offset: at, declared: start.nextHeaderSize });
  if ((crc32(bytes) >>> 0) !== start.nextHeaderCrc) throw corrupt('header CRC mismatch', { offset: at });
  for (let level = 0; level < MAX_HEADER_LEVELS; level++) {
    if (bytes[0] === Id.Header) {
      const header = parseHeader(bytes);
      if (header.main) packRanges(header.main, ranges);
      return { header, packedEnd, ranges };
    }
    if (bytes[0] !== Id.EncodedHeader) throw corrupt(`header starts with unknown property 0x${(bytes[0] ?? 0).toString(16)}`);
    const encoded = parseEncodedHeader(bytes);
    packRanges(encoded, ranges);
    const unpacked = await unpackHeader(ctx, source, encoded);
    if (!unpacked) return null;
    bytes = unpacked;
  }
  throw corrupt('header is encoded too many times');
}

async function scanMembers(ctx: AnalysisContext, source: ByteSource, header: Header, links: ArchiveLink[]): Promise<void> {
  const info = header.main;
  const files = header.files;
  let limit = files.length;
  if (files.length > ctx.limits.maxMembers) {
    ctx.emit({
      rule: 'ARCHIVE_TOO_MANY_MEMBERS',
      message: `archive has ${files.length} members; only the first ${ctx.limits.maxMembers} are scanned`,
      evidence: { details: { members: files.length, limit: ctx.limits.maxMembers } },
    });
    ctx.incomplete(`7z has ${files.length} members, more than the limit ${ctx.limits.maxMembers}`);
    limit = ctx.limits.maxMembers;
  }
  const perFolder = new Map<number, string[]>();
  let stream = 0;
  const streamOf: number[] = files.map((f) => (f.hasStream ? stream++ : -1));
  for (let i = 0; i < files.length; i++) {
    const s = streamOf[i]!;
    if (s < 0 || !info) continue;
    const folder = info.substreams[s]!.folder;
    const list = perFolder.get(folder);
    if (list) list.push(files[i]!.name);
    else perFolder.set(folder, [files[i]!.name]);
  }
  let open: { index: number; out: FolderSource | SourceError; failed: boolean } | null = null;
  const closeOpen = async (): Promise<void> => {
    if (open && !(open.out instanceof SourceError)) {
      const failure = open.failed ? null : open.out.failure();
      if (failure) emitSourceFailure(ctx, failure, `folder ${open.index} (${(perFolder.get(open.index) ?? []).slice(0, 3).join(', ')})`);
      await open.out.close();
    }
    open = null;
  };
  try {
    for (let i = 0; i < limit; i++) {
      const f = files[i]!;
      if (ctx.expired()) {
        ctx.incomplete(`time budget spent after ${i} of ${files.length} 7z members`);
        return;
      }
      emitTraversal(ctx, f.name);
      const s = streamOf[i]!;
      if (s < 0 || !info) continue;
      const sub = info.substreams[s]!;
      if (!open || open.index !== sub.folder) {
        await closeOpen();
        const names = perFolder.get(sub.folder) ?? [];
        const out = openFolder(ctx, source, info, sub.folder, names.length === 1 ? names[0]! : `<7z block ${sub.folder}>`, {
          charge: true,
          ...(names.length > 1 ? { windowBytes: SOLID_WINDOW } : {}),
        });
        open = { index: sub.folder, out, failed: false };
        if (out instanceof SourceError) {
          const list = `${names.slice(0, 5).join(', ')}${names.length > 5 ? `, and ${names.length - 5} more` : ''}`;
          const rule = out.kind === 'encrypted' ? 'ARCHIVE_ENCRYPTED' : out.kind === 'unsupported' ? 'ARCHIVE_UNSUPPORTED_METHOD' : 'ARCHIVE_CORRUPT';
          ctx.emit({ rule, message: `${list}: ${out.message}`, evidence: { details: { members: list, folder: sub.folder, ...out.details } } });
          ctx.incomplete(`7z members not read: ${out.message}`);
        }
      }
      const current = open;
      if (current.out instanceof SourceError || current.failed) continue;
      const member = new SliceSource(f.name, current.out, sub.offset, sub.size);
      if (isSymlink(f)) {
        const target = await readLinkTarget(member);
        if (target !== null) links.push({ name: f.name, target, kind: 'symlink' });
        else ctx.emit({ rule: 'ARCHIVE_SYMLINK', message: `${f.name} is a symbolic link whose target could not be read`, evidence: { details: { member: f.name, kind: 'symlink' } } });
        continue;
      }
      const crcSource = new CrcSource(member, f.name);
      let failure = await scanAndReport(ctx, crcSource, undefined);
      failure = current.out.failure() ?? failure;
      let crc: number | null = null;
      if (!failure) {
        try {
          crc = await crcSource.finish(ctx.limits.crcVerifyBytes, sub.size);
        } catch (e) {
          failure = current.out.failure() ?? asError(e);
        }
      }
      if (failure) {
        // A broken block breaks every later member of it: reported once, the rest skipped.
        emitSourceFailure(ctx, failure, f.name);
        current.failed = true;
        continue;
      }
      if (crc !== null && sub.crc !== null && crc !== sub.crc) {
        ctx.emit({
          rule: 'ARCHIVE_CORRUPT',
          message: `${f.name}: CRC-32 of the data does not match the header; 7-Zip reports a data error for this member`,
          evidence: { details: { member: f.name, computed: crc, stored: sub.crc } },
        });
      }
    }
  } finally {
    await closeOpen();
  }
}

/**
 * Bytes between the signature header and the header that no pack stream claims. 7-Zip and
 * py7zr leave none; anything there is read by no 7z reader but could be by another one (a zip
 * reader finds an appended zip anywhere), so it is reported and scanned.
 */
async function unlisted(ctx: AnalysisContext, source: ByteSource, layout: Layout): Promise<void> {
  const sorted = [...layout.ranges].sort((a, b) => a[0] - b[0]);
  const gaps: Array<[number, number]> = [];
  let at = SIGNATURE_HEADER_SIZE;
  for (const [s, e] of sorted) {
    if (s > at) gaps.push([at, Math.min(s, layout.packedEnd)]);
    at = Math.max(at, e);
  }
  if (at < layout.packedEnd) gaps.push([at, layout.packedEnd]);
  for (const [s, e] of gaps.filter(([s, e]) => e > s).slice(0, 16)) {
    const name = `<unlisted data at ${s}>`;
    ctx.emit({ rule: 'ARCHIVE_CORRUPT', message: `${e - s} bytes at offset ${s} belong to no member of the 7z archive; scanned as ${name}`, offset: s, evidence: { details: { offset: s, bytes: e - s } } });
    const failure = await scanAndReport(ctx, new SliceSource(name, source, s, e - s), undefined, s);
    if (failure) emitSourceFailure(ctx, failure, name, s);
  }
}

/**
 * When the header cannot be read, 7-Zip opens nothing, but the bytes are still there for other
 * readers (a zip reader finds a zip anywhere in a file): the area after the signature header is
 * scanned as one member, so a payload hidden behind a broken 7z header is still seen.
 */
async function scanRaw(ctx: AnalysisContext, source: ByteSource): Promise<void> {
  const size = source.size;
  if (size === null || size <= SIGNATURE_HEADER_SIZE) return;
  const name = '<7z data after an unreadable header>';
  const failure = await scanAndReport(ctx, new SliceSource(name, source, SIGNATURE_HEADER_SIZE, size - SIGNATURE_HEADER_SIZE), undefined, SIGNATURE_HEADER_SIZE);
  if (failure) emitSourceFailure(ctx, failure, name, SIGNATURE_HEADER_SIZE);
}

async function analyzeSevenZip(source: ByteSource, ctx: AnalysisContext): Promise<void> {
  let layout: Layout | null;
  try {
    layout = await readHeader(ctx, source);
  } catch (e) {
    const err = asError(e);
    if (err.kind !== 'corrupt') throw err;
    emitSourceFailure(ctx, err, source.name);
    await scanRaw(ctx, source);
    return;
  }
  if (!layout) return;
  const header = layout.header;
  await unlisted(ctx, source, layout);
  ctx.fact('7z.members', header.files.length);
  if (header.main) {
    ctx.fact('7z.blocks', header.main.folders.length);
    const methods = new Set(header.main.folders.flatMap(folderMethods));
    if (methods.size) ctx.fact('7z.methods', [...methods]);
  }
  const links: ArchiveLink[] = [];
  try {
    await scanMembers(ctx, source, header, links);
  } finally {
    reportLinks(ctx, links);
  }
}

export const sevenZipAnalyzer: Analyzer = {
  id: '7z',
  version: '1',
  description: '7z archives as 7-Zip and py7zr write them: (encoded) headers with CRCs, solid blocks read lazily, Copy/LZMA/LZMA2/BCJ/Delta/Deflate/BZip2, 7zAES detection, traversal, links, bombs, member limit',
  sniff: sniffSevenZip,
  async analyze(source: ByteSource, ctx: AnalysisContext): Promise<void> {
    try {
      await analyzeSevenZip(source, ctx);
    } catch (e) {
      emitSourceFailure(ctx, asError(e), source.name);
    }
  },
};
