/**
 * The S3 blob store against a real S3-compatible server (s3rver over HTTP on 127.0.0.1): the
 * same contract as the filesystem store, plus what sharing adds — a second store with an empty
 * cache finds and verifies a blob, a tampered object is refused, and an unreachable server is
 * an error, never "absent" and never a successful commit.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadGatewayConfig } from '../../src/gateway/config.js';
import { FsBlobStore, openFsBlobStore } from '../../src/store/blobs-fs.js';
import { openBlobStore, parseBlobStoreLocation, SHARED_SWEEP_MIN_AGE_MS } from '../../src/store/blobs-open.js';
import { S3BlobStore } from '../../src/store/blobs-s3.js';
import { S3_CREDENTIALS, startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { expectStoreError } from './contract.js';

const root = mkdtempSync(join(tmpdir(), 'mg-blobs-s3-'));
let n = 0;
const freshDir = (): string => join(root, `cache-${++n}`);
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Regular files under a directory, relative to it (the whole local cache: blobs and tmp). */
function filesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(dir.length + 1));
}

let s3: S3TestServer;
let sdk: S3Client;

async function s3Store(opts: { dir?: string; prefix?: string; partSize?: number; server?: S3TestServer } = {}): Promise<{ store: S3BlobStore; dir: string }> {
  const dir = opts.dir ?? freshDir();
  const server = opts.server ?? s3;
  const store = new S3BlobStore({
    bucket: server.bucket,
    prefix: opts.prefix ?? 'mg/',
    cache: await openFsBlobStore(dir),
    endpoint: server.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: S3_CREDENTIALS,
    ...(opts.partSize !== undefined ? { partSize: opts.partSize } : {}),
  });
  return { store, dir };
}

async function put(store: S3BlobStore, data: Uint8Array): Promise<string> {
  const w = await store.create();
  await w.write(data);
  const digest = await w.finish();
  await w.commit(digest);
  return digest;
}

async function objectBytes(key: string): Promise<Buffer> {
  const res = await sdk.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

beforeAll(async () => {
  s3 = await startS3Server();
  sdk = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3_CREDENTIALS });
});

afterAll(async () => {
  sdk?.destroy();
  await s3?.stop();
  s3?.remove();
  rmSync(root, { recursive: true, force: true });
});

