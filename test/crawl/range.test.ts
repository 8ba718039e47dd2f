/**
 * Workers scan remote files by HTTP range requests: a large LFS file costs a small fraction of
 * its bytes, every range request is charged to the shared limiter (and a 429 from one pauses
 * it), and a scan the transport cut short is never stored. SQLite store, no Redis needed.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type HubServerOptions } from '../../src/hub/server.js';
import { engineKeyOf } from '../../src/scan/engine-key.js';
import { WorkerMetrics } from '../../src/queue/metrics.js';
import { CrawlResults } from '../../src/queue/results.js';
import { orThrow } from '../../src/queue/types.js';
import { crawlEngine, processRepo, type RepoContext } from '../../src/queue/worker.js';
import { HubClient } from '../../src/remote/hub.js';
import { LocalLimiter } from '../../src/remote/limiter.js';
import { Engine } from '../../src/scan/engine.js';
import type { FileReport } from '../../src/scan/report.js';
import { FileSource } from '../../src/source/file.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { SqlStore } from '../../src/store/sql.js';
import { bigEvilTorchZip } from '../remote/helpers.js';
import { bigSafetensors } from './helpers.js';

/** Counts what the client charges to the limiter, and the pauses it asks for. */
class CountingLimiter extends LocalLimiter {
  takes = 0;
  pauses: number[] = [];
  override async take(signal?: AbortSignal): Promise<void> {
    this.takes++;
    return super.take(signal);
  }
  override async pause(ms: number): Promise<void> {
    this.pauses.push(ms);
    return super.pause(ms);
  }
}

const CARD = '---\nlicense: apache-2.0\n---\n# big\n';

function put(root: string, rel: string, content: string | Uint8Array): void {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, content);
}

/** What a finding says, without the path prefix (the display path differs between scans). */
function findingsOf(r: FileReport): string[] {
  return r.findings.map((f) => JSON.stringify([f.rule, f.severity, f.message, f.location.path.slice(1), f.location.offset ?? null])).sort();
}

