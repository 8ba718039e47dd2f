/**
 * The gateway against the real local hub: protocol details, caching, single flight, policy
 * outcomes, hostile requests and upstream faults. No mocks: faults are injected into the real
 * upstream server.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/manifest.js';
import { ADMIN, startStack, type Stack } from './stack.js';

const REPOS = join(FIXTURES, 'repos', 'acme');

/** A raw request: fetch would normalise `..` and encoded characters away. */
function raw(base: string, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function upstreamGets(s: Stack, fragment: string): number {
  return s.hub.app.hub.requests.filter((r) => r.method === 'GET' && r.url.includes(fragment)).length;
}

let s: Stack;
/** Unique bytes per fault test, so no earlier download of the same content is in the cache. */
const FAULT_FILES: Record<string, Buffer> = {};
beforeAll(async () => {
  s = await startStack();
  // A file with a medium finding (a duplicate PROTO), which the default policy warns on.
  mkdirSync(join(s.repos, 'acme', 'odd-model'));
  copyFileSync(join(FIXTURES, 'anomalies', 'duplicate_proto.pkl'), join(s.repos, 'acme', 'odd-model', 'weights.pkl'));
  for (const name of ['fault-500', 'fault-sha', 'fault-cut', 'fault-redirect']) {
    mkdirSync(join(s.repos, 'acme', name));
    // Unique text, not random bytes: about one random 64 KiB buffer in 200 sniffs as a pickle or
    // msgpack and is refused, which made "the next request downloads cleanly" flake with a 403.
    const line = `fault test ${name} ${randomBytes(8).toString('hex')}\n`;
    FAULT_FILES[name] = Buffer.from(line.repeat(Math.ceil((64 * 1024) / line.length)).slice(0, 64 * 1024));
    writeFileSync(join(s.repos, 'acme', name, 'weights.bin'), FAULT_FILES[name]!);
  }
}, 60_000);
afterAll(async () => {
  await s?.close();
});

describe('resolve', () => {
  it('HEAD answers the upstream metadata exactly, with the real length', async () => {
    const path = '/acme/tiny-bert/resolve/main/model.safetensors';
    const up = await raw(s.hub.url, path, 'HEAD');
    const gw = await raw(s.base, path, 'HEAD');
    expect(gw.status).toBe(200);
    for (const h of ['x-repo-commit', 'etag', 'x-linked-etag', 'x-linked-size', 'content-length']) expect(gw.headers[h], h).toBe(up.headers[h]);
    expect(gw.headers['accept-ranges']).toBe('bytes');
    expect(gw.headers['x-linked-etag']).toMatch(/^"[0-9a-f]{64}"$/);
  });

  it('serves single ranges (206, Content-Range) and refuses unsatisfiable ones (416)', async () => {
    const path = '/acme/tiny-bert/resolve/main/config.json';
    const whole = readFileSync(join(REPOS, 'tiny-bert', 'config.json'));
    const r = await raw(s.base, path, 'GET', { range: 'bytes=0-0' });
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe(`bytes 0-0/${whole.length}`);
    expect(r.body).toEqual(whole.subarray(0, 1));
    const tail = await raw(s.base, path, 'GET', { range: 'bytes=10-' });
    expect(tail.body).toEqual(whole.subarray(10));
    const bad = await raw(s.base, path, 'GET', { range: `bytes=${whole.length}-` });
    expect(bad.status).toBe(416);
    expect(bad.headers['content-range']).toBe(`bytes */${whole.length}`);
  });

  it('a refused file is refused on Range requests too, without X-Repo-Commit', async () => {
    const r = await raw(s.base, '/acme/evil-bert/resolve/main/pytorch_model.bin', 'GET', { range: 'bytes=0-0' });
    expect(r.status).toBe(403);
    expect(r.headers['x-repo-commit']).toBeUndefined();
    expect(String(r.headers['x-error-message'])).toMatch(/^blocked by modelgate: pytorch_model\.bin calls os\.system \(critical, rule scan-severity\)/);
    expect(JSON.parse(r.body.toString()).error).toBe(r.headers['x-error-message']);
    expect(r.headers['x-request-id']).toMatch(/^[0-9a-f]{16}$/);
  });

  it('fifty concurrent requests for an uncached file cause one upstream download', async () => {
    const path = '/acme/tiny-bert-pickle/resolve/main/pytorch_model.bin';
    const file = '/pytorch_model.bin';
    const before = upstreamGets(s, file);
    const results = await Promise.all(Array.from({ length: 50 }, () => raw(s.base, path)));
    const want = readFileSync(join(REPOS, 'tiny-bert-pickle', 'pytorch_model.bin'));
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.body.equals(want)).toBe(true);
    }
    expect(upstreamGets(s, file) - before).toBe(1);
    // Served again from the verdict cache: no further download.
    await raw(s.base, path);
    expect(upstreamGets(s, file) - before).toBe(1);
  });

  it('a medium finding is served with X-HF-Warning under the default policy', async () => {
    const r = await raw(s.base, '/acme/odd-model/resolve/main/weights.pkl');
    expect(r.status).toBe(200);
    expect(String(r.headers['x-hf-warning'])).toMatch(/^modelgate acme\/odd-model\/weights\.pkl; weights\.pkl: PROTO: duplicate PROTO \(2 then 4\) \(medium, rule scan-severity\)/);
    expect(r.body).toEqual(readFileSync(join(FIXTURES, 'anomalies', 'duplicate_proto.pkl')));
  });

  it('a waiver lets a blocked file through until it is revoked, and both changes are audited', async () => {
    const auth = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const created = await fetch(`${s.base}/admin/waivers`, { method: 'POST', headers: auth, body: JSON.stringify({ repo: 'acme/evil-bert', rule: 'scan-severity', reason: 'vetted by the security team', expiresAt }) });
    expect(created.status).toBe(201);
    const w = (await created.json()) as { id: string; author: string };
    expect(w.author).toBe('bootstrap-admin');
    expect((await raw(s.base, '/acme/evil-bert/resolve/main/pytorch_model.bin')).status).toBe(200);
    expect((await fetch(`${s.base}/admin/waivers/${w.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } })).status).toBe(200);
    expect((await raw(s.base, '/acme/evil-bert/resolve/main/pytorch_model.bin')).status).toBe(403);
    const audit = (await (await fetch(`${s.base}/admin/audit?repo=acme/evil-bert`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { records: Array<{ verdict: string; waivers: string[] }> };
    expect(audit.records.some((r) => r.verdict === 'allow' && r.waivers.includes(w.id))).toBe(true);
  });

  it('an invalid waiver is a 400 naming the problem', async () => {
    const r = await fetch(`${s.base}/admin/waivers`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'no scope', expiresAt: new Date(Date.now() + 1e6).toISOString() }) });
    expect(r.status).toBe(400);
    expect(r.headers.get('x-error-message')).toBe('invalid waiver: body: a waiver needs at least one of repo, sha256, rule');
  });
});

describe('API passthrough', () => {
  it('strips Xet and rewrites tree pagination to the gateway', async () => {
    const gw = await fetch(`${s.base}/api/models/acme/tiny-bert/tree/main?recursive=true`);
    expect(gw.status).toBe(200);
    const text = await gw.text();
    expect(text).not.toContain('xetHash');
    const entries = JSON.parse(text) as Array<{ path: string; lfs?: { oid: string } }>;
    expect(entries.map((e) => e.path).sort()).toEqual(['README.md', 'config.json', 'model.safetensors']);
    expect(entries.find((e) => e.path === 'model.safetensors')!.lfs!.oid).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses writes and Xet token routes', async () => {
    const w = await raw(s.base, '/api/models/acme/tiny-bert/commit/main', 'POST');
    expect(w.status).toBe(403);
    const x = await raw(s.base, '/api/models/acme/tiny-bert/xet-read-token/main', 'GET');
    expect(x.status).toBe(403);
  });
});

describe('hostile requests get a 400 with a message', () => {
  const cases: Array<[string, RegExp]> = [
    ['/acme/../etc/resolve/main/passwd', /repository id/],
    ['/acme/tiny-bert/resolve/main/..%2F..%2Fetc%2Fpasswd', /encoded separator/],
    ['/acme/tiny-bert/resolve/main/a/../../b', /"\.\." segments/],
    ['/acme/tiny-bert/resolve/main/x%0d%0aSet-Cookie:%20a=b', /control characters/],
    ['/acme/tiny-bert/resolve/ma%00in/config.json', /control characters/],
    [`/acme/tiny-bert/resolve/main/${'a'.repeat(5000)}`, /too long/],
  ];
  for (const [path, re] of cases) {
    it(path.slice(0, 60), async () => {
      const r = await raw(s.base, path);
      expect(r.status).toBe(400);
      expect(String(r.headers['x-error-message'])).toMatch(re);
    });
  }
});

describe('operations', () => {
  it('exposes health, readiness and Prometheus metrics', async () => {
    expect((await fetch(`${s.base}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${s.base}/readyz`)).json()).toEqual({ status: 'ready', store: true, disk: true, upstream: true });
    const m = await (await fetch(`${s.base}/metrics`)).text();
    expect(m).toMatch(/^modelgate_verdicts_total\{verdict="block"\} [1-9]/m);
    expect(m).toMatch(/^modelgate_cache_hits_total\{kind="verdict"\} [1-9]/m);
    expect(m).toMatch(/^modelgate_scan_duration_seconds_count [1-9]/m);
    expect(m).toMatch(/^modelgate_requests_total\{route="resolve",status="200"\} [1-9]/m);
  });
});

describe('upstream faults: nothing cached, nothing served, an audit record', () => {
  const blobCount = () => {
    const walk = (d: string): number => readdirSync(d, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? walk(join(d, e.name)) : 1), 0);
    return walk(join(s.dataDir, 'cache', 'blobs'));
  };

  it('upstream 500 on the download → 502', async () => {
    s.hub.app.hub.faults.set([{ method: 'GET', path: '/acme/fault-500/resolve/**', action: { kind: 'status', status: 500 } }]);
    const before = blobCount();
    const r = await raw(s.base, '/acme/fault-500/resolve/main/weights.bin');
    s.hub.app.hub.faults.clear();
    expect(r.status).toBe(502);
    expect(String(r.headers['x-error-message'])).toBe('modelgate: upstream answered 500 to the download (expected 200)');
    expect(blobCount()).toBe(before);
  });

  it('bytes that do not match the announced sha256 → refused, not cached', async () => {
    s.hub.app.hub.faults.set([{ method: 'GET', path: '/acme/fault-sha/resolve/**', action: { kind: 'corrupt', offset: 100 } }]);
    const before = blobCount();
    const r = await raw(s.base, '/acme/fault-sha/resolve/main/weights.bin');
    s.hub.app.hub.faults.clear();
    expect(r.status).toBe(502);
    expect(String(r.headers['x-error-message'])).toMatch(/^refused by modelgate: downloaded bytes of weights\.bin have sha256 [0-9a-f]{16}\?, upstream announced [0-9a-f]{16}\?$/);
    expect(blobCount()).toBe(before);
    const audit = (await (await fetch(`${s.base}/admin/audit?repo=acme/fault-sha&verdict=error`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { records: Array<{ path: string; message: string }> };
    expect(audit.records.some((x) => x.path === 'weights.bin' && /sha256/.test(x.message))).toBe(true);
  });

  it('a body cut mid-stream → 502, and the next request downloads cleanly', async () => {
    s.hub.app.hub.faults.set([{ method: 'GET', path: '/acme/fault-cut/resolve/**', times: 1, action: { kind: 'truncate', afterBytes: 1000 } }]);
    const r = await raw(s.base, '/acme/fault-cut/resolve/main/weights.bin');
    expect(r.status).toBe(502);
    expect(String(r.headers['x-error-message'])).toMatch(/^modelgate: upstream download was cut after \d+ bytes|^modelgate: upstream download ended after \d+ of 65536 bytes/);
    const ok = await raw(s.base, '/acme/fault-cut/resolve/main/weights.bin');
    s.hub.app.hub.faults.clear();
    expect(ok.status).toBe(200);
    expect(ok.body.equals(FAULT_FILES['fault-cut']!)).toBe(true);
  });

  it('a redirect to an unexpected host → 502, never followed', async () => {
    s.hub.app.hub.faults.set([{ method: 'GET', path: '/acme/fault-redirect/resolve/**', action: { kind: 'redirect', location: 'http://evil.example.invalid{path}' } }]);
    const r = await raw(s.base, '/acme/fault-redirect/resolve/main/weights.bin');
    s.hub.app.hub.faults.clear();
    expect(r.status).toBe(502);
    expect(String(r.headers['x-error-message'])).toBe('modelgate: upstream redirected the download to unexpected host evil.example.invalid; allow it with upstreamRedirectHosts (MODELGATE_UPSTREAM_REDIRECT_HOSTS)');
  });

  it('an unknown repository passes the upstream 404 and its error code through', async () => {
    const r = await raw(s.base, '/acme/nope/resolve/main/config.json');
    expect(r.status).toBe(404);
    expect(r.headers['x-error-code']).toBe('RepoNotFound');
  });
});
