/**
 * `modelgate worker`: takes repository jobs from BullMQ and turns each into rows in the store.
 *
 * Why it survives anything being killed: every effect is an upsert on a natural key (scans by
 * (sha256, engine key), repo_files by (repo, commit, path), repositories by (repo, commit)), so a
 * job that BullMQ hands to another worker after a stalled lock, or retries after a failure,
 * redoes only what is missing and leaves the same rows. A per-content lock in Redis keeps two
 * workers from scanning the same bytes at once (shared tokenizers, copied weights); it expires on
 * its own when its holder dies.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Limits } from '../core/limits.js';
import { HubClient, type TreeEntry } from '../remote/hub.js';
import type { Limiter } from '../remote/limiter.js';
import { REMOTE_CRC_VERIFY_BYTES } from '../remote/scan.js';
import { Engine } from '../scan/engine.js';
import { isStoreError } from '../store/errors.js';
import { openStore } from '../store/open.js';
import type { SqlStore } from '../store/sql.js';
import { engineKeyOf } from '../scan/engine-key.js';
import { RedisLimiter } from './limiter.js';
import { WorkerMetrics } from './metrics.js';
import { keys, openRedis, redisOptions, type StatName } from './redis.js';
import { scanRemoteFile } from './remote-scan.js';
import { CrawlResults } from './results.js';
import { CrawlError, endpointOrThrow, isRetryable, orThrow, validRepoId, validRevision, validS3Repo, type HubRepoType, type RepoJobData, type RepoJobResult } from './types.js';
import type { S3Sessions } from './s3-model.js';
import { mapLimit } from './map-limit.js';

export interface CrawlWorkerOptions {
  redisUrl: string;
  queue: string;
  /** postgres://… or a SQLite path (see store/open.ts). */
  store: string;
  /** Overrides the endpoint carried by each job. */
  endpoint?: string | undefined;
  token?: string | undefined;
  /** Jobs (repositories) processed at once by this process. */
  concurrency: number;
  /** Files of one repository fetched and scanned at once. */
  fileConcurrency: number;
  /** Upstream requests per second over all workers (0 = unlimited) and burst. */
  rate: number;
  burst: number;
  /** BullMQ job lock; a killed worker's job is handed to another after about this long. */
  lockMs: number;
  /** How often this worker looks for stalled jobs (of any worker). */
  stalledIntervalMs: number;
  maxFileBytes: number;
  maxFilesPerRepo: number;
  redirectHosts: string[];
  timeoutMs: number;
  metricsPort?: number | undefined;
  metricsHost?: string | undefined;
  limits?: Partial<Limits>;
  log?: (line: string) => void;
}

export interface RunningWorker {
  readonly metrics: WorkerMetrics;
  readonly engineKey: string;
  readonly metricsPort: number | null;
  /** Stops taking jobs; with force, abandons active ones (their locks expire and another worker takes them). */
  close(force?: boolean): Promise<void>;
}

/** What processing one repository needs; also used directly by tests and the benchmark. */
export interface RepoContext {
  store: SqlStore;
  results: CrawlResults;
  engine: Engine;
  engineKey: string;
  client: HubClient;
  locks: ContentLocks | null;
  fileConcurrency: number;
  maxFileBytes: number;
  maxFilesPerRepo: number;
  metrics: WorkerMetrics;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The engine workers scan with: a remote scan's CRC limit (Limits.crcVerifyBytes), since a zip
 * member's CRC checked to its end would fetch every tensor by range. Limits are not part of the
 * engine key, so scans stay shared with the gateway's.
 */
export function crawlEngine(limits?: Partial<Limits>): Engine {
  return new Engine({ limits: { crcVerifyBytes: REMOTE_CRC_VERIFY_BYTES, ...limits } });
}

/** Redis locks per content key, renewed while held, released only by their holder. */
export class ContentLocks {
  private readonly token = randomBytes(8).toString('hex');

  constructor(
    private readonly redis: Redis,
    private readonly engineKey: string,
    private readonly ttlMs: number,
  ) {}

