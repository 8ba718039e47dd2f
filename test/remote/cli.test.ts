/**
 * `modelgate scan hf://…` as a user runs it: the compiled bin (npm test builds first; run
 * `npm run build` before running this file alone) against the local hub in this process.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '../../src/hub/server.js';
import { makeRemoteHubDir } from './helpers.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'modelgate.js');
const run = promisify(execFile);

let hub: Awaited<ReturnType<typeof startHub>>;
let cdnHub: Awaited<ReturnType<typeof startHub>>;

beforeAll(async () => {
  const dir = makeRemoteHubDir();
  hub = await startHub({ dir });
  cdnHub = await startHub({ dir, lfsRedirect: true });
});
afterAll(async () => {
  await hub.close();
  await cdnHub.close();
});

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const base: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete base['HF_TOKEN'];
  delete base['HF_ENDPOINT'];
  try {
    const r = await run(process.execPath, [BIN, ...args], { env: { ...base, ...env }, maxBuffer: 1 << 26 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('modelgate scan hf://', () => {
  it('hf://acme/evil-bert (HF_ENDPOINT) exits 1 with the finding and prints the bytes fetched', async () => {
    const r = await cli(['scan', '--no-progress', 'hf://acme/evil-bert'], { HF_ENDPOINT: hub.url });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('PICKLE_DANGEROUS_GLOBAL  calls os.system');
    expect(r.stdout).toMatch(/at hf:\/\/acme\/evil-bert\/pytorch_model\.bin › pytorch_model\/data\.pkl @ offset \d+/);
    expect(r.stdout).toMatch(/^remote: fetched [\d.]+ (B|KiB) of [\d.]+ KiB \([\d.]+%\) in \d+ requests over 3 files$/m);
  });

  it('--include / --exclude apply to the paths in the repository', async () => {
    const r = await cli(['scan', '--format', 'json', '--endpoint', hub.url, '--exclude', '*.bin', 'hf://acme/evil-bert']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.files.map((f: { path: string }) => f.path)).toEqual(['hf://acme/evil-bert/README.md', 'hf://acme/evil-bert/config.json']);
    expect(report.summary.excluded).toBe(1);
  });

  it('a clean repo exits 0 (--endpoint)', async () => {
    const r = await cli(['scan', '--no-progress', '--endpoint', hub.url, 'hf://acme/clean-torch']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('hf://acme/clean-torch/model.safetensors');
  });

  it('--format json records per-file URL, bytes fetched and requests', async () => {
    const r = await cli(['scan', '--format', 'json', '--endpoint', hub.url, 'hf://acme/big-evil']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    const f = report.files.find((x: { path: string }) => x.path === 'hf://acme/big-evil/pytorch_model.bin');
    expect(f.remote.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/acme\/big-evil\/resolve\/[0-9a-f]{40}\/pytorch_model\.bin$/);
    expect(f.remote.bytesFetched).toBeLessThan(f.size / 100);
    expect(f.remote.requests).toBeGreaterThan(0);
  });

  it('a CDN on another host is refused unless allowed (--allow-redirect); the refusal fails the scan', async () => {
    const cdn = new URL(cdnHub.url).host.replace('127.0.0.1', 'localhost');
    const refused = await cli(['scan', '--no-progress', '--endpoint', cdnHub.url, 'hf://acme/big-evil/pytorch_model.bin']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(`SCAN_UNREADABLE  hf://acme/big-evil/pytorch_model.bin: redirected to unexpected host ${cdn}`);
    const allowed = await cli(['scan', '--no-progress', '--endpoint', cdnHub.url, '--allow-redirect', cdn, 'hf://acme/big-evil/pytorch_model.bin']);
    expect(allowed.code).toBe(1);
    expect(allowed.stdout).toContain('calls os.system');
  });

  it('the token is never printed, even in errors', async () => {
    const r = await cli(['scan', '--no-progress', '--endpoint', hub.url, 'hf://acme/nope'], { HF_TOKEN: 'hf_verysecret' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^modelgate: hf:\/\/acme\/nope: model acme\/nope@main: 404/);
    expect(r.stderr + r.stdout).not.toContain('hf_verysecret');
  });

  it('scans one https URL and local paths in the same command', async () => {
    const url = `${hub.url}/acme/big-evil/resolve/main/pytorch_model.bin`;
    const local = join(import.meta.dirname, '..', '..', 'fixtures', 'benign', 'model.safetensors');
    const r = await cli(['scan', '--format', 'json', url, local]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.files.map((f: { path: string }) => f.path).sort()).toEqual([local, url].sort());
    expect(report.summary.files).toBe(2);
  });
});
