/**
 * The client-vulnerable rule through the gateway: the same file is refused or served depending on
 * the library versions the request's User-Agent declares, decided per request (never reused for
 * another client), and the declared libraries land in the audit record. Then the real
 * huggingface_hub client: its own User-Agent, and one claiming an affected torch.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEVERITY_RANK } from '../../src/core/findings.js';
import { parseClientUserAgent } from '../../src/rules/client-agent.js';
import { vulnerabilitiesForFile } from '../../src/rules/loader-vulns.js';
import { ADMIN, HAVE_PYTHON, containsBytes, py, startStack, tempHome, type Stack } from './stack.js';
import { FIXTURES } from '../helpers/manifest.js';

const POLICY = `
version: client-vuln-1
rules:
  client-vulnerable:
    action: block
`;

const REPOS = join(FIXTURES, 'repos', 'acme');
const BIN = readFileSync(join(REPOS, 'tiny-bert-pickle', 'pytorch_model.bin'));
const BIN_PATH = '/acme/tiny-bert-pickle/resolve/main/pytorch_model.bin';
const OLD_TORCH = 'transformers/4.51.0; hf_hub/0.30.2; python/3.11.7; torch/2.5.1+cpu; session_id/5b1e; file_type/model; framework/pytorch';
const NEW_TORCH = 'transformers/5.18.0; hf_hub/1.33.0; python/3.11.7; torch/2.13.0+cpu';
const OLD_REASON =
  'blocked by modelgate: pytorch_model.bin: your torch 2.5.1+cpu is affected by CVE-2025-32434 (weights_only bypass) and 1 more; upgrade to 2.10.0 or later (critical, rule client-vulnerable)';

let s: Stack;
beforeAll(async () => {
  s = await startStack({ policy: POLICY });
}, 60_000);
afterAll(async () => {
  await s?.close();
});

const get = (path: string, ua: string) => fetch(`${s.base}${path}`, { headers: { 'user-agent': ua } });

async function audit(repo: string): Promise<Array<{ id: number; path: string; verdict: string; clientLibraries?: Record<string, string>; rules: Array<{ rule: string }> }>> {
  const r = await fetch(`${s.base}/admin/audit?repo=${encodeURIComponent(repo)}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return ((await r.json()) as { records: Array<{ id: number; path: string; verdict: string; clientLibraries?: Record<string, string>; rules: Array<{ rule: string }> }> }).records;
}

describe('client-vulnerable through the gateway (hand-set User-Agent)', () => {
  it('refuses a PyTorch checkpoint to an affected torch, naming the CVE and the fix; serves it to a fixed torch; never reuses a decision across clients', async () => {
    const old1 = await get(BIN_PATH, OLD_TORCH);
    expect(old1.status).toBe(403);
    expect(old1.headers.get('x-error-message')).toMatch(new RegExp(`^${OLD_REASON.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    await old1.arrayBuffer();

    const fixed = await get(BIN_PATH, NEW_TORCH);
    expect(fixed.status).toBe(200);
    expect(Buffer.from(await fixed.arrayBuffer())).toEqual(BIN);

    // The scan of the bytes is cached now; the decision still follows the client.
    const old2 = await get(BIN_PATH, OLD_TORCH);
    expect(old2.status).toBe(403);
    await old2.arrayBuffer();

    const recs = (await audit('acme/tiny-bert-pickle')).filter((r) => r.path === 'pytorch_model.bin');
    // Newest first.
    expect(recs.map((r) => r.verdict)).toEqual(['block', 'allow', 'block']);
    expect(recs[0]!.clientLibraries).toEqual({ transformers: '4.51.0', 'huggingface-hub': '0.30.2', python: '3.11.7', torch: '2.5.1+cpu' });
    expect(recs[0]!.rules.map((r) => r.rule)).toEqual(['client-vulnerable']);
    expect(recs[1]!.clientLibraries).toEqual({ transformers: '5.18.0', 'huggingface-hub': '1.33.0', python: '3.11.7', torch: '2.13.0+cpu' });
    // The console's page for the decision shows what the client declared.
    const page = await fetch(`${s.base}/console/audit/${recs[0]!.id}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<dt>client libraries</dt><dd class="mono">transformers 4.51.0 · huggingface-hub 0.30.2 · python 3.11.7 · torch 2.5.1+cpu</dd>');
  });

  it('serves safetensors to the same affected client', async () => {
    const r = await get('/acme/tiny-bert/resolve/main/model.safetensors', OLD_TORCH);
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer())).toEqual(readFileSync(join(REPOS, 'tiny-bert', 'model.safetensors')));
  });

  it('serves a client that names no library versions (unknown: off by default), and records no libraries', async () => {
    const r = await get('/acme/tiny-bert-pickle/resolve/main/pytorch_model.bin', 'curl/8.5.0');
    expect(r.status).toBe(200);
    await r.arrayBuffer();
    const browser = await get('/acme/tiny-bert-pickle/resolve/main/pytorch_model.bin', 'Mozilla/5.0 (X11; Linux x86_64)');
    expect(browser.status).toBe(200);
    await browser.arrayBuffer();
    const [newest] = await audit('acme/tiny-bert-pickle');
    expect(newest!.verdict).toBe('allow');
    expect(newest!.clientLibraries).toBeUndefined();
  });
});

describe.skipIf(!HAVE_PYTHON)('client-vulnerable with the real huggingface_hub client', () => {
  it('decides on the User-Agent the client really sends as the catalogue says', async () => {
    const ua = await py(s.base, tempHome(), 'user-agent', '-');
    expect(ua.ok, JSON.stringify(ua)).toBe(true);
    const libraries = parseClientUserAgent(String(ua['userAgent'])).libraries;
    expect(libraries['huggingface-hub']).toMatch(/^\d+\.\d+/);
    // What the catalogue says about these versions and a PyTorch zip checkpoint, at the default min-severity.
    const expected = vulnerabilitiesForFile(libraries, { formats: ['pytorch-zip'] }).filter((m) => SEVERITY_RANK[m.severity] >= SEVERITY_RANK.medium);
    const home = tempHome();
    const r = await py(s.base, home, 'download', 'acme/tiny-bert-pickle', 'pytorch_model.bin');
    if (expected.length === 0) {
      expect(r.ok, JSON.stringify(r)).toBe(true);
      expect(readFileSync(r.path!)).toEqual(BIN);
    } else {
      expect(r.ok).toBe(false);
      expect(r.message).toContain(`is affected by ${expected.sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity])[0]!.id}`);
    }
    const [rec] = await audit('acme/tiny-bert-pickle');
    expect(rec!.clientLibraries).toEqual(libraries);
  });

  it('refuses the checkpoint to the real client claiming torch 2.5.1 (library_name/library_version), with the reason in the exception, and no byte in the cache', async () => {
    const home = tempHome();
    const r = await py(s.base, home, 'download-as', 'acme/tiny-bert-pickle', 'pytorch_model.bin', 'torch', '2.5.1');
    expect(r.ok).toBe(false);
    expect(r.type).toBe('HfHubHTTPError');
    expect(r.message).toContain('403 Forbidden');
    expect(r.message).toContain('pytorch_model.bin: your torch 2.5.1 is affected by CVE-2025-32434 (weights_only bypass) and 1 more; upgrade to 2.10.0 or later (critical, rule client-vulnerable)');
    expect(containsBytes(home, BIN.subarray(0, 4096))).toEqual([]);
    // The same client claiming it still gets the safetensors.
    const st = await py(s.base, tempHome(), 'download-as', 'acme/tiny-bert', 'model.safetensors', 'torch', '2.5.1');
    expect(st.ok, JSON.stringify(st)).toBe(true);
  });
});
