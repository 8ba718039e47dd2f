/**
 * Crawl throughput: a simulated hub of many small repositories (default 10,000) served locally
 * with a per-request latency (default 20 ms), crawled by 1, 2 and 4 `modelgate worker`
 * processes on Redis (BullMQ) and PostgreSQL. Reports repos/s, files/s, the speed-up over one
 * worker, and each worker's peak RSS; writes them into bench/RESULTS.md under its own section.
 *
 * Run alone: `npm run build && node dist/bench/run.js crawl` (or `node dist/bench/crawl.js`).
 * Knobs (environment): MG_BENCH_CRAWL_REPOS, MG_BENCH_CRAWL_LATENCY_MS, MG_BENCH_CRAWL_WORKERS
 * ("1,2,4"), MG_BENCH_CRAWL_CONCURRENCY (jobs per worker), MG_BENCH_REDIS_URL, MG_BENCH_PG_URL.
 *
 * Each repository has three files: a model card and a safetensors file shared by every repo
 * (hard links: one inode on disk, one scan in the store) and a config.json of its own, so every
 * repository costs the upstream round trips of a real crawl (revision, tree, one whole read of config.json) plus
 * one real scan, while the disk holds 10,000 inodes rather than 30,000 copies.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import pg from 'pg';
import { startHub } from '../src/hub/server.js';
import { keys, openRedis, redisOptions } from '../src/queue/redis.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const out = join(root, 'bench', 'out');
const BIN = join(root, 'bin', 'modelgate.js');

const envInt = (name: string, def: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? Math.floor(v) : def;
};

export interface CrawlBenchRow {
  workers: number;
  repos: number;
  files: number;
  seconds: number;
  reposPerSec: number;
  filesPerSec: number;
  peakRssMB: number[];
  bytesFetched: number;
}

/**
 * Organisations of 10 repositories each (the local hub looks at every entry of an organisation's
 * directory on each request, so small organisations keep the simulated upstream cheap); reused
 * across runs when it already exists.
 */
function makeHub(repos: number): string {
  const dir = join(out, `crawl-hub-${repos}`);
  if (existsSync(join(dir, '.done'))) return dir;
  rmSync(dir, { recursive: true, force: true });
  const shared = join(out, `crawl-hub-${repos}-shared`);
  mkdirSync(shared, { recursive: true });
  writeFileSync(join(shared, 'README.md'), '---\nlicense: apache-2.0\n---\n# a simulated repository\n');
  writeFileSync(join(shared, 'model.safetensors'), readFileSync(join(root, 'fixtures', 'benign', 'model.safetensors')));
  for (const id of repoIds(repos)) {
    const d = join(dir, id);
    mkdirSync(d, { recursive: true });
    linkSync(join(shared, 'README.md'), join(d, 'README.md'));
    linkSync(join(shared, 'model.safetensors'), join(d, 'model.safetensors'));
    writeFileSync(join(d, 'config.json'), JSON.stringify({ model_type: 'bert', hidden_size: 8, name: id }) + '\n');
  }
  writeFileSync(join(dir, '.done'), 'ok\n');
  return dir;
}

function repoIds(repos: number): string[] {
  return Array.from({ length: repos }, (_, i) => `org${String(Math.floor(i / 10)).padStart(4, '0')}/m${i % 10}`);
}

function peakRssMB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

function waitForText(p: ChildProcess, text: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`worker did not print "${text}" in time:\n${buf}`)), timeoutMs);
    p.stderr!.on('data', (c: Buffer) => {
      buf += c.toString();
      if (buf.includes(text)) {
        clearTimeout(t);
        resolve();
      }
    });
    p.on('exit', (code) => reject(new Error(`worker exited (${code}):\n${buf}`)));
  });
}

