/**
 * Zip archives, read the way PyTorch's loader (miniz) and Python's zipfile read them, so a
 * member either of them would load is always scanned:
 *  - central directory values decide (name, method, sizes), the local header only locates the
 *    data (its own name/extra lengths), as in both readers;
 *  - local/central disagreements are reported and the data is scanned under both readings;
 *  - duplicates are all scanned; CRC mismatches are reported, never a reason to skip
 *    (PyTorch does not check CRCs); encryption flags are reported and the member is scanned
 *    anyway (PyTorch ignores them), ARCHIVE_ENCRYPTED only when the data proves encrypted;
 *  - bytes before the archive are scanned as the member `<prepended data>`: torch.load checks
 *    for `PK\x03\x04` at offset 0 and otherwise unpickles the file from its start;
 *  - symbolic links (Unix mode in the external attributes, target as the data) are judged
 *    together at the end: inside the archive a fact, leading outside a finding (archive.ts).
 * CRC: computed on the fly from the bytes the scan reads (CrcSource); when the scan stopped
 * early, the rest is read only if at most CRC_VERIFY_BYTES remain (CRC_VERIFY_FLAGGED for
 * members flagged as encrypted, where the CRC is what tells encrypted from plain).
 */
import { SliceSource } from '../source/slice.js';
import { SourceError, type ByteSource } from '../source/types.js';
import { DecompressingSource, type Codec } from '../source/decompress.js';
import type { AnalysisContext, Analyzer, Claim, SniffInput } from './types.js';
import { CrcSource, MAX_LINK_TARGET, SizedSource, asError, emitSourceFailure, emitTraversal, readLinkTarget, reportLinks, scanAndReport, sizeOf, type ArchiveLink } from './archive.js';
import { SIGNATURE_HEADER_SIZE, parseStartHeader } from './sevenzip/header.js';
import { concatenatedArchives } from './zip/concatenated.js';
import {
  SIG_LOCAL,
  eocdCandidates,
  findEnd,
  readLocalHeader,
  sameBytes,
  u16,
  u32,
  walkCentral,
  type CentralEntry,
  type LocalHeader,
} from './zip/structure.js';

const CRC_VERIFY_FLAGGED = 256 * 1024 * 1024;
/** Head sniffed in a PyTorch tensor storage (see MemberOptions.sniffBytes). */
const STORAGE_SNIFF_BYTES = 2048;
const UNUSUAL_FLAGS = 0x01 | 0x20 | 0x40;
const ENCRYPTION_FLAGS = 0x01 | 0x40;
const PREPENDED = '<prepended data>';

const METHOD_CODECS: ReadonlyMap<number, Codec | 'stored'> = new Map<number, Codec | 'stored'>([
  [0, 'stored'],
  [8, 'deflate-raw'],
  [12, 'bzip2'],
  [14, 'zip-lzma'],
  [93, 'zstd'],
  [95, 'xz'],
]);

const METHOD_NAMES: Record<number, string> = { 0: 'stored', 8: 'deflate', 9: 'deflate64', 12: 'bzip2', 14: 'lzma', 93: 'zstd', 95: 'xz', 98: 'ppmd', 99: 'aes' };

function methodName(m: number): string {
  return METHOD_NAMES[m] ?? `method ${m}`;
}

/**
 * A zip stored (Copy method) as a member of a 7z archive sits inside the 7z's packed area:
 * the 7z analyzer hands it to the engine as a member, where it is read as a zip; claiming the
 * whole 7z as a zip with "prepended data" would only report the 7z itself as suspicious.
 * Bytes of the packed area outside every member are scanned by the 7z analyzer too.
 */
function insideSevenZip(head: Uint8Array, size: number, eocd: number): boolean {
  try {
    const start = parseStartHeader(head);
    const packedEnd = SIGNATURE_HEADER_SIZE + (start?.nextHeaderOffset ?? 0);
    return start !== null && eocd + 22 <= packedEnd && packedEnd + start.nextHeaderSize <= size;
  } catch {
    return false;
  }
}

