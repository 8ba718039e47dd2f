/**
 * The crawler with an S3 prefix as its list of models, against s3rver: each immediate
 * "subdirectory" and each object directly under the prefix is one model (one job); each of
 * its objects is scanned by ranges into the store as a hub repository's files are; a second
 * crawl of unchanged models scans nothing, a replaced object is scanned again, and an object
 * that cannot be read is a file error, never a clean file. The worker tests need no Redis; the
 * end-to-end crawl does (skipped, with the reason in its name, when Redis is not there).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCrawl } from '../../src/queue/crawl.js';
import { WorkerMetrics } from '../../src/queue/metrics.js';
import { CrawlResults } from '../../src/queue/results.js';
import { listingCommit, processS3Model, type S3ModelContext } from '../../src/queue/s3-model.js';
import { jobIdOf } from '../../src/queue/types.js';
import { crawlEngine, startCrawlWorker, unverifiedEngineKey } from '../../src/queue/worker.js';
import { S3Session } from '../../src/remote/s3.js';
import type { ScanReport } from '../../src/scan/report.js';
import { engineKeyOf } from '../../src/scan/engine-key.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { S3_CREDENTIALS, startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { bigEvilTorchZip, FIXTURES } from '../remote/helpers.js';
import { bigSafetensors, dropQueues, probeRedis } from './helpers.js';

const redis = await probeRedis();
const fixture = (rel: string): Buffer => readFileSync(join(FIXTURES, rel));
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

let s3: S3TestServer;
let sdk: S3Client;
let dbDir: string;
const BERT = fixture('repos/acme/evil-bert/pytorch_model.bin');
const BIG = bigEvilTorchZip();
const BIG_ST = bigSafetensors(8 << 20);

async function put(key: string, body: Uint8Array | string): Promise<void> {
  await sdk.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
}

beforeAll(async () => {
  s3 = await startS3Server();
  sdk = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3_CREDENTIALS });
  dbDir = mkdtempSync(join(tmpdir(), 'mg-crawl-s3-'));
  await put('reg/bert/pytorch_model.bin', BERT);
  await put('reg/bert/config.json', fixture('repos/acme/evil-bert/config.json'));
  await put('reg/big/pytorch_model.bin', BIG);
  await put('reg/big/model.safetensors', BIG_ST);
  await put('reg/clean/model.safetensors', fixture('benign/model.safetensors'));
  await put('reg/single.pkl', fixture('malicious/builtins_exec.pkl'));
  // A folder marker, as the S3 console makes: not a model.
  await put('reg/', new Uint8Array(0));
});

afterAll(async () => {
  sdk?.destroy();
  await s3?.stop();
  s3?.remove();
  if (dbDir) rmSync(dbDir, { recursive: true, force: true });
});

async function context(name: string): Promise<S3ModelContext & { close: () => Promise<void> }> {
  const store = openSqliteStore(join(dbDir, `${name}.db`));
  await store.migrate();
  const engine = crawlEngine();
  const opened = await S3Session.open({ endpoint: s3.endpoint, credentials: S3_CREDENTIALS, env: {} });
  if (!opened.ok) throw new Error(opened.error.message);
  return {
    store,
    results: new CrawlResults(store),
    engine,
    engineKey: engineKeyOf(engine.info),
    session: opened.value,
    endpoint: s3.endpoint,
    limiter: null,
    locks: null,
    fileConcurrency: 2,
    maxFileBytes: 1 << 30,
    maxFilesPerRepo: 1000,
    metrics: new WorkerMetrics(),
    close: async () => {
      opened.value.destroy();
      await store.close();
    },
  };
}

describe('S3 models in the worker (no Redis)', () => {
  it('scans each object of a model by ranges into the store, with exact findings; a second visit scans nothing', async () => {
    const ctx = await context('worker');
    try {
      const r = await processS3Model(ctx, { repo: `${s3.bucket}/reg/big/`, revision: 'latest', run: 'r1' });
      expect(r).toMatchObject({ type: 's3', repo: `${s3.bucket}/reg/big/`, status: 'done', unchanged: false, files: 2, scanned: 2, skipped: 0, fileErrors: 0 });
      expect(r.commit).toMatch(/^[0-9a-f]{40}$/);
      // Range scans: a fraction of the 32 MiB + 8 MiB.
      expect(r.bytesFetched).toBeLessThan((BIG.length + BIG_ST.length) * 0.01);
      const files = await ctx.results.listFiles('s3', `${s3.bucket}/reg/big/`, r.commit);
      expect(files.map((f) => [f.path, f.size, f.sha256, f.errorKind])).toEqual([
        ['model.safetensors', BIG_ST.length, null, null],
        ['pytorch_model.bin', BIG.length, null, null],
      ]);
      const zip = (await ctx.store.getScanById(files[1]!.scanId!))!;
      // Not the content's sha256 (never hashed whole): stored where the gateway never looks.
      expect(zip.engineKey).toBe(unverifiedEngineKey(ctx.engineKey));
      const report = zip.report as ScanReport['files'][number];
      expect(report.findings.map((x) => [x.rule, x.evidence.canonical, x.location.path])).toEqual([
        ['PICKLE_DANGEROUS_GLOBAL', 'os.system', [`s3://${s3.bucket}/reg/big/pytorch_model.bin`, 'big/data.pkl']],
      ]);
      expect(report.remote!.url).toBe(`s3://${s3.bucket}/reg/big/pytorch_model.bin`);

      const again = await processS3Model(ctx, { repo: `${s3.bucket}/reg/big/`, revision: 'latest', run: 'r2' });
      expect(again).toMatchObject({ commit: r.commit, unchanged: true, scanned: 0, bytesFetched: 0 });
    } finally {
      await ctx.close();
    }
  });

  it('a small object is read whole and stored under its real sha256; a model that is one object is its own file', async () => {
    const ctx = await context('small');
    try {
      const r = await processS3Model(ctx, { repo: `${s3.bucket}/reg/bert/`, revision: 'latest', run: 'r1' });
      const files = await ctx.results.listFiles('s3', `${s3.bucket}/reg/bert/`, r.commit);
      expect(files.map((f) => f.path)).toEqual(['config.json', 'pytorch_model.bin']);
      expect(files[1]!.sha256).toBe(sha256(BERT));
      const scan = (await ctx.store.getScan(sha256(BERT), ctx.engineKey))!;
      expect((scan.report as ScanReport['files'][number]).findings.map((x) => x.evidence.canonical)).toEqual(['os.system']);
      const one = await processS3Model(ctx, { repo: `${s3.bucket}/reg/single.pkl`, revision: 'latest', run: 'r1' });
      expect(one).toMatchObject({ files: 1, scanned: 1, status: 'done' });
      const single = await ctx.results.listFiles('s3', `${s3.bucket}/reg/single.pkl`, one.commit);
      expect(single.map((f) => [f.path, f.sha256])).toEqual([['single.pkl', sha256(fixture('malicious/builtins_exec.pkl'))]]);
    } finally {
      await ctx.close();
    }
  });

  it('an object that may not be read is a file error, the model partial; an unknown prefix fails the job as not-found', async () => {
    const ctx = await context('denied');
    s3.refuse = (method, url) => (method === 'GET' && url.startsWith(`/${s3.bucket}/reg/bert/pytorch_model.bin`) ? { status: 403, code: 'AccessDenied' } : null);
    try {
      const r = await processS3Model(ctx, { repo: `${s3.bucket}/reg/bert/`, revision: 'latest', run: 'r1' });
      expect(r).toMatchObject({ status: 'partial', scanned: 1, fileErrors: 1 });
      const files = await ctx.results.listFiles('s3', `${s3.bucket}/reg/bert/`, r.commit);
      expect(files.map((f) => [f.path, f.scanId === null, f.errorKind, f.error])).toEqual([
        ['config.json', false, null, null],
        ['pytorch_model.bin', true, 'not-found', `s3://${s3.bucket}/reg/bert/pytorch_model.bin: access denied (AccessDenied, HTTP 403)`],
      ]);
      expect((await ctx.results.getRepository('s3', `${s3.bucket}/reg/bert/`, r.commit))!.status).toBe('partial');
      await expect(processS3Model(ctx, { repo: `${s3.bucket}/reg/none/`, revision: 'latest', run: 'r1' })).rejects.toMatchObject({
        kind: 'not-found',
        message: `s3://${s3.bucket}/reg/none/: no object under this prefix`,
      });
    } finally {
      s3.refuse = null;
      await ctx.close();
    }
  });

  it('the listing fingerprint changes with any object, and job ids escape what BullMQ forbids', () => {
    const a = { key: 'm/a', size: 1, etag: '"x"', lastModified: null, storageClass: null };
    expect(listingCommit([a])).not.toBe(listingCommit([{ ...a, etag: '"y"' }]));
    expect(listingCommit([a, { ...a, key: 'm/b' }])).toBe(listingCommit([{ ...a, key: 'm/b' }, a]));
    expect(jobIdOf('s3', 'models/runs/1:2/%x/', 'latest')).toBe('s3/models/runs/1%3A2/%25x/@latest');
  });
});

describe.skipIf(!redis.ok)(`crawl --s3 on Redis${redis.ok ? '' : ` — SKIPPED: ${redis.ok ? '' : redis.reason}`}`, () => {
  it('enqueues each subdirectory and each top-level object as a model, the worker scans them, a re-crawl scans only what changed', async () => {
    if (!redis.ok) return;
    const queue = `mg-s3-${process.pid}-${Date.now()}`;
    const storePath = join(dbDir, 'e2e.db');
    const saved = { id: process.env['AWS_ACCESS_KEY_ID'], secret: process.env['AWS_SECRET_ACCESS_KEY'] };
    // The worker's credentials are its own environment's, as on a real fleet.
    process.env['AWS_ACCESS_KEY_ID'] = S3_CREDENTIALS.accessKeyId;
    process.env['AWS_SECRET_ACCESS_KEY'] = S3_CREDENTIALS.secretAccessKey;
    const worker = await startCrawlWorker({
      redisUrl: redis.url,
      queue,
      store: storePath,
      concurrency: 2,
      fileConcurrency: 2,
      rate: 0,
      burst: 10,
      lockMs: 30_000,
      stalledIntervalMs: 30_000,
      maxFileBytes: 1 << 30,
      maxFilesPerRepo: 1000,
      redirectHosts: [],
      timeoutMs: 30_000,
      log: () => undefined,
    });
    const crawl = () =>
      runCrawl({
        redisUrl: redis.url,
        queue,
        endpoint: 'https://huggingface.co',
        sources: { authors: [], searches: [], all: false, datasets: false, s3: [`s3://${s3.bucket}/reg`] },
        s3: { endpoint: s3.endpoint, env: { AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey } },
        attempts: 2,
        backoffMs: 100,
        rate: 0,
        burst: 10,
        store: storePath,
        wait: true,
        waitTimeoutMs: 120_000,
        log: () => undefined,
      });
    try {
      const first = await crawl();
      expect(first).toMatchObject({ enqueued: 4, added: 4, done: 4, failed: 0, filesScanned: 6, fileErrors: 0 });
      const store = openSqliteStore(storePath);
      const results = new CrawlResults(store);
      const repos = await results.listRepositories();
      expect(repos.map((r) => [r.type, r.repo, r.status, r.files])).toEqual([
        ['s3', `${s3.bucket}/reg/bert/`, 'done', 2],
        ['s3', `${s3.bucket}/reg/big/`, 'done', 2],
        ['s3', `${s3.bucket}/reg/clean/`, 'done', 1],
        ['s3', `${s3.bucket}/reg/single.pkl`, 'done', 1],
      ]);
      const second = await crawl();
      expect(second).toMatchObject({ enqueued: 4, done: 4, filesScanned: 0, bytesFetched: 0 });
      await put('reg/clean/model.safetensors', fixture('benign/safetensors_metadata_config.safetensors'));
      const third = await crawl();
      expect(third).toMatchObject({ done: 4, filesScanned: 1, fileErrors: 0 });
      const clean = (await results.listRepositories()).filter((r) => r.repo === `${s3.bucket}/reg/clean/`);
      expect(clean).toHaveLength(2);
      await store.close();
    } finally {
      await worker.close();
      await dropQueues(redis.url, [queue]);
      process.env['AWS_ACCESS_KEY_ID'] = saved.id;
      process.env['AWS_SECRET_ACCESS_KEY'] = saved.secret;
      if (saved.id === undefined) delete process.env['AWS_ACCESS_KEY_ID'];
      if (saved.secret === undefined) delete process.env['AWS_SECRET_ACCESS_KEY'];
    }
  }, 180_000);
});
