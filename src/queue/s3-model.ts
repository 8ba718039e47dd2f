/**
 * A worker's job for one model in an S3 bucket (`type: 's3'`, `repo: bucket/key`): every object
 * under the model's prefix (or the one object) scanned by range requests through S3RangeSource,
 * into the same tables as a hub repository. Loaded only for such jobs (the AWS SDK is large).
 *
 * A bucket has no commits, so the "commit" is a fingerprint of the listing (sha256 over each
 * object's key, size and ETag, first 40 hex digits): the same objects give the same commit, and
 * a later crawl of an unchanged model finds it complete and scans nothing.
 *
 * Which content key each scan is stored under (scans are keyed by sha256):
 *  - objects up to WHOLE_READ_BYTES are read whole, hashed, and scanned from memory: a real
 *    sha256 under the plain engine key, shared with the gateway like any verified scan;
 *  - larger objects are scanned by ranges and never hashed whole. Their key is the sha256 of
 *    the object's identity (endpoint, bucket, key, size, ETag, last-modified), under the
 *    unverified engine key, which the gateway never reads. It is not the content's sha256 and
 *    is never shared across objects: an ETag is an MD5 for most objects, and MD5 collisions are
 *    cheap enough that an ETag must not stand for content. A rewritten object (new ETag or
 *    last-modified) is scanned again.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Limiter } from '../remote/limiter.js';
import type { S3Object, S3Session } from '../remote/s3.js';
import type { S3Target } from '../remote/target.js';
import type { Engine } from '../scan/engine.js';
import type { FileReport } from '../scan/report.js';
import { BufferSource } from '../source/buffer.js';
import { S3RangeSource } from '../source/s3.js';
import { SourceError } from '../source/types.js';
import { STREAM_FORMATS } from '../remote/scan.js';
import type { SqlStore } from '../store/sql.js';
import type { WorkerMetrics } from './metrics.js';
import { WHOLE_READ_BYTES } from './remote-scan.js';
import type { CrawlResults } from './results.js';
import { CrawlError, crawlKindOf, isRetryable, type RepoJobData, type RepoJobResult } from './types.js';
import { unverifiedEngineKey, type ContentLocks } from './worker.js';
import { mapLimit } from './map-limit.js';

export interface S3ModelContext {
  store: SqlStore;
  results: CrawlResults;
  engine: Engine;
  engineKey: string;
  session: S3Session;
  /** The endpoint the session talks to ('' for AWS): part of each large object's identity. */
  endpoint: string;
  limiter: Limiter | null;
  locks: ContentLocks | null;
  fileConcurrency: number;
  maxFileBytes: number;
  maxFilesPerRepo: number;
  metrics: WorkerMetrics;
  timeoutMs?: number;
}

type Outcome = { kind: 'scanned'; bytes: number } | { kind: 'skipped' } | { kind: 'error' };

/** Faults a retry of the job may cure; the rest are this object's own problem. */
const TRANSIENT = new Set(['unreachable', 'timeout', 'cut', 'short-body', 'changed']);

function crawlErrorOf(e: unknown, path: string): CrawlError {
  if (e instanceof CrawlError) return e;
  if (!(e instanceof SourceError)) return new CrawlError('transient', `${path}: ${e instanceof Error ? e.message : String(e)}`, null, { cause: e });
  const fault = String(e.details['fault'] ?? '');
  const status = typeof e.details['status'] === 'number' ? e.details['status'] : null;
  // The source's messages already start with the object's name.
  const message = e.message.startsWith(path) ? e.message : `${path}: ${e.message}`;
  if (TRANSIENT.has(fault) || (fault === 'status' && status !== null && status >= 500)) return new CrawlError('transient', message, status, { cause: e });
  // Access denied or gone: retrying the job will not change it.
  if (fault === 'auth' || (fault === 'status' && status === 404)) return new CrawlError('not-found', message, status, { cause: e });
  return new CrawlError('protocol', message, status, { cause: e });
}

/** The listing's fingerprint: what stands for a commit. */
export function listingCommit(objects: readonly S3Object[]): string {
  const h = createHash('sha256');
  for (const o of [...objects].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) h.update(`${o.key}\t${o.size}\t${o.etag ?? ''}\n`);
  return h.digest('hex').slice(0, 40);
}

/** The content key of a large object scanned by ranges (see the file comment). */
export function objectVersionKey(endpoint: string, bucket: string, o: S3Object): string {
  return createHash('sha256').update(['modelgate-s3-object', endpoint, bucket, o.key, String(o.size), o.etag ?? '', o.lastModified ?? ''].join('\n')).digest('hex');
}

/** `bucket/key` as the target it names. */
export function s3TargetOf(repo: string): S3Target {
  const slash = repo.indexOf('/');
  const bucket = repo.slice(0, slash);
  const key = repo.slice(slash + 1);
  return { kind: 's3', bucket, key, spec: `s3://${repo}` };
}

