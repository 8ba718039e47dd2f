/**
 * Pieces the container analyzers (zip, tar, single compressed streams) share: member-name
 * checks, turning SourceErrors into findings, CRC tracking, and giving a size to sources that
 * do not know theirs (an archive inside a compressed stream).
 */
import { crc32 } from 'node:zlib';
import { SourceError, type ByteRange, type ByteSource } from '../source/types.js';
import { DecompressingSource } from '../source/decompress.js';
import type { AnalysisContext } from './types.js';

/** Why a member name would land outside the extraction directory, or null. */
export function traversalReason(name: string): string | null {
  if (name.includes('\\')) return 'contains a backslash';
  if (name.startsWith('/')) return 'is an absolute path';
  if (/^[A-Za-z]:/.test(name)) return 'starts with a drive letter';
  if (name.split('/').some((seg) => seg === '..')) return 'has a ".." segment';
  return null;
}

export function emitTraversal(ctx: AnalysisContext, name: string, offset?: number): void {
  const reason = traversalReason(name);
  if (reason) {
    ctx.emit({
      rule: 'ARCHIVE_PATH_TRAVERSAL',
      message: `member name ${JSON.stringify(name)} ${reason}`,
      ...(offset !== undefined ? { offset } : {}),
      evidence: { details: { member: name, reason } },
    });
  }
}

/** Turns a SourceError met while reading a member into the finding a reader of the archive expects. */
export function emitSourceFailure(ctx: AnalysisContext, err: SourceError, member: string, offset?: number): void {
  const details: Record<string, string | number | boolean> = { member, ...err.details };
  const at = offset !== undefined ? { offset } : {};
  switch (err.kind) {
    case 'limit':
      ctx.emit({ rule: 'ARCHIVE_BOMB', message: `${member}: ${err.message}`, ...at, evidence: { details } });
      return;
    case 'encrypted':
      ctx.emit({ rule: 'ARCHIVE_ENCRYPTED', message: `${member}: ${err.message}`, ...at, evidence: { details } });
      return;
    case 'unsupported':
      ctx.emit({ rule: 'ARCHIVE_UNSUPPORTED_METHOD', message: `${member}: ${err.message}`, ...at, evidence: { details } });
      return;
    case 'corrupt':
      ctx.emit({ rule: 'ARCHIVE_CORRUPT', message: `${member}: ${err.message}`, ...at, evidence: { details } });
      return;
    case 'io':
      ctx.emit({ rule: 'SCAN_UNREADABLE', message: `${member}: ${err.message}`, ...at, evidence: { details } });
      return;
  }
}

export function asError(e: unknown): SourceError {
  if (e instanceof SourceError) return e;
  return new SourceError('corrupt', e instanceof Error ? e.message : String(e));
}

/**
 * Hands a member to the engine and reports what went wrong while it was read. The engine may
 * already have turned a read error into its own finding; the container still owns the cause
 * (bomb, corrupt stream), so it reports it once here.
 */
export async function scanAndReport(ctx: AnalysisContext, member: ByteSource, compressedSize: number | undefined, offset?: number, sniffBytes?: number): Promise<SourceError | null> {
  let failure: SourceError | null = null;
  try {
    await ctx.scanMember(member, { ...(compressedSize !== undefined ? { compressedSize } : {}), ...(sniffBytes !== undefined ? { sniffBytes } : {}) });
  } catch (e) {
    failure = asError(e);
  }
  const inner = unwrap(member);
  if (inner instanceof DecompressingSource) failure = inner.failure() ?? failure;
  return failure;
}

function unwrap(s: ByteSource): ByteSource {
  return s instanceof CrcSource ? s.inner : s;
}

/**
 * Passes reads through and computes the CRC-32 of the contiguous prefix read so far, so a
 * member read to its end by the scan is verified at no extra I/O.
 */
export class CrcSource implements ByteSource {
  private crc = 0;
  private covered = 0;
  private end: number | null;
  constructor(
    readonly inner: ByteSource,
    readonly name: string = inner.name,
  ) {
    this.end = inner.size;
  }
  get size(): number | null {
    return this.inner.size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    const b = await this.inner.read(offset, length);
    this.observe(offset, b, length);
    return b;
  }
  bytesRead(): number {
    return this.inner.bytesRead();
  }
  private observe(offset: number, b: Uint8Array, asked: number): void {
    if (offset <= this.covered && offset + b.length > this.covered) {
      this.crc = crc32(b.subarray(this.covered - offset), this.crc);
      this.covered = offset + b.length;
    }
    if (b.length < asked && asked > 0) this.end = offset + b.length;
  }
  /** CRC of the whole data once it has all been seen, else null. */
  value(): number | null {
    return this.end !== null && this.covered >= this.end ? this.crc >>> 0 : null;
  }
  coveredBytes(): number {
    return this.covered;
  }
  /** Reads the rest (from the covered prefix on) when at most `maxRemaining` bytes are left. */
  async finish(maxRemaining: number, knownSize: number | null): Promise<number | null> {
    const total = this.end ?? knownSize;
    if (total !== null && total - this.covered > maxRemaining) return this.value();
    let budget = maxRemaining;
    while (this.value() === null && budget > 0) {
      const want = Math.min(1 << 20, budget);
      const b = await this.read(this.covered, want);
      budget -= want;
      if (b.length === 0) {
        this.end = this.covered;
        break;
      }
    }
    return this.value();
  }
}