describe('S3 blob store', () => {
  it('round trip: the blob is published locally and in S3 under <prefix>blobs/<sha256> with its hash as metadata', async () => {
    const { store, dir } = await s3Store();
    const data = randomBytes(300_000);
    const want = sha256(data);
    const w = await store.create();
    await w.write(data.subarray(0, 100_000));
    await w.write(data.subarray(100_000));
    expect(w.written).toBe(300_000);
    expect(await w.finish()).toBe(want);
    expect(await store.has(want)).toBe(false); // finished is not published, here or in S3
    await w.commit(want);
    await w.abort(); // no-op after commit

    expect(await store.has(want)).toBe(true);
    expect(await store.size(want)).toBe(300_000);
    const path = await store.localPath(want);
    expect(path).toBe(join(dir, 'blobs', want.slice(0, 2), want.slice(2, 4), want));
    expect(readFileSync(path!).equals(data)).toBe(true);
    expect(filesIn(join(dir, 'tmp'))).toEqual([]);

    const head = await sdk.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `mg/blobs/${want}` }));
    expect(head.ContentLength).toBe(300_000);
    expect(head.Metadata).toEqual({ sha256: want });
    expect((await objectBytes(`mg/blobs/${want}`)).equals(data)).toBe(true);
    await store.close();
  });

  it('uploads a large blob in parts and a second store reassembles the same bytes', async () => {
    const { store } = await s3Store({ partSize: 5 << 20 });
    const data = randomBytes(11 << 20);
    const want = await put(store, data);
    expect(s3.requests.filter((r) => r.startsWith(`POST /${s3.bucket}/mg/blobs/${want}?uploads`))).toHaveLength(1);
    expect(s3.requests.filter((r) => r.startsWith(`PUT /${s3.bucket}/mg/blobs/${want}?`) && r.includes('partNumber='))).toHaveLength(3);
    const { store: other } = await s3Store();
    expect(readFileSync((await other.localPath(want))!).equals(data)).toBe(true);
    await store.close();
    await other.close();
  });

  it('a commit under the wrong hash is refused and leaves nothing, locally or in S3', async () => {
    const { store, dir } = await s3Store();
    const w = await store.create();
    const data = new TextEncoder().encode('not what upstream promised');
    await w.write(data);
    const real = await w.finish();
    const claimed = 'ab'.repeat(32);
    const requestsBefore = s3.requests.length;
    const err = await expectStoreError(w.commit(claimed), 'corrupt');
    expect(err.message).toContain(`expected ${claimed}`);
    expect(s3.requests.slice(requestsBefore)).toEqual([]); // nothing was sent to S3
    expect(filesIn(dir)).toEqual([]);
    expect(await store.has(claimed)).toBe(false);
    expect(await store.has(real)).toBe(false);
    await expectStoreError(w.commit(real), 'invalid'); // the writer is spent
    await expectStoreError(store.has('../../etc/passwd'), 'invalid');
    await store.close();
  });

  it('a second store with an empty cache finds the blob in S3; concurrent localPath calls share one verified download', async () => {
    const { store: a } = await s3Store();
    const data = randomBytes(2 << 20);
    const want = await put(a, data);
    const { store: b, dir } = await s3Store();
    expect(filesIn(dir)).toEqual([]);
    expect(await b.has(want)).toBe(true);
    expect(await b.size(want)).toBe(2 << 20);
    expect(filesIn(dir)).toEqual([]); // has/size look, they do not download

    const gets = (): number => s3.requests.filter((r) => r === `GET /${s3.bucket}/mg/blobs/${want}?x-id=GetObject`).length;
    const getsBefore = gets();
    const [p1, p2, p3] = await Promise.all([b.localPath(want), b.localPath(want), b.localPath(want)]);
    expect(gets() - getsBefore).toBe(1);
    expect(p1).toBe(join(dir, 'blobs', want.slice(0, 2), want.slice(2, 4), want));
    expect(p2).toBe(p1);
    expect(p3).toBe(p1);
    expect(readFileSync(p1!).equals(data)).toBe(true);
    expect(filesIn(dir)).toEqual([join('blobs', want.slice(0, 2), want.slice(2, 4), want)]);
    // Now cached: no further request to S3.
    const before = s3.requests.length;
    expect(await b.localPath(want)).toBe(p1);
    expect(s3.requests.length).toBe(before);
    await a.close();
    await b.close();
  });

  it('committing a blob S3 already holds does not upload it again', async () => {
    const data = randomBytes(64 * 1024);
    const { store: a } = await s3Store();
    const want = await put(a, data);
    const { store: b, dir } = await s3Store();
    const before = s3.requests.length;
    expect(await put(b, data)).toBe(want);
    expect(s3.requests.slice(before)).toEqual([`HEAD /${s3.bucket}/mg/blobs/${want}`]);
    expect(readFileSync((await b.localPath(want))!).equals(data)).toBe(true);
    expect(filesIn(join(dir, 'tmp'))).toEqual([]);
    await a.close();
    await b.close();
  });

  it('answers absent blobs with false and null', async () => {
    const { store, dir } = await s3Store();
    const absent = '0'.repeat(64);
    expect(await store.has(absent)).toBe(false);
    expect(await store.size(absent)).toBeNull();
    expect(await store.localPath(absent)).toBeNull();
    expect(filesIn(dir)).toEqual([]);
    await store.close();
  });

  it('an object tampered with in S3 is refused as corrupt and nothing of it stays in the cache', async () => {
    const { store: a } = await s3Store();
    const data = randomBytes(100_000);
    const want = await put(a, data);
    const evil = Buffer.from(data);
    evil[50_000] = evil[50_000]! ^ 0xff; // same size: a size check alone would not notice
    await sdk.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `mg/blobs/${want}`, Body: evil }));

    const { store: b, dir } = await s3Store();
    const err = await expectStoreError(b.localPath(want), 'corrupt');
    expect(err.message).toBe(`blob s3://${s3.bucket}/mg/blobs/${want} has sha256 ${sha256(evil)}, not the ${want} its key names: refused`);
    expect(filesIn(dir)).toEqual([]);
    // Refused again on the next ask (nothing was cached), and the writer's own cache is unaffected.
    await expectStoreError(b.localPath(want), 'corrupt');
    expect(readFileSync((await a.localPath(want))!).equals(data)).toBe(true);

    // The next commit of the verified bytes (a fresh download elsewhere) repairs the object:
    // same size, but it no longer names its sha256, so it is not taken for the blob.
    const { store: c } = await s3Store();
    expect(await put(c, data)).toBe(want);
    expect((await objectBytes(`mg/blobs/${want}`)).equals(data)).toBe(true);
    const { store: d } = await s3Store();
    expect(readFileSync((await d.localPath(want))!).equals(data)).toBe(true);
    for (const st of [a, b, c, d]) await st.close();
  });

  it('an upload S3 refuses fails the commit, publishes nothing and leaves no object behind', async () => {
    for (const size of [40_000, 11 << 20]) {
      const { store, dir } = await s3Store({ partSize: 5 << 20 });
      const data = randomBytes(size);
      const want = sha256(data);
      s3.failWrites = true;
      try {
        const w = await store.create();
        await w.write(data);
        expect(await w.finish()).toBe(want);
        const err = await expectStoreError(w.commit(want), 'unavailable');
        expect(err.message).toMatch(new RegExp(`^upload blob to s3://${s3.bucket}/mg/blobs/${want}: ServiceUnavailable \\(HTTP 503\\): writes refused by the test$`));
        await expectStoreError(w.commit(want), 'invalid'); // the writer is spent
      } finally {
        s3.failWrites = false;
      }
      expect(filesIn(dir)).toEqual([]);
      expect(await store.has(want)).toBe(false);
      expect(await store.localPath(want)).toBeNull();
      await store.close();
    }
  });

  it('with S3 unreachable, lookups and commits fail with "unavailable" and nothing is published', async () => {
    const server = await startS3Server('outage');
    const { store: a } = await s3Store({ server });
    const cachedData = randomBytes(10_000);
    const cached = await put(a, cachedData);
    const { store, dir } = await s3Store({ server });
    const sharedOnly = await put(a, randomBytes(20_000));
    await server.stop();

    // What is in S3 (or not) cannot be known: an error, never "absent".
    const e1 = await expectStoreError(store.has(sharedOnly), 'unavailable');
    expect(e1.message).toMatch(new RegExp(`^look up s3://outage/mg/blobs/${sharedOnly}: .*ECONNREFUSED`));
    await expectStoreError(store.size(sharedOnly), 'unavailable');
    const e2 = await expectStoreError(store.localPath(sharedOnly), 'unavailable');
    expect(e2.message).toContain(`download s3://outage/mg/blobs/${sharedOnly}`);

    // A new blob cannot be shared, so it is not published here either.
    const data = randomBytes(30_000);
    const w = await store.create();
    await w.write(data);
    const digest = await w.finish();
    const e3 = await expectStoreError(w.commit(digest), 'unavailable');
    expect(e3.message).toContain(`s3://outage/mg/blobs/${digest}`);
    expect(filesIn(dir)).toEqual([]);
    expect(await store.localPath(digest).catch((e: Error) => e.message)).toContain('ECONNREFUSED');
    await expectStoreError(w.commit(digest), 'invalid'); // the writer is spent

    // The local cache still answers for what it holds.
    expect(readFileSync((await a.localPath(cached))!).equals(cachedData)).toBe(true);
    expect(await a.has(cached)).toBe(true);
    await a.close();
    await store.close();
    server.remove();
  });
});

