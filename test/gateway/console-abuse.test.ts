/**
 * Abuse of the console's unauthenticated surfaces (refusal links, the waiver queue) on a real
 * gateway stack. Each test names the hole it pins down and failed before its fix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/store/types.js';
import { ADMIN, startStack, type Stack } from './stack.js';
import { Client } from './console-client.js';

const EVIL = '/acme/evil-bert/resolve/main/pytorch_model.bin';
const LINK = /see http:\/\/127\.0\.0\.1:\d+(\/console\/refusal\/[A-Za-z0-9_-]{43})$/;
const formOf = (html: string): string => /name="csrf" value="([^"]+)"/.exec(html)![1]!;

let s: Stack;
beforeAll(async () => {
  s = await startStack();
}, 120_000);
afterAll(async () => s?.close());

/** A refusal of EVIL for this (anonymous) client: its page's path. */
async function refusalLink(): Promise<string> {
  const r = await fetch(s.base + EVIL);
  await r.arrayBuffer();
  return LINK.exec(r.headers.get('x-error-message') ?? '')![1]!;
}

describe('waiver requests from refusal links', () => {
  it('caps what one requester may have waiting, across all their refusal links (a flood cannot bury the queue)', async () => {
    const first = await refusalLink();
    const me = (await s.gw.ctx.store.queryAudit({ repo: 'acme/evil-bert', verdict: 'block', limit: 1 }))[0]!.client;
    expect(me).toBe('anonymous@127.0.0.1');
    const seed: AuditRecord = { time: new Date().toISOString(), requestId: 'seed', client: me, group: 'default', method: 'POST', repoType: 'model', repo: '*', revision: '', commit: null, path: null, sha256: null, verdict: 'allow', rules: [], findings: [], waivers: [], upstreamStatus: null, scanId: null, policyVersion: 'seed', message: 'seeded' };
    // What 19 earlier refusals' links (three requests each at most) would have left waiting.
    for (let i = 0; i < 19; i++) {
      await s.gw.ctx.store.addWaiverRequest({ id: i.toString(16).padStart(16, '0'), createdAt: new Date().toISOString(), requester: me, requesterGroup: 'default', via: 'link', auditId: null, repoType: 'model', repo: 'acme/evil-bert', sha256: null, rule: null, justification: 'flood', status: 'pending', decidedBy: null, decidedAt: null, note: null, waiverId: null }, seed);
    }
    const c = new Client(s.base);
    const ask = async (link: string) => {
      const page = await c.req(link);
      return c.req(link, { method: 'POST', form: { csrf: formOf(page.text), scope: 'repo', rule: '', justification: 'please let this through' } });
    };
    expect((await ask(first)).res.status).toBe(303);
    const refused = await ask(await refusalLink());
    expect(refused.res.status).toBe(400);
    expect(refused.text).toContain('anonymous@127.0.0.1 has 20 waiver requests waiting already; wait for an answer');
    expect(await s.gw.ctx.store.listWaiverRequests({ requester: me, status: 'pending', limit: 500 })).toHaveLength(20);
  });
});

describe('guessing the admin token', () => {
  it('counts wrong bearer tokens on the admin API and the console with the login form: past 10, the address waits, even with the right token', async () => {
    // A stack of its own: the address is throttled at the end.
    const t = await startStack();
    try {
      const made = await fetch(`${t.base}/admin/tokens`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'alice', role: 'client' }) });
      const alice = ((await made.json()) as { secret: string }).secret;
      const guess = (path: string, i: number) => fetch(t.base + path, { headers: { authorization: `Bearer guess-${i}-0123456789abcdef` } });
      for (let i = 0; i < 5; i++) expect((await guess('/admin/audit', i)).status).toBe(401);
      for (let i = 5; i < 8; i++) expect((await guess('/console/activity.jsonl', i)).status).toBe(401);
      // A valid client token is no admin token: a failure too, and it does not reset the count.
      expect((await fetch(`${t.base}/admin/audit`, { headers: { authorization: `Bearer ${alice}` } })).status).toBe(401);
      expect((await fetch(`${t.base}/acme/tiny-bert/resolve/main/config.json`, { headers: { authorization: `Bearer ${alice}` } })).status).toBe(200);
      expect((await guess('/admin/tokens', 9)).status).toBe(401);
      const right = await fetch(`${t.base}/admin/audit`, { headers: { authorization: `Bearer ${ADMIN}` } });
      expect(right.status).toBe(429);
      expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(right.headers.get('x-error-message')).toMatch(/^too many failed admin logins from this address: try again in \d+ s$/);
      expect((await fetch(`${t.base}/console/activity.jsonl`, { headers: { authorization: `Bearer ${ADMIN}` } })).status).toBe(429);
      expect((await new Client(t.base).login(ADMIN)).status).toBe(429);
      // Gateway tokens are tried like admin tokens (an admin token is one), but a valid client token still downloads.
      expect((await fetch(`${t.base}/acme/tiny-bert/resolve/main/config.json`, { headers: { authorization: 'Bearer mg_guess_0123456789abcdef' } })).status).toBe(429);
      expect((await fetch(`${t.base}/acme/tiny-bert/resolve/main/config.json`, { headers: { authorization: `Bearer ${alice}` } })).status).toBe(200);
    } finally {
      await t.close();
    }
  }, 60_000);
});