describe('range scans in the worker', () => {
  let dir: string;
  let dbDir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mg-crawl-range-hub-'));
    dbDir = mkdtempSync(join(tmpdir(), 'mg-crawl-range-db-'));
    put(dir, 'big/model/model.safetensors', bigSafetensors(24 << 20));
    put(dir, 'big/model/README.md', CARD);
    put(dir, 'big/evil/pytorch_model.bin', bigEvilTorchZip());
    put(dir, 'big/evil/config.json', '{"model_type": "bert"}\n');
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(dbDir, { recursive: true, force: true });
  });

  async function setup(name: string, hubOpts: Omit<HubServerOptions, 'dir'> = {}): Promise<{ ctx: RepoContext; store: SqlStore; limiter: CountingLimiter; hub: Awaited<ReturnType<typeof startHub>>; close(): Promise<void> }> {
    const hub = await startHub({ dir, lfsRedirect: true, ...hubOpts });
    const store = openSqliteStore(join(dbDir, `${name}.db`));
    await store.migrate();
    const engine = crawlEngine();
    const limiter = new CountingLimiter();
    const client = new HubClient({ endpoint: new URL(hub.url), limiter, backoffMs: 50, loopbackAlias: true });
    const ctx: RepoContext = {
      store,
      results: new CrawlResults(store),
      engine,
      engineKey: engineKeyOf(engine.info),
      client,
      locks: null,
      fileConcurrency: 2,
      maxFileBytes: 1 << 30,
      maxFilesPerRepo: 1000,
      metrics: new WorkerMetrics(),
    };
    return {
      ctx,
      store,
      limiter,
      hub,
      close: async () => {
        await client.close();
        await store.close();
        await hub.close();
      },
    };
  }

  it('scans a large LFS file with a small fraction of its bytes fetched, with the findings of a local scan, every request charged to the limiter', async () => {
    const t = await setup('fraction');
    try {
      for (const [repo, file, rule] of [
        ['big/model', 'model.safetensors', null],
        ['big/evil', 'pytorch_model.bin', 'PICKLE_DANGEROUS_GLOBAL'],
      ] as const) {
        const abs = join(dir, repo, file);
        const size = statSync(abs).size;
        expect(size).toBeGreaterThan(20 << 20);
        const r = await processRepo(t.ctx, { type: 'model', repo, revision: 'main', run: 'r1' });
        expect(r).toMatchObject({ status: 'done', files: 2, scanned: 2, fileErrors: 0 });
        const rows = await t.ctx.results.listFiles('model', repo, r.commit);
        const row = rows.find((f) => f.path === file)!;
        expect(row).toMatchObject({ lfs: true, error: null });
        const stored = (await t.store.getScanById(row.scanId!))!;
        const remote = stored.report.remote!;
        // Its sha256 is the listing's claim, not computed: kept apart from verified scans, so the
        // gateway (which looks up the plain engine key) never serves on the strength of it.
        expect(stored.engineKey).toBe(`${t.ctx.engineKey}~unverified`);
        expect(await t.store.getScan(stored.sha256, t.ctx.engineKey)).toBeNull();
        // The job's bytes: the large file's ranges plus its small neighbour read whole.
        expect(r.bytesFetched / size, `${repo}: ${r.bytesFetched} of ${size} bytes`).toBeLessThan(0.05);
        expect(remote.bytesFetched / size).toBeLessThan(0.05);
        expect(stored.complete).toBe(true);

        const src = await FileSource.open(abs, file);
        let local: FileReport;
        try {
          local = await new Engine().scanSource(src, file);
        } finally {
          await src.close();
        }
        expect(findingsOf(stored.report)).toEqual(findingsOf(local));
        expect(stored.maxSeverity).toBe(local.maxSeverity);
        if (rule) expect(stored.report.findings.map((f) => f.rule)).toContain(rule);
        console.log(`[range] ${repo}/${file}: ${remote.bytesFetched} of ${size} bytes (${((100 * remote.bytesFetched) / size).toFixed(3)} %) in ${remote.requests} requests`);
      }
      // Every HTTP request the hub saw (API calls, range requests, redirect hops) took a token first.
      expect(t.hub.app.hub.requests.length).toBeGreaterThan(0);
      expect(t.limiter.takes).toBe(t.hub.app.hub.requests.length);
    } finally {
      await t.close();
    }
  }, 120_000);

  it('pauses the shared limiter for Retry-After when a range request is answered 429, and completes', async () => {
    const t = await setup('limited', { faults: [{ id: 'limit', method: 'GET', path: '/-/cdn/**', times: 1, action: { kind: 'status', status: 429, retryAfter: 1 } }] });
    try {
      const r = await processRepo(t.ctx, { type: 'model', repo: 'big/model', revision: 'main', run: 'r1' });
      expect(r).toMatchObject({ status: 'done', scanned: 2, fileErrors: 0 });
      expect(t.limiter.pauses).toEqual([1000]);
      expect(t.hub.app.hub.requests.filter((q) => q.status === 429)).toHaveLength(1);
    } finally {
      await t.close();
    }
  }, 60_000);

  it('fails the job (temporary error) rather than store a scan the transport cut short', async () => {
    const t = await setup('cut', { faults: [{ method: 'GET', path: '/-/cdn/**', action: { kind: 'truncate', afterBytes: 100 } }] });
    try {
      await expect(processRepo(t.ctx, { type: 'model', repo: 'big/evil', revision: 'main', run: 'r1' })).rejects.toMatchObject({ kind: 'transient' });
      const rows = await t.ctx.results.listFiles('model', 'big/evil', orThrow(await t.ctx.client.repoInfo('model', 'big/evil', 'main')).sha);
      expect(rows.filter((f) => f.path === 'pytorch_model.bin' && f.scanId !== null)).toEqual([]);
      expect(await t.ctx.results.listRepositories()).toEqual([]);
    } finally {
      await t.close();
    }
  }, 60_000);

  it('records a file whose range answers name other bytes as an error, not a scan', async () => {
    const t = await setup('wrong', { faults: [{ method: 'GET', path: '/-/cdn/**', action: { kind: 'wrongContentRange' } }] });
    try {
      const r = await processRepo(t.ctx, { type: 'model', repo: 'big/model', revision: 'main', run: 'r1' });
      expect(r).toMatchObject({ status: 'partial', fileErrors: 1 });
      const row = (await t.ctx.results.listFiles('model', 'big/model', r.commit)).find((f) => f.path === 'model.safetensors')!;
      expect(row).toMatchObject({ scanId: null, errorKind: 'protocol' });
      expect(row.error).toMatch(/asked for bytes/);
    } finally {
      await t.close();
    }
  }, 60_000);
});