describe('blob store location', () => {
  it('parses the default, directories and s3:// URLs with their parameters', () => {
    expect(parseBlobStoreLocation(undefined, {})).toEqual({ kind: 'default' });
    expect(parseBlobStoreLocation('  ', {})).toEqual({ kind: 'default' });
    expect(parseBlobStoreLocation('/mnt/shared/blobs', {})).toEqual({ kind: 'fs', path: '/mnt/shared/blobs' });
    expect(parseBlobStoreLocation('file:///mnt/shared', {})).toEqual({ kind: 'fs', path: '/mnt/shared' });
    expect(parseBlobStoreLocation('file:rel/dir', {})).toEqual({ kind: 'fs', path: 'rel/dir' });
    expect(parseBlobStoreLocation('C:\\blobs', {})).toEqual({ kind: 'fs', path: 'C:\\blobs' });
    expect(parseBlobStoreLocation('s3://models/mg/gateway?endpoint=http://127.0.0.1:9000&region=eu-west-1&pathStyle=0&checksum=0', {})).toEqual({
      kind: 's3',
      bucket: 'models',
      prefix: 'mg/gateway/',
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-1',
      forcePathStyle: false,
      checksum: false,
    });
    // AWS itself: virtual-hosted buckets; an S3-compatible endpoint: path style.
    expect(parseBlobStoreLocation('s3://models', {})).toEqual({ kind: 's3', bucket: 'models', prefix: '', endpoint: undefined, region: 'us-east-1', forcePathStyle: false, checksum: true });
    expect(parseBlobStoreLocation('s3://models/', { AWS_ENDPOINT_URL: 'http://minio:9000', AWS_ENDPOINT_URL_S3: 'http://s3.local:9000', AWS_REGION: 'ap-south-1' })).toEqual({
      kind: 's3',
      bucket: 'models',
      prefix: '',
      endpoint: 'http://s3.local:9000',
      region: 'ap-south-1',
      forcePathStyle: true,
      checksum: true,
    });
  });

  it('refuses what it cannot use with one line, never echoing credentials', () => {
    const msg = (loc: string): string => {
      try {
        parseBlobStoreLocation(loc, {});
      } catch (e) {
        return `${(e as { kind: string }).kind}: ${(e as Error).message}`;
      }
      return 'accepted';
    };
    expect(msg('gs://bucket/x')).toBe('invalid: unsupported blob store URL scheme "gs:"; use a directory path, file:PATH or s3://bucket[/prefix][?endpoint=URL&region=R&pathStyle=1]');
    expect(msg('s3://AKIAEXAMPLE:s3cr3t@models/x')).toBe('invalid: blob store URL must not carry credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or another source the AWS SDK reads)');
    expect(msg('s3://models?endpoint=http://key:s3cr3t@127.0.0.1:9000')).toBe('invalid: blob store: endpoint must not carry credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
    expect(msg('s3://models?secretKey=s3cr3t')).toBe('invalid: blob store URL: unknown parameter "secretKey" (known: endpoint, region, pathStyle, checksum)');
    expect(msg('s3://models?endpoint=ftp://x')).toBe('invalid: blob store: endpoint must be an http:// or https:// URL');
    expect(msg('s3://models?pathStyle=maybe')).toBe('invalid: blob store URL: pathStyle must be 1 or 0 (true or false)');
    expect(msg('s3:///prefix')).toMatch(/^invalid: blob store URL names no valid bucket/);
    expect(msg('file:')).toBe('invalid: blob store location "file:" names no directory');
  });

  it('is a gateway setting (MODELGATE_BLOB_STORE, blobStore) checked at start-up', () => {
    const cfg = loadGatewayConfig({ env: { MODELGATE_BLOB_STORE: 's3://models/mg?endpoint=http://127.0.0.1:9000' }, flags: { dataDir: root } });
    expect(cfg.blobStore).toBe('s3://models/mg?endpoint=http://127.0.0.1:9000');
    expect(loadGatewayConfig({ env: {}, flags: { dataDir: root } }).blobStore).toBeUndefined();
    expect(() => loadGatewayConfig({ env: { MODELGATE_BLOB_STORE: 'ftp://host/x' }, flags: { dataDir: root } })).toThrow(ConfigError);
    expect(() => loadGatewayConfig({ env: {}, flags: { dataDir: root, blobStore: 'ftp://host/x' } })).toThrow(
      'configuration: blobStore: unsupported blob store URL scheme "ftp:"; use a directory path, file:PATH or s3://bucket[/prefix][?endpoint=URL&region=R&pathStyle=1]',
    );
  });

  it('opens the filesystem store at <dataDir>/cache by default and at a named directory when given', async () => {
    const dataDir = freshDir();
    const def = await openBlobStore(undefined, dataDir, { env: {} });
    expect(def).toBeInstanceOf(FsBlobStore);
    expect((def as FsBlobStore).root).toBe(join(dataDir, 'cache'));
    const shared = join(root, 'shared-dir');
    const named = await openBlobStore(`file:${shared}`, dataDir, { env: {} });
    expect((named as FsBlobStore).root).toBe(shared);
    expect(readdirSync(shared).sort()).toEqual(['blobs', 'tmp']);
    const viaS3 = await openBlobStore(`s3://${s3.bucket}/open/?endpoint=${s3.endpoint}`, dataDir, { env: {} });
    expect(viaS3).toBeInstanceOf(S3BlobStore);
    expect((viaS3 as S3BlobStore).cache.root).toBe(join(dataDir, 'cache'));
    expect((viaS3 as S3BlobStore).keyFor('A'.repeat(64))).toBe(`open/blobs/${'a'.repeat(64)}`);
    await viaS3.close?.();
    expect(SHARED_SWEEP_MIN_AGE_MS).toBe(6 * 3600_000);
  });
});
