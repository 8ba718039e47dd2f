/**
 * Each fault hook against the real server, steered through constructor options and through the
 * control endpoint, as the gateway's fault tests will use them.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fetch } from 'undici';
import { globToRegExp, parseFaultRules, type FaultRule } from '../../src/hub/faults.js';
import { startHub, type HubServer, type RequestRecord } from '../../src/hub/server.js';
import { makeHubDir, raw } from './helpers.js';

let dir: string;
let url: string;
let app: HubServer;
let close: () => Promise<void>;

const BIN = '/acme/clean/resolve/main/pytorch_model.bin';
let content: Buffer;

beforeAll(async () => {
  dir = makeHubDir();
  content = readFileSync(join(dir, 'acme/clean/pytorch_model.bin'));
  ({ app, url, close } = await startHub({ dir, control: true }));
});
afterAll(async () => {
  await close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  app.hub.faults.clear();
  app.hub.clearRequests();
});

const set = (rules: FaultRule[]): void => app.hub.faults.set(rules);
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('fault hooks', () => {
  it('status: 503 with Retry-After, for the first request only (times)', async () => {
    set([{ path: '/acme/clean/resolve/*/pytorch_model.bin', method: 'HEAD', times: 1, action: { kind: 'status', status: 503, retryAfter: 2 } }]);
    const first = await raw(url, BIN, { method: 'HEAD' });
    expect(first.status).toBe(503);
    expect(first.headers['retry-after']).toBe('2');
    expect(first.headers['x-error-message']).toContain('injected');
    expect(first.headers['x-repo-commit']).toBeUndefined();
    expect((await raw(url, BIN, { method: 'HEAD' })).status).toBe(200);
    // GET never matched the HEAD-only rule.
    expect((await raw(url, BIN)).status).toBe(200);
    expect(app.hub.faults.list()[0]!.hits).toBe(1);
  });

  it('status applies to API routes too', async () => {
    set([{ path: '/api/models/**', action: { kind: 'status', status: 500, message: 'upstream exploded' } }]);
    const r = await fetch(`${url}/api/models/acme/clean/tree/main`);
    expect(r.status).toBe(500);
    expect(await r.json()).toEqual({ error: 'upstream exploded' });
    expect((await raw(url, BIN)).status).toBe(200);
  });

  it('truncate: full Content-Length announced, N bytes sent, connection cut', async () => {
    set([{ path: BIN, method: 'GET', action: { kind: 'truncate', afterBytes: 100 } }]);
    const r = await raw(url, BIN);
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(content.length));
    expect(r.headers['x-repo-commit']).toMatch(/^[0-9a-f]{40}$/);
    expect(r.aborted).toBe(true);
    expect(r.body.length).toBe(100);
    expect(r.body.equals(content.subarray(0, 100))).toBe(true);
    expect(app.hub.requests.at(-1)!.status).toBe(200);
  });

  it('truncate at 0 bytes, and within a range', async () => {
    set([{ path: BIN, action: { kind: 'truncate', afterBytes: 0 } }]);
    const r = await raw(url, BIN);
    expect(r.aborted).toBe(true);
    expect(r.body.length).toBe(0);
    set([{ path: BIN, action: { kind: 'truncate', afterBytes: 10 } }]);
    const p = await raw(url, BIN, { headers: { range: 'bytes=500-' } });
    expect(p.status).toBe(206);
    expect(p.body.equals(content.subarray(500, 510))).toBe(true);
    expect(p.aborted).toBe(true);
  });

  it('stall: N bytes, then silence until the client gives up', async () => {
    set([{ path: BIN, action: { kind: 'stall', afterBytes: 64 } }]);
    const t0 = Date.now();
    const r = await raw(url, BIN, { timeoutMs: 400 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
    expect(r.body.length).toBe(64);
    expect(r.aborted).toBe(true);
  });

  it('corrupt: same length and headers, one byte different', async () => {
    set([{ path: BIN, action: { kind: 'corrupt', offset: 1000 } }]);
    const r = await raw(url, BIN);
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(content.length);
    expect(r.aborted).toBe(false);
    expect(sha(r.body)).not.toBe(sha(content));
    const diffs = [...r.body].map((b, i) => (b !== content[i] ? i : -1)).filter((i) => i >= 0);
    expect(diffs).toEqual([1000]);
    // The announced hash is still the real one: that is the point.
    expect(r.headers['x-linked-etag']).toBe(`"${sha(content)}"`);
    // Outside the range asked for, the first byte sent is flipped instead.
    const p = await raw(url, BIN, { headers: { range: 'bytes=0-9' } });
    expect(p.body[0]).toBe(content[0]! ^ 0xff);
    expect(p.body.subarray(1).equals(content.subarray(1, 10))).toBe(true);
  });

  it('redirect: to another host, with the file metadata on the redirect like the hub', async () => {
    set([{ path: BIN, action: { kind: 'redirect', location: 'http://evil.invalid:9{path}' } }]);
    const r = await raw(url, BIN, { method: 'HEAD' });
    expect(r.status).toBe(302);
    expect(r.headers['location']).toBe(`http://evil.invalid:9${BIN}`);
    expect(r.headers['x-linked-etag']).toBe(`"${sha(content)}"`);
    expect(r.headers['x-repo-commit']).toMatch(/^[0-9a-f]{40}$/);
    set([{ path: '/api/**', action: { kind: 'redirect', location: 'http://elsewhere.invalid/', status: 307 } }]);
    const a = await raw(url, '/api/models/acme/clean');
    expect(a.status).toBe(307);
    expect(a.headers['location']).toBe('http://elsewhere.invalid/');
  });

  it('ignoreRange: a Range request gets 200 and the whole file', async () => {
    set([{ path: BIN, action: { kind: 'ignoreRange' } }]);
    const r = await raw(url, BIN, { headers: { range: 'bytes=100-199' } });
    expect(r.status).toBe(200);
    expect(r.headers['content-range']).toBeUndefined();
    expect(r.body.equals(content)).toBe(true);
  });

  it('wrongContentRange: 206 with the requested bytes under a Content-Range naming others', async () => {
    set([{ path: BIN, action: { kind: 'wrongContentRange' } }]);
    const r = await raw(url, BIN, { headers: { range: 'bytes=100-199' } });
    expect(r.status).toBe(206);
    expect(r.body.equals(content.subarray(100, 200))).toBe(true);
    expect(r.headers['content-range']).toBe(`bytes 0-99/${content.length}`);
    const z = await raw(url, BIN, { headers: { range: 'bytes=0-9' } });
    expect(z.headers['content-range']).toBe(`bytes 1-10/${content.length}`);
  });

  it('latency per rule, and the delay-only action', async () => {
    set([{ path: '/api/models/acme/clean', latencyMs: 300, action: { kind: 'delay' } }]);
    const t0 = Date.now();
    const r = await fetch(`${url}/api/models/acme/clean`);
    expect(r.status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    await fetch(`${url}/api/models/acme/mixed`);
  });

  it('the first live matching rule wins; exhausted rules stop matching', async () => {
    set([
      { path: BIN, times: 2, action: { kind: 'status', status: 502 } },
      { path: '/**/pytorch_model.bin', action: { kind: 'status', status: 504 } },
    ]);
    expect((await raw(url, BIN)).status).toBe(502);
    expect((await raw(url, BIN)).status).toBe(502);
    expect((await raw(url, BIN)).status).toBe(504);
    expect((await raw(url, '/acme/mixed/resolve/main/pytorch_model.bin')).status).toBe(504);
    expect((await raw(url, '/acme/mixed/resolve/main/config.json')).status).toBe(200);
  });

  it('globs: * stays within a segment, ** crosses them, ? is one character', () => {
    expect(globToRegExp('/a/*/c').test('/a/b/c')).toBe(true);
    expect(globToRegExp('/a/*/c').test('/a/b/x/c')).toBe(false);
    expect(globToRegExp('/a/**/c').test('/a/b/x/c')).toBe(true);
    expect(globToRegExp('/a/?.bin').test('/a/x.bin')).toBe(true);
    expect(globToRegExp('/a/?.bin').test('/a/xy.bin')).toBe(false);
    expect(globToRegExp('/a.b(c)').test('/a.b(c)')).toBe(true);
    expect(globToRegExp('/a.b').test('/axb')).toBe(false);
  });

  it('rule validation refuses unknown kinds and fields', () => {
    expect(parseFaultRules([{ action: { kind: 'explode' } }]).ok).toBe(false);
    expect(parseFaultRules([{ action: { kind: 'status', status: 200 } }]).ok).toBe(false);
    expect(parseFaultRules([{ path: '/x', typo: 1, action: { kind: 'delay' } }]).ok).toBe(false);
    expect(parseFaultRules({ action: { kind: 'truncate', afterBytes: 5 } }).ok).toBe(true);
  });
});

describe('control endpoint', () => {
  it('PUT replaces, POST appends, GET lists with hits, DELETE clears', async () => {
    const put = await fetch(`${url}/-/hub/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ id: 'a', path: BIN, action: { kind: 'status', status: 500 } }]) });
    expect(put.status).toBe(200);
    const post = await fetch(`${url}/-/hub/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'b', path: '/tiny/**', action: { kind: 'status', status: 502 } }) });
    expect(((await post.json()) as unknown[]).length).toBe(2);
    expect((await raw(url, BIN)).status).toBe(500);
    expect((await raw(url, '/tiny/resolve/main/config.json')).status).toBe(502);
    const list = (await (await fetch(`${url}/-/hub/faults`)).json()) as { rule: { id: string }; hits: number }[];
    expect(list.map((s) => [s.rule.id, s.hits])).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
    expect((await fetch(`${url}/-/hub/faults`, { method: 'DELETE' })).status).toBe(204);
    expect((await raw(url, BIN)).status).toBe(200);
  });

  it('invalid rules are a 400 that says why; control requests are never faulted', async () => {
    const r = await fetch(`${url}/-/hub/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ action: { kind: 'truncate' } }]) });
    expect(r.status).toBe(400);
    expect(r.headers.get('x-error-message')).toContain('afterBytes');
    set([{ path: '/**', action: { kind: 'status', status: 500 } }]);
    expect((await fetch(`${url}/-/hub/faults`)).status).toBe(200);
  });

  it('the request log counts what reached the server, control requests excluded', async () => {
    await raw(url, BIN, { method: 'HEAD' });
    await raw(url, BIN, { headers: { range: 'bytes=0-0' } });
    const log = (await (await fetch(`${url}/-/hub/requests`)).json()) as RequestRecord[];
    expect(log.map((r) => [r.method, r.url, r.range, r.status])).toEqual([
      ['HEAD', BIN, null, 200],
      ['GET', BIN, 'bytes=0-0', 206],
    ]);
    expect((await fetch(`${url}/-/hub/requests`, { method: 'DELETE' })).status).toBe(204);
    expect(app.hub.requests).toHaveLength(0);
  });
});

describe('options', () => {
  it('faults and latency from the constructor', async () => {
    const hub = await startHub({ dir, latencyMs: 150, faults: [{ path: '/tiny/**', action: { kind: 'status', status: 429, retryAfter: 1 } }] });
    try {
      const t0 = Date.now();
      const r = await raw(hub.url, '/tiny/resolve/main/config.json');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
      expect(r.status).toBe(429);
      expect((await raw(hub.url, BIN)).status).toBe(200);
    } finally {
      await hub.close();
    }
  });

  it('lfsRedirect: LFS files answer 302 to the CDN route with the metadata; the CDN serves ranges', async () => {
    const hub = await startHub({ dir, lfsRedirect: true });
    try {
      const head = await raw(hub.url, BIN, { method: 'HEAD' });
      expect(head.status).toBe(302);
      expect(head.headers['x-linked-etag']).toBe(`"${sha(content)}"`);
      expect(head.headers['x-linked-size']).toBe(String(content.length));
      expect(head.headers['x-repo-commit']).toMatch(/^[0-9a-f]{40}$/);
      const loc = head.headers['location']!;
      const cdn = hub.url.replace('127.0.0.1', 'localhost');
      expect(loc.startsWith(`${cdn}/-/cdn/${sha(content)}`)).toBe(true);
      const body = await raw(hub.url, loc.slice(cdn.length));
      expect(body.status).toBe(200);
      expect(body.headers['x-repo-commit']).toBeUndefined();
      expect(body.body.equals(content)).toBe(true);
      const part = await raw(hub.url, loc.slice(cdn.length), { headers: { range: 'bytes=5-9' } });
      expect(part.status).toBe(206);
      expect(part.body.equals(content.subarray(5, 10))).toBe(true);
      // Small regular files are served directly, as the hub does.
      expect((await raw(hub.url, '/acme/clean/resolve/main/config.json', { method: 'HEAD' })).status).toBe(200);
      expect((await raw(hub.url, `/-/cdn/${'0'.repeat(64)}`)).status).toBe(404);
      // fetch follows the redirect, as clients do.
      const followed = await fetch(`${hub.url}${BIN}`);
      expect(Buffer.from(await followed.arrayBuffer()).equals(content)).toBe(true);
    } finally {
      await hub.close();
    }
  });

  it('lfsRedirect to another base (a second host name for the same server)', async () => {
    const hub = await startHub({ dir, lfsRedirect: { base: 'http://localhost:1' } });
    try {
      const head = await raw(hub.url, BIN, { method: 'HEAD' });
      expect(head.headers['location']!.startsWith(`http://localhost:1/-/cdn/${sha(content)}`)).toBe(true);
    } finally {
      await hub.close();
    }
  });
});
