/**
 * Console pages against a large generated audit log (SQLite): server time of each page as seen
 * by fastify's inject (no network): the first request, then the median and worst of 5 more
 * (the overview keeps past days' counts for 5 minutes, so its first request is the cold one). Records are spread over 30
 * days, 1,000 repositories and 50 clients; 8 % blocked, 4 % warned.
 * Usage: npx tsx bench/console.ts [records=200000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadGatewayConfig } from '../src/gateway/config.js';
import { createGateway } from '../src/gateway/server.js';
import { openSqliteStore } from '../src/store/sqlite.js';

const N = Number(process.argv[2] ?? 200_000);
const ADMIN = 'mg_bench_admin_token_0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'mg-console-bench-'));

async function main(): Promise<void> {
  const store = openSqliteStore(join(dir, 'store.db'));
  await store.migrate();
  const now = Date.now();
  const t0 = performance.now();
  const BATCH = 500;
  for (let i = 0; i < N; i += BATCH) {
    const rows = [];
    for (let j = i; j < Math.min(N, i + BATCH); j++) {
      const r = (j * 2654435761) % 100;
      const verdict = r < 8 ? 'block' : r < 12 ? 'warn' : 'allow';
      rows.push({
        time: new Date(now - 30 * 86400_000 + Math.floor((j / N) * 30 * 86400_000)).toISOString(),
        request_id: `r${j}`, client: `client-${j % 50}`, client_group: 'default', method: 'GET', repo_type: 'model',
        repo: `org${j % 37}/model-${j % 1000}`, revision: 'main', commit: 'c'.repeat(40), path: 'pytorch_model.bin', sha256: (j % 100_000).toString(16).padStart(64, '0'),
        verdict, rules: JSON.stringify(verdict === 'allow' ? [] : [{ rule: verdict === 'block' ? 'scan-severity' : 'custom-code', action: verdict, reason: 'x' }]),
        findings: JSON.stringify(verdict === 'allow' ? [] : [{ rule: j % 3 ? 'PICKLE_DANGEROUS_GLOBAL' : 'CUSTOM_CODE', severity: 'critical', message: 'm' }]),
        waivers: '[]', upstream_status: 200, scan_id: null, policy_version: 'p', message: null,
      });
    }
    await store.db.insertInto('audit').values(rows).execute();
  }
  console.log(`inserted ${N} records in ${Math.round(performance.now() - t0)} ms`);
  console.log('| page | status | first | median of 5 | worst of 5 |\n|---|---|---|---|---|');

  const cfg = loadGatewayConfig({ env: {}, flags: { host: '127.0.0.1', port: 0, upstream: 'http://127.0.0.1:9', dataDir: dir, logLevel: 'silent', adminToken: ADMIN, scanWorkers: 1 } });
  const gw = await createGateway(cfg, { store });
  await gw.listen();
  const pages: Array<[string, string]> = [
    ['overview', '/console'],
    ['activity, no filter', '/console/activity'],
    ['activity, verdict=block', '/console/activity?verdict=block'],
    ['activity, repo', '/console/activity?repo=org5/model-5'],
    ['activity, client + 1 day', `/console/activity?client=client-7&since=${new Date(now - 10 * 86400_000).toISOString().slice(0, 10)}&until=${new Date(now - 10 * 86400_000).toISOString().slice(0, 10)}`],
    ['activity, policy rule', '/console/activity?rule=custom-code'],
    ['activity, deep page (before=1000)', '/console/activity?before=1000'],
    ['file page', `/console/audit/${Math.floor(N / 2)}`],
    ['CSV export, one repository', '/console/activity.csv?repo=org5/model-5'],
  ];
  for (const [name, url] of pages) {
    const times: number[] = [];
    let status = 0;
    let first = 0;
    for (let k = 0; k < 6; k++) {
      const t = performance.now();
      const res = await gw.app.inject({ url, headers: { authorization: `Bearer ${ADMIN}` } });
      status = res.statusCode;
      if (k > 0) times.push(performance.now() - t);
      else first = performance.now() - t;
    }
    times.sort((a, b) => a - b);
    console.log(`| ${name} | ${status} | ${first.toFixed(1)} ms | ${times[2]!.toFixed(1)} ms | ${times[times.length - 1]!.toFixed(1)} ms |`);
  }
  await gw.close();
  rmSync(dir, { recursive: true, force: true });
}

void main();
