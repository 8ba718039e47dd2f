/**
 * Remote scans through the real local hub: the same findings as a local scan from a fraction of
 * the bytes, hf:// parsing and listing (revisions, datasets, pagination, sub-paths), and each
 * range fault reported on the file as an exact finding.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHub } from '../../src/hub/server.js';
import type { FaultRule } from '../../src/hub/faults.js';
import { scanRemote, renderRemoteSummary } from '../../src/remote/scan.js';
import { parseTarget } from '../../src/remote/target.js';
import { nextLink } from '../../src/remote/hub-answers.js';
import { scanPath } from '../../src/scan/scan.js';
import type { FileReport, ScanReport } from '../../src/scan/report.js';
import { BIG_STORAGES, makeRemoteHubDir } from './helpers.js';

let dir: string;
let hub: Awaited<ReturnType<typeof startHub>>;

beforeAll(async () => {
  dir = makeRemoteHubDir();
  hub = await startHub({ dir, pageSize: 2 });
});
afterAll(async () => {
  await hub.close();
});
beforeEach(() => {
  hub.app.hub.faults.clear();
  hub.app.hub.clearRequests();
});

async function scan(specs: string[], extra: Parameters<typeof scanRemote>[1] = {}): Promise<ScanReport> {
  const r = await scanRemote(specs, { endpoint: hub.url, token: null, ...extra });
  if (!r.ok) throw new Error(r.error.message);
  return r.report;
}

function file(report: ScanReport, suffix: string): FileReport {
  const f = report.files.find((x) => x.path.endsWith(suffix));
  if (!f) throw new Error(`no ${suffix} in ${report.files.map((x) => x.path).join(', ')}`);
  return f;
}

describe('hf:// targets', () => {
  it('parses repos, kinds, revisions and paths', () => {
    expect(parseTarget('hf://acme/evil-bert')).toMatchObject({ ok: true, value: { kind: 'hub', repoKind: 'model', repo: 'acme/evil-bert', revision: 'main', path: '' } });
    expect(parseTarget('hf://datasets/acme/d@refs%2Fpr%2F1/data/x.pkl')).toMatchObject({ ok: true, value: { repoKind: 'dataset', repo: 'acme/d', revision: 'refs/pr/1', path: 'data/x.pkl' } });
    expect(parseTarget('hf://gpt2@v1')).toMatchObject({ ok: true, value: { repo: 'gpt2', revision: 'v1', path: '' } });
    // Two segments are an org/repo id; a one-segment id with a revision cannot take a path.
    expect(parseTarget('hf://gpt2/file')).toMatchObject({ ok: true, value: { repo: 'gpt2/file', path: '' } });
    expect(parseTarget('hf://gpt2@v1/file').ok).toBe(false);
    expect(parseTarget('hf://acme/x/../etc').ok).toBe(false);
    expect(parseTarget('https://user:pw@host/x').ok).toBe(false);
  });

  it('reads Link rel="next"', () => {
    expect(nextLink('<https://h/api/models/a/b/tree/main?cursor=x>; rel="next"')).toBe('https://h/api/models/a/b/tree/main?cursor=x');
    expect(nextLink('<https://h/x>; rel="prev"')).toBeNull();
  });
});

describe('remote scan', () => {
  it('finds the exact global in a malicious torch zip from a fraction of its bytes, in few requests', async () => {
    const report = await scan(['hf://acme/big-evil']);
    const f = file(report, 'pytorch_model.bin');
    expect(f.path).toBe('hf://acme/big-evil/pytorch_model.bin');
    const hit = f.findings.find((x) => x.rule === 'PICKLE_DANGEROUS_GLOBAL')!;
    expect(hit.evidence.canonical).toBe('os.system');
    expect(hit.location.path).toEqual(['hf://acme/big-evil/pytorch_model.bin', 'big/data.pkl']);
    const size = statSync(join(dir, 'acme/big-evil/pytorch_model.bin')).size;
    expect(f.size).toBe(size);
    expect(f.complete).toBe(true);
    expect(f.remote!.url).toMatch(/\/acme\/big-evil\/resolve\/[0-9a-f]{40}\/pytorch_model\.bin$/);
    // Head, tail (central directory), then one request per member header + storage head.
    expect(f.remote!.requests).toBeLessThanOrEqual(3 + 3 + BIG_STORAGES);
    expect(f.remote!.bytesFetched).toBeLessThan(size * 0.01);
    expect(f.remote!.fallback).toBeUndefined();
    expect(report.summary.maxSeverity).toBe('critical');
  });

  it('a tensor storage is sniffed from its head only, yet a pickle hidden there is still found, remotely and locally', async () => {
    const remote = file(await scan(['hf://acme/storage-pickle']), 'pytorch_model.bin');
    const local = (await scanPath(join(dir, 'acme/storage-pickle/pytorch_model.bin'))).files[0]!;
    for (const f of [remote, local]) {
      const hit = f.findings.find((x) => x.rule === 'PICKLE_DANGEROUS_GLOBAL')!;
      expect(hit.location.path.slice(1)).toEqual(['m/data/0']);
      expect(hit.evidence.canonical).toBe('os.system');
    }
  });

  it('limits.crcVerifyBytes decides whether unread storages are read whole for their CRC', async () => {
    const path = join(dir, 'acme/big-evil/pytorch_model.bin');
    const size = statSync(path).size;
    const full = (await scanPath(path)).files[0]!;
    const lean = (await scanPath(path, { limits: { crcVerifyBytes: 64 * 1024 } })).files[0]!;
    expect(full.bytesRead).toBeGreaterThanOrEqual(size - 64 * 1024);
    expect(lean.bytesRead).toBeLessThan(size / 100);
    expect(lean.findings.map((f) => f.rule)).toEqual(full.findings.map((f) => f.rule));
  });

  it('gives the findings a local scan gives', async () => {
    const remote = await scan(['hf://acme/evil-bert', 'hf://acme/mixed', 'hf://acme/clean-torch']);
    const local = await scanPath([join(dir, 'acme/evil-bert'), join(dir, 'acme/mixed'), join(dir, 'acme/clean-torch')]);
    const key = (r: ScanReport) =>
      r.files
        .map((f) => `${f.path.replace(/^.*?acme\//, '')}: ${f.formats.join('+')} ${f.findings.map((x) => `${x.rule}/${x.severity}/${x.location.path.slice(1).join('>')}`).sort().join(',')}`)
        .sort();
    expect(key(remote)).toEqual(key(local));
  });

  it('a clean repo is clean; the console line totals bytes fetched against file sizes', async () => {
    const report = await scan(['hf://acme/clean-torch']);
    expect(report.summary.maxSeverity === null || report.summary.maxSeverity === 'info' || report.summary.maxSeverity === 'low').toBe(true);
    expect(report.files).toHaveLength(3);
    const line = renderRemoteSummary(report)!;
    expect(line).toMatch(/^remote: fetched .+ of .+ in \d+ requests over 3 files/);
  });

  it('a pickle is read from start to end and the report says so', async () => {
    const report = await scan(['hf://datasets/acme/evil-data']);
    const f = file(report, 'payload.pkl');
    expect(f.path).toBe('hf://datasets/acme/evil-data/data/payload.pkl');
    expect(f.remote!.fallback).toBe('sequential');
    expect(f.findings.some((x) => x.rule === 'PICKLE_DANGEROUS_GLOBAL' && x.severity === 'critical')).toBe(true);
  });

  it('resolves the revision to a commit first and scans at that commit; follows listing pages', async () => {
    const report = await scan(['hf://acme/evil-bert']);
    const reqs = hub.app.hub.requests.map((r) => r.url);
    expect(reqs[0]).toBe('/api/models/acme/evil-bert/revision/main');
    const commit = /\/tree\/([0-9a-f]{40})\?/.exec(reqs[1]!)![1]!;
    // pageSize 2: three files over two pages.
    expect(reqs.filter((u) => u.includes('/tree/')).length).toBe(2);
    expect(report.files).toHaveLength(3);
    for (const f of report.files) expect(f.remote!.url).toContain(`/resolve/${commit}/`);
    const pinned = await scan([`hf://acme/evil-bert@${commit}/pytorch_model.bin`]);
    expect(pinned.files.map((f) => f.path)).toEqual([`hf://acme/evil-bert@${commit}/pytorch_model.bin`]);
  });

  it('a missing repo or revision is an error value, not a report', async () => {
    const r = await scanRemote(['hf://acme/nope'], { endpoint: hub.url, token: null });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.kind).toBe('not-found');
    const rev = await scanRemote(['hf://acme/evil-bert@nope'], { endpoint: hub.url, token: null });
    expect(rev.ok).toBe(false);
  });

  it('waits out an API 429 for its Retry-After, as the crawler does', async () => {
    hub.app.hub.faults.set([{ method: 'GET', path: '/api/models/**/revision/**', times: 1, action: { kind: 'status', status: 429, retryAfter: 1 } }]);
    const report = await scan(['hf://acme/clean-torch']);
    expect(report.files).toHaveLength(3);
    expect(hub.app.hub.requests.filter((r) => r.url.includes('/revision/')).map((r) => r.status)).toEqual([429, 200]);
  });

  it('refuses an API redirect to a host it was not told to trust', async () => {
    const other = hub.url.replace('127.0.0.1', 'localhost');
    hub.app.hub.faults.set([{ method: 'GET', path: '/api/models/**/revision/**', action: { kind: 'redirect', location: `${other}/api/models/acme/clean-torch/revision/main` } }]);
    const r = await scanRemote(['hf://acme/clean-torch'], { endpoint: hub.url, token: null });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatchObject({ kind: 'protocol', message: expect.stringContaining(`redirected to unexpected host ${new URL(other).host}`) });
  });

  it('scans one URL', async () => {
    const report = await scan([`${hub.url}/acme/big-evil/resolve/main/pytorch_model.bin`]);
    expect(report.files[0]!.findings[0]!.evidence.canonical).toBe('os.system');
    expect(report.files[0]!.remote!.requests).toBeLessThanOrEqual(3 + 3 + BIG_STORAGES);
  });
});

describe('remote scan: range faults are findings, never wrong bytes', () => {
  function faults(...rules: FaultRule[]): void {
    hub.app.hub.faults.set(rules);
  }
  const RESOLVE = '/acme/big-evil/resolve/**';

  it('wrongContentRange: SCAN_UNREADABLE naming the ranges; the file is incomplete', async () => {
    faults({ path: RESOLVE, action: { kind: 'wrongContentRange' } });
    const f = file(await scan(['hf://acme/big-evil']), 'pytorch_model.bin');
    const u = f.findings.find((x) => x.rule === 'SCAN_UNREADABLE')!;
    expect(u.message).toMatch(/^hf:\/\/acme\/big-evil\/pytorch_model\.bin: asked for bytes 0-\d+, upstream answered bytes 1-\d+$/);
    expect(u.evidence.details).toMatchObject({ fault: 'wrong-range' });
    expect(f.complete).toBe(false);
    expect(f.formats).toEqual(['unreadable']);
  });

  it('wrongContentRange after the head: reported inside the zip scan, file incomplete', async () => {
    // Only requests after the first two (head and tail) are shifted.
    faults({ path: RESOLVE, times: 2, action: { kind: 'delay' } }, { path: RESOLVE, action: { kind: 'wrongContentRange' } });
    const f = file(await scan(['hf://acme/big-evil']), 'pytorch_model.bin');
    const u = f.findings.find((x) => x.evidence.details?.['fault'] === 'wrong-range')!;
    expect(u.message).toMatch(/asked for bytes \d+-\d+, upstream answered bytes 0-\d+/);
    expect(f.complete).toBe(false);
  });

  it('ignoreRange: falls back to a whole download, says so, and still finds the global', async () => {
    faults({ path: RESOLVE, action: { kind: 'ignoreRange' } });
    const f = file(await scan(['hf://acme/big-evil']), 'pytorch_model.bin');
    expect(f.remote!.fallback).toBe('download');
    expect(f.remote!.bytesFetched).toBe(f.size);
    expect(f.findings[0]!.evidence.canonical).toBe('os.system');
    expect(f.complete).toBe(true);
  });

  it('ignoreRange above the download limit: fails closed', async () => {
    faults({ path: RESOLVE, action: { kind: 'ignoreRange' } });
    const f = file(await scan(['hf://acme/big-evil'], { http: { maxFallbackBytes: 1 << 20 } }), 'pytorch_model.bin');
    const u = f.findings.find((x) => x.rule === 'SCAN_UNREADABLE')!;
    expect(u.message).toContain('upstream ignores Range requests and the file');
    expect(u.message).toContain('larger than the 1048576-byte download limit; not scanned');
    expect(f.complete).toBe(false);
  });

  it('truncate: retried, then SCAN_UNREADABLE "connection cut"', async () => {
    faults({ path: RESOLVE, action: { kind: 'truncate', afterBytes: 100 } });
    const f = file(await scan(['hf://acme/big-evil'], { http: { retries: 1 } }), 'pytorch_model.bin');
    const u = f.findings.find((x) => x.rule === 'SCAN_UNREADABLE')!;
    expect(u.message).toMatch(/connection cut after 100 of the \d+ bytes of bytes 0-\d+|sent 100 of the \d+ bytes/);
    expect(f.remote!.requests).toBe(2);
    expect(f.complete).toBe(false);
  });

  it('size mismatch: the listing says one size, the file has another', async () => {
    // A hub whose listing differs from what it serves: the same directory, but the file's
    // resolve answers are redirected to a repo with a bigger file.
    faults({ path: '/acme/evil-bert/resolve/*/pytorch_model.bin', action: { kind: 'redirect', location: `${hub.url}/acme/big-evil/resolve/main/pytorch_model.bin` } });
    const f = file(await scan(['hf://acme/evil-bert/pytorch_model.bin']), 'pytorch_model.bin');
    const u = f.findings.find((x) => x.rule === 'SCAN_UNREADABLE')!;
    const big = statSync(join(dir, 'acme/big-evil/pytorch_model.bin')).size;
    const small = statSync(join(dir, 'acme/evil-bert/pytorch_model.bin')).size;
    expect(u.message).toBe(`hf://acme/evil-bert/pytorch_model.bin: upstream says the file has ${big} bytes, ${small} were announced`);
    expect(u.evidence.details).toMatchObject({ fault: 'size-mismatch' });
  });

  it('redirect to an unexpected host: SCAN_UNREADABLE, nothing fetched from it', async () => {
    const cdnHub = await startHub({ dir, lfsRedirect: true });
    try {
      const r = await scanRemote(['hf://acme/big-evil/pytorch_model.bin'], { endpoint: cdnHub.url, token: null });
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      const f = r.report.files[0]!;
      const cdnHost = new URL(cdnHub.url).host.replace('127.0.0.1', 'localhost');
      expect(f.findings[0]!.message).toBe(`hf://acme/big-evil/pytorch_model.bin: redirected to unexpected host ${cdnHost} (allowed: ${new URL(cdnHub.url).host})`);
      expect(f.remote!.bytesFetched).toBe(0);
      const ok = await scanRemote(['hf://acme/big-evil/pytorch_model.bin'], { endpoint: cdnHub.url, token: null, allowedHosts: [cdnHost] });
      expect(ok.ok && ok.report.files[0]!.findings[0]!.evidence.canonical).toBe('os.system');
    } finally {
      await cdnHub.close();
    }
  });
});