export function sniffZip(input: SniffInput): Claim | null {
  const h = input.head;
  if (h[0] === 0x50 && h[1] === 0x4b && h[2] === 0x03 && h[3] === 0x04) return { format: 'zip', confidence: 0.95 };
  if (h[0] === 0x50 && h[1] === 0x4b && h[2] === 0x05 && h[3] === 0x06 && input.size === 22 + u16(h, 20)) return { format: 'zip', confidence: 0.9 };
  if (input.size === null || input.tail.length < 22) return null;
  const tailStart = input.size - input.tail.length;
  for (const pos of eocdCandidates(input.tail)) {
    if (insideSevenZip(input.head, input.size, tailStart + pos)) continue;
    const cdSize = u32(input.tail, pos + 12);
    const cdOffset = u32(input.tail, pos + 16);
    const eocd = tailStart + pos;
    const zip64Locator = pos >= 20 && u32(input.tail, pos - 20) === 0x07064b50;
    if (zip64Locator || (cdSize <= eocd && eocd - cdSize - cdOffset >= 0)) {
      // Bytes precede the archive (a pickle, a script): lower than a magic at 0, above a pickle's claim.
      return { format: 'zip', confidence: 0.85, hint: { eocd } };
    }
  }
  return null;
}

interface Reading {
  method: number;
  compressedSize: number;
  label: string;
}

interface MemberPlan {
  entry: CentralEntry;
  local: LocalHeader;
  readings: Reading[];
  /** A stored tensor storage of a PyTorch checkpoint: torch.load reads it as raw numbers only. */
  storage?: boolean;
}

async function scanReading(ctx: AnalysisContext, source: ByteSource, size: number, plan: MemberPlan, reading: Reading): Promise<void> {
  const { entry, local } = plan;
  const name = reading.label;
  const encryptedFlag = (entry.flags & ENCRYPTION_FLAGS) !== 0;
  const codec = METHOD_CODECS.get(reading.method);
  if (codec === undefined) {
    ctx.emit({
      rule: 'ARCHIVE_UNSUPPORTED_METHOD',
      message: `${name}: compression ${methodName(reading.method)} is not supported`,
      offset: entry.localOffset,
      evidence: { details: { member: name, method: reading.method } },
    });
    return;
  }
  const available = Math.max(0, Math.min(reading.compressedSize, size - local.dataOffset));
  if (available < reading.compressedSize) {
    ctx.emit({
      rule: 'ARCHIVE_CORRUPT',
      message: `${name}: data runs past the end of the file (${reading.compressedSize} bytes declared, ${available} present)`,
      offset: local.dataOffset,
      evidence: { details: { member: name, declared: reading.compressedSize, present: available } },
    });
  }
  const raw = new SliceSource(name, source, local.dataOffset, available);
  let member: ByteSource;
  let decoder: DecompressingSource | null = null;
  if (codec === 'stored') member = raw;
  else {
    decoder = new DecompressingSource(name, raw, codec, {
      maxBytes: ctx.limits.maxDecompressedBytes,
      maxRatio: ctx.limits.maxCompressionRatio,
      compressedSize: Math.max(1, available),
      charge: (n) => ctx.chargeDecompressed(n),
      declaredSize: entry.flags & 0x02 ? null : entry.uncompressedSize,
    });
    member = decoder;
  }
  const crcSource = new CrcSource(member, name);
  const sniff = plan.storage && codec === 'stored' && reading.label === entry.name ? STORAGE_SNIFF_BYTES : undefined;
  let failure = await scanAndReport(ctx, crcSource, codec === 'stored' ? undefined : available, local.dataOffset, sniff);
  let crc: number | null = null;
  if (!failure) {
    try {
      crc = await crcSource.finish(encryptedFlag ? CRC_VERIFY_FLAGGED : ctx.limits.crcVerifyBytes, codec === 'stored' ? available : entry.uncompressedSize);
    } catch (e) {
      failure = asError(e);
    }
  }
  if (decoder) await decoder.close();
  const encryptedData = encryptedFlag && (crc !== null ? crc !== entry.crc : failure !== null && failure.kind === 'corrupt');
  if (encryptedData) {
    ctx.emit({
      rule: 'ARCHIVE_ENCRYPTED',
      message: `${name} is encrypted: its bytes do not decode to data matching the stored CRC`,
      offset: entry.localOffset,
      evidence: { details: { member: name, flags: entry.flags } },
    });
    return;
  }
  if (failure) {
    emitSourceFailure(ctx, failure, name, local.dataOffset);
    return;
  }
  if (crc !== null && crc !== entry.crc) {
    ctx.emit({
      rule: 'ZIP_CRC_MISMATCH',
      message: `${name}: CRC-32 of the data is ${hex(crc)}, the central directory says ${hex(entry.crc)}`,
      offset: entry.localOffset,
      evidence: { details: { member: name, computed: hex(crc), stored: hex(entry.crc) } },
    });
  }
}

