/**
 * The console at scale (issue 11): 1,000,000 audit records and 100,000 files, generated
 * (bench/console-data.ts) into a fresh SQLite file and a fresh PostgreSQL database, then every
 * console page asked for through the gateway itself, its server time taken by an onResponse
 * hook (fastify's reply.elapsedTime: from the request's arrival to the last byte handed to the
 * socket). Each page is asked once to warm up, then RUNS times; the table gives the median and
 * the 95th percentile (nearest rank). Exports are also timed to their first byte over a real
 * loopback connection, since they stream.
 *
 * `npm run bench -- console-scale`, or after a build `node dist/bench/console-scale.js`.
 * Environment: MG_BENCH_CONSOLE_RECORDS (1000000), MG_BENCH_CONSOLE_FILES (100000),
 * MG_BENCH_CONSOLE_STORES (sqlite,postgres), MG_BENCH_PG_URL (postgres://postgres@127.0.0.1:5432/test;
 * a scratch database mg_console_bench is created next to it and dropped afterwards).
 * MG_BENCH_CONSOLE_KEEP=<dir>: keep the loaded data and reuse it on the next run (loading takes
 * minutes): the SQLite file as <dir>/store.db, the PostgreSQL database as mg_console_bench_<dir's
 * name> (named after the directory so that benches keeping different directories on one server
 * never load into or drop each other's database; marked loaded by <dir>/pg-loaded), and the generator's clock in <dir>/now so the landmarks
 * and the dry runs' windows match the kept rows. Drop the database by hand when done.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { basename, join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { loadGatewayConfig } from '../src/gateway/config.js';
import { ScanPool } from '../src/gateway/scan-pool.js';
import { createGateway } from '../src/gateway/server.js';
import { engineKeyOf } from '../src/scan/engine-key.js';
import { openPostgresStore } from '../src/store/postgres.js';
import type { SqlStore } from '../src/store/sql.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import { generate, type Landmarks, type Rows } from './console-data.js';

const RECORDS = Number(process.env['MG_BENCH_CONSOLE_RECORDS'] ?? 1_000_000);
const FILES = Number(process.env['MG_BENCH_CONSOLE_FILES'] ?? 100_000);
const STORES = (process.env['MG_BENCH_CONSOLE_STORES'] ?? 'sqlite,postgres').split(',');
const PG_URL = process.env['MG_BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const PG_DB = 'mg_console_bench';
const ADMIN = 'mg_bench_admin_token_0123456789abcdef';
const RUNS = 20;
const HEAVY_RUNS = 5;
/** How often the bench asks for a running dry run's page. */
const POLL_MS = 250;

export interface PageTiming {
  page: string;
  status: number;
  median: number;
  p95: number;
  /** The first (cold) request. */
  first: number;
  /** Exports only: time to the first body byte over loopback (median). */
  firstByte?: number;
}

/** A background dry run: server time of the POST that starts it and of its page while it runs. */
export interface DryRunTiming {
  days: number;
  examined: number;
  postMedian: number;
  postP95: number;
  pollMedian: number;
  pollP95: number;
  polls: number;
  /** Wall time from the POST to the page showing the result. */
  runMedian: number;
}

export interface StoreResult {
  store: 'sqlite' | 'postgres';
  loadMs: number;
  generateMs: number;
  pages: PageTiming[];
  dryRuns: DryRunTiming[];
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

async function loadSqlite(path: string, tables: Rows[]): Promise<void> {
  const store = openSqliteStore(path);
  await store.migrate();
  await store.close();
  const raw = new BetterSqlite3(path);
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = OFF');
  for (const t of tables) {
    const ins = raw.prepare(`insert into "${t.table}" (${t.columns.map((c) => `"${c}"`).join(', ')}) values (${t.columns.map(() => '?').join(', ')})`);
    const many = raw.transaction((rows: unknown[][]) => {
      for (const r of rows) ins.run(...r);
    });
    for (let i = 0; i < t.rows.length; i += 50_000) many(t.rows.slice(i, i + 50_000));
  }
  raw.prepare(`update fold_cursor set last_id = (select max(id) from audit) where name = 'inventory'`).run();
  raw.pragma('wal_checkpoint(TRUNCATE)');
  raw.close();
}

async function loadPostgres(url: string, tables: Rows[]): Promise<void> {
  const store = openPostgresStore(url);
  await store.migrate();
  await store.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('set synchronous_commit to off');
    for (const t of tables) {
      const per = Math.floor(60_000 / t.columns.length);
      const cols = t.columns.map((c) => `"${c}"`).join(', ');
      for (let i = 0; i < t.rows.length; i += per) {
        const part = t.rows.slice(i, i + per);
        const params: unknown[] = [];
        const tuples = part.map((r) => `(${r.map((v) => (params.push(v), `$${params.length}`)).join(', ')})`);
        await client.query(`insert into "${t.table}" (${cols}) values ${tuples.join(', ')}`, params);
      }
    }
    for (const t of ['audit', 'policy_loads', 'exposures']) await client.query(`select setval(pg_get_serial_sequence('${t}', 'id'), (select max(id) from "${t}"))`);
    await client.query(`update fold_cursor set last_id = (select max(id) from audit) where name = 'inventory'`);
    // What autovacuum does on a live database: statistics and the visibility map.
    await client.query('vacuum analyze');
  } finally {
    await client.end();
  }
}

