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
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
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

export interface StoreResult {
  store: 'sqlite' | 'postgres';
  loadMs: number;
  generateMs: number;
  pages: PageTiming[];
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

async function measure(store: SqlStore, landmarks: Landmarks, dataDir: string): Promise<PageTiming[]> {
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
      const fb: number[] = [];
      for (let k = 0; k < runs; k++) fb.push(await firstByte());
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
  // The dry run: a candidate that turns every scan-severity block into a warning.
  const candidate = 'version: soft\nrules:\n  scan-severity: {action: warn}\n';
  for (const days of [1, 7]) {
    const body = new URLSearchParams({ policy: candidate, days: String(days) }).toString();
    await time(`policy dry run, last ${days} day${days === 1 ? '' : 's'}`, async () => (await gw.app.inject({ method: 'POST', url: '/console/policy/dry-run', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, payload: body })).statusCode, HEAVY_RUNS);
  }
  await gw.close();
  return out;
}

export async function consoleScaleBench(): Promise<StoreResult[]> {
  const now = Date.now();
  const engineKey = engineKeyOf(ScanPool.engineInfo(loadGatewayConfig({ env: {}, flags: { upstream: 'http://127.0.0.1:9' } }).limits));
  let t = performance.now();
  const { tables, landmarks } = generate({ records: RECORDS, files: FILES, days: 90, engineKey, now });
  const generateMs = performance.now() - t;
  console.log(`generated ${RECORDS} audit records, ${FILES} files in ${(generateMs / 1000).toFixed(1)} s (${tables.map((x) => `${x.table} ${x.rows.length}`).join(', ')})`);
  const results: StoreResult[] = [];
  for (const kind of STORES) {
    const dir = mkdtempSync(join(tmpdir(), 'mg-console-scale-'));
    try {
      if (kind === 'sqlite') {
        // MG_BENCH_CONSOLE_SQLITE: keep the loaded file there and reuse it on the next run.
        const keep = process.env['MG_BENCH_CONSOLE_SQLITE'];
        const path = keep ?? join(dir, 'store.db');
        t = performance.now();
        if (!keep || !existsSync(keep)) await loadSqlite(path, tables);
        const loadMs = performance.now() - t;
        console.log(`sqlite: loaded in ${(loadMs / 1000).toFixed(1)} s`);
        results.push({ store: 'sqlite', loadMs, generateMs, pages: await measure(openSqliteStore(path), landmarks, dir) });
      } else if (kind === 'postgres') {
        await pgAdmin(`drop database if exists ${PG_DB}`);
        await pgAdmin(`create database ${PG_DB}`);
        const url = new URL(PG_URL);
        url.pathname = `/${PG_DB}`;
        try {
          t = performance.now();
          await loadPostgres(url.toString(), tables);
          const loadMs = performance.now() - t;
          console.log(`postgres: loaded in ${(loadMs / 1000).toFixed(1)} s`);
          results.push({ store: 'postgres', loadMs, generateMs, pages: await measure(openPostgresStore(url.toString()), landmarks, dir) });
        } finally {
          await pgAdmin(`drop database if exists ${PG_DB} with (force)`);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return results;
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
  return lines.join('\n');
}

if (process.argv[1] && /console-scale\.(ts|js)$/.test(process.argv[1])) {
  const results = await consoleScaleBench();
  console.log(`\n${renderConsoleScale(results)}`);
}
