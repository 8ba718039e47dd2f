/**
 * The crawl on the real services: Redis (BullMQ) and PostgreSQL, workers as separate processes
 * of the compiled CLI, and the local hub as the upstream. Each test has its own queue and its own
 * PostgreSQL schema. Without Redis or PostgreSQL the suite is skipped and says which is missing,
 * unless MODELGATE_TEST_REDIS_REQUIRED=1 / MODELGATE_TEST_PG_REQUIRED=1 (CI) make that a failure.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '../../src/hub/server.js';
import {
  Schemas,
  ensureBuilt,
  makeCrawlHub,
  probeServices,
  requiredButMissing,
  dropQueues,
  runBin,
  startWorker,
  stopAll,
  waitForOutput,
  type Child,
  type HubRepoSpec,
} from './helpers.js';

const services = await probeServices();
const mustFail = requiredButMissing(services);
if (services.missing) console.warn(`[crawl tests] SKIPPING the crawl suite on the real services: ${services.missing}. CI runs it against live servers.`);

const tag = `${process.pid}-${randomBytes(3).toString('hex')}`;

interface Summary {
  enqueued: number;
  added: number;
  done: number;
  failed: number;
  filesScanned: number;
  filesSkipped: number;
  bytesFetched: number;
  upstream429: number;
}

async function crawl(args: string[]): Promise<{ code: number | null; summary: Summary; stderr: string }> {
  const t = Date.now();
  const c = runBin(['crawl', '--rate', '0', '--json', '--no-progress', '--wait', '--wait-timeout', '120', ...args]);
  const code = await c.exited;
  if (process.env['MG_TEST_VERBOSE']) console.log(`crawl ${args.join(' ')}: ${Date.now() - t} ms`);
  const last = c.stdout().trim().split('\n').pop() ?? '';
  let summary: Summary;
  try {
    summary = JSON.parse(last) as Summary;
  } catch {
    throw new Error(`crawl printed no summary (exit ${code}):\n${c.stderr()}\n${c.stdout()}`);
  }
  return { code, summary, stderr: c.stderr() };
}

describe.skipIf(services.missing !== null)(`crawl on Redis + PostgreSQL${services.missing ? ` — SKIPPED: ${services.missing}` : ''}`, () => {
  const redisUrl = services.redis.ok ? services.redis.url : '';
  let schemas: Schemas;
  let hubDir: string;
  let repos: HubRepoSpec[];
  const children: Child[] = [];
  const queues: string[] = [];

  beforeAll(() => {
    ensureBuilt();
    schemas = new Schemas(services.pg.ok ? services.pg.url : '');
    ({ dir: hubDir, repos } = makeCrawlHub({ cleanCopies: 4 }));
  }, 300_000);

  afterAll(async () => {
    await stopAll(children);
    if (redisUrl) await dropQueues(redisUrl, queues);
    await schemas?.close();
    if (hubDir) rmSync(hubDir, { recursive: true, force: true });
  });

  const authors = ['--author', 'acme', '--author', 'evil', '--author', 'mixed', '--author', 'big'];

  it('crawls every repository exactly once across 3 worker processes, with the right findings, and a second crawl scans nothing new', async () => {
    // Page size 2: the repo listing and every tree with more than two files are paginated.
    const hub = await startHub({ dir: hubDir, pageSize: 2, lfsRedirect: true });
    const queue = `mgtest-${tag}-three`;
    queues.push(queue, `${queue}-again`);
    const { storeUrl } = await schemas.fresh('three');
    try {
      const workers = [0, 1, 2].map(() => startWorker({ redis: redisUrl, queue, store: storeUrl, extra: ['--concurrency', '2'] }));
      children.push(...workers);
      await Promise.all(workers.map((w) => waitForOutput(w, 'ready on queue')));

      const first = await crawl([...authors, '--endpoint', hub.url, '--redis', redisUrl, '--queue', queue, '--store', storeUrl]);
      expect(first.code, first.stderr).toBe(0);
      expect(first.summary.enqueued).toBe(repos.length);
      expect(first.summary.done).toBe(repos.length);
      expect(first.summary.failed).toBe(0);

      const q = <T extends Record<string, unknown>>(sql: string, v: unknown[] = []) => schemas.query<T>(sql.replaceAll('$S', `"${new URL(storeUrl).searchParams.get('schema')}"`), v);
      const rows = await q<{ repo: string; status: string; files: number; needs_remote_code: number; security_status: string | null; license: string | null }>(
        'select repo, status, files, needs_remote_code, security_status, license from $S.repositories order by repo',
      );
      expect(rows.map((r) => r.repo).sort()).toEqual(repos.map((r) => r.id).sort());
      for (const r of rows) {
        expect(r.status, r.repo).toBe('done');
        expect(r.files, r.repo).toBe(repos.find((x) => x.id === r.repo)!.files);
      }
      expect(rows.find((r) => r.repo === 'acme/remote-code')!.needs_remote_code).toBe(1);
      expect(rows.find((r) => r.repo === 'acme/tiny-bert')!.needs_remote_code).toBe(0);
      expect(rows.find((r) => r.repo === 'acme/tiny-bert')!.license).toBe('apache-2.0');
      expect(JSON.parse(rows.find((r) => r.repo === 'mixed/verdicts')!.security_status!)).toMatchObject({ scansDone: true, filesWithIssues: [{ path: 'sub/pytorch_model.bin', level: 'unsafe' }] });

      const files = await q<{ repo: string; path: string; scan_id: string | null; error: string | null; sha256: string | null; lfs: number }>('select repo, path, scan_id, error, sha256, lfs from $S.repo_files');
      expect(files).toHaveLength(repos.reduce((n, r) => n + r.files, 0));
      expect(files.filter((f) => f.scan_id === null || f.error !== null)).toEqual([]);

      // Exactly once: one scan per distinct content, and the workers together scanned each once.
      const [scans] = await q<{ n: number; distinct_n: number }>('select count(*)::int as n, count(distinct sha256)::int as distinct_n from $S.scans');
      const [used] = await q<{ n: number }>('select count(distinct scan_id)::int as n from $S.repo_files');
      expect(scans!.n).toBe(scans!.distinct_n);
      expect(scans!.n).toBe(used!.n);
      expect(first.summary.filesScanned).toBe(scans!.n);
      expect(first.summary.filesScanned + first.summary.filesSkipped).toBe(files.length);

      // Findings: every malicious file carries its rule at high or critical; clean repos carry nothing at medium or above.
      const findings = await q<{ repo: string; path: string; max_severity: string | null; report: string }>(
        'select f.repo, f.path, s.max_severity, s.report from $S.repo_files f join $S.scans s on s.id = f.scan_id',
      );
      for (const spec of repos) {
        for (const f of findings.filter((x) => x.repo === spec.id)) {
          const rule = spec.malicious[f.path];
          const rules = (JSON.parse(f.report) as { findings: Array<{ rule: string }> }).findings.map((x) => x.rule);
          if (rule) {
            expect(rules, `${spec.id}/${f.path}`).toContain(rule);
            expect(['critical', 'high'], `${spec.id}/${f.path}`).toContain(f.max_severity);
          } else {
            expect(['critical', 'high', 'medium'], `${spec.id}/${f.path}`).not.toContain(f.max_severity);
          }
        }
      }
      // The 24 MiB file went through the LFS redirect and was scanned by range requests under its lfs.oid.
      expect(files.find((f) => f.repo === 'big/model' && f.path === 'model.safetensors')).toMatchObject({ lfs: 1 });
      const busy = workers.filter((w) => w.stderr().includes('done model/'));
      expect(busy.length).toBeGreaterThanOrEqual(2);

      // Same repositories again, same queue: every commit is already complete; nothing is fetched.
      const second = await crawl([...authors, '--endpoint', hub.url, '--redis', redisUrl, '--queue', queue, '--store', storeUrl]);
      expect(second.code, second.stderr).toBe(0);
      expect(second.summary.done).toBe(repos.length);
      expect(second.summary.filesScanned).toBe(0);
      expect(second.summary.bytesFetched).toBe(0);
      const [after] = await q<{ n: number }>('select count(*)::int as n from $S.scans');
      expect(after!.n).toBe(scans!.n);
      const [repoRows] = await q<{ n: number }>('select count(*)::int as n from $S.repositories');
      expect(repoRows!.n).toBe(repos.length);

      // A fresh queue over the same store: the same, through the store alone (no job dedup to help).
      const again = startWorker({ redis: redisUrl, queue: `${queue}-again`, store: storeUrl });
      children.push(again);
      await waitForOutput(again, 'ready on queue');
      const third = await crawl([...authors, '--endpoint', hub.url, '--redis', redisUrl, '--queue', `${queue}-again`, '--store', storeUrl]);
      expect(third.summary.done).toBe(repos.length);
      expect(third.summary.filesScanned).toBe(0);
      expect(again.stderr().match(/unchanged model\//g)).toHaveLength(repos.length);
      await stopAll([again]);

      // SIGTERM: each worker finishes what it holds and exits cleanly.
      for (const w of workers) w.proc.kill('SIGTERM');
      const codes = await Promise.all(workers.map((w) => w.exited));
      expect(codes).toEqual([0, 0, 0]);
      for (const w of workers) expect(w.stderr()).toContain('stopped');
    } finally {
      await hub.close();
    }
  }, 240_000);

  it('pauses every worker for Retry-After when the upstream answers 429 or 503, and still completes', async () => {
    const hub = await startHub({
      dir: hubDir,
      faults: [
        { id: 'limit', method: 'GET', path: '/api/models/**/revision/**', times: 1, action: { kind: 'status', status: 429, retryAfter: 2 } },
        { id: 'busy', method: 'GET', path: '/api/models/**/tree/**', times: 1, action: { kind: 'status', status: 503, retryAfter: 1 } },
      ],
    });
    const queue = `mgtest-${tag}-429`;
    queues.push(queue, `${queue}-again`);
    const { storeUrl } = await schemas.fresh('ratelimit');
    try {
      const workers = [0, 1].map(() => startWorker({ redis: redisUrl, queue, store: storeUrl, extra: ['--metrics-port', '0'] }));
      children.push(...workers);
      await Promise.all(workers.map((w) => waitForOutput(w, 'ready on queue')));
      const res = await crawl([...authors, '--endpoint', hub.url, '--redis', redisUrl, '--queue', queue, '--store', storeUrl]);
      expect(res.code, res.stderr).toBe(0);
      expect(res.summary.done).toBe(repos.length);
      expect(res.summary.upstream429).toBe(1);

      const reqs = hub.app.hub.requests;
      const limited = reqs.find((r) => r.status === 429)!;
      expect(limited).toBeDefined();
      const t0 = Date.parse(limited.at);
      // Requests already on the wire when the 429 arrived may land just after it; after that,
      // nobody asks anything until Retry-After (2 s) has passed.
      const during = reqs.filter((r) => {
        const t = Date.parse(r.at);
        return t > t0 + 250 && t < t0 + 1900;
      });
      expect(during.map((r) => `${r.at} ${r.url}`)).toEqual([]);
      expect(reqs.some((r) => r.status === 503)).toBe(true);

      // Prometheus metrics: the fleet counted one 429 and one 503.
      let n429 = 0;
      let n503 = 0;
      for (const w of workers) {
        const port = /metrics on :(\d+)/.exec(w.stderr())![1];
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        expect(text).toContain('# TYPE modelgate_crawl_jobs_done_total counter');
        n429 += Number(/^modelgate_crawl_upstream_429_total (\d+)/m.exec(text)![1]);
        n503 += Number(/^modelgate_crawl_upstream_503_total (\d+)/m.exec(text)![1]);
      }
      expect([n429, n503]).toEqual([1, 1]);
      await stopAll(workers);
    } finally {
      await hub.close();
    }
  }, 180_000);
});

describe('crawl test services', () => {
  it.runIf(mustFail !== null)('are required by the environment (CI)', () => {
    expect.fail(mustFail ?? '');
  });
  it('are probed (this suite only reports; see the SKIPPED name above when something is missing)', () => {
    expect(services.redis.ok || services.missing !== null).toBe(true);
  });
});
