/**
 * A real S3-compatible server for tests: s3rver (the S3 REST API over a directory) on 127.0.0.1
 * with an ephemeral port. It accepts the access key id `S3RVER` and does not check SigV4
 * signatures, so any secret works; the tests speak real HTTP to it through the AWS SDK.
 *
 * Clients reach it through a small pass-through proxy, which records each request and can
 * refuse writes (503, as an overloaded or read-only S3 would) while reads still work, answer
 * chosen requests with an S3 error of the test's choosing (403 AccessDenied, …), or change the
 * headers of the server's answers (another ETag, as if the object had been replaced).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

// The SDK warns once per process that its 2027 releases will need Node 22: noise in test output.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

export const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface S3TestServer {
  endpoint: string;
  bucket: string;
  /** Every request it received, as `METHOD /path?query`, oldest first. */
  requests: string[];
  /** While true, PUT and POST requests are answered 503 ServiceUnavailable. */
  failWrites: boolean;
  /** Requests for which it returns an error are answered with it, not passed on. */
  refuse: ((method: string, url: string) => { status: number; code: string } | null) | null;
  /** May change the headers of the server's answers before the client sees them. */
  rewriteHeaders: ((method: string, url: string, headers: IncomingHttpHeaders) => void) | null;
  /** Stop listening (connections are then refused); the directory stays until remove(). */
  stop(): Promise<void>;
  remove(): void;
}

const UNAVAILABLE = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code><Message>writes refused by the test</Message></Error>';

export async function startS3Server(bucket = 'models'): Promise<S3TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'mg-s3rver-'));
  const s3rver = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: bucket }] });
  const target = await s3rver.run();
  const requests: string[] = [];
  const control: { failWrites: boolean; refuse: S3TestServer['refuse']; rewriteHeaders: S3TestServer['rewriteHeaders'] } = { failWrites: false, refuse: null, rewriteHeaders: null };

  const proxy = createServer((req: IncomingMessage, res: ServerResponse) => {
    requests.push(`${req.method} ${req.url}`);
    if (control.failWrites && (req.method === 'PUT' || req.method === 'POST')) {
      req.resume();
      req.on('end', () => res.writeHead(503, { 'content-type': 'application/xml' }).end(UNAVAILABLE));
      return;
    }
    const refused = control.refuse?.(req.method ?? '', req.url ?? '') ?? null;
    if (refused !== null) {
      req.resume();
      const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${refused.code}</Code><Message>refused by the test</Message></Error>`;
      req.on('end', () => res.writeHead(refused.status, { 'content-type': 'application/xml' }).end(body));
      return;
    }
    const upstream = request({ host: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      control.rewriteHeaders?.(req.method ?? '', req.url ?? '', up.headers);
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const port = (proxy.address() as AddressInfo).port;

  let running = true;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    requests,
    get failWrites() {
      return control.failWrites;
    },
    set failWrites(v: boolean) {
      control.failWrites = v;
    },
    get refuse() {
      return control.refuse;
    },
    set refuse(v) {
      control.refuse = v;
    },
    get rewriteHeaders() {
      return control.rewriteHeaders;
    },
    set rewriteHeaders(v) {
      control.rewriteHeaders = v;
    },
    async stop() {
      if (!running) return;
      running = false;
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
      s3rver.httpServer!.closeAllConnections();
      await s3rver.close();
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
