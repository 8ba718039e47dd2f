/**
 * Scanning one file of an upstream repository by HTTP range requests (src/source/http.ts): the
 * engine reads only the bytes it needs and nothing is written to disk. Every request goes
 * through the client's limiter-gated dispatcher, so range reads are charged to the fleet's rate
 * limit and a 429/503 answered to one of them pauses every worker.
 *
 * The stored scan is keyed by the content's sha256, which a range scan of a large file cannot
 * compute without fetching it all. So:
 *  - LFS files larger than WHOLE_READ_BYTES: scanned by ranges; the sha256 is the listing's
 *    lfs.oid and the size is checked against every Content-Range. The bytes are not hashed:
 *    the hub's own LFS oid is trusted here, as it is by every HF client that fetches by range.
 *  - LFS files up to WHOLE_READ_BYTES and every non-LFS file (git blobs: the listing has no
 *    sha256 for them): read whole through the same range source and limiter, hashed (and for LFS
 *    checked against lfs.oid) and scanned from memory. Git blobs are small on the hub (it
 *    refuses large files outside LFS); one larger than IN_MEMORY_BYTES is scanned by ranges
 *    and hashed by a streamed read of the same source afterwards instead of held in memory.
 * A scan the range source could not finish is never returned as a result: transport faults
 * become a 'transient' CrawlError (the job is retried with backoff), answers that break the
 * protocol (another size, wrong range, a redirect to an unknown host) a 'protocol' one (the file
 * is recorded as an error).
 */
import { createHash } from 'node:crypto';
import { statusKind, type HubClient } from '../remote/hub.js';
import { STREAM_FORMATS } from '../remote/scan.js';
import type { Engine } from '../scan/engine.js';
import type { FileReport, RemoteFallback } from '../scan/report.js';
import { BufferSource } from '../source/buffer.js';
import { HttpRangeSource, displayUrl, faultOf, type HttpFault } from '../source/http.js';
import { SourceError } from '../source/types.js';
import { CrawlError, crawlKindOf } from './types.js';

export interface RemoteScanOptions {
  client: HubClient;
  engine: Engine;
  /** Repo-relative path, shown in the report. */
  displayPath: string;
  /** Size from the tree listing: every range answer must agree with it. */
  expectedSize: number;
  /** sha256 from the tree's lfs.oid when the file is in LFS; null for git blobs. */
  expectedSha256: string | null;
  /** Files larger than this are not fetched ('too-large'). */
  maxBytes: number;
  /** LFS files up to this size are read whole and their sha256 verified (default WHOLE_READ_BYTES). */
  wholeReadBytes?: number;
}

export interface RemoteScan {
  report: FileReport;
  sha256: string;
  bytesFetched: number;
  /** 'whole': one read of the entire file, scanned from memory; 'range': scanned by range requests. */
  method: 'whole' | 'range';
  /** True when `sha256` was computed from the bytes; false when it is the listing's claim. */
  verified: boolean;
}

export const WHOLE_READ_BYTES = 1024 * 1024;
const IN_MEMORY_BYTES = 64 * 1024 * 1024;
const HASH_CHUNK = 4 * 1024 * 1024;

/** Formats read from the first byte to the last (see src/remote/scan.ts): the report says so. */
/** Faults that retrying soon may cure; the rest mean the upstream's answers cannot be trusted for this file. */
const TRANSIENT_FAULTS: ReadonlySet<HttpFault> = new Set(['unreachable', 'timeout', 'cut', 'short-body', 'redirect-loop']);

function crawlErrorOf(e: unknown, path: string): CrawlError {
  if (e instanceof CrawlError) return e;
  if (!(e instanceof SourceError)) return new CrawlError('transient', `${path}: remote read failed: ${e instanceof Error ? e.message : String(e)}`, null, { cause: e });
  const fault = faultOf(e);
  const status = typeof e.details['status'] === 'number' ? e.details['status'] : null;
  // A download's status means what it would mean for an API call.
  if (fault === 'status' && status !== null) return new CrawlError(crawlKindOf(statusKind(status)), `${path}: ${e.message}`, status, { cause: e });
  if (fault !== null && TRANSIENT_FAULTS.has(fault)) return new CrawlError('transient', `${path}: ${e.message}`, null, { cause: e });
  return new CrawlError('protocol', `${path}: ${e.message}`, null, { cause: e });
}

async function hashSource(src: HttpRangeSource): Promise<string> {
  const h = createHash('sha256');
  for (let at = 0; at < src.size; at += HASH_CHUNK) h.update(await src.read(at, Math.min(HASH_CHUNK, src.size - at)));
  return h.digest('hex');
}

/** Scans the file at `url` (a resolve URL on the upstream); never loads it. */
export async function scanRemoteFile(url: string, opts: RemoteScanOptions): Promise<RemoteScan> {
  const path = opts.displayPath;
  if (opts.expectedSize > opts.maxBytes) throw new CrawlError('too-large', `${path}: ${opts.expectedSize} bytes is over --max-file-bytes (${opts.maxBytes})`);
  const whole = opts.expectedSha256 === null ? opts.expectedSize <= IN_MEMORY_BYTES : opts.expectedSize <= (opts.wholeReadBytes ?? WHOLE_READ_BYTES);
  const src = await HttpRangeSource.open(url, {
    ...opts.client.rangeAccess(),
    name: path,
    expectedSize: opts.expectedSize,
    // More than a CLI scan's 2: a 429 storm must not fail a file the fleet pause will let through.
    retries: 4,
  }).catch((e: unknown) => {
    throw crawlErrorOf(e, path);
  });
  try {
    let report: FileReport;
    let sha256: string;
    let verified = true;
    try {
      if (whole) {
        const bytes = await src.read(0, opts.expectedSize);
        if (bytes.length !== opts.expectedSize) throw new CrawlError('protocol', `${path}: upstream sent ${bytes.length} of the listed ${opts.expectedSize} bytes`);
        sha256 = createHash('sha256').update(bytes).digest('hex');
        if (opts.expectedSha256 !== null && sha256 !== opts.expectedSha256) {
          throw new CrawlError('protocol', `${path}: content sha256 ${sha256} differs from the listed ${opts.expectedSha256}`);
        }
        report = await opts.engine.scanSource(new BufferSource(path, bytes), path);
      } else {
        report = await opts.engine.scanSource(src, path);
        // The engine turns read failures into SCAN_UNREADABLE findings; a scan that lost bytes to the transport is not a result.
        const failed = src.error();
        if (failed !== null) throw crawlErrorOf(failed, path);
        verified = opts.expectedSha256 === null;
        sha256 = opts.expectedSha256 ?? (await hashSource(src));
      }
    } catch (e) {
      throw crawlErrorOf(e, path);
    }
    let fallback: RemoteFallback | null = src.fallback();
    if (fallback === null && !whole && report.formats.some((f) => STREAM_FORMATS.has(f))) fallback = 'sequential';
    report.sha256 = sha256;
    report.remote = { url: displayUrl(src.url), bytesFetched: src.bytesRead(), requests: src.requests(), ...(fallback ? { fallback } : {}) };
    return { report, sha256, bytesFetched: src.bytesRead(), method: whole ? 'whole' : 'range', verified };
  } finally {
    opts.client.countBytes(src.bytesRead());
    await src.close();
  }
}
