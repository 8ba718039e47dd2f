/**
 * Gated repositories with users' own Hub tokens passed upstream (upstreamAuth: pass, the
 * default): a file one user was allowed to download, and that the gateway has cached, must not
 * reach a user the upstream would refuse. The local hub enforces access for real (--access).
 */
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/manifest.js';
import { ADMIN, startStack, type Stack } from './stack.js';

const ALICE = 'hf_alice_0123456789';
const BOB = 'hf_bob_0123456789';
const PATH = '/acme/gated-bert/resolve/main/config.json';
const CONFIG = readFileSync(join(FIXTURES, 'repos', 'acme', 'tiny-bert', 'config.json'));

describe('gated repositories through the gateway (upstreamAuth: pass)', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ hub: { access: [{ repo: 'acme/gated-bert', mode: 'gated', tokens: [ALICE] }] } });
    cpSync(join(s.repos, 'acme', 'tiny-bert'), join(s.repos, 'acme', 'gated-bert'), { recursive: true });
  });
  afterAll(async () => s?.close());

  const heads = () => s.hub.app.hub.requests.filter((r) => r.method === 'HEAD' && r.url.startsWith('/acme/gated-bert/resolve/')).length;

  it('serves the user upstream admits, and refuses the others with upstream\'s own answer after the file is cached', async () => {
    const alice = await fetch(s.base + PATH, { headers: { authorization: `Bearer ${ALICE}` } });
    expect(alice.status).toBe(200);
    expect(Buffer.from(await alice.arrayBuffer()).equals(CONFIG)).toBe(true);

    const anon = await fetch(s.base + PATH);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('x-error-code')).toBe('GatedRepo');
    expect(anon.headers.get('x-error-message')).toBe('Access to model acme/gated-bert is restricted. You must have access to it and be authenticated to access it. Please log in.');
    expect(await anon.text()).not.toContain('"architectures"');

    const bob = await fetch(s.base + PATH, { headers: { authorization: `Bearer ${BOB}` } });
    expect(bob.status).toBe(403);
    expect(bob.headers.get('x-error-message')).toBe('Access to model acme/gated-bert is restricted and you are not in the authorized list.');

    const anonHead = await fetch(s.base + PATH, { method: 'HEAD' });
    expect(anonHead.status).toBe(401);
    expect(anonHead.headers.get('x-repo-commit')).toBeNull();
  });

  it('asks upstream once per user and repository within the TTL, not on every request', async () => {
    const before = heads();
    for (let i = 0; i < 3; i++) {
      const r = await fetch(s.base + PATH, { headers: { authorization: `Bearer ${ALICE}` } });
      expect(r.status).toBe(200);
      await r.arrayBuffer();
    }
    expect(heads() - before).toBe(0);
  });

  it('audits the refusals with the upstream status', async () => {
    const res = await fetch(`${s.base}/admin/audit?repo=acme/gated-bert&verdict=error`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const { records } = (await res.json()) as { records: Array<{ upstreamStatus: number | null; message: string; client: string; method: string }> };
    // The two refused GETs, and the refused HEAD (every request that reaches a decision is audited).
    expect(records.map((r) => `${r.method} ${r.upstreamStatus}`).sort()).toEqual(['GET 401', 'GET 403', 'HEAD 401']);
    expect(JSON.stringify(records)).not.toContain(BOB);
  });
});
