/**
 * `modelgate scan s3://…` of multi-GB models on s3rver over loopback: bytes fetched (target
 * under 0.1 % of each file), GetObject requests and wall time, per object and for the whole
 * prefix at once, with an optional latency added to every request by a small proxy.
 *
 * The models are bench/remote.ts's (torch.save, safetensors, gguf, written by the real
 * libraries into bench/out/remote-hub). They are placed in s3rver's own directory
 * (bench/out/s3rver) by hard link rather than uploaded, which would copy 8 GiB once more;
 * everything the scan does (ListObjectsV2, HeadObject, ranged GetObject) goes through the S3
 * API. s3rver computes each object's MD5 ETag on first sight, and the first s3:// scan loads
 * the AWS SDK: both happen before the clock starts.
 *
 *   node dist/bench/s3.js [latencyMs]        (or: npm run bench -- s3)
 */
import { existsSync, linkSync, mkdirSync, statSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { scanRemote } from '../src/remote/scan.js';
import { CASES, hubDir, makeRemoteFiles } from './remote.js';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const storeDir = join(root, 'bench', 'out', 's3rver');
const BUCKET = 'models';
// s3rver accepts this key id and does not check SigV4 signatures.
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** Forwards to s3rver after `latencyMs`, as a distant endpoint would answer. */
async function delayingProxy(port: number, latencyMs: number): Promise<Server> {
  const proxy = createServer((req, res) => {
    setTimeout(() => {
      const up = request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    }, latencyMs);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  return proxy;
}

function row(what: string, size: number, fetched: number, requests: number, ms: number, verdict: string): string {
  const pct = (100 * fetched) / size;
  return `| ${what} | ${(size / 2 ** 30).toFixed(2)} GiB | ${fetched.toLocaleString('en')} B | ${pct.toFixed(4)} % ${pct < 0.1 ? '✓' : '✗'} | ${requests} | ${ms.toFixed(0)} ms | ${verdict} |`;
}

export async function benchS3(latencyMs = 0): Promise<string[]> {
  makeRemoteFiles();
  for (const c of CASES) {
    const stored = join(storeDir, BUCKET, c.repo, `${c.file}._S3rver_object`);
    if (existsSync(stored)) continue;
    mkdirSync(dirname(stored), { recursive: true });
    linkSync(join(hubDir, c.repo, c.file), stored);
  }
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: storeDir, configureBuckets: [{ name: BUCKET }] });
  const target = await server.run();
  const proxy = await delayingProxy(target.port, latencyMs);
  const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const sdk = new S3Client({ endpoint: `http://127.0.0.1:${target.port}`, region: 'us-east-1', forcePathStyle: true, credentials: CREDENTIALS });
  const rows: string[] = [];
  try {
    for (const c of CASES) await sdk.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${c.repo}/${c.file}` }));
    const s3 = { endpoint, credentials: CREDENTIALS };
    // Untimed: the first s3:// scan of a process loads the AWS SDK (about a second here).
    const warm = CASES.find((c) => c.file.endsWith('.safetensors')) ?? CASES[0]!;
    await scanRemote([`s3://${BUCKET}/${warm.repo}/${warm.file}`], { s3, env: {} });
    let total = 0;
    for (const c of CASES) {
      const size = statSync(join(hubDir, c.repo, c.file)).size;
      total += size;
      const t0 = performance.now();
      const r = await scanRemote([`s3://${BUCKET}/${c.repo}/${c.file}`], { s3, env: {} });
      const ms = performance.now() - t0;
      if (!r.ok) throw new Error(`${c.repo}: ${r.error.message}`);
      const f = r.report.files[0]!;
      rows.push(row(c.what, size, f.remote!.bytesFetched, f.remote!.requests, ms, `${f.maxSeverity ?? 'clean'}${f.complete ? '' : ', incomplete'}`));
    }
    const t0 = performance.now();
    const all = await scanRemote([`s3://${BUCKET}/bench/`], { s3, env: {} });
    const ms = performance.now() - t0;
    if (!all.ok) throw new Error(`bench/: ${all.error.message}`);
    const fetched = all.report.files.reduce((n, f) => n + f.remote!.bytesFetched, 0);
    const requests = all.report.files.reduce((n, f) => n + f.remote!.requests, 0);
    const incomplete = all.report.summary.incomplete;
    rows.push(row(`the whole prefix s3://${BUCKET}/bench/ (${all.report.files.length} objects, one command)`, total, fetched, requests, ms, `${all.report.summary.maxSeverity ?? 'clean'}${incomplete ? `, ${incomplete} incomplete` : ''}`));
  } finally {
    sdk.destroy();
    proxy.closeAllConnections();
    await new Promise((r) => proxy.close(r));
    server.httpServer?.closeAllConnections();
    await server.close();
  }
  return [
    `S3 scans against s3rver on loopback, per-request latency ${latencyMs} ms (a proxy in front of it); \`modelgate scan s3://…\` code path (scanRemote → S3RangeSource). Requests are GetObject only (listing and HeadObject not counted).`,
    '',
    '| object | size | bytes fetched | of the file (target < 0.1 %) | requests | wall time | verdict |',
    '|---|---|---|---|---|---|---|',
    ...rows,
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const latency = Number(process.argv[2] ?? 0);
  for (const line of await benchS3(Number.isFinite(latency) ? latency : 0)) console.log(line);
}