async function pgAdmin(sqlText: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(sqlText);
  } finally {
    await client.end();
  }
}

function urls(l: Landmarks): Array<[string, string, number?]> {
  const day = l.midDay;
  const mid = Math.floor(l.maxId / 2);
  return [
    ['overview', '/console'],
    ['activity, first page', '/console/activity'],
    ['activity, deep page (before = middle id)', `/console/activity?before=${mid}`],
    ['activity, deepest page (before=1000)', '/console/activity?before=1000'],
    ['activity, newer page (after = middle id)', `/console/activity?after=${mid}`],
    ['activity, verdict=block', '/console/activity?verdict=block'],
    ['activity, verdict=error, deep', `/console/activity?verdict=error&before=${mid}`],
    ['activity, repository', `/console/activity?repo=${encodeURIComponent(l.repo)}`],
    ['activity, client (rare)', `/console/activity?client=${l.client}`],
    ['activity, rule (common)', '/console/activity?rule=scan-severity'],
    ['activity, rule (rare)', `/console/activity?rule=${l.rareRule}`],
    ['activity, rule (none match)', `/console/activity?rule=${l.absentRule}`],
    ['activity, one day', `/console/activity?since=${day}&until=${day}`],
    ['activity, verdict=block + one day', `/console/activity?verdict=block&since=${day}&until=${day}`],
    ['activity, client + one day', `/console/activity?client=${l.client}&since=${day}&until=${day}`],
    ['export CSV, all (100,000 cap)', '/console/activity.csv', HEAVY_RUNS],
    ['export JSONL, one repository', `/console/activity.jsonl?repo=${encodeURIComponent(l.repo)}`, HEAVY_RUNS],
    ['inventory, first page', '/console/inventory'],
    ['inventory, repository page', `/console/inventory/repo?repo=${encodeURIComponent(l.repo)}&commit=${l.commit}`],
    ['inventory, ML-BOM download', `/console/inventory/bom.json?repo=${encodeURIComponent(l.repo)}&commit=${l.commit}`],
    ['file page (hot file)', `/console/audit/${l.hotAuditId}`],
    ['waivers', '/console/waivers'],
    ['policy', '/console/policy'],
    ['exposure', '/console/exposure'],
    ['study (no crawl store)', '/console/study'],
  ];
}

