/**
 * Set-up for the crawl tests on the real services: probes for Redis and PostgreSQL (so a suite
 * can be skipped with the reason in its name), a hub directory of generated repositories, a
 * PostgreSQL schema per test, and the compiled CLI run as child processes.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { Queue } from 'bullmq';
import pg from 'pg';
import { keys, openRedis, redisOptions } from '../../src/queue/redis.js';
import { probePostgres, type PgProbe } from '../store/pg-probe.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const FIXTURES = join(ROOT, 'fixtures');
export const BIN = join(ROOT, 'bin', 'modelgate.js');

export type RedisProbe = { ok: true; url: string; port: number } | { ok: false; reason: string };

/** PING over a raw socket: no client library state to clean up when nothing is there. */
export function pingRedis(port: number, host = '127.0.0.1', timeoutMs = 1500): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const s = connect({ port, host });
    const done = (ok: boolean): void => {
      s.destroy();
      resolvePromise(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

export async function probeRedis(): Promise<RedisProbe> {
  const url = process.env['MODELGATE_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const u = new URL(url);
  const port = Number(u.port || 6379);
  if (await pingRedis(port, u.hostname)) return { ok: true, url, port };
  return { ok: false, reason: `Redis not reachable at ${u.host} (set MODELGATE_TEST_REDIS_URL to point elsewhere)` };
}

export interface Services {
  redis: RedisProbe;
  pg: PgProbe;
  /** Why the suite is skipped, or null when both are there. */
  missing: string | null;
  /** Set by CI: a missing service is a failure, not a skip. */
  required: boolean;
}

export async function probeServices(): Promise<Services> {
  const [redis, pgp] = await Promise.all([probeRedis(), probePostgres()]);
  const reasons: string[] = [];
  if (!redis.ok) reasons.push(redis.reason);
  if (!pgp.ok) reasons.push(pgp.reason);
  const required = process.env['MODELGATE_TEST_PG_REQUIRED'] === '1' || process.env['MODELGATE_TEST_REDIS_REQUIRED'] === '1';
  return { redis, pg: pgp, missing: reasons.length ? reasons.join('; ') : null, required };
}

/** A failure message for CI when a required service is missing (null when nothing is required or missing). */
export function requiredButMissing(s: Services): string | null {
  const out: string[] = [];
  if (process.env['MODELGATE_TEST_REDIS_REQUIRED'] === '1' && !s.redis.ok) out.push(`MODELGATE_TEST_REDIS_REQUIRED=1 but ${s.redis.reason}`);
  if (process.env['MODELGATE_TEST_PG_REQUIRED'] === '1' && !s.pg.ok) out.push(`MODELGATE_TEST_PG_REQUIRED=1 but ${s.pg.reason}`);
  return out.length ? out.join('; ') : null;
}

// ---- PostgreSQL schemas ----

export class Schemas {
  private readonly made: string[] = [];
  private readonly admin: pg.Pool;
  private readonly tag = `mg_crawl_${process.pid}_${randomBytes(3).toString('hex')}`;

  constructor(private readonly url: string) {
    this.admin = new pg.Pool({ connectionString: url, max: 2 });
    this.admin.on('error', () => {});
  }

  /** A fresh schema and the store URL that selects it. */
  async fresh(name: string): Promise<{ schema: string; storeUrl: string }> {
    const schema = `${this.tag}_${name}`.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 63);
    await this.admin.query(`create schema "${schema}"`);
    this.made.push(schema);
    const u = new URL(this.url);
    u.searchParams.set('schema', schema);
    return { schema, storeUrl: u.toString() };
  }

  async query<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
    return (await this.admin.query<T>(text, values)).rows;
  }

  async close(): Promise<void> {
    for (const s of this.made) await this.admin.query(`drop schema if exists "${s}" cascade`).catch(() => {});
    await this.admin.end();
  }
}

// ---- the hub directory ----

function put(root: string, rel: string, content: string | Uint8Array): void {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, content);
}

function copy(root: string, rel: string, fixture: string): void {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  copyFileSync(join(FIXTURES, fixture), p);
}

function copyTree(src: string, dst: string): void {
  for (const name of readdirSync(src)) {
    const s = join(src, name);
    const d = join(dst, name);
    if (statSync(s).isDirectory()) {
      mkdirSync(d, { recursive: true });
      copyTree(s, d);
    } else {
      mkdirSync(dirname(d), { recursive: true });
      copyFileSync(s, d);
    }
  }
}

