/**
 * An upstream that is down or too slow: the gateway answers 502 / 504 with a message, serves
 * nothing, caches nothing, and records the failure.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, startStack, type Stack } from './stack.js';

let s: Stack;
beforeAll(async () => {
  s = await startStack({ config: { upstreamTimeoutMs: 1000, headHoldMs: 500 } });
  mkdirSync(join(s.repos, 'acme', 'slow'));
  writeFileSync(join(s.repos, 'acme', 'slow', 'weights.bin'), randomBytes(4096));
}, 60_000);
afterAll(async () => {
  await s?.close();
});

async function audit(repo: string): Promise<Array<{ verdict: string; message: string | null }>> {
  const r = await fetch(`${s.base}/admin/audit?repo=${repo}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return ((await r.json()) as { records: Array<{ verdict: string; message: string | null }> }).records;
}

describe('upstream slow or down', () => {
  it('an upstream slower than the timeout → 504 with a message, and an audit record', async () => {
    s.hub.app.hub.faults.set([{ path: '/acme/slow/**', latencyMs: 3000, action: { kind: 'delay' } }]);
    const r = await fetch(`${s.base}/acme/slow/resolve/main/weights.bin`);
    s.hub.app.hub.faults.clear();
    expect(r.status).toBe(504);
    expect(r.headers.get('x-error-message')).toBe(`modelgate: upstream timed out (${new URL(s.hub.url).host})`);
    expect((await audit('acme/slow')).some((a) => a.verdict === 'error' && /timed out/.test(a.message ?? ''))).toBe(true);
  });

  it('an unreachable upstream → 502 with a message; the gateway itself stays up', async () => {
    await s.hub.close();
    const r = await fetch(`${s.base}/acme/tiny-bert/resolve/main/config.json`);
    expect(r.status).toBe(502);
    expect(r.headers.get('x-error-message')).toMatch(/^modelgate: upstream unreachable \(127\.0\.0\.1:\d+: ECONNREFUSED\)$/);
    expect((await fetch(`${s.base}/healthz`)).status).toBe(200);
    expect((await audit('acme/tiny-bert')).some((a) => a.verdict === 'error' && /unreachable/.test(a.message ?? ''))).toBe(true);
  });
});