async function measure(store: SqlStore, landmarks: Landmarks, dataDir: string): Promise<{ pages: PageTiming[]; dryRuns: DryRunTiming[] }> {
  const m = performance.now();
  await store.migrate();
  console.log(`  migrate (nothing to do unless the file is kept from an older build): ${(performance.now() - m).toFixed(0)} ms`);
  const cfg = loadGatewayConfig({ env: {}, flags: { host: '127.0.0.1', port: 0, upstream: 'http://127.0.0.1:9', dataDir, logLevel: 'silent', adminToken: ADMIN, scanWorkers: 1 } });
  const gw = await createGateway(cfg, { store });
  let last = 0;
  gw.app.addHook('onResponse', async (_req, reply) => {
    last = reply.elapsedTime;
  });
  const base = await gw.listen();
  // Let the start-up checks (exposure, waivers) finish before timing anything.
  await new Promise((r) => setTimeout(r, 3000));
  const auth = { authorization: `Bearer ${ADMIN}` };
  const out: PageTiming[] = [];
  const time = async (page: string, run: () => Promise<number>, runs: number, firstByte?: () => Promise<number>) => {
    // Exports: first bytes before the full runs, whose bodies inject holds whole (tens of MB
    // each, which a streaming client never makes the server hold) and whose collection would
    // otherwise land in the first-byte times.
    const fb: number[] = [];
    if (firstByte) for (let k = 0; k < runs; k++) fb.push(await firstByte());
    const first = (await run(), last);
    let status = 0;
    const times: number[] = [];
    for (let k = 0; k < runs; k++) {
      status = await run();
      times.push(last);
    }
    times.sort((a, b) => a - b);
    const row: PageTiming = { page, status, median: pct(times, 0.5), p95: pct(times, 0.95), first };
    if (firstByte) {
      fb.sort((a, b) => a - b);
      row.firstByte = pct(fb, 0.5);
    }
    out.push(row);
    console.log(`  ${page}: ${status} first ${first.toFixed(1)} ms, median ${row.median.toFixed(1)} ms, p95 ${row.p95.toFixed(1)} ms${row.firstByte !== undefined ? `, first byte ${row.firstByte.toFixed(1)} ms` : ''}`);
  };
  for (const [page, url, runs] of urls(landmarks)) {
    const get = async () => (await gw.app.inject({ url, headers: auth })).statusCode;
    const isExport = url.includes('activity.csv') || url.includes('activity.jsonl');
    const fb = isExport
      ? async () => {
          const t = performance.now();
          const res = await fetch(base + url, { headers: auth });
          const reader = res.body!.getReader();
          await reader.read();
          const ms = performance.now() - t;
          await reader.cancel();
          return ms;
        }
      : undefined;
    await time(page, get, runs ?? RUNS, fb);
  }
  // The dry run, a background job: the POST that starts it, its page while it goes on (asked
  // every POLL_MS, as a browser would every 2 s), and the whole run (wall time to done). A
  // candidate that turns every scan-severity block into a warning; a different version each
  // time, so that every POST starts a run.
  const dryRuns: DryRunTiming[] = [];
  for (const days of [1, 7]) {
    const post: number[] = [];
    const polls: number[] = [];
    const runs: number[] = [];
    let examined = 0;
    for (let k = 0; k < HEAVY_RUNS + 1; k++) {
      const candidate = `version: soft-${days}-${k}\nrules:\n  scan-severity: {action: warn}\n`;
      const body = new URLSearchParams({ policy: candidate, days: String(days) }).toString();
      const t0 = performance.now();
      const res = await gw.app.inject({ method: 'POST', url: '/console/policy/dry-run', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, payload: body });
      if (res.statusCode !== 303) throw new Error(`dry run POST: ${res.statusCode} ${res.body.slice(0, 300)}`);
      if (k > 0) post.push(last);
      const where = res.headers['location'] as string;
      for (;;) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        const page = await gw.app.inject({ url: where, headers: auth });
        if (k > 0) polls.push(last);
        if (!page.headers['refresh']) {
          if (!page.body.includes('id="dry-run-summary"')) throw new Error(`dry run did not finish well: ${page.body.slice(page.body.indexOf('dry-h'), page.body.indexOf('dry-h') + 600)}`);
          examined = Number(/of (\d+) file decision/.exec(page.body)?.[1] ?? 0);
          break;
        }
      }
      if (k > 0) runs.push(performance.now() - t0);
    }
    for (const a of [post, polls, runs]) a.sort((x, y) => x - y);
    const row: DryRunTiming = { days, examined, postMedian: pct(post, 0.5), postP95: pct(post, 0.95), pollMedian: pct(polls, 0.5), pollP95: pct(polls, 0.95), polls: polls.length, runMedian: pct(runs, 0.5) };
    dryRuns.push(row);
    console.log(`  policy dry run, last ${days} day(s), ${examined} decisions: POST median ${row.postMedian.toFixed(1)} ms, p95 ${row.postP95.toFixed(1)} ms; progress page median ${row.pollMedian.toFixed(1)} ms, p95 ${row.pollP95.toFixed(1)} ms (${row.polls} views); whole run median ${(row.runMedian / 1000).toFixed(2)} s`);
  }
  await gw.close();
  return { pages: out, dryRuns };
}