/** A valid safetensors file of `bytes` zeros in one F32 tensor: big, LFS, and clean. */
export function bigSafetensors(bytes: number): Buffer {
  const n = Math.floor(bytes / 4);
  let header = JSON.stringify({ weight: { dtype: 'F32', shape: [n], data_offsets: [0, n * 4] } });
  header = header.padEnd(Math.ceil(header.length / 8) * 8, ' ');
  const h = Buffer.alloc(8);
  h.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([h, Buffer.from(header), Buffer.alloc(n * 4)]);
}

export interface HubRepoSpec {
  id: string;
  /** Paths (repo-relative) whose scan must report the rule, e.g. PICKLE_DANGEROUS_GLOBAL. */
  malicious: Record<string, string>;
  files: number;
}

const CARD = '---\nlicense: apache-2.0\nlibrary_name: transformers\n---\n# test model\n';

/**
 * The generated upstream:
 *  clean     acme/tiny-bert and acme/clean-0..N (same safetensors in each: one scan for all)
 *  malicious acme/evil-bert (torch pickle), evil/pickle, evil/keras-lambda, evil/joblib
 *  mixed     acme/mixed (fixture), mixed/verdicts (malicious next to clean, with hub verdicts)
 *  large     big/model (a 24 MiB safetensors, LFS by size)
 */
export function makeCrawlHub(opts: { cleanCopies?: number; large?: boolean } = {}): { dir: string; repos: HubRepoSpec[] } {
  const dir = mkdtempSync(join(tmpdir(), 'mg-crawl-hub-'));
  copyTree(join(FIXTURES, 'repos'), dir);
  const repos: HubRepoSpec[] = [
    { id: 'acme/evil-bert', malicious: { 'pytorch_model.bin': 'PICKLE_DANGEROUS_GLOBAL' }, files: 3 },
    { id: 'acme/tiny-bert', malicious: {}, files: 3 },
    { id: 'acme/tiny-bert-pickle', malicious: {}, files: 3 },
    { id: 'acme/mixed', malicious: { 'optimizer.pt': 'PICKLE_DANGEROUS_GLOBAL' }, files: 4 },
  ];
  // A repo that loads only with trust_remote_code=True: config.json maps classes to its own code.
  put(dir, 'acme/remote-code/config.json', JSON.stringify({ model_type: 'custom', auto_map: { AutoModel: 'modeling_custom.CustomModel' } }) + '\n');
  // Needing custom code is a low notice on config.json; the code file that reaches the host is the finding.
  put(dir, 'acme/remote-code/modeling_custom.py', "import os, torch\nos.system('echo modelgate-fixture')\nclass CustomModel(torch.nn.Module):\n    pass\n");
  repos.push({ id: 'acme/remote-code', malicious: { 'modeling_custom.py': 'PYTHON_DANGEROUS_CALL' }, files: 2 });
  for (let i = 0; i < (opts.cleanCopies ?? 4); i++) {
    copy(dir, `acme/clean-${i}/model.safetensors`, 'benign/model.safetensors');
    put(dir, `acme/clean-${i}/config.json`, JSON.stringify({ model_type: 'bert', name: `clean-${i}` }) + '\n');
    put(dir, `acme/clean-${i}/README.md`, CARD);
    repos.push({ id: `acme/clean-${i}`, malicious: {}, files: 3 });
  }
  copy(dir, 'evil/pickle/model.pkl', 'malicious/reduce_os_system_p1.pkl');
  put(dir, 'evil/pickle/README.md', CARD);
  repos.push({ id: 'evil/pickle', malicious: { 'model.pkl': 'PICKLE_DANGEROUS_GLOBAL' }, files: 2 });
  copy(dir, 'evil/keras-lambda/model.h5', 'malicious/keras_lambda.h5');
  put(dir, 'evil/keras-lambda/config.json', '{"model_type": "keras"}\n');
  repos.push({ id: 'evil/keras-lambda', malicious: { 'model.h5': 'KERAS_LAMBDA_LAYER' }, files: 2 });
  copy(dir, 'evil/joblib/pipeline.joblib', 'malicious/joblib_array_then_reduce.joblib');
  repos.push({ id: 'evil/joblib', malicious: { 'pipeline.joblib': 'PICKLE_DANGEROUS_GLOBAL' }, files: 1 });
  copy(dir, 'mixed/verdicts/model.safetensors', 'benign/model.safetensors');
  copy(dir, 'mixed/verdicts/sub/pytorch_model.bin', 'malicious/torch_zip_reduce.pt');
  put(
    dir,
    'mixed/verdicts/.hub-security.json',
    JSON.stringify({ scansDone: true, files: { 'sub/pytorch_model.bin': { status: 'unsafe' }, 'model.safetensors': { status: 'safe' } } }),
  );
  repos.push({ id: 'mixed/verdicts', malicious: { 'sub/pytorch_model.bin': 'PICKLE_DANGEROUS_GLOBAL' }, files: 2 });
  // A dataset (crawled with --datasets): a CSV next to a pickle that runs a command on load.
  put(dir, 'datasets/acme/data/train.csv', 'a,b\n1,2\n');
  copy(dir, 'datasets/acme/data/extra.pkl', 'malicious/reduce_os_system_p1.pkl');
  if (opts.large !== false) {
    put(dir, 'big/model/model.safetensors', bigSafetensors(24 << 20));
    put(dir, 'big/model/README.md', CARD);
    repos.push({ id: 'big/model', malicious: {}, files: 2 });
  }
  return { dir, repos };
}

