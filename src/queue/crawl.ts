/**
 * `modelgate crawl`: enumerates repositories on the upstream (or from a file), puts one job per
 * repository on the BullMQ queue, and optionally waits for the workers to finish, drawing
 * progress from BullMQ's counts and the workers' shared stats hash.
 *
 * Completed jobs are removed at once: a job id deduplicates only while the job is pending, and a
 * later crawl of the same repositories re-adds them; the workers then find each commit already
 * complete in the store and fetch nothing but its revision info.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { HubClient } from '../remote/hub.js';
import { openStore } from '../store/open.js';
import type { SqlStore } from '../store/sql.js';
import { RedisLimiter } from './limiter.js';
import { keys, openRedis, redisOptions, type StatName } from './redis.js';
import { CrawlResults } from './results.js';
import { CrawlError, crawlKindOf, endpointOrThrow, jobIdOf, orThrow, parseRepoSpec, S3_REVISION, validS3Repo, type RepoJobData, type RepoType } from './types.js';

export interface CrawlSources {
  authors: string[];
  searches: string[];
  all: boolean;
  fromFile?: string | undefined;
  datasets: boolean;
  /** S3 prefixes: each immediate "subdirectory", and each object directly under it, is one model. */
  s3?: string[] | undefined;
}

/** Where S3 sources are listed, and what their jobs tell the workers. */
export interface CrawlS3Options {
  /** S3 endpoint ('' or absent: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS). Carried by each job. */
  endpoint?: string | undefined;
  /** Carried by each job when set (else AWS_REGION / AWS_DEFAULT_REGION of the crawl). */
  region?: string | undefined;
  /** For the listing only: workers use their own credentials. */
  profile?: string | undefined;
  env?: NodeJS.ProcessEnv | undefined;
}

export interface CrawlOptions {
  redisUrl: string;
  queue: string;
  endpoint: string;
  token?: string | undefined;
  sources: CrawlSources;
  s3?: CrawlS3Options | undefined;
  /** Tries per job (BullMQ attempts) and the first retry delay (doubling). */
  attempts: number;
  backoffMs: number;
  rate: number;
  burst: number;
  /** Needed to re-enqueue jobs lost with a Redis restart while waiting. */
  store?: string | undefined;
  wait: boolean;
  /** Gives up waiting after this long (0 = never). */
  waitTimeoutMs: number;
  progress?: ((p: CrawlProgress) => void) | undefined;
  log?: (line: string) => void;
}

export interface CrawlProgress {
  /** Repositories this crawl enqueued. */
  total: number;
  elapsedMs: number;
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  /** Repositories completed by the workers since this crawl started (fleet-wide, this queue). */
  done: number;
  filesScanned: number;
  filesSkipped: number;
  bytesFetched: number;
  upstream429: number;
  reposPerSec: number;
  filesPerSec: number;
  /** Redis could not be reached at the last poll. */
  redisDown: boolean;
}

export interface CrawlSummary {
  queue: string;
  run: string;
  enqueued: number;
  added: number;
  alreadyQueued: number;
  invalid: string[];
  waited: boolean;
  elapsedMs: number;
  done: number;
  failed: number;
  requeued: number;
  filesScanned: number;
  filesSkipped: number;
  fileErrors: number;
  bytesFetched: number;
  upstream429: number;
  reposPerSec: number;
  filesPerSec: number;
}