  /** Returns a release function, or null when another worker holds the lock. */
  async acquire(content: string): Promise<(() => Promise<void>) | null> {
    const key = keys.scanLock(this.engineKey, content);
    const got = await this.redis.set(key, this.token, 'PX', this.ttlMs, 'NX');
    if (got !== 'OK') return null;
    const renew = setInterval(() => {
      void this.redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`, 1, key, this.token, String(this.ttlMs)).catch(() => {});
    }, Math.max(250, Math.floor(this.ttlMs / 3)));
    renew.unref();
    return async () => {
      clearInterval(renew);
      await this.redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, 1, key, this.token).catch(() => {});
    };
  }

  async held(content: string): Promise<boolean> {
    return (await this.redis.exists(keys.scanLock(this.engineKey, content))) === 1;
  }
}

type FileOutcome = { kind: 'scanned'; bytes: number } | { kind: 'skipped' } | { kind: 'error' };

/**
 * Scans of bytes whose sha256 was not computed (range scans of large LFS files take the listing's
 * word for it) are stored under a separate engine key. The gateway, which scans the bytes it
 * verified and serves, looks up only the plain key, so an upstream that answers the crawler's
 * ranges with other bytes than its listing claims cannot plant a verdict for the real file.
 */
export function unverifiedEngineKey(engineKey: string): string {
  return `${engineKey}~unverified`;
}

/** An existing scan covering this entry's bytes: by sha256 for LFS files, by git oid otherwise. */
async function knownScan(ctx: RepoContext, f: TreeEntry): Promise<{ scanId: string; sha256: string } | null> {
  if (f.lfs) {
    const s = (await ctx.store.getScan(f.lfs.oid, ctx.engineKey)) ?? (await ctx.store.getScan(f.lfs.oid, unverifiedEngineKey(ctx.engineKey)));
    return s ? { scanId: s.id, sha256: s.sha256 } : null;
  }
  return ctx.results.scanByOid(f.oid, ctx.engineKey);
}

async function processFile(ctx: RepoContext, type: HubRepoType, repo: string, commit: string, f: TreeEntry): Promise<FileOutcome> {
  const base = { type, repo, commit, path: f.path, size: f.size, oid: f.oid, lfs: f.lfs !== undefined };
  const record = (scanId: string | null, sha256: string | null, error: CrawlError | null): Promise<void> =>
    ctx.results.putFile({ ...base, sha256, scanId, errorKind: error?.kind ?? null, error: error?.message ?? null, updatedAt: new Date().toISOString() });

  let hit = await knownScan(ctx, f);
  if (hit) {
    await record(hit.scanId, hit.sha256, null);
    return { kind: 'skipped' };
  }
  const content = f.lfs ? f.lfs.oid : `oid-${f.oid}`;
  let release: (() => Promise<void>) | null = null;
  if (ctx.locks) {
    // Another worker scanning the same bytes: wait for its result rather than fetch them twice.
    const deadline = Date.now() + 30 * 60_000;
    for (;;) {
      release = await ctx.locks.acquire(content);
      hit = await knownScan(ctx, f);
      if (hit) {
        await release?.();
        await record(hit.scanId, hit.sha256, null);
        return { kind: 'skipped' };
      }
      if (release) break;
      if (Date.now() > deadline) throw new CrawlError('transient', `${f.path}: waited too long for another worker's scan of the same content`);
      while ((await ctx.locks.held(content)) && Date.now() < deadline) {
        await sleep(200);
        hit = await knownScan(ctx, f);
        if (hit) {
          await record(hit.scanId, hit.sha256, null);
          return { kind: 'skipped' };
        }
      }
    }
  }
  try {
    const url = ctx.client.resolveUrl(type, repo, commit, f.path).toString();
    const scan = await scanRemoteFile(url, {
      client: ctx.client,
      engine: ctx.engine,
      displayPath: f.path,
      expectedSize: f.lfs?.size ?? f.size,
      expectedSha256: f.lfs?.oid ?? null,
      maxBytes: ctx.maxFileBytes,
    });
    const report = scan.report;
    const key = scan.verified ? ctx.engineKey : unverifiedEngineKey(ctx.engineKey);
    await ctx.store.putScan({
      id: randomBytes(8).toString('hex'),
      sha256: scan.sha256,
      engineKey: key,
      report,
      maxSeverity: report.maxSeverity,
      complete: report.complete,
      createdAt: new Date().toISOString(),
    });
    // The first scan stored for these bytes wins (the gateway may have scanned them already).
    const stored = await ctx.store.getScan(scan.sha256, key);
    if (!stored) throw new CrawlError('store', `${f.path}: scan vanished after it was stored`);
    await record(stored.id, scan.sha256, null);
    return { kind: 'scanned', bytes: scan.bytesFetched };
  } catch (e) {
    if (e instanceof CrawlError && !isRetryable(e)) {
      await record(null, f.lfs?.oid ?? null, e);
      return { kind: 'error' };
    }
    if (e instanceof CrawlError && e.kind === 'protocol') {
      // A wrong size or hash for one file is that file's problem, not the repository's.
      await record(null, f.lfs?.oid ?? null, e);
      return { kind: 'error' };
    }
    throw e;
  } finally {
    await release?.();
  }
}

/** Crawls one repository at one revision into the store. Throws CrawlError/StoreError. */
export async function processRepo(ctx: RepoContext, data: Pick<RepoJobData, 'repo' | 'revision' | 'run'> & { type: HubRepoType }, signal?: AbortSignal): Promise<RepoJobResult> {
  const started = Date.now();
  const { type, repo, revision } = data;
  const info = orThrow(await ctx.client.repoInfo(type, repo, revision, { securityStatus: true, signal }));
  const commit = info.sha;
  const existing = await ctx.results.getRepository(type, repo, commit);
  const result: RepoJobResult = { type, repo, commit, status: 'done', unchanged: false, files: 0, scanned: 0, skipped: 0, fileErrors: 0, bytesFetched: 0, ms: 0 };
  if (existing && existing.status === 'done' && existing.engineKey === ctx.engineKey) {
    await ctx.results.touchRepository(type, repo, commit, new Date().toISOString(), data.run);
    return { ...result, unchanged: true, files: existing.files, ms: Date.now() - started };
  }
  const files = orThrow(await ctx.client.listFiles(type, repo, commit, { maxFiles: ctx.maxFilesPerRepo, signal }));
  result.files = files.length;
  await mapLimit(files, ctx.fileConcurrency, async (f) => {
    const out = await processFile(ctx, type, repo, commit, f);
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
    type,
    repo,
    commit,
    revision,
    status: result.status,
    engineKey: ctx.engineKey,
    files: files.length,
    fileErrors: result.fileErrors,
    securityStatus: info.securityRepoStatus,
    license: info.license,
    needsRemoteCode: info.needsRemoteCode,
    error: result.fileErrors > 0 ? `${result.fileErrors} file(s) could not be scanned; see repo_files` : null,
    crawledAt: now,
    checkedAt: now,
    lastRun: data.run,
  });
  result.ms = Date.now() - started;
  return result;
}

function checkJob(data: unknown): RepoJobData {
  const d = data as Partial<RepoJobData> | null;
  if (!d || d.v !== 1) throw new CrawlError('invalid', `unknown job format (v=${String(d?.v)}); this worker understands v=1`);
  if (d.type !== 'model' && d.type !== 'dataset' && d.type !== 's3') throw new CrawlError('invalid', `unknown repo type ${String(d.type)}`);
  if (typeof d.repo !== 'string' || !(d.type === 's3' ? validS3Repo(d.repo) : validRepoId(d.repo))) throw new CrawlError('invalid', `invalid repo id ${JSON.stringify(d.repo)}`);
  if (typeof d.revision !== 'string' || !validRevision(d.revision)) throw new CrawlError('invalid', `invalid revision ${JSON.stringify(d.revision)}`);
  if (typeof d.endpoint !== 'string') throw new CrawlError('invalid', 'job has no endpoint');
  const region = d.type === 's3' && typeof d.region === 'string' && d.region !== '' ? { region: d.region } : {};
  return { v: 1, type: d.type, repo: d.repo, revision: d.revision, endpoint: d.endpoint, ...region, run: typeof d.run === 'string' ? d.run : '' };
}

export async function startCrawlWorker(opts: CrawlWorkerOptions): Promise<RunningWorker> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const store = openStore(opts.store);
  await store.migrate();
  const results = new CrawlResults(store);
  const engine = crawlEngine(opts.limits);
  const engineKey = engineKeyOf(engine.info);
  const metrics = new WorkerMetrics();
  const redis = openRedis(opts.redisUrl, `modelgate-worker-${process.pid}`);
  const locks = new ContentLocks(redis, engineKey, Math.max(3000, opts.lockMs));
  const statsKey = keys.stats(opts.queue);