async function scanObject(ctx: S3ModelContext, t: S3Target, o: S3Object): Promise<{ report: FileReport; sha256: string; verified: boolean; bytes: number }> {
  const name = `s3://${t.bucket}/${o.key}`;
  const src = new S3RangeSource({
    client: ctx.session.client,
    bucket: t.bucket,
    key: o.key,
    size: o.size,
    etag: o.etag,
    name,
    // More than a CLI scan's 2: throttling must not fail an object a later try would read.
    retries: 4,
    ...(ctx.limiter ? { beforeRequest: () => ctx.limiter!.take() } : {}),
    ...(ctx.timeoutMs !== undefined ? { timeoutMs: ctx.timeoutMs } : {}),
  });
  try {
    const whole = o.size <= WHOLE_READ_BYTES;
    let report: FileReport;
    let sha256: string;
    if (whole) {
      const bytes = await src.read(0, o.size);
      if (bytes.length !== o.size) throw new CrawlError('protocol', `${name}: read ${bytes.length} of the listed ${o.size} bytes`);
      sha256 = createHash('sha256').update(bytes).digest('hex');
      report = await ctx.engine.scanSource(new BufferSource(name, bytes), name);
      report.sha256 = sha256;
    } else {
      report = await ctx.engine.scanSource(src, name);
      sha256 = objectVersionKey(ctx.endpoint, t.bucket, o);
    }
    // The engine turns read failures into findings; a scan that lost bytes to the transport is not a result.
    const failed = src.error();
    if (failed !== null) throw failed;
    const sequential = !whole && report.formats.some((f) => STREAM_FORMATS.has(f));
    report.remote = { url: name, bytesFetched: src.bytesRead(), requests: src.requests(), ...(sequential ? { fallback: 'sequential' as const } : {}) };
    return { report, sha256, verified: whole, bytes: src.bytesRead() };
  } catch (e) {
    throw crawlErrorOf(e, name);
  } finally {
    ctx.metrics.inc('modelgate_crawl_bytes_fetched_total', src.bytesRead());
    await src.close();
  }
}

async function processObject(ctx: S3ModelContext, t: S3Target, repo: string, commit: string, prefix: string, o: S3Object): Promise<Outcome> {
  // A model that is one object is its own only file, named by its last segment.
  const path = o.key.startsWith(prefix) ? o.key.slice(prefix.length) : o.key.slice(o.key.lastIndexOf('/') + 1);
  const versionKey = objectVersionKey(ctx.endpoint, t.bucket, o);
  const base = { type: 's3' as const, repo, commit, path, size: Math.max(0, o.size), oid: `s3-object:${versionKey}`, lfs: false };
  const record = (scanId: string | null, sha256: string | null, error: CrawlError | null): Promise<void> =>
    ctx.results.putFile({ ...base, sha256, scanId, errorKind: error?.kind ?? null, error: error?.message ?? null, updatedAt: new Date().toISOString() });
  if (o.size < 0) {
    const e = new CrawlError('not-found', `s3://${t.bucket}/${o.key}: access denied (HeadObject answered 403)`, 403);
    await record(null, null, e);
    return { kind: 'error' };
  }
  if (o.size > ctx.maxFileBytes) {
    await record(null, null, new CrawlError('too-large', `${path}: ${o.size} bytes is over --max-file-bytes (${ctx.maxFileBytes})`));
    return { kind: 'error' };
  }
  // The same version of a large object scanned before (by an earlier crawl, or another model sharing it).
  const known = o.size > WHOLE_READ_BYTES ? await ctx.store.getScan(versionKey, unverifiedEngineKey(ctx.engineKey)) : null;
  if (known) {
    await record(known.id, null, null);
    return { kind: 'skipped' };
  }
  const release = ctx.locks && o.size > WHOLE_READ_BYTES ? await ctx.locks.acquire(versionKey) : null;
  try {
    const scan = await scanObject(ctx, t, o);
    const key = scan.verified ? ctx.engineKey : unverifiedEngineKey(ctx.engineKey);
    const existing = await ctx.store.getScan(scan.sha256, key);
    if (scan.verified && existing) {
      await record(existing.id, scan.sha256, null);
      return { kind: 'skipped' };
    }
    await ctx.store.putScan({
      id: randomBytes(8).toString('hex'),
      sha256: scan.sha256,
      engineKey: key,
      report: scan.report,
      maxSeverity: scan.report.maxSeverity,
      complete: scan.report.complete,
      createdAt: new Date().toISOString(),
    });
    const stored = await ctx.store.getScan(scan.sha256, key);
    if (!stored) throw new CrawlError('store', `${path}: scan vanished after it was stored`);
    await record(stored.id, scan.verified ? scan.sha256 : null, null);
    return { kind: 'scanned', bytes: scan.bytes };
  } catch (e) {
    if (e instanceof CrawlError && (!isRetryable(e) || e.kind === 'protocol')) {
      await record(null, null, e);
      return { kind: 'error' };
    }
    throw e;
  } finally {
    await release?.();
  }
}

