/**
 * Abuse of the console's unauthenticated surfaces (refusal links, the waiver queue) on a real
 * gateway stack. Each test names the hole it pins down and failed before its fix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/store/types.js';
import { startStack, type Stack } from './stack.js';
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