  // One client (and limiter) per upstream origin: jobs from different crawls may name different hubs.
  const clients = new Map<string, HubClient>();
  const clientFor = (endpoint: string): HubClient => {
    const ep = opts.endpoint ?? endpoint;
    let c = clients.get(ep);
    if (!c) {
      const root = endpointOrThrow(ep);
      const origin = root.host;
      const limiter: Limiter = new RedisLimiter(redis, origin, { rate: opts.rate, burst: opts.burst });
      c = new HubClient({
        endpoint: root,
        token: opts.token,
        limiter,
        timeoutMs: opts.timeoutMs,
        redirectHosts: opts.redirectHosts,
        loopbackAlias: true,
        events: {
          request: () => metrics.inc('modelgate_crawl_upstream_requests_total'),
          status: (s) => {
            if (s === 429) metrics.inc('modelgate_crawl_upstream_429_total');
            if (s === 503) metrics.inc('modelgate_crawl_upstream_503_total');
            if (s === 429 || s === 503) void redis.hincrby(statsKey, s === 429 ? 'upstream_429' : 'upstream_503', 1).catch(() => {});
          },
          bytes: (n) => metrics.inc('modelgate_crawl_bytes_fetched_total', n),
          pause: (ms, status) => {
            metrics.inc('modelgate_crawl_upstream_pause_seconds_total', ms / 1000);
            log(`upstream answered ${status}: pausing every worker's requests to ${origin} for ${(ms / 1000).toFixed(1)} s`);
          },
        },
      });
      clients.set(ep, c);
    }
    return c;
  };