async function reachable(redisUrl: string, pgUrl: string): Promise<string | null> {
  const r = openRedis(redisUrl, 'modelgate-bench-probe');
  try {
    const pong = await Promise.race([r.ping(), new Promise<string>((res) => setTimeout(() => res('timeout'), 2000))]);
    if (pong !== 'PONG') return `Redis not reachable at ${redisUrl}`;
  } finally {
    r.disconnect();
  }
  const c = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 2000 });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.query('select 1');
  } catch (e) {
    return `PostgreSQL not reachable at ${pgUrl}: ${(e as Error).message}`;
  } finally {
    await c.end().catch(() => {});
  }
  return null;
}

async function runOnce(opts: { workers: number; hubUrl: string; ids: string[]; redisUrl: string; pgUrl: string; concurrency: number }): Promise<CrawlBenchRow> {
  const queueName = `mg-bench-${process.pid}-${opts.workers}w-${randomBytes(3).toString('hex')}`;
  const schema = `mg_bench_${process.pid}_${opts.workers}w_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: opts.pgUrl });
  await admin.connect();
  await admin.query(`create schema "${schema}"`);
  const u = new URL(opts.pgUrl);
  u.searchParams.set('schema', schema);
  const storeUrl = u.toString();
  const queue = new Queue(queueName, { connection: redisOptions(opts.redisUrl) });
  const redis = openRedis(opts.redisUrl, 'modelgate-bench');
  const procs: ChildProcess[] = [];
  try {
    // Jobs go in while the queue is paused, so the clock measures only the workers' crawl.
    await queue.pause();
    const list = join(out, `crawl-list-${opts.ids.length}.txt`);
    writeFileSync(list, opts.ids.join('\n') + '\n');
    await new Promise<void>((resolve, reject) => {
      const c = spawn(process.execPath, [BIN, 'crawl', '--from-file', list, '--endpoint', opts.hubUrl, '--redis', opts.redisUrl, '--queue', queueName, '--rate', '0', '--no-progress'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`crawl failed (${code}): ${err}`))));
    });
    for (let i = 0; i < opts.workers; i++) {
      const p = spawn(process.execPath, [BIN, 'worker', '--redis', opts.redisUrl, '--queue', queueName, '--store', storeUrl, '--rate', '0', '--concurrency', String(opts.concurrency), '--file-concurrency', '4', '--quiet'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      procs.push(p);
    }
    await Promise.all(procs.map((p) => waitForText(p, 'ready on queue', 60_000)));
    const t0 = performance.now();
    await queue.resume();
    for (;;) {
      await new Promise((r) => setTimeout(r, 200));
      const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      const pending = (c['waiting'] ?? 0) + (c['active'] ?? 0) + (c['delayed'] ?? 0) + (c['prioritized'] ?? 0);
      if (pending === 0) break;
    }
    const seconds = (performance.now() - t0) / 1000;
    const stats = await redis.hgetall(keys.stats(queueName));
    const counts = await queue.getJobCounts('failed');
    if ((counts['failed'] ?? 0) > 0) throw new Error(`${counts['failed']} jobs failed`);
    const done = Number(stats['repos_done'] ?? 0);
    const files = Number(stats['files_scanned'] ?? 0) + Number(stats['files_skipped'] ?? 0);
    const peak = procs.map((p) => peakRssMB(p.pid!));
    return { workers: opts.workers, repos: done, files, seconds, reposPerSec: done / seconds, filesPerSec: files / seconds, peakRssMB: peak, bytesFetched: Number(stats['bytes_fetched'] ?? 0) };
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => (p.exitCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', r)))));
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    await redis.del(keys.stats(queueName));
    redis.disconnect();
    await admin.query(`drop schema if exists "${schema}" cascade`);
    await admin.end();
  }
}

/** Replaces (or appends) this run's section of bench/RESULTS.md, keeping every other section. */
function writeResults(heading: string, section: string): void {
  const file = join(root, 'bench', 'RESULTS.md');
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n';
  const start = text.indexOf(heading);
  if (start >= 0) {
    const next = text.indexOf('\n## ', start + heading.length);
    text = text.slice(0, start) + section + (next >= 0 ? text.slice(next + 1) : '');
  } else {
    text = text.replace(/\n*$/, '\n\n') + section;
  }
  writeFileSync(file, text.replace(/\n*$/, '\n'));
}

export async function runCrawlBench(): Promise<CrawlBenchRow[] | null> {
  const repos = envInt('MG_BENCH_CRAWL_REPOS', 10_000);
  const latencyMs = Number(process.env['MG_BENCH_CRAWL_LATENCY_MS'] ?? 20);
  const concurrency = envInt('MG_BENCH_CRAWL_CONCURRENCY', 4);
  const workerCounts = (process.env['MG_BENCH_CRAWL_WORKERS'] ?? '1,2,4').split(',').map(Number).filter((n) => n > 0);
  const redisUrl = process.env['MG_BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const pgUrl = process.env['MG_BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
  mkdirSync(out, { recursive: true });
  const missing = await reachable(redisUrl, pgUrl);
  if (missing) {
    console.log(`crawl benchmark skipped: ${missing} (set MG_BENCH_REDIS_URL / MG_BENCH_PG_URL)`);
    return null;
  }
  const t = performance.now();
  const dir = makeHub(repos);
  console.error(`crawl bench: hub of ${repos} repositories ready in ${((performance.now() - t) / 1000).toFixed(1)} s (${dir})`);
  const hub = await startHub({ dir, latencyMs });
  const rows: CrawlBenchRow[] = [];
  try {
    const ids = repoIds(repos);
    for (const workers of workerCounts) {
      const row = await runOnce({ workers, hubUrl: hub.url, ids, redisUrl, pgUrl, concurrency });
      console.error(`crawl bench: ${workers} worker(s): ${row.reposPerSec.toFixed(1)} repos/s, ${row.filesPerSec.toFixed(1)} files/s in ${row.seconds.toFixed(1)} s`);
      rows.push(row);
    }
  } finally {
    await hub.close();
  }
  const base = rows[0]!.reposPerSec;
  const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
  // One section per (size, latency): a run with other knobs adds its own rather than replacing.
  const heading = `## Crawl throughput (bench/crawl.ts): ${repos} repositories, ${latencyMs} ms per request`;
  const lines = [
    heading,
    '',
    `${new Date().toISOString().slice(0, 10)} · ${machine} · Redis and PostgreSQL on the same machine.`,
    `Simulated hub: ${repos} repositories (organisations of 10) × 3 files (one unique config.json each; card and safetensors hard-linked), ${latencyMs} ms added to every upstream answer;`,
    `each worker: --concurrency ${concurrency} --file-concurrency 4 --rate 0; files are scanned through range requests (files up to 1 MiB and git blobs read whole and hashed; bytes fetched counts every range answer).`,
    `Command: \`npm run build && node dist/bench/run.js crawl\`${repos !== 10_000 || latencyMs !== 20 ? ` with MG_BENCH_CRAWL_REPOS=${repos} MG_BENCH_CRAWL_LATENCY_MS=${latencyMs}` : ''}.`,
    '',
    '| workers | repos | files | wall time | repos/s | files/s | speed-up vs 1 | peak RSS per worker | bytes fetched |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.workers} | ${r.repos} | ${r.files} | ${r.seconds.toFixed(1)} s | ${r.reposPerSec.toFixed(1)} | ${r.filesPerSec.toFixed(1)} | ${(r.reposPerSec / base).toFixed(2)}× | ${r.peakRssMB.map((m) => `${m.toFixed(0)} MB`).join(', ')} | ${r.bytesFetched >= 2 ** 20 ? `${(r.bytesFetched / 2 ** 20).toFixed(1)} MiB` : `${(r.bytesFetched / 1024).toFixed(0)} KiB`} |`,
    ),
    '',
  ];
  const section = lines.join('\n');
  console.log('\n' + section);
  writeResults(heading, section);
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await runCrawlBench();
}
