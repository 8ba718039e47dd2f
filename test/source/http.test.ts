/**
 * HttpRangeSource against the real local hub (and two tiny raw servers where the hub cannot
 * misbehave the needed way): the bytes are right, read-ahead and coalescing keep requests few,
 * and every way of answering ranges wrongly ends in a SourceError with its fault, never in
 * wrong bytes.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHub } from '../../src/hub/server.js';
import type { FaultRule } from '../../src/hub/faults.js';
import { HttpRangeSource, hostAllowed } from '../../src/source/http.js';
import { SourceError } from '../../src/source/types.js';
import { BIG_STORAGE_BYTES, BIG_STORAGES, makeRemoteHubDir } from '../remote/helpers.js';

let dir: string;
let hub: Awaited<ReturnType<typeof startHub>>;
let big: Uint8Array;
let bigUrl: string;
const BIG_PATH = '/acme/big-evil/resolve/main/pytorch_model.bin';

beforeAll(async () => {
  dir = makeRemoteHubDir();
  big = new Uint8Array(readFileSync(join(dir, 'acme/big-evil/pytorch_model.bin')));
  hub = await startHub({ dir });
  bigUrl = hub.url + BIG_PATH;
});
afterAll(async () => {
  await hub.close();
});
beforeEach(() => {
  hub.app.hub.faults.clear();
  hub.app.hub.clearRequests();
});

function faults(...rules: FaultRule[]): void {
  hub.app.hub.faults.set(rules);
}

async function failure(p: Promise<unknown>): Promise<SourceError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof SourceError) return e;
    throw e;
  }
  throw new Error('expected a SourceError');
}

describe('HttpRangeSource: bytes and cost', () => {
  it('prefetch fetches each hinted range with its read-ahead before any read, and the reads that follow cost no request', async () => {
    const src = await HttpRangeSource.open(bigUrl);
    try {
      const before = src.requests();
      // Far apart (no merging): one request each, all started before the first one answers.
      const offsets = [1 << 20, 2 << 20, 3 << 20, 4 << 20].filter((o) => o + 100 < big.length);
      src.prefetch(offsets.map((offset) => ({ offset, length: 100 })));
      // No read yet: the requests come from the hint alone.
      const ranged = () => hub.app.hub.requests.filter((r) => r.range !== null && r.range !== 'bytes=0-69631');
      for (let i = 0; i < 200 && ranged().length < offsets.length; i++) await new Promise((r) => setTimeout(r, 10));
      const started = ranged();
      expect(started.map((r) => r.range).sort()).toEqual(offsets.map((o) => `bytes=${o}-${o + 100 + 4096 - 1}`).sort());
      for (const o of offsets) expect(Buffer.from(await src.read(o, 100)).equals(Buffer.from(big.subarray(o, o + 100)))).toBe(true);
      expect(src.requests() - before).toBe(offsets.length);
    } finally {
      await src.close();
    }
  });

  it('learns the size from the first Content-Range and serves exact bytes anywhere', async () => {
    const src = await HttpRangeSource.open(bigUrl);
    try {
      expect(src.size).toBe(big.length);
      expect(src.requests()).toBe(1);
      for (const [off, len] of [
        [0, 100],
        [big.length - 22, 22],
        [BIG_STORAGE_BYTES * 3 + 17, 5000],
        [big.length - 10, 100],
      ] as const) {
        const got = await src.read(off, len);
        expect(Buffer.from(got).equals(Buffer.from(big.subarray(off, Math.min(big.length, off + len))))).toBe(true);
      }
      expect((await src.read(big.length, 10)).length).toBe(0);
    } finally {
      await src.close();
    }
  });

  it('with an announced size makes no request until the first read', async () => {
    const src = await HttpRangeSource.open(bigUrl, { expectedSize: big.length });
    expect(src.requests()).toBe(0);
    await src.read(0, 10);
    expect(src.requests()).toBe(1);
    await src.close();
  });

  it('reads ahead: a sequential 1 MiB-chunk read of 32 MiB takes few requests that grow', async () => {
    const src = await HttpRangeSource.open(bigUrl, { expectedSize: big.length });
    try {
      for (let off = 0; off < big.length; off += 1 << 20) {
        const b = await src.read(off, 1 << 20);
        expect(b[100]).toBe(big[off + 100]);
      }
      // 1 MiB, then doubling up to 16 MiB: about log2(32) requests, not 32.
      expect(src.requests()).toBeLessThanOrEqual(7);
      expect(src.bytesRead()).toBeLessThan(big.length + 64 * 1024);
      const ranges = hub.app.hub.requests.map((r) => r.range);
      expect(ranges[0]).toMatch(/^bytes=0-/);
    } finally {
      await src.close();
    }
  });

  it('coalesces reads issued together into one request, and serves repeats from cache', async () => {
    const src = await HttpRangeSource.open(bigUrl, { expectedSize: big.length });
    try {
      const base = BIG_STORAGE_BYTES * 5;
      const parts = await Promise.all([src.read(base, 100), src.read(base + 3000, 100), src.read(base + 9000, 500), src.read(base + 40_000, 10)]);
      expect(parts.map((p) => p.length)).toEqual([100, 100, 500, 10]);
      expect(src.requests()).toBe(1);
      await src.read(base + 9100, 50);
      expect(src.requests()).toBe(1);
    } finally {
      await src.close();
    }
  });

  it('a zip-style scan pattern (tail, directory, then per-member header + head) needs about one request per member', async () => {
    const src = await HttpRangeSource.open(bigUrl, { expectedSize: big.length });
    try {
      await src.read(0, 65536);
      await src.read(big.length - 65577, 65577);
      // What the zip analyzer does per storage: a 30-byte local header, its name, the data's head.
      let at = 0;
      for (let i = 0; i < BIG_STORAGES; i++) {
        at = big.indexOf(0x50, at);
        await src.read(at, 30);
        await src.read(at + 30, 20);
        await src.read(at + 60, 2048);
        at += BIG_STORAGE_BYTES;
      }
      expect(src.requests()).toBeLessThanOrEqual(2 + BIG_STORAGES);
    } finally {
      await src.close();
    }
  });
});

describe('HttpRangeSource: upstreams that answer ranges wrongly', () => {
  it('wrongContentRange: fails closed naming the bytes asked for and answered, then stays failed without new requests', async () => {
    faults({ action: { kind: 'wrongContentRange' } });
    const src = await HttpRangeSource.open(bigUrl, { expectedSize: big.length });
    try {
      // The hub shifts a range at 0 to start at 1, and any other range to start at 0.
      const e = await failure(src.read(0, 100));
      expect(e.kind).toBe('io');
      expect(e.details['fault']).toBe('wrong-range');
      expect(e.message).toMatch(/asked for bytes 0-(\d+), upstream answered bytes 1-\d+/);
      const n = src.requests();
      expect(n).toBe(1);
      expect((await failure(src.read(1_000_000, 10))).details['fault']).toBe('wrong-range');
      expect(src.requests()).toBe(n);
    } finally {
      await src.close();
    }
    const later = await HttpRangeSource.open(bigUrl, { expectedSize: big.length });
    hub.app.hub.faults.clear();
    await later.read(0, 10);
    faults({ action: { kind: 'wrongContentRange' } });
    const e = await failure(later.read(1_000_000, 100));
    expect(e.message).toMatch(/asked for bytes 1000000-\d+, upstream answered bytes 0-\d+/);
    await later.close();
  });

  it('a total size other than the listing announced is a size-mismatch fault', async () => {
    const src = await HttpRangeSource.open(bigUrl, { expectedSize: big.length + 1 });
    const e = await failure(src.read(0, 10));
    expect(e.details['fault']).toBe('size-mismatch');
    expect(e.message).toContain(`upstream says the file has ${big.length} bytes, ${big.length + 1} were announced`);
    await src.close();
  });

  it('ignoreRange on the first request: downloads the whole file once, says so, and serves exact bytes', async () => {
    faults({ action: { kind: 'ignoreRange' } });
    const src = await HttpRangeSource.open(bigUrl);
    try {
      expect(src.fallback()).toBe('download');
      expect(src.size).toBe(big.length);
      const b = await src.read(BIG_STORAGE_BYTES * 7, 1000);
      expect(Buffer.from(b).equals(Buffer.from(big.subarray(BIG_STORAGE_BYTES * 7, BIG_STORAGE_BYTES * 7 + 1000)))).toBe(true);
      expect(src.requests()).toBe(1);
      expect(src.bytesRead()).toBe(big.length);
    } finally {
      await src.close();
    }
  });

  it('ignoreRange on a file larger than the download limit fails closed', async () => {
    faults({ action: { kind: 'ignoreRange' } });
    const e = await failure(HttpRangeSource.open(bigUrl, { maxFallbackBytes: 1024 * 1024 }));
    expect(e.details['fault']).toBe('ignored-range-too-large');
    expect(e.message).toContain(`upstream ignores Range requests and the file (${big.length} bytes) is larger than the 1048576-byte download limit; not scanned`);
  });

  it('ignoreRange after ranges were honoured fails closed (answers that disagree are not mixed)', async () => {
    const src = await HttpRangeSource.open(bigUrl, { expectedSize: big.length });
    try {
      await src.read(0, 100);
      faults({ action: { kind: 'ignoreRange' } });
      const e = await failure(src.read(BIG_STORAGE_BYTES * 9, 100));
      expect(e.details['fault']).toBe('ignored-range');
      expect(src.fallback()).toBeNull();
    } finally {
      await src.close();
    }
  });

  it('a body cut mid-way is retried, then reported as cut', async () => {
    faults({ action: { kind: 'truncate', afterBytes: 1000 } });
    const src = await HttpRangeSource.open(bigUrl, { expectedSize: big.length, retries: 2 });
    const e = await failure(src.read(0, 65536));
    expect(['cut', 'short-body']).toContain(e.details['fault']);
    expect(e.message).toMatch(/connection cut after 1000 of the \d+ bytes|sent 1000 of the \d+ bytes/);
    expect(src.requests()).toBe(3);
    await src.close();
  });

  it('a cut that happens once is retried transparently', async () => {
    faults({ times: 1, action: { kind: 'truncate', afterBytes: 10 } });
    const src = await HttpRangeSource.open(bigUrl, { expectedSize: big.length });
    const b = await src.read(0, 4);
    expect(Array.from(b)).toEqual([0x50, 0x4b, 0x03, 0x04]);
    expect(src.requests()).toBe(2);
    await src.close();
  });

  it('a redirect to an unexpected host fails closed; an allowed one is followed', async () => {
    faults({ action: { kind: 'redirect', location: 'http://evil.invalid{path}' } });
    const e = await failure(HttpRangeSource.open(bigUrl));
    expect(e.details['fault']).toBe('redirect-host');
    expect(e.message).toBe(`${bigUrl}: redirected to unexpected host evil.invalid (allowed: ${new URL(bigUrl).host})`);
    hub.app.hub.faults.clear();

    const cdnHub = await startHub({ dir, lfsRedirect: true });
    try {
      const url = cdnHub.url + BIG_PATH;
      const cdnHost = new URL(url).host.replace('127.0.0.1', 'localhost');
      const refused = await failure(HttpRangeSource.open(url));
      expect(refused.message).toContain(`redirected to unexpected host ${cdnHost}`);
      const src = await HttpRangeSource.open(url, { allowedHosts: [cdnHost] });
      await src.read(BIG_STORAGE_BYTES * 4, 100);
      await src.read(BIG_STORAGE_BYTES * 8, 100);
      // One redirect hop, then the CDN location is reused.
      expect(src.requests()).toBe(4);
      await src.close();
    } finally {
      await cdnHub.close();
    }
  });

  it('an https origin never follows a redirect to plain http', () => {
    expect(hostAllowed(new URL('http://cdn.example/x'), new URL('https://hub.example/y'), ['cdn.example'])).toBe(false);
    expect(hostAllowed(new URL('https://cdn-lfs.hf.co/x'), new URL('https://huggingface.co/y'), ['*.hf.co'])).toBe(true);
    expect(hostAllowed(new URL('https://evilhf.co/x'), new URL('https://huggingface.co/y'), ['*.hf.co'])).toBe(false);
  });
});

describe('HttpRangeSource: credentials', () => {
  interface Seen {
    host: string;
    headers: IncomingHttpHeaders;
  }
  let origin: Server;
  let cdn: Server;
  const seen: Seen[] = [];
  const body = Buffer.alloc(10_000, 7);
  let originUrl = '';

  beforeAll(async () => {
    cdn = createServer((req, res) => {
      seen.push({ host: 'cdn', headers: req.headers });
      const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '')!;
      const a = Number(m[1]);
      const b = Math.min(Number(m[2]), body.length - 1);
      res.writeHead(206, { 'content-range': `bytes ${a}-${b}/${body.length}`, 'content-length': String(b - a + 1) });
      res.end(body.subarray(a, b + 1));
    });
    await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r));
    const cdnPort = (cdn.address() as AddressInfo).port;
    origin = createServer((req, res) => {
      seen.push({ host: 'origin', headers: req.headers });
      res.writeHead(302, { location: `http://localhost:${cdnPort}/blob?sig=secret` });
      res.end();
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/org/repo/resolve/main/f.bin`;
  });
  afterAll(async () => {
    await new Promise((r) => origin.close(r));
    await new Promise((r) => cdn.close(r));
  });

  it('sends the token to the endpoint host only, never to the CDN it redirects to', async () => {
    const src = await HttpRangeSource.open(originUrl, { token: 'hf_secret', allowedHosts: ['localhost'] });
    expect(src.size).toBe(body.length);
    expect(src.name).toBe(originUrl);
    await src.close();
    expect(seen.find((s) => s.host === 'origin')!.headers.authorization).toBe('Bearer hf_secret');
    expect(seen.find((s) => s.host === 'cdn')!.headers.authorization).toBeUndefined();
  });
});