function hex(n: number): string {
  return '0x' + (n >>> 0).toString(16).padStart(8, '0');
}

/** Where local and central headers disagree, and the readings to scan because of it. */
function compare(ctx: AnalysisContext, entry: CentralEntry, local: LocalHeader): Reading[] {
  const diffs: string[] = [];
  const details: Record<string, string | number | boolean> = { member: entry.name };
  if (!sameBytes(entry.nameBytes, local.nameBytes)) {
    diffs.push(`name (local header says ${JSON.stringify(local.name)})`);
    details.localName = local.name;
  }
  if (entry.method !== local.method) {
    diffs.push(`compression (central ${methodName(entry.method)}, local ${methodName(local.method)})`);
    details.centralMethod = entry.method;
    details.localMethod = local.method;
  }
  if ((entry.flags & ENCRYPTION_FLAGS) !== (local.flags & ENCRYPTION_FLAGS)) {
    diffs.push(`encryption flags (central 0x${entry.flags.toString(16)}, local 0x${local.flags.toString(16)})`);
    details.centralFlags = entry.flags;
    details.localFlags = local.flags;
  }
  // With a data descriptor (bit 3) the local sizes and CRC are legitimately zero.
  const describes = (local.flags & 0x08) === 0;
  const sizeDiffers = describes && local.compressedSize !== entry.compressedSize;
  if (describes && (sizeDiffers || local.uncompressedSize !== entry.uncompressedSize)) {
    diffs.push(`sizes (central ${entry.compressedSize}/${entry.uncompressedSize}, local ${local.compressedSize}/${local.uncompressedSize})`);
    details.centralCompressedSize = entry.compressedSize;
    details.localCompressedSize = local.compressedSize;
  }
  if (describes && local.crc !== entry.crc) {
    diffs.push(`CRC (central ${hex(entry.crc)}, local ${hex(local.crc)})`);
    details.centralCrc = hex(entry.crc);
    details.localCrc = hex(local.crc);
  }
  if (diffs.length) {
    ctx.emit({
      rule: 'ZIP_HEADER_MISMATCH',
      message: `${entry.name}: local and central headers disagree on ${diffs.join(', ')}`,
      offset: entry.localOffset,
      evidence: { details },
    });
  }
  // The loaders' reading first; then what a reader trusting the local header would see.
  const readings: Reading[] = [{ method: entry.method, compressedSize: entry.compressedSize, label: entry.name }];
  const alt = (method: number, compressedSize: number): void => {
    readings.push({ method, compressedSize, label: `${entry.name} (as the local header says: ${methodName(method)}, ${compressedSize} bytes)` });
  };
  if (entry.method !== local.method) alt(local.method, entry.compressedSize);
  if (sizeDiffers) alt(entry.method, local.compressedSize);
  if (entry.method !== local.method && sizeDiffers) alt(local.method, local.compressedSize);
  return readings;
}

function reportFlags(ctx: AnalysisContext, entry: CentralEntry, localFlags = 0): void {
  // Either header counts: PyTorch reads the local one, other tools the central one.
  const unusual = (entry.flags | localFlags) & UNUSUAL_FLAGS;
  if (!unusual) return;
  const bits = [unusual & 0x01 ? 'encrypted (0x1)' : '', unusual & 0x20 ? 'patched data (0x20)' : '', unusual & 0x40 ? 'strong encryption (0x40)' : ''].filter(Boolean);
  ctx.emit({
    rule: 'ZIP_UNUSUAL_FLAGS',
    message: `${entry.name} sets general-purpose flags ${bits.join(', ')}; PyTorch ignores them and loads the member anyway`,
    offset: entry.offset,
    evidence: { details: { member: entry.name, flags: entry.flags } },
  });
}