export async function consoleScaleBench(): Promise<StoreResult[]> {
  const keepDir = process.env['MG_BENCH_CONSOLE_KEEP'];
  if (keepDir) mkdirSync(keepDir, { recursive: true });
  const nowFile = keepDir ? join(keepDir, 'now') : undefined;
  const now = nowFile && existsSync(nowFile) ? Number(readFileSync(nowFile, 'utf8')) : Date.now();
  if (nowFile) writeFileSync(nowFile, String(now));
  const engineKey = engineKeyOf(ScanPool.engineInfo(loadGatewayConfig({ env: {}, flags: { upstream: 'http://127.0.0.1:9' } }).limits));
  let t = performance.now();
  const { tables, landmarks } = generate({ records: RECORDS, files: FILES, days: 90, engineKey, now });
  const generateMs = performance.now() - t;
  console.log(`generated ${RECORDS} audit records, ${FILES} files in ${(generateMs / 1000).toFixed(1)} s (${tables.map((x) => `${x.table} ${x.rows.length}`).join(', ')})`);
  // Every store is loaded first, then the generated rows (gigabytes of heap) are let go: kept
  // alive through the measuring, they made every garbage collection of the gateway slower.
  const dirs: string[] = [];
  const targets: Array<{ store: StoreResult['store']; open: () => SqlStore; loadMs: number; drop?: string }> = [];
  try {
    for (const kind of STORES) {
      const dir = mkdtempSync(join(tmpdir(), 'mg-console-scale-'));
      dirs.push(dir);
      if (kind === 'sqlite') {
        // MG_BENCH_CONSOLE_SQLITE: keep the loaded file there and reuse it on the next run.
        const keep = process.env['MG_BENCH_CONSOLE_SQLITE'] ?? (keepDir ? join(keepDir, 'store.db') : undefined);
        const path = keep ?? join(dir, 'store.db');
        t = performance.now();
        if (!keep || !existsSync(keep)) await loadSqlite(path, tables);
        const loadMs = performance.now() - t;
        console.log(`sqlite: loaded in ${(loadMs / 1000).toFixed(1)} s`);
        targets.push({ store: 'sqlite', open: () => openSqliteStore(path), loadMs });
      } else if (kind === 'postgres') {
        const db = keepDir ? `${PG_DB}_${basename(keepDir).toLowerCase().replace(/[^a-z0-9]+/g, '_')}` : PG_DB;
        const marker = keepDir ? join(keepDir, 'pg-loaded') : undefined;
        const url = new URL(PG_URL);
        url.pathname = `/${db}`;
        t = performance.now();
        if (marker === undefined || !existsSync(marker)) {
          await pgAdmin(`drop database if exists ${db}`);
          await pgAdmin(`create database ${db}`);
          await loadPostgres(url.toString(), tables);
          if (marker) writeFileSync(marker, db);
        }
        const loadMs = performance.now() - t;
        console.log(`postgres: loaded in ${(loadMs / 1000).toFixed(1)} s`);
        targets.push({ store: 'postgres', open: () => openPostgresStore(url.toString()), loadMs, ...(keepDir ? {} : { drop: db }) });
      }
    }
    tables.length = 0;
    const results: StoreResult[] = [];
    for (const [i, x] of targets.entries()) {
      console.log(`${x.store}:`);
      results.push({ store: x.store, loadMs: x.loadMs, generateMs, ...(await measure(x.open(), landmarks, dirs[i]!)) });
    }
    return results;
  } finally {
    for (const x of targets) if (x.drop) await pgAdmin(`drop database if exists ${x.drop} with (force)`);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

export function renderConsoleScale(results: StoreResult[]): string {
  const ms = (n: number | undefined) => (n === undefined ? '–' : `${n.toFixed(1)}`);
  const by = new Map(results.map((r) => [r.store, r]));
  const s = by.get('sqlite');
  const p = by.get('postgres');
  const pages = (s ?? p)!.pages.map((x) => x.page);
  const lines = [
    `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; ${new Date().toISOString().slice(0, 10)}`,
    `Data: ${RECORDS} audit records, ${FILES} files; generated in ${((s ?? p)!.generateMs / 1000).toFixed(1)} s; loaded into SQLite in ${s ? (s.loadMs / 1000).toFixed(1) : '–'} s, PostgreSQL in ${p ? (p.loadMs / 1000).toFixed(1) : '–'} s.`,
    '',
    '| page | SQLite median ms | SQLite p95 ms | SQLite first ms | PostgreSQL median ms | PostgreSQL p95 ms | PostgreSQL first ms |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const name of pages) {
    const a = s?.pages.find((x) => x.page === name);
    const b = p?.pages.find((x) => x.page === name);
    const cell = (x: PageTiming | undefined) => (x ? `${ms(x.median)}${x.firstByte !== undefined ? ` (first byte ${ms(x.firstByte)})` : ''} | ${ms(x.p95)} | ${ms(x.first)}` : '– | – | –');
    lines.push(`| ${name} | ${cell(a)} | ${cell(b)} |`);
  }
  lines.push('', '| policy dry run (background) | SQLite: POST median / p95 ms | progress page median / p95 ms | whole run median s | PostgreSQL: POST median / p95 ms | progress page median / p95 ms | whole run median s |', '|---|---|---|---|---|---|---|');
  for (const days of [1, 7]) {
    const dc = (x: DryRunTiming | undefined) => (x ? `${ms(x.postMedian)} / ${ms(x.postP95)} | ${ms(x.pollMedian)} / ${ms(x.pollP95)} (${x.polls} views) | ${(x.runMedian / 1000).toFixed(2)}` : '– | – | –');
    const da = s?.dryRuns.find((x) => x.days === days);
    const db = p?.dryRuns.find((x) => x.days === days);
    lines.push(`| last ${days} day${days === 1 ? '' : 's'} (${(da ?? db)?.examined ?? '?'} decisions) | ${dc(da)} | ${dc(db)} |`);
  }
  return lines.join('\n');
}

if (process.argv[1] && /console-scale\.(ts|js)$/.test(process.argv[1])) {
  const results = await consoleScaleBench();
  console.log(`\n${renderConsoleScale(results)}`);
}
