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
