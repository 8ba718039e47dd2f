/**
 * Two gateways with separate data directories share one store (SQLite file) and one S3 bucket
 * (s3rver, a real S3-compatible server on 127.0.0.1). What one downloaded and scanned, the other
 * serves byte for byte without asking upstream for the bytes; with S3 gone, both refuse (503)
 * rather than serve from a guess or publish a blob the others cannot find.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGatewayConfig } from '../../src/gateway/config.js';
import { createGateway, type Gateway } from '../../src/gateway/server.js';
import { startHub } from '../../src/hub/server.js';
import { S3_CREDENTIALS, startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { filesUnder } from './stack.js';

const ENV_KEYS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION'] as const;
const savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));

describe('gateways sharing an S3 blob store', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'mg-gw-s3-'));
  const repos = join(tmp, 'repos');
  const storePath = join(tmp, 'shared', 'modelgate.db');
  const files: Record<string, Buffer> = {};
  let hub: Awaited<ReturnType<typeof startHub>>;
  let s3: S3TestServer;
  const gateways: Gateway[] = [];

  const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  const downloads = (name: string): number => hub.app.hub.requests.filter((r) => r.method === 'GET' && r.url.endsWith(`/${name}`)).length;
  const metric = async (base: string, line: RegExp): Promise<string | null> => line.exec(await (await fetch(`${base}/metrics`)).text())?.[0] ?? null;

  async function gateway(name: string): Promise<{ base: string; dataDir: string }> {
    const dataDir = join(tmp, name);
    const cfg = loadGatewayConfig({
      env: {},
      flags: { host: '127.0.0.1', port: 0, upstream: hub.url, dataDir, store: storePath, blobStore: `s3://${s3.bucket}/gw?endpoint=${s3.endpoint}`, logLevel: 'silent', scanWorkers: 1 },
    });
    const gw = await createGateway(cfg);
    gateways.push(gw);
    return { base: await gw.listen(), dataDir };
  }

  beforeAll(async () => {
    // The gateway leaves credentials to the AWS SDK, which reads them from the environment.
    process.env['AWS_ACCESS_KEY_ID'] = S3_CREDENTIALS.accessKeyId;
    process.env['AWS_SECRET_ACCESS_KEY'] = S3_CREDENTIALS.secretAccessKey;
    process.env['AWS_REGION'] = 'us-east-1';
    for (const name of ['shared.bin', 'outage.bin']) {
      const dir = join(repos, 'acme', name.replace('.bin', ''));
      mkdirSync(dir, { recursive: true });
      files[name] = randomBytes(3 << 20);
      writeFileSync(join(dir, name), files[name]!);
    }
    hub = await startHub({ dir: repos, logger: false });
    s3 = await startS3Server();
  });

  afterAll(async () => {
    for (const gw of gateways) await gw.close();
    await hub?.close();
    await s3?.stop();
    s3?.remove();
    for (const k of ENV_KEYS) {
      if (savedEnv[k] === undefined) delete process.env[k];
      else process.env[k] = savedEnv[k];
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  it('gateway B serves what gateway A downloaded, from S3, without an upstream download', async () => {
    const path = '/acme/shared/resolve/main/shared.bin';
    const data = files['shared.bin']!;
    const sha = sha256(data);
    const a = await gateway('a');
    const resA = await fetch(a.base + path);
    expect(resA.status).toBe(200);
    expect(Buffer.from(await resA.arrayBuffer()).equals(data)).toBe(true);
    expect(downloads('shared.bin')).toBe(1);
    expect(await metric(a.base, /^modelgate_upstream_downloads_total .*$/m)).toBe('modelgate_upstream_downloads_total 1');

    // The blob is in the bucket under its sha256, byte for byte.
    const sdk = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3_CREDENTIALS });
    const obj = await sdk.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `gw/blobs/${sha}` }));
    expect(Buffer.from(await obj.Body!.transformToByteArray()).equals(data)).toBe(true);
    sdk.destroy();

    const b = await gateway('b');
    expect(filesUnder(join(b.dataDir, 'cache'))).toEqual([]);
    const resB = await fetch(b.base + path);
    expect(resB.status).toBe(200);
    expect(Buffer.from(await resB.arrayBuffer()).equals(data)).toBe(true);
    const ranged = await fetch(b.base + path, { headers: { range: 'bytes=1000-1999' } });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(data.subarray(1000, 2000))).toBe(true);

    // No second download upstream: the verdict came from the shared store, the bytes from S3.
    expect(downloads('shared.bin')).toBe(1);
    expect(await metric(b.base, /^modelgate_upstream_downloads_total.*$/m)).toBeNull();
    expect(await metric(b.base, /^modelgate_cache_hits_total\{kind="verdict"\} .*$/m)).toBe('modelgate_cache_hits_total{kind="verdict"} 2');
    const cached = join(b.dataDir, 'cache', 'blobs', sha.slice(0, 2), sha.slice(2, 4), sha);
    expect(filesUnder(join(b.dataDir, 'cache'))).toEqual([cached]);
    expect(readFileSync(cached).equals(data)).toBe(true);
  });

  it('a blob that could not be uploaded is refused (503) and not kept; served once S3 takes writes again', async () => {
    const path = '/acme/outage/resolve/main/outage.bin';
    const data = files['outage.bin']!;
    const a = await gateway('a2');
    s3.failWrites = true;
    const refused = await fetch(a.base + path);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('x-error-message')).toBe('modelgate storage is unavailable; refusing to serve unscanned or unaudited bytes');
    expect(downloads('outage.bin')).toBe(1); // downloaded and scanned, but not shareable
    expect(filesUnder(join(a.dataDir, 'cache'))).toEqual([]);

    s3.failWrites = false;
    const ok = await fetch(a.base + path);
    expect(ok.status).toBe(200);
    expect(Buffer.from(await ok.arrayBuffer()).equals(data)).toBe(true);
    expect(downloads('outage.bin')).toBe(2);
    const sdk = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3_CREDENTIALS });
    const head = await sdk.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `gw/blobs/${sha256(data)}` }));
    sdk.destroy();
    expect(head.ContentLength).toBe(3 << 20);
    expect(head.Metadata).toEqual({ sha256: sha256(data) });
  });

  it('a tampered object in the bucket is refused (502) and never cached, on a gateway that must fetch it', async () => {
    const data = files['shared.bin']!;
    const sdk = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3_CREDENTIALS });
    const key = `gw/blobs/${sha256(data)}`;
    const tampered = Buffer.from(data);
    tampered[0] = tampered[0]! ^ 0xff;
    await sdk.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: tampered }));
    try {
      const d = await gateway('d');
      const refused = await fetch(d.base + '/acme/shared/resolve/main/shared.bin');
      expect(refused.status).toBe(502);
      expect(refused.headers.get('x-error-message')).toBe('refused by modelgate: the stored copy of this file failed its sha256 check; nothing was served');
      expect(filesUnder(join(d.dataDir, 'cache'))).toEqual([]);
    } finally {
      await sdk.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: data, Metadata: { sha256: sha256(data) } }));
      sdk.destroy();
    }
  });

  it('with S3 unreachable, a gateway without the bytes refuses (503) instead of serving or downloading', async () => {
    const c = await gateway('c');
    const ready = await fetch(`${c.base}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready', store: true, blobs: true, disk: true, upstream: true }]);
    await s3.stop();
    const notReady = await fetch(`${c.base}/readyz`);
    expect([notReady.status, await notReady.json()]).toEqual([503, { status: 'not ready', store: true, blobs: false, disk: true, upstream: true }]);
    // C finds the verdict in the shared store but cannot fetch the bytes from S3.
    const refused = await fetch(c.base + '/acme/shared/resolve/main/shared.bin');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('x-error-message')).toBe('modelgate storage is unavailable; refusing to serve unscanned or unaudited bytes');
    expect(downloads('shared.bin')).toBe(1);
    expect(filesUnder(join(c.dataDir, 'cache'))).toEqual([]);
  });
});