function isSymlink(entry: CentralEntry): boolean {
  return ((entry.externalAttributes >>> 16) & 0o170000) === 0o120000;
}

/**
 * A zip symlink (Info-ZIP: Unix mode S_IFLNK in the external attributes) stores its target as
 * the member's data. Null when it cannot be read (then the link is reported as it is).
 */
async function linkTarget(ctx: AnalysisContext, source: ByteSource, size: number, entry: CentralEntry, local: LocalHeader): Promise<string | null> {
  const codec = METHOD_CODECS.get(entry.method);
  if (codec === undefined || entry.flags & ENCRYPTION_FLAGS || entry.uncompressedSize > MAX_LINK_TARGET) return null;
  const raw = new SliceSource(entry.name, source, local.dataOffset, Math.max(0, Math.min(entry.compressedSize, size - local.dataOffset)));
  const member =
    codec === 'stored'
      ? raw
      : new DecompressingSource(entry.name, raw, codec, { maxBytes: MAX_LINK_TARGET + 1, maxRatio: ctx.limits.maxCompressionRatio, charge: (n) => ctx.chargeDecompressed(n), declaredSize: entry.uncompressedSize });
  try {
    return await readLinkTarget(member);
  } finally {
    if (member instanceof DecompressingSource) await member.close();
  }
}

function reportUnreadableLink(ctx: AnalysisContext, entry: CentralEntry): void {
  ctx.emit({
    rule: 'ARCHIVE_SYMLINK',
    message: `${entry.name} is a symbolic link whose target could not be read`,
    offset: entry.offset,
    evidence: { details: { member: entry.name, mode: (entry.externalAttributes >>> 16).toString(8), kind: 'symlink' } },
  });
}

function reportDeclaredBomb(ctx: AnalysisContext, entry: CentralEntry): void {
  if (entry.method === 0) return;
  const { maxDecompressedBytes, maxCompressionRatio } = ctx.limits;
  const ratio = entry.uncompressedSize / Math.max(1, entry.compressedSize);
  if (entry.uncompressedSize > maxDecompressedBytes || (entry.uncompressedSize > 1024 * 1024 && ratio > maxCompressionRatio)) {
    ctx.emit({
      rule: 'ARCHIVE_BOMB',
      message: `${entry.name} declares ${entry.uncompressedSize} bytes from ${entry.compressedSize} compressed`,
      offset: entry.offset,
      evidence: { details: { member: entry.name, declared: entry.uncompressedSize, compressed: entry.compressedSize, ratio: Math.round(ratio) } },
    });
  }
}

/** Container facts: PyTorch checkpoint (and TorchScript code), npz. Returns the checkpoint's prefix(es), if any. */
function classify(ctx: AnalysisContext, names: readonly string[]): Set<string> {
  const prefixes = new Set<string>();
  const set = new Set(names);
  for (const n of names) {
    const m = /^(.*\/)?data\.pkl$/.exec(n);
    if (!m) continue;
    const prefix = m[1] ?? '';
    if (set.has(prefix + 'version') || set.has(prefix + '.data/version') || set.has(prefix + 'byteorder')) {
      ctx.fact('container', 'pytorch-zip');
      const code = names.filter((x) => x.startsWith(prefix + 'code/') && !x.endsWith('/'));
      if (code.length) {
        ctx.emit({
          rule: 'TORCHSCRIPT_CODE',
          message: `TorchScript code is present (${code.length} file${code.length === 1 ? '' : 's'}, e.g. ${code.slice(0, 3).join(', ')})`,
          evidence: { details: { files: code.length, examples: code.slice(0, 5).join(', ') } },
        });
      }
      prefixes.add(prefix);
      return prefixes;
    }
  }
  if (names.length > 0 && names.every((n) => n.endsWith('.npy'))) ctx.fact('container', 'npz');
  return prefixes;
}

/** `<prefix>data/<digits>` in a PyTorch checkpoint: a tensor storage. */
function isStorage(name: string, prefixes: ReadonlySet<string>): boolean {
  const m = /^(.*\/)?data\/\d+$/.exec(name);
  return m !== null && prefixes.has(m[1] ?? '');
}

/**
 * No usable end record: neither PyTorch nor zipfile would open the file, but what is there is
 * scanned anyway (fail closed): local headers are followed from the start while their sizes are
 * known.
 */
