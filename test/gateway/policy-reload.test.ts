/**
 * Reloading the policy without a restart: through the admin API (in process) and with SIGHUP
 * (a real `modelgate serve`). A new policy applies to the next decision; a broken file leaves the
 * running policy in force; both outcomes are audited.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '../../src/hub/server.js';
import { FIXTURES } from '../helpers/manifest.js';
import { serveProcess } from '../helpers/serve-process.js';
import { ADMIN, startStack, type Stack } from './stack.js';

const WARN_ONLY = 'version: "lenient"\nrules:\n  scan-severity: {action: warn}\n';
const STRICT = 'version: "strict"\nrules:\n  scan-severity: {block: high, warn: medium, unscannable: block}\n';
const EVIL = '/acme/evil-bert/resolve/main/pytorch_model.bin';
const auth = { authorization: `Bearer ${ADMIN}` };

interface AuditRow {
  verdict: string;
  message: string | null;
  policyVersion: string;
  client: string;
  path: string | null;
}

async function audit(base: string): Promise<AuditRow[]> {
  const res = await fetch(`${base}/admin/audit?limit=50`, { headers: auth });
  return ((await res.json()) as { records: AuditRow[] }).records;
}

describe('policy reload through the admin API', () => {
  let s: Stack;
  let policyPath: string;
  beforeAll(async () => {
    s = await startStack({ policy: WARN_ONLY });
    policyPath = join(s.dataDir, 'policy.yaml');
  });
  afterAll(async () => s?.close());

  it('needs an admin token', async () => {
    const res = await fetch(`${s.base}/admin/policy/reload`, { method: 'POST' });
    expect(res.status).toBe(401);
  });

  it('applies a new policy to the next download, and keeps the old one when the new file is broken', async () => {
    const before = await fetch(s.base + EVIL);
    expect(before.status).toBe(200);
    expect(before.headers.get('x-hf-warning')).toMatch(/pytorch_model\.bin calls os\.system/);
    await before.arrayBuffer();
    const v1 = ((await (await fetch(`${s.base}/admin/policy`, { headers: auth })).json()) as { version: string; source: string }).version;
    expect(v1).toMatch(/^lenient\+/);

    writeFileSync(policyPath, STRICT);
    const ok = await fetch(`${s.base}/admin/policy/reload`, { method: 'POST', headers: auth });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { ok: boolean; version: string; previous: string; changed: boolean };
    expect(body).toMatchObject({ ok: true, previous: v1, changed: true });
    expect(body.version).toMatch(/^strict\+/);

    const after = await fetch(s.base + EVIL);
    expect(after.status).toBe(403);
    expect(after.headers.get('x-error-message')).toMatch(/^blocked by modelgate: pytorch_model\.bin calls os\.system \(critical, rule scan-severity\)/);

    writeFileSync(policyPath, 'rules:\n  scan-severity: {block: hgh}\n');
    const bad = await fetch(`${s.base}/admin/policy/reload`, { method: 'POST', headers: auth });
    expect(bad.status).toBe(400);
    const err = (await bad.json()) as { error: string };
    expect(err.error).toContain(`policy not reloaded (version ${body.version} stays in force)`);
    expect(err.error).toContain('scan-severity');
    // Still the strict policy.
    expect((await fetch(s.base + EVIL)).status).toBe(403);

    const rows = await audit(s.base);
    const reloads = rows.filter((r) => r.message?.startsWith('policy reload'));
    expect(reloads.map((r) => r.verdict)).toEqual(['error', 'allow']);
    expect(reloads[1]!.message).toBe(`policy reloaded by bootstrap-admin from ${policyPath}: version ${v1} -> ${body.version}`);
    expect(reloads[0]!.message).toMatch(new RegExp(`^policy reload by bootstrap-admin failed, version ${body.version.replace(/[+]/g, '\\+')} stays in force: `));
    // Each download decision names the policy version that made it.
    const downloads = rows.filter((r) => r.path === 'pytorch_model.bin');
    expect(downloads.map((r) => [r.verdict, r.policyVersion.split('+')[0]])).toEqual([
      ['block', 'strict'],
      ['block', 'strict'],
      ['warn', 'lenient'],
    ]);
  });

  it('refuses a FIFO or an oversized file as the policy without blocking; the running policy stays', async () => {
    const running = ((await (await fetch(`${s.base}/admin/policy`, { headers: auth })).json()) as { version: string }).version;
    rmSync(policyPath);
    execFileSync('mkfifo', [policyPath]);
    const fifo = await fetch(`${s.base}/admin/policy/reload`, { method: 'POST', headers: auth });
    expect(fifo.status).toBe(400);
    expect(((await fifo.json()) as { error: string }).error).toContain(`policy file ${policyPath} is not a regular file`);
    rmSync(policyPath);
    writeFileSync(policyPath, `# ${'x'.repeat(1 << 20)}\n${STRICT}`);
    const big = await fetch(`${s.base}/admin/policy/reload`, { method: 'POST', headers: auth });
    expect(big.status).toBe(400);
    expect(((await big.json()) as { error: string }).error).toContain(`policy file ${policyPath} is larger than 1048576 bytes`);
    expect(((await (await fetch(`${s.base}/admin/policy`, { headers: auth })).json()) as { version: string }).version).toBe(running);
    expect((await fetch(`${s.base}/healthz`)).status).toBe(200);
  });
});

describe('policy reload on SIGHUP (modelgate serve as a process)', () => {
  it('re-reads the policy file and says so on stderr; a broken file changes nothing', async () => {
    const repos = mkdtempSync(join(tmpdir(), 'mg-reload-'));
    const hub = await startHub({ dir: join(FIXTURES, 'repos'), logger: false });
    const policyPath = join(repos, 'policy.yaml');
    writeFileSync(policyPath, WARN_ONLY);
    const gw = await serveProcess(['--upstream', hub.url, '--data-dir', join(repos, 'data'), '--policy', policyPath]);
    let stderr = '';
    gw.child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const waitFor = async (re: RegExp) => {
      for (let i = 0; i < 200 && !re.test(stderr); i++) await new Promise((r) => setTimeout(r, 50));
      return stderr;
    };
    try {
      const first = await fetch(gw.base + EVIL);
      expect(first.status).toBe(200);
      await first.arrayBuffer();

      writeFileSync(policyPath, STRICT);
      gw.child.kill('SIGHUP');
      expect(await waitFor(/policy reloaded/)).toMatch(/modelgate: policy reloaded \(version strict\+[0-9a-f]+\)/);
      expect((await fetch(gw.base + EVIL)).status).toBe(403);

      writeFileSync(policyPath, 'rules: [');
      gw.child.kill('SIGHUP');
      expect(await waitFor(/policy not reloaded/)).toMatch(/modelgate: policy not reloaded, version strict\+[0-9a-f]+ stays in force: /);
      expect((await fetch(gw.base + EVIL)).status).toBe(403);
      expect(gw.child.exitCode).toBeNull();
    } finally {
      gw.child.kill('SIGTERM');
      await hub.close();
    }
  });
});