interface Target {
  type: RepoType;
  repo: string;
  revision: string;
  /** `s3` targets: the S3 endpoint ('' = AWS) and region their jobs carry. */
  endpoint?: string;
  region?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function openQueue(name: string, redisUrl: string) {
  return new Queue<RepoJobData>(name, { connection: redisOptions(redisUrl) });
}
type CrawlQueue = ReturnType<typeof openQueue>;

/**
 * The models under each S3 prefix: every immediate "subdirectory" (a model directory, as
 * registries and MLflow lay them out) and every object directly under the prefix (a model
 * that is one file). Loaded only when there are S3 sources.
 */
async function enumerateS3(uris: readonly string[], opts: CrawlS3Options, add: (t: Target) => void, invalid: string[], log: (l: string) => void): Promise<void> {
  const env = opts.env ?? process.env;
  const endpoint = opts.endpoint || env['AWS_ENDPOINT_URL_S3'] || env['AWS_ENDPOINT_URL'] || '';
  const region = opts.region || env['AWS_REGION'] || env['AWS_DEFAULT_REGION'] || undefined;
  const { parseS3Target } = await import('../remote/target.js');
  const { S3Session } = await import('../remote/s3.js');
  const opened = await S3Session.open({ endpoint: endpoint || undefined, region, profile: opts.profile, env });
  if (!opened.ok) throw new CrawlError('invalid', `--s3: ${opened.error.message}`);
  const session = opened.value;
  try {
    for (const uri of uris) {
      const t = parseS3Target(uri);
      if (!t.ok) throw new CrawlError('invalid', `--s3: ${t.message}`);
      const r = await session.children(t.value);
      if (!r.ok) throw new CrawlError(r.error.kind === 'usage' ? 'invalid' : crawlKindOf(r.error.kind), `${uri}: ${r.error.message}`);
      let n = 0;
      for (const key of [...r.value.prefixes, ...r.value.objects.map((o) => o.key)]) {
        const repo = `${t.value.bucket}/${key}`;
        if (!validS3Repo(repo)) {
          invalid.push(`not a usable S3 key: ${JSON.stringify(repo)}`);
          continue;
        }
        add({ type: 's3', repo, revision: S3_REVISION, endpoint, ...(region !== undefined ? { region } : {}) });
        n++;
      }
      log(`${uri}: ${n} models (${r.value.prefixes.length} directories, ${r.value.objects.length} single objects)`);
    }
  } finally {
    session.destroy();
  }
}

async function enumerate(client: HubClient, sources: CrawlSources, s3: CrawlS3Options, log: (l: string) => void): Promise<{ targets: Target[]; invalid: string[] }> {
  const type = sources.datasets ? 'dataset' : 'model';
  const seen = new Map<string, Target>();
  const invalid: string[] = [];
  const add = (t: Target): void => {
    const id = jobIdOf(t.type, t.repo, t.revision);
    if (!seen.has(id)) seen.set(id, t);
  };
  const listing = async (q: { author?: string; search?: string }, what: string): Promise<void> => {
    let n = 0;
    for await (const item of client.listRepos(type, q)) {
      const r = orThrow(item);
      const spec = parseRepoSpec(r.id, type);
      if (!spec.ok) {
        invalid.push(spec.message);
        continue;
      }
      // The commit from the listing makes the job id name exact content.
      add({ type, repo: spec.repo, revision: r.sha ?? 'main' });
      n++;
    }
    log(`${what}: ${n} ${type === 'dataset' ? 'datasets' : 'models'}`);
  };
  for (const a of sources.authors) await listing({ author: a }, `author ${a}`);
  for (const s of sources.searches) await listing({ search: s }, `search ${JSON.stringify(s)}`);
  if (sources.all) await listing({}, 'listing');
  if (sources.fromFile !== undefined) {
    let text: string;
    try {
      text = await readFile(sources.fromFile, 'utf8');
    } catch (e) {
      throw new CrawlError('invalid', `--from-file ${sources.fromFile}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    let n = 0;
    for (const line of text.split(/\r?\n/)) {
      const l = line.trim();
      if (l === '' || l.startsWith('#')) continue;
      const spec = parseRepoSpec(l, type);
      if (!spec.ok) invalid.push(spec.message);
      else {
        add(spec);
        n++;
      }
    }
    log(`${sources.fromFile}: ${n} repositories`);
  }
  if (sources.s3?.length) await enumerateS3(sources.s3, s3, add, invalid, log);
  return { targets: [...seen.values()], invalid };
}

async function readStats(redis: Redis, queue: string): Promise<Record<StatName, number>> {
  const h = await redis.hgetall(keys.stats(queue));
  const n = (k: StatName): number => Number(h[k] ?? 0) || 0;
  return {
    repos_done: n('repos_done'),
    repos_unchanged: n('repos_unchanged'),
    files_scanned: n('files_scanned'),
    files_skipped: n('files_skipped'),
    file_errors: n('file_errors'),
    bytes_fetched: n('bytes_fetched'),
    upstream_429: n('upstream_429'),
    upstream_503: n('upstream_503'),
  };
}

function jobOptions(opts: CrawlOptions, jobId: string): JobsOptions {
  return {
    jobId,
    attempts: opts.attempts,
    backoff: { type: 'exponential', delay: opts.backoffMs },
    removeOnComplete: true,
    // Failed jobs stay a week for inspection; while they do, re-crawls do not re-add them.
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}

/** Adds jobs in batches; returns how many ids were new (the others were already pending). */
async function enqueueAll(queue: CrawlQueue, redis: Redis, targets: Target[], opts: CrawlOptions, run: string): Promise<number> {
  let added = 0;
  for (let i = 0; i < targets.length; i += 500) {
    const batch = targets.slice(i, i + 500);
    const ids = batch.map((t) => jobIdOf(t.type, t.repo, t.revision));
    const pipe = redis.pipeline();
    for (const id of ids) pipe.exists(queue.toKey(id));
    const exists = ((await pipe.exec()) ?? []).map(([, v]) => v === 1);
    added += exists.filter((e) => !e).length;
    await queue.addBulk(
      batch.map((t, j) => ({
        name: 'repo',
        data: { v: 1, type: t.type, repo: t.repo, revision: t.revision, endpoint: t.endpoint ?? opts.endpoint, ...(t.region !== undefined ? { region: t.region } : {}), run } satisfies RepoJobData,
        opts: jobOptions(opts, ids[j]!),
      })),
    );
  }
  return added;
}

async function counts(queue: CrawlQueue): Promise<{ pending: number; waiting: number; active: number; delayed: number; failed: number }> {
  const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed');
  const g = (k: string): number => c[k] ?? 0;
  return {
    pending: g('waiting') + g('active') + g('delayed') + g('prioritized') + g('waiting-children'),
    waiting: g('waiting') + g('prioritized'),
    active: g('active'),
    delayed: g('delayed'),
    failed: g('failed'),
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  return Promise.race([p, sleep(ms).then(() => 'timeout' as const)]);
}

export async function runCrawl(opts: CrawlOptions): Promise<CrawlSummary> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const endpoint = endpointOrThrow(opts.endpoint);
  const run = `${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${randomBytes(4).toString('hex')}`;
  const redis = openRedis(opts.redisUrl, `modelgate-crawl-${process.pid}`);
  const queue = openQueue(opts.queue, opts.redisUrl);
  queue.on('error', () => {});
  const client = new HubClient({ endpoint, token: opts.token, limiter: new RedisLimiter(redis, endpoint.host, { rate: opts.rate, burst: opts.burst }), loopbackAlias: true });
  let store: SqlStore | null = null;
  try {
    // Fail fast with a clear message when Redis is not there at all (later outages are waited out).
    const ping = await withTimeout(redis.ping(), 5000);
    if (ping === 'timeout') throw new CrawlError('transient', `Redis at ${opts.redisUrl.replace(/:[^:@/]*@/, ':***@')} is not answering`);
    if (opts.store !== undefined) {
      store = openStore(opts.store);
      await store.migrate();
    }
    const { targets, invalid } = await enumerate(client, opts.sources, opts.s3 ?? {}, log);
    for (const m of invalid) log(`skipped: ${m}`);
    const before = await readStats(redis, opts.queue);
    const failedBefore = (await counts(queue)).failed;
    const added = await enqueueAll(queue, redis, targets, opts, run);
    log(`queue ${opts.queue}: ${targets.length} repositories, ${added} new jobs, ${targets.length - added} already pending`);
    const summary: CrawlSummary = {
      queue: opts.queue,
      run,
      enqueued: targets.length,
      added,
      alreadyQueued: targets.length - added,
      invalid,
      waited: opts.wait,
      elapsedMs: 0,
      done: 0,
      failed: 0,
      requeued: 0,
      filesScanned: 0,
      filesSkipped: 0,
      fileErrors: 0,
      bytesFetched: 0,
      upstream429: 0,
      reposPerSec: 0,
      filesPerSec: 0,
    };
    if (!opts.wait) return summary;

    const started = Date.now();
    let base = before;
    let last = before;
    let carried = { repos_done: 0, files_scanned: 0, files_skipped: 0, file_errors: 0, bytes_fetched: 0, upstream_429: 0 };
    let rounds = 0;
    for (;;) {
      await sleep(500);
      const elapsedMs = Date.now() - started;
      if (opts.waitTimeoutMs > 0 && elapsedMs > opts.waitTimeoutMs) throw new CrawlError('transient', `the queue did not drain within ${Math.round(opts.waitTimeoutMs / 1000)} s`);
      const r = await withTimeout(Promise.all([counts(queue), readStats(redis, opts.queue)]), 2000).catch(() => 'timeout' as const);
      if (r === 'timeout') {
        opts.progress?.({ ...progressOf(targets.length, last, base, carried, elapsedMs), waiting: 0, active: 0, delayed: 0, failed: 0, redisDown: true });
        continue;
      }
      const [c, stats] = r;
      // A Redis restart without persistence zeroes the stats: keep what was counted before it.
      if (stats.repos_done < last.repos_done || stats.files_scanned < last.files_scanned) {
        carried = sumStats(carried, diffStats(last, base));
        base = { ...stats, repos_done: 0, files_scanned: 0, files_skipped: 0, file_errors: 0, bytes_fetched: 0, upstream_429: 0, upstream_503: 0, repos_unchanged: 0 };
      }
      last = stats;
      opts.progress?.({ ...progressOf(targets.length, stats, base, carried, elapsedMs), waiting: c.waiting, active: c.active, delayed: c.delayed, failed: Math.max(0, c.failed - failedBefore), redisDown: false });
      if (c.pending > 0) continue;
      // Drained. Jobs can also vanish (Redis restarted without persistence): re-add those the
      // store has not seen finish in this run, and wait again.
      if (store !== null && rounds < 5) {
        const lost = await lostTargets(new CrawlResults(store), queue, redis, targets, run);
        if (lost.length > 0) {
          rounds++;
          log(`${lost.length} job(s) vanished from the queue before finishing (Redis restarted?): enqueueing them again`);
          summary.requeued += await enqueueAll(queue, redis, lost, opts, run);
          continue;
        }
      }
      const d = sumStats(carried, diffStats(stats, base));
      summary.elapsedMs = Date.now() - started;
      summary.done = d.repos_done;
      summary.failed = Math.max(0, c.failed - failedBefore);
      summary.filesScanned = d.files_scanned;
      summary.filesSkipped = d.files_skipped;
      summary.fileErrors = d.file_errors;
      summary.bytesFetched = d.bytes_fetched;
      summary.upstream429 = d.upstream_429;
      summary.reposPerSec = d.repos_done / Math.max(0.001, summary.elapsedMs / 1000);
      summary.filesPerSec = (d.files_scanned + d.files_skipped) / Math.max(0.001, summary.elapsedMs / 1000);
      return summary;
    }
  } finally {
    await client.close();
    await withTimeout(queue.close(), 3000).catch(() => {});
    redis.disconnect();
    await store?.close();
  }
}

type Counted = { repos_done: number; files_scanned: number; files_skipped: number; file_errors: number; bytes_fetched: number; upstream_429: number };

function diffStats(a: Record<StatName, number>, b: Record<StatName, number>): Counted {
  return {
    repos_done: a.repos_done - b.repos_done,
    files_scanned: a.files_scanned - b.files_scanned,
    files_skipped: a.files_skipped - b.files_skipped,
    file_errors: a.file_errors - b.file_errors,
    bytes_fetched: a.bytes_fetched - b.bytes_fetched,
    upstream_429: a.upstream_429 - b.upstream_429,
  };
}

function sumStats(a: Counted, b: Counted): Counted {
  return {
    repos_done: a.repos_done + b.repos_done,
    files_scanned: a.files_scanned + b.files_scanned,
    files_skipped: a.files_skipped + b.files_skipped,
    file_errors: a.file_errors + b.file_errors,
    bytes_fetched: a.bytes_fetched + b.bytes_fetched,
    upstream_429: a.upstream_429 + b.upstream_429,
  };
}

function progressOf(total: number, stats: Record<StatName, number>, base: Record<StatName, number>, carried: Counted, elapsedMs: number): Omit<CrawlProgress, 'waiting' | 'active' | 'delayed' | 'failed' | 'redisDown'> {
  const d = sumStats(carried, diffStats(stats, base));
  const s = Math.max(0.001, elapsedMs / 1000);
  return {
    total,
    elapsedMs,
    done: d.repos_done,
    filesScanned: d.files_scanned,
    filesSkipped: d.files_skipped,
    bytesFetched: d.bytes_fetched,
    upstream429: d.upstream_429,
    reposPerSec: d.repos_done / s,
    filesPerSec: (d.files_scanned + d.files_skipped) / s,
  };
}

/** Targets with no job in Redis and no repositories row stamped with this run. */
async function lostTargets(results: CrawlResults, queue: CrawlQueue, redis: Redis, targets: Target[], run: string): Promise<Target[]> {
  const seen = new Set((await results.reposSeenBy(run)).map((r) => `${r.type}/${r.repo}`));
  const candidates = targets.filter((t) => !seen.has(`${t.type}/${t.repo}`));
  if (candidates.length === 0) return [];
  const out: Target[] = [];
  for (let i = 0; i < candidates.length; i += 500) {
    const batch = candidates.slice(i, i + 500);
    const pipe = redis.pipeline();
    for (const t of batch) pipe.exists(queue.toKey(jobIdOf(t.type, t.repo, t.revision)));
    const res = (await pipe.exec()) ?? [];
    batch.forEach((t, j) => {
      if (res[j]?.[1] !== 1) out.push(t);
    });
  }
  return out;
}