async function walkLocal(ctx: AnalysisContext, source: ByteSource, size: number): Promise<number> {
  let at = 0;
  let count = 0;
  while (at + 30 <= size && count < ctx.limits.maxMembers && !ctx.expired()) {
    const h = await source.read(at, 4);
    if (u32(h, 0) !== SIG_LOCAL) break;
    const local = await readLocalHeader(source, at);
    if (local instanceof SourceError) break;
    if (local.flags & 0x08 && local.compressedSize === 0) {
      ctx.emit({ rule: 'ARCHIVE_CORRUPT', message: `${local.name}: size unknown without a central directory; not scanned`, offset: at, evidence: { details: { member: local.name } } });
      break;
    }
    const entry: CentralEntry = {
      index: count,
      offset: at,
      nameBytes: local.nameBytes,
      name: local.name,
      versionMadeBy: 0,
      flags: local.flags,
      method: local.method,
      crc: local.crc,
      compressedSize: local.compressedSize,
      uncompressedSize: local.uncompressedSize,
      externalAttributes: 0,
      localOffset: at,
    };
    emitTraversal(ctx, local.name, at);
    await scanReading(ctx, source, size, { entry, local, readings: [] }, { method: local.method, compressedSize: local.compressedSize, label: local.name });
    count++;
    at = local.dataOffset + local.compressedSize + (local.flags & 0x08 ? 16 : 0);
  }
  return count;
}

async function analyzeZip(input: ByteSource, ctx: AnalysisContext): Promise<void> {
  const size = await sizeOf(input);
  const source = input.size === null ? new SizedSource(input, size) : input;
  const end = await findEnd(source, size);
  if (!end) {
    ctx.emit({ rule: 'ARCHIVE_CORRUPT', message: 'no valid end-of-central-directory record: zip readers cannot open this archive', evidence: { details: { size } } });
    const n = await walkLocal(ctx, source, size);
    ctx.fact('zip.members', n);
    return;
  }

  const entries: CentralEntry[] = [];
  let total = 0;
  let walkError: SourceError | null = null;
  for await (const step of walkCentral(source, end)) {
    if (step.kind === 'corrupt') {
      walkError = step.error;
      break;
    }
    total++;
    if (entries.length < ctx.limits.maxMembers) entries.push(step.entry);
  }
  ctx.fact('zip.members', total);
  if (walkError) {
    ctx.emit({
      rule: 'ARCHIVE_CORRUPT',
      message: `central directory broken after ${total} entries: ${walkError.message}`,
      offset: typeof walkError.details.offset === 'number' ? walkError.details.offset : end.cdStart,
      evidence: { details: { ...walkError.details, entriesRead: total } },
    });
  } else if (total !== end.declaredEntries && !(end.declaredEntries === 0xffff && !end.zip64)) {
    ctx.emit({
      rule: 'ZIP_HEADER_MISMATCH',
      message: `end-of-central-directory record declares ${end.declaredEntries} entries, the central directory holds ${total}`,
      offset: end.eocdOffset,
      evidence: { details: { declared: end.declaredEntries, found: total } },
    });
  }
  if (total > ctx.limits.maxMembers) {
    ctx.emit({
      rule: 'ARCHIVE_TOO_MANY_MEMBERS',
      message: `archive has ${total} members; only the first ${ctx.limits.maxMembers} are scanned`,
      evidence: { details: { members: total, limit: ctx.limits.maxMembers } },
    });
    ctx.incomplete(`zip has ${total} members, more than the limit ${ctx.limits.maxMembers}`);
  }

  const seen = new Map<string, number>();
  for (const e of entries) seen.set(e.name, (seen.get(e.name) ?? 0) + 1);
  for (const [name, count] of seen) {
    if (count > 1) {
      ctx.emit({
        rule: 'ZIP_DUPLICATE_NAME',
        message: `${count} members are named ${JSON.stringify(name)}; loaders disagree on which one they read, all are scanned`,
        evidence: { details: { member: name, count } },
      });
    }
  }

  // Bytes before the first member (or the directory, for an archive with no members).
  let firstByte = end.cdStart;
  for (const e of entries) firstByte = Math.min(firstByte, e.localOffset);
  const prepended = Math.max(0, Math.min(firstByte, size));
  const items = prepended > 0 ? await concatenatedArchives(source, prepended, ctx.limits.maxMembers) : null;
  if (items) {
    // Complete archives end to end (torch.distributed.checkpoint .distcp shards): each is scanned
    // as the zip it is, so a pickle in any item is judged; nothing is hidden in between.
    ctx.fact('zip.concatenatedArchives', items.length + 1);
    for (const [i, span] of items.entries()) {
      const name = `<archive ${i} at ${span.start}>`;
      const failure = await scanAndReport(ctx, new SliceSource(name, source, span.start, span.length), undefined, span.start);
      if (failure) emitSourceFailure(ctx, failure, name, span.start);
    }
  } else if (prepended > 0) {
    ctx.emit({
      rule: 'ZIP_PREPENDED_DATA',
      message: `${prepended} bytes precede the zip archive; torch.load reads such a file from its first byte, not as a zip`,
      offset: 0,
      evidence: { details: { bytes: prepended, shift: end.shift } },
    });
    const failure = await scanAndReport(ctx, new SliceSource(PREPENDED, source, 0, prepended), undefined, 0);
    if (failure) emitSourceFailure(ctx, failure, PREPENDED, 0);
  }

  const torchPrefixes = classify(
    ctx,
    entries.map((e) => e.name),
  );

  // Local headers (and the bytes just behind them, a tensor's head) are read one member after
  // another; telling the source which come next lets a remote source fetch them together.
  const links: ArchiveLink[] = [];
  try {
    await scanEntries(ctx, source, size, entries, torchPrefixes, links);
  } finally {
    reportLinks(ctx, links);
  }
}

