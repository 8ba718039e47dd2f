/**
 * The crawler's pieces that need no Redis or PostgreSQL: one repository processed into a SQLite
 * store against the local hub, the job-id and input rules, and the HTTP helpers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '../../src/hub/server.js';
import { engineKeyOf } from '../../src/scan/engine-key.js';
import { WorkerMetrics } from '../../src/queue/metrics.js';
import { CrawlResults } from '../../src/queue/results.js';
import { jobIdOf, parseRepoSpec } from '../../src/queue/types.js';
import { processRepo, type RepoContext } from '../../src/queue/worker.js';
import { nextLink, parseRetryAfter, parseTreeFile } from '../../src/remote/hub-answers.js';
import { HubClient } from '../../src/remote/hub.js';
import { LocalLimiter } from '../../src/remote/limiter.js';
import { Engine } from '../../src/scan/engine.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { makeCrawlHub } from './helpers.js';

describe('crawl rules', () => {
  it('makes job ids without ":" from repo and revision', () => {
    expect(jobIdOf('model', 'acme/x', 'main')).toBe('model/acme/x@main');
    const spec = parseRepoSpec('datasets/acme/data@refs/pr/1', 'model');
    expect(spec).toEqual({ ok: true, type: 'dataset', repo: 'acme/data', revision: 'refs/pr/1' });
    expect(parseRepoSpec('acme/x@a:b', 'model').ok).toBe(false);
    expect(parseRepoSpec('acme/../x', 'model').ok).toBe(false);
    expect(parseRepoSpec('a/b/c', 'model').ok).toBe(false);
    expect(parseRepoSpec('gpt2', 'model')).toEqual({ ok: true, type: 'model', repo: 'gpt2', revision: 'main' });
  });

  it('reads Retry-After as seconds or a date, and Link rel="next"', () => {
    expect(parseRetryAfter('7')).toBe(7000);
    expect(parseRetryAfter(new Date(Date.now() + 3000).toUTCString())).toBeGreaterThan(1000);
    expect(parseRetryAfter('soon')).toBeNull();
    expect(parseRetryAfter(undefined)).toBeNull();
    expect(nextLink('<https://h/api/models?cursor=x>; rel="next"')).toBe('https://h/api/models?cursor=x');
    expect(nextLink('<https://h/a>; rel="prev", <https://h/b>; rel="next"')).toBe('https://h/b');
    expect(nextLink(undefined)).toBeNull();
  });

  it('reads tree entries: files checked, other entries skipped', () => {
    const sha = 'ab'.repeat(32);
    expect(parseTreeFile({ type: 'file', path: 'w.bin', size: 9, oid: 'o', lfs: { oid: `sha256:${sha}`, size: 9 } })).toEqual({ path: 'w.bin', size: 9, oid: 'o', lfs: { oid: sha, size: 9 } });
    expect(parseTreeFile({ type: 'directory', path: 'sub' })).toBeNull();
    expect(parseTreeFile({ type: 'file', path: 'w.bin', size: -1, oid: 'o' })).toBe('malformed');
    expect(parseTreeFile({ type: 'file', path: 'w.bin', size: 9, oid: 'o', lfs: { oid: 'nothex', size: 9 } })).toBe('malformed');
    expect(parseTreeFile('w.bin')).toBe('malformed');
  });
});

describe('one repository into a SQLite store (no Redis)', () => {
  let dir: string;
  let dbDir: string;
  beforeAll(() => {
    dir = makeCrawlHub({ cleanCopies: 1, large: false }).dir;
    dbDir = mkdtempSync(join(tmpdir(), 'mg-crawl-db-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(dbDir, { recursive: true, force: true });
  });

  it('scans each file once, records the hub verdicts, and treats a retry as a no-op', async () => {
    const hub = await startHub({ dir, pageSize: 1, lfsRedirect: true });
    const store = openSqliteStore(join(dbDir, 'crawl.db'));
    await store.migrate();
    const engine = new Engine();
    const client = new HubClient({ endpoint: new URL(hub.url), limiter: new LocalLimiter(), loopbackAlias: true });
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
    try {
      const r1 = await processRepo(ctx, { type: 'model', repo: 'mixed/verdicts', revision: 'main', run: 'r1' });
      expect(r1).toMatchObject({ status: 'done', files: 2, scanned: 2, skipped: 0, unchanged: false });
      const rows = await ctx.results.listRepositories();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ repo: 'mixed/verdicts', status: 'done', lastRun: 'r1', securityStatus: { scansDone: true } });
      const files = await ctx.results.listFiles('model', 'mixed/verdicts', r1.commit);
      const bad = files.find((f) => f.path === 'sub/pytorch_model.bin')!;
      expect((await store.getScanById(bad.scanId!))!.maxSeverity).toBe('critical');

      // Same commit again: nothing fetched but the revision info.
      const r2 = await processRepo(ctx, { type: 'model', repo: 'mixed/verdicts', revision: 'main', run: 'r2' });
      expect(r2).toMatchObject({ unchanged: true, scanned: 0 });
      expect((await ctx.results.listRepositories())[0]!.lastRun).toBe('r2');

      // Another repo sharing the safetensors: skipped by sha256 (LFS) without a download.
      const r3 = await processRepo(ctx, { type: 'model', repo: 'acme/tiny-bert', revision: 'main', run: 'r1' });
      expect(r3.scanned + r3.skipped).toBe(3);

      // Datasets live under /api/datasets and /datasets/…/resolve.
      const ds = await processRepo(ctx, { type: 'dataset', repo: 'acme/data', revision: 'main', run: 'r1' });
      expect(ds).toMatchObject({ status: 'done', files: 2 });
      const dsFiles = await ctx.results.listFiles('dataset', 'acme/data', ds.commit);
      expect((await store.getScanById(dsFiles.find((f) => f.path === 'extra.pkl')!.scanId!))!.maxSeverity).toBe('critical');

      // A repository that does not exist is a not-found CrawlError (the job is not retried).
      await expect(processRepo(ctx, { type: 'model', repo: 'acme/nope', revision: 'main', run: 'r1' })).rejects.toMatchObject({ kind: 'not-found' });
    } finally {
      await client.close();
      await store.close();
      await hub.close();
    }
  });

  it('records a file whose bytes do not match the listed sha256 as an error, not a scan', async () => {
    const hub = await startHub({ dir, faults: [{ method: 'GET', path: '/evil/pickle/resolve/**', action: { kind: 'corrupt' } }] });
    const store = openSqliteStore(join(dbDir, 'corrupt.db'));
    await store.migrate();
    const engine = new Engine();
    const client = new HubClient({ endpoint: new URL(hub.url), limiter: new LocalLimiter(), loopbackAlias: true });
    const ctx: RepoContext = {
      store,
      results: new CrawlResults(store),
      engine,
      engineKey: engineKeyOf(engine.info),
      client,
      locks: null,
      fileConcurrency: 1,
      maxFileBytes: 1 << 30,
      maxFilesPerRepo: 1000,
      metrics: new WorkerMetrics(),
    };
    try {
      const r = await processRepo(ctx, { type: 'model', repo: 'evil/pickle', revision: 'main', run: 'r1' });
      expect(r.status).toBe('partial');
      const files = await ctx.results.listFiles('model', 'evil/pickle', r.commit);
      const pkl = files.find((f) => f.path === 'model.pkl')!;
      expect(pkl).toMatchObject({ scanId: null, errorKind: 'protocol' });
      expect(pkl.error).toMatch(/sha256/);
    } finally {
      await client.close();
      await store.close();
      await hub.close();
    }
  });
});