  const repoContext = (data: RepoJobData): RepoContext => ({
    store,
    results,
    engine,
    engineKey,
    client: clientFor(data.endpoint),
    locks,
    fileConcurrency: opts.fileConcurrency,
    maxFileBytes: opts.maxFileBytes,
    maxFilesPerRepo: opts.maxFilesPerRepo,
    metrics,
  });

  // S3 jobs (`type: 's3'`): the AWS SDK is loaded with the first of them.
  let s3: S3Sessions | null = null;
  const processS3 = async (data: RepoJobData): Promise<RepoJobResult> => {
    const mod = await import('./s3-model.js');
    s3 ??= new mod.S3Sessions({ limiterFor: (host) => new RedisLimiter(redis, host, { rate: opts.rate, burst: opts.burst }), timeoutMs: opts.timeoutMs });
    const { session, limiter } = await s3.get(data);
    return mod.processS3Model(
      { store, results, engine, engineKey, session, endpoint: data.endpoint, limiter, locks, fileConcurrency: opts.fileConcurrency, maxFileBytes: opts.maxFileBytes, maxFilesPerRepo: opts.maxFilesPerRepo, metrics, timeoutMs: opts.timeoutMs },
      data,
    );
  };

  let active = 0;
  metrics.gauge('modelgate_crawl_jobs_active', () => active);

  const processor = async (job: Job<RepoJobData, RepoJobResult>): Promise<RepoJobResult> => {
    let data: RepoJobData;
    try {
      data = checkJob(job.data);
    } catch (e) {
      throw new UnrecoverableError((e as Error).message);
    }
    active++;
    try {
      const r = data.type === 's3' ? await processS3(data) : await processRepo(repoContext(data), { ...data, type: data.type });
      const stats: Partial<Record<StatName, number>> = {
        repos_done: 1,
        repos_unchanged: r.unchanged ? 1 : 0,
        files_scanned: r.scanned,
        files_skipped: r.skipped,
        file_errors: r.fileErrors,
        bytes_fetched: r.bytesFetched,
      };
      const m = redis.multi();
      for (const [k, v] of Object.entries(stats)) if (v) m.hincrby(statsKey, k, v);
      await m.exec().catch(() => {});
      metrics.inc('modelgate_crawl_jobs_done_total');
      if (r.unchanged) log(`unchanged ${job.id} (commit ${r.commit.slice(0, 12)} already scanned under ${engineKey})`);
      else log(`${r.status} ${job.id} commit ${r.commit.slice(0, 12)}: ${r.files} files, ${r.scanned} scanned, ${r.skipped} skipped, ${r.fileErrors} errors, ${r.ms} ms`);
      return r;
    } catch (e) {
      metrics.inc('modelgate_crawl_jobs_failed_total');
      const msg = e instanceof Error ? e.message : String(e);
      const retry = isRetryable(e) || isStoreError(e);
      log(`failed ${job.id} (attempt ${job.attemptsMade + 1}${retry ? ', will retry' : ', not retried'}): ${msg}`);
      if (!retry) throw new UnrecoverableError(msg);
      throw e;
    } finally {
      active--;
    }
  };

  const worker = new Worker<RepoJobData, RepoJobResult>(opts.queue, processor, {
    connection: redisOptions(opts.redisUrl),
    concurrency: opts.concurrency,
    lockDuration: opts.lockMs,
    stalledInterval: opts.stalledIntervalMs,
    // A job whose worker was killed twice in a row is still retried; a third time marks it failed.
    maxStalledCount: 2,
    name: `modelgate-${process.pid}`,
  });
  // Errors here are connection-level (Redis restarting); ioredis reconnects by itself. Say it once
  // per outage rather than on every retry.
  let lastErrorLog = 0;
  worker.on('error', (e) => {
    if (Date.now() - lastErrorLog > 5000) {
      lastErrorLog = Date.now();
      log(`queue connection problem (will keep retrying): ${e.message}`);
    }
  });
  await worker.waitUntilReady();

  let server: Server | null = null;
  let metricsPort: number | null = null;
  if (opts.metricsPort !== undefined) {
    const s = await metrics.listen(opts.metricsPort, opts.metricsHost);
    server = s.server;
    metricsPort = s.port;
  }

  let closing: Promise<void> | null = null;
  const close = async (force = false): Promise<void> => {
    if (closing && !force) return closing;
    closing = (async () => {
      await worker.close(force);
      if (server) await new Promise<void>((r) => server!.close(() => r()));
      for (const c of clients.values()) await c.close();
      await s3?.close();
      redis.disconnect();
      await store.close();
    })();
    return closing;
  };
  return { metrics, engineKey, metricsPort, close };
}