/** Crawls one S3 model into the store. Throws CrawlError/StoreError. */
export async function processS3Model(ctx: S3ModelContext, data: Pick<RepoJobData, 'repo' | 'revision' | 'run'>): Promise<RepoJobResult> {
  const started = Date.now();
  const repo = data.repo;
  const t = s3TargetOf(repo);
  const listed = await ctx.session.list(t, ctx.maxFilesPerRepo);
  if (!listed.ok) throw new CrawlError(listed.error.kind === 'usage' ? 'invalid' : crawlKindOf(listed.error.kind), `${t.spec}: ${listed.error.message}`);
  const objects = listed.value;
  if (objects.length === 0) throw new CrawlError('not-found', `${t.spec}: no object under this prefix`);
  const commit = listingCommit(objects);
  const result: RepoJobResult = { type: 's3', repo, commit, status: 'done', unchanged: false, files: objects.length, scanned: 0, skipped: 0, fileErrors: 0, bytesFetched: 0, ms: 0 };
  const existing = await ctx.results.getRepository('s3', repo, commit);
  if (existing && existing.status === 'done' && existing.engineKey === ctx.engineKey) {
    await ctx.results.touchRepository('s3', repo, commit, new Date().toISOString(), data.run);
    return { ...result, unchanged: true, files: existing.files, ms: Date.now() - started };
  }
  // Paths in repo_files are relative to the model's "directory", as a hub repo's are to its root.
  const prefix = t.key.endsWith('/') ? t.key : `${t.key}/`;
  await mapLimit(objects, ctx.fileConcurrency, async (o) => {
    const out = await processObject(ctx, t, repo, commit, prefix, o);
    if (out.kind === 'scanned') {
      result.scanned++;
      result.bytesFetched += out.bytes;
      ctx.metrics.inc('modelgate_crawl_files_scanned_total');
    } else if (out.kind === 'skipped') {
      result.skipped++;
      ctx.metrics.inc('modelgate_crawl_files_skipped_total');
    } else {
      result.fileErrors++;
      ctx.metrics.inc('modelgate_crawl_file_errors_total');
    }
  });
  result.status = result.fileErrors > 0 ? 'partial' : 'done';
  const now = new Date().toISOString();
  await ctx.results.putRepository({
    type: 's3',
    repo,
    commit,
    revision: data.revision,
    status: result.status,
    engineKey: ctx.engineKey,
    files: objects.length,
    fileErrors: result.fileErrors,
    securityStatus: null,
    license: null,
    needsRemoteCode: false,
    error: result.fileErrors > 0 ? `${result.fileErrors} file(s) could not be scanned; see repo_files` : null,
    crawledAt: now,
    checkedAt: now,
    lastRun: data.run,
  });
  result.ms = Date.now() - started;
  return result;
}

/** One S3 session (client and limiter) per endpoint and region named by the jobs; credentials are this worker's own. */
export class S3Sessions {
  private readonly sessions = new Map<string, Promise<S3Session>>();

  constructor(private readonly opts: { limiterFor: (host: string) => Limiter; timeoutMs?: number | undefined; env?: NodeJS.ProcessEnv }) {}

  get(data: Pick<RepoJobData, 'endpoint' | 'region'>): Promise<{ session: S3Session; limiter: Limiter }> {
    const id = `${data.endpoint}\n${data.region ?? ''}`;
    const host = data.endpoint === '' ? 's3.amazonaws.com' : safeHost(data.endpoint);
    const limiter = this.opts.limiterFor(host);
    let s = this.sessions.get(id);
    if (!s) {
      s = (async () => {
        const { S3Session } = await import('../remote/s3.js');
        const r = await S3Session.open({
          ...(data.endpoint !== '' ? { endpoint: data.endpoint } : {}),
          ...(data.region !== undefined ? { region: data.region } : {}),
          timeoutMs: this.opts.timeoutMs,
          env: this.opts.env,
          beforeRequest: () => limiter.take(),
        });
        if (!r.ok) throw new CrawlError('invalid', `S3 endpoint ${data.endpoint || 'AWS'}: ${r.error.message}`);
        return r.value;
      })();
      // A failed open is not kept: the next job tries again.
      s.catch(() => this.sessions.delete(id));
      this.sessions.set(id, s);
    }
    return s.then((session) => ({ session, limiter }));
  }

  async close(): Promise<void> {
    for (const s of this.sessions.values()) (await s.catch(() => null))?.destroy();
    this.sessions.clear();
  }
}

function safeHost(endpoint: string): string {
  try {
    return new URL(endpoint).host;
  } catch {
    return endpoint;
  }
}