/** A source with a size, for archives inside streams that only learn theirs at the end. */
export class SizedSource implements ByteSource {
  constructor(
    private readonly inner: ByteSource,
    readonly size: number,
  ) {}
  get name(): string {
    return this.inner.name;
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    return this.inner.read(offset, Math.min(length, this.size - offset));
  }
  bytesRead(): number {
    return this.inner.bytesRead();
  }
  prefetch(ranges: readonly ByteRange[]): void {
    this.inner.prefetch?.(ranges);
  }
}

/** The size of any source: its own, or found by reading to the end (bounded by the source's own limits). */
export async function sizeOf(source: ByteSource): Promise<number> {
  if (source.size !== null) return source.size;
  if (source instanceof DecompressingSource) return source.drain();
  let at = 0;
  for (;;) {
    const b = await source.read(at, 1 << 20);
    if (b.length === 0) return at;
    at += b.length;
  }
}

/** A link an archive stores; symlink targets are relative to the link's directory, hard links to the archive root. */
export interface ArchiveLink {
  name: string;
  target: string;
  kind: 'symlink' | 'hardlink';
  offset?: number;
}

/** Linux follows at most 40 links while resolving one path; more means a loop. */
const MAX_LINK_HOPS = 40;
/** Path segments walked while resolving one link; past it the link is judged as escaping. */
const MAX_LINK_STEPS = 4096;

function segments(p: string): string[] {
  return p.split('/').filter((s) => s !== '' && s !== '.');
}

/**
 * Why extracting and then following the link reaches outside the archive root, or null when it
 * stays inside. The target is resolved the way the operating system would after extraction:
 * components that are themselves links of the archive are followed (a chain of individually
 * harmless-looking links can still climb out), `..` above the root escapes.
 */
export function linkEscape(link: ArchiveLink, symlinks: ReadonlyMap<string, string>): string | null {
  const absolute = (t: string): string | null =>
    t.startsWith('/') ? 'is absolute' : /^[A-Za-z]:/.test(t) ? 'starts with a drive letter' : t.includes('\\') ? 'contains a backslash' : null;
  const first = absolute(link.target);
  if (first) return `its target ${first}`;
  const stack = link.kind === 'symlink' ? segments(link.name).slice(0, -1) : [];
  let queue = segments(link.target);
  let hops = 0;
  let steps = 0;
  while (queue.length) {
    if (++steps > MAX_LINK_STEPS) return 'its target is too long to resolve';
    const seg = queue.shift()!;
    if (seg === '..') {
      if (stack.length === 0) return 'its target climbs above the archive root';
      stack.pop();
      continue;
    }
    stack.push(seg);
    const via = symlinks.get(stack.join('/'));
    if (via === undefined) continue;
    if (++hops > MAX_LINK_HOPS) return 'its target goes through too many links (a loop)';
    const abs = absolute(via);
    if (abs) return `its target goes through ${stack.join('/')}, whose target ${abs}`;
    stack.pop();
    queue = [...segments(via), ...queue];
  }
  return null;
}

/**
 * Judges every link of an archive once all are known (a later link can change where an earlier
 * one leads). Links that stay inside the archive are what snapshot layouts (the Hugging Face
 * cache: snapshots/<rev>/file -> ../../blobs/<sha>) are made of: they are counted as a fact.
 * A link that escapes is ARCHIVE_SYMLINK and ARCHIVE_PATH_TRAVERSAL: extraction through it reads
 * or writes outside the directory.
 */
export function reportLinks(ctx: AnalysisContext, links: readonly ArchiveLink[]): void {
  if (!links.length) return;
  const symlinks = new Map<string, string>();
  for (const l of links) if (l.kind === 'symlink') symlinks.set(segments(l.name).join('/'), l.target);
  let inside = 0;
  for (const l of links) {
    const reason = linkEscape(l, symlinks);
    if (reason === null) {
      inside++;
      continue;
    }
    const at = l.offset !== undefined ? { offset: l.offset } : {};
    const what = l.kind === 'symlink' ? 'symbolic' : 'hard';
    ctx.emit({
      rule: 'ARCHIVE_SYMLINK',
      message: `${l.name} is a ${what} link to ${JSON.stringify(l.target)}, which leaves the archive: ${reason}`,
      ...at,
      evidence: { details: { member: l.name, target: l.target, kind: l.kind, reason } },
    });
    ctx.emit({
      rule: 'ARCHIVE_PATH_TRAVERSAL',
      message: `link ${l.name} points outside the extraction directory (${JSON.stringify(l.target)}: ${reason})`,
      ...at,
      evidence: { details: { member: l.target, link: l.name, reason } },
    });
  }
  ctx.fact('archive.links', links.length);
  ctx.fact('archive.links.inside', inside);
}

/** Link targets longer than this are not paths a loader would follow; they are reported unreadable. */
export const MAX_LINK_TARGET = 4096;

/** A link member's target (zip and 7z store it as the member's data), or null when unreadable. */
export async function readLinkTarget(member: ByteSource): Promise<string | null> {
  try {
    const b = await member.read(0, MAX_LINK_TARGET + 1);
    if (b.length > MAX_LINK_TARGET || b.includes(0)) return null;
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    return null;
  }
}