async function scanEntries(ctx: AnalysisContext, source: ByteSource, size: number, entries: readonly CentralEntry[], torchPrefixes: ReadonlySet<string>, links: ArchiveLink[]): Promise<void> {
  const PREFETCH_AHEAD = 32;
  const headerRange = (e: CentralEntry) => ({ offset: e.localOffset, length: 30 + e.nameBytes.length });
  source.prefetch?.(entries.slice(0, PREFETCH_AHEAD).map(headerRange));
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    const next = entries[i + PREFETCH_AHEAD];
    if (next && source.prefetch) source.prefetch([headerRange(next)]);
    if (ctx.expired()) {
      ctx.incomplete(`time budget spent after ${entry.index} of ${entries.length} zip members`, entry.offset);
      return;
    }
    emitTraversal(ctx, entry.name, entry.offset);
    reportDeclaredBomb(ctx, entry);
    const local = await readLocalHeader(source, entry.localOffset);
    if (isSymlink(entry)) {
      const target = local instanceof SourceError ? null : await linkTarget(ctx, source, size, entry, local);
      if (target === null) reportUnreadableLink(ctx, entry);
      else links.push({ name: entry.name, target, kind: 'symlink', offset: entry.offset });
    }
    reportFlags(ctx, entry, local instanceof SourceError ? 0 : local.flags);
    if (local instanceof SourceError) {
      ctx.emit({
        rule: 'ARCHIVE_CORRUPT',
        message: `${entry.name}: ${local.message}; zip readers cannot read this member`,
        offset: entry.localOffset,
        evidence: { details: { member: entry.name, ...local.details } },
      });
      continue;
    }
    const plan: MemberPlan = { entry, local, readings: compare(ctx, entry, local), storage: isStorage(entry.name, torchPrefixes) };
    for (const reading of plan.readings) await scanReading(ctx, source, size, plan, reading);
  }
}

export const zipAnalyzer: Analyzer = {
  id: 'zip',
  version: '3',
  description:
    'Zip archives as PyTorch (miniz) and Python read them: EOCD/ZIP64, prepended bytes, every central-directory member (stored, deflate, bzip2, lzma, zstd, xz), local/central mismatches, duplicates, CRC, flags, traversal, links, bombs; PyTorch/TorchScript/npz detection',
  sniff: sniffZip,
  async analyze(source: ByteSource, ctx: AnalysisContext): Promise<void> {
    try {
      await analyzeZip(source, ctx);
    } catch (e) {
      const err = asError(e);
      emitSourceFailure(ctx, err, source.name);
    }
  },
};