/** Adds a repository whose every byte is shared with another repo by hard links (cheap copies). */
export function linkRepo(dir: string, from: string, to: string): void {
  const walk = (rel: string): void => {
    const src = join(dir, from, rel);
    for (const name of readdirSync(src)) {
      const r = rel ? `${rel}/${name}` : name;
      const s = join(dir, from, r);
      if (statSync(s).isDirectory()) walk(r);
      else {
        mkdirSync(dirname(join(dir, to, r)), { recursive: true });
        linkSync(s, join(dir, to, r));
      }
    }
  };
  walk('');
}

// ---- the compiled CLI ----

function newestMtime(dir: string, ext: string): number {
  let t = 0;
  for (const name of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, name.name);
    if (name.isDirectory()) t = Math.max(t, newestMtime(p, ext));
    else if (name.name.endsWith(ext)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/** Runs `tsc` when dist/ is missing or older than src/ (the tests spawn the compiled bin). */
export function ensureBuilt(): void {
  const marker = join(ROOT, 'dist', 'src', 'queue', 'worker.js');
  const fresh = (): boolean => existsSync(marker) && newestMtime(join(ROOT, 'dist', 'src'), '.js') >= newestMtime(join(ROOT, 'src'), '.ts');
  if (fresh()) return;
  // Test files run in parallel: one builds, the others wait for it rather than rewrite dist/ under
  // a running child.
  const lock = join(ROOT, 'dist', '.crawl-test-build.lock');
  mkdirSync(dirname(lock), { recursive: true });
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`another test run holds ${lock}; remove it if no build is running`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  try {
    if (!fresh()) build(marker);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function build(marker: string): void {
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    // tsc still emits when some file has a type error; what matters here is that the bin runs.
    const out = String((e as { stdout?: Buffer }).stdout ?? '');
    console.warn(`[crawl tests] tsc reported errors (the build was emitted anyway):\n${out.slice(0, 2000)}`);
  }
  if (!existsSync(marker)) throw new Error('the build did not produce dist/src/queue/worker.js');
}

export interface Child {
  proc: ChildProcess;
  stderr: () => string;
  stdout: () => string;
  exited: Promise<number | null>;
}

export function runBin(args: string[], env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((r) => proc.on('close', (code) => r(code)));
  return { proc, stderr: () => err, stdout: () => out, exited };
}

export interface WorkerArgs {
  redis: string;
  queue: string;
  store: string;
  extra?: string[];
}

export function startWorker(a: WorkerArgs): Child {
  return runBin(['worker', '--redis', a.redis, '--queue', a.queue, '--store', a.store, '--rate', '0', '--concurrency', '3', ...(a.extra ?? [])]);
}

/** Waits until the child has printed `text` on stderr. */
export async function waitForOutput(c: Child, text: string | RegExp, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const e = c.stderr();
    if (typeof text === 'string' ? e.includes(text) : text.test(e)) return;
    if (c.proc.exitCode !== null) throw new Error(`process exited (${c.proc.exitCode}) before printing ${String(text)}:\n${e}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${String(text)}; stderr so far:\n${c.stderr()}`);
}

export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function stopAll(children: Child[]): Promise<void> {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGTERM');
  await Promise.all(
    children.map(async (c) => {
      const t = setTimeout(() => c.proc.kill('SIGKILL'), 15_000);
      await c.exited;
      clearTimeout(t);
    }),
  );
}

export function relativeTo(root: string, p: string): string {
  return relative(root, p);
}

/** Removes a test queue and its stats from a shared Redis (the queue's own keys only). */
export async function dropQueues(redisUrl: string, names: string[]): Promise<void> {
  const r = openRedis(redisUrl, 'modelgate-test-cleanup');
  try {
    for (const name of names) {
      const q = new Queue(name, { connection: redisOptions(redisUrl) });
      q.on('error', () => {});
      await q.obliterate({ force: true }).catch(() => {});
      await q.close().catch(() => {});
      await r.del(keys.stats(name));
    }
  } finally {
    r.disconnect();
  }
}
