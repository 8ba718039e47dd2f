/**
 * The waiver workflow and the refusal page over HTTP, on a real gateway stack: the refusal
 * message links to a page that shows that decision only (the link's secret never reaches the
 * audit log), the user asks for a waiver from it (CSRF-checked), an admin approves or rejects it
 * from the console (CSRF-checked, audited), the next download follows, a revocation undoes it;
 * the token API; escaping of hostile names.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSP } from '../../src/gateway/console/routes.js';
import { logSafeUrl } from '../../src/gateway/refusal-link.js';
import type { AuditRecord } from '../../src/store/types.js';
import { ADMIN, startStack, type Stack } from './stack.js';
import { Client } from './console-client.js';
import { cycloneDxErrors } from '../report/validators.js';
import { probePostgres } from '../store/pg-probe.js';

const EVIL = '/acme/evil-bert/resolve/main/pytorch_model.bin';
const CLEAN = '/acme/tiny-bert/resolve/main/model.safetensors';
const bearer = { authorization: `Bearer ${ADMIN}` };
const LINK = /see (http:\/\/127\.0\.0\.1:\d+)(\/console\/refusal\/([A-Za-z0-9_-]{43}))$/;

/** Downloads through the gateway; the refusal's link (path) when refused. */
async function download(s: Stack, path: string): Promise<{ status: number; link: string | null; message: string | null }> {
  const r = await fetch(s.base + path);
  await r.arrayBuffer();
  const message = r.headers.get('x-error-message');
  const m = message ? LINK.exec(message) : null;
  return { status: r.status, link: m ? m[2]! : null, message };
}

const formOf = (html: string): { csrf: string } => ({ csrf: /name="csrf" value="([^"]+)"/.exec(html)![1]! });

describe('refusal page and waiver workflow', () => {
  let s: Stack;
  let first: { status: number; link: string | null; message: string | null };
  let refusalId = 0;
  beforeAll(async () => {
    s = await startStack();
    first = await download(s, EVIL);
    refusalId = (await s.gw.ctx.store.queryAudit({ repo: 'acme/evil-bert', verdict: 'block', limit: 1 }))[0]!.id!;
  }, 120_000);
  afterAll(async () => s?.close());

  it('links the refusal to its own page, and keeps the link out of the audit log and the server log', async () => {
    expect(first.status).toBe(403);
    expect(first.message).toMatch(/^blocked by modelgate: pytorch_model\.bin calls os\.system \(critical, rule scan-severity\); see http:\/\/127\.0\.0\.1:\d+\/console\/refusal\/[A-Za-z0-9_-]{43}$/);
    const secret = LINK.exec(first.message!)![3]!;
    const [rec] = await s.gw.ctx.store.queryAudit({ before: refusalId + 1, limit: 1 });
    expect(rec!.message).toMatch(/; see http:\/\/127\.0\.0\.1:\d+\/console\/refusal\/\(link withheld\)$/);
    const exported = await (await fetch(`${s.base}/console/activity.jsonl?repo=acme/evil-bert`, { headers: bearer })).text();
    expect(exported).not.toContain(secret);
    expect(exported).not.toContain('ticket');
    expect(logSafeUrl(`/console/refusal/${secret}?sent=1`)).toBe('/console/refusal/(secret)?sent=1');
    // Each refusal gets its own link.
    const again = await download(s, EVIL);
    expect(again.link).not.toBe(first.link);
  });

  it('shows the user that decision and nothing else, without a login', async () => {
    const c = new Client(s.base);
    const { res, text } = await c.req(first.link!);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(CSP);
    expect(res.headers.get('referrer-policy')).toBe('same-origin');
    expect(text).toContain('<h1>Download refused</h1>');
    const [rec] = await s.gw.ctx.store.queryAudit({ before: refusalId + 1, limit: 1 });
    expect(text).toContain(`acme/evil-bert@${rec!.commit}/pytorch_model.bin`);
    expect(text).toContain(rec!.sha256!);
    expect(text).toContain('<code>scan-severity</code>');
    expect(text).toMatch(/os\.system/);
    // No navigation, no other decision, no other user's downloads, no admin page.
    expect(text).not.toContain('href="/console/activity');
    expect(text).not.toContain('href="/console/audit/');
    expect(text).not.toContain('Log out');
    expect(text).not.toMatch(/<script|style=/);
    expect(c.jar.get('mg_console_req')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Rule pages it links to open without a login too.
    const rule = /href="\/console\/rules\/([A-Z0-9_]+)"/.exec(text)![1]!;
    expect((await c.req(`/console/rules/${rule}`)).res.status).toBe(200);
    // A link that is not a refusal's opens nothing; neither does the admins' page of the decision.
    const secret = LINK.exec(first.message!)![3]!;
    const wrong = `/console/refusal/${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    expect((await c.req(wrong)).res.status).toBe(404);
    expect((await c.req('/console/refusal/short')).res.status).toBe(404);
    expect((await c.req(`/console/audit/${refusalId}`)).res.status).toBe(303);
  });

  it('takes a waiver request only with the form token, from the same origin, for this refusal', async () => {
    const c = new Client(s.base);
    const page = await c.req(first.link!);
    const csrf = formOf(page.text).csrf;
    const good = { csrf, scope: 'file', rule: '', justification: 'our own checkpoint, reviewed by ML platform' };
    expect((await c.req(first.link!, { method: 'POST', form: { ...good, csrf: 'x'.repeat(43) } })).res.status).toBe(403);
    expect((await c.req(first.link!, { method: 'POST', form: good, headers: { origin: 'https://attacker.example' } })).res.status).toBe(403);
    expect((await new Client(s.base).req(first.link!, { method: 'POST', form: good })).res.status).toBe(403);
    const badRule = await c.req(first.link!, { method: 'POST', form: { ...good, rule: 'licenses' } });
    expect(badRule.res.status).toBe(400);
    expect(badRule.text).toContain('choose one of the rules that refused this file');
    const short = await c.req(first.link!, { method: 'POST', form: { ...good, csrf: formOf(badRule.text).csrf, justification: 'no' } });
    expect(short.res.status).toBe(400);
    expect(short.text).toContain('the justification must be 3 to 1000 characters');
    expect(await s.gw.ctx.store.listWaiverRequests({ auditId: refusalId })).toEqual([]);
  });

  it('files the request, the admin approves it, the next download is served; revoked, it is refused again', async () => {
    const user = new Client(s.base);
    const page = await user.req(first.link!);
    const sent = await user.req(first.link!, { method: 'POST', form: { csrf: formOf(page.text).csrf, scope: 'file', rule: 'scan-severity', justification: 'our <b>own</b> checkpoint' } });
    expect(sent.res.status).toBe(303);
    const [req] = await s.gw.ctx.store.listWaiverRequests({ auditId: refusalId });
    const [rec] = await s.gw.ctx.store.queryAudit({ before: refusalId + 1, limit: 1 });
    expect(req).toMatchObject({ status: 'pending', via: 'link', requester: rec!.client, repo: 'acme/evil-bert', sha256: rec!.sha256, rule: 'scan-severity', justification: 'our <b>own</b> checkpoint' });
    const filed = (await s.gw.ctx.store.queryAudit({ limit: 1 }))[0]!;
    expect(filed.message).toBe(`waiver request ${req!.id} filed by ${rec!.client} from the refusal link of decision ${refusalId} for repository acme/evil-bert, sha256 ${rec!.sha256}, rule scan-severity: our <b>own</b> checkpoint`);
    const after = await user.req(`${sent.res.headers.get('location')!.replace(/#.*$/, '')}`);
    expect(after.text).toContain('Your request was sent to the administrators.');
    expect(after.text).toContain('waiting for an administrator');

    const admin = new Client(s.base);
    await admin.login(ADMIN);
    const list = await admin.req('/console/waivers');
    expect(list.text).toContain(`href="/console/waivers/requests/${req!.id}"`);
    expect(list.text).toContain('our &lt;b&gt;own&lt;/b&gt; checkpoint');
    const detail = await admin.req(`/console/waivers/requests/${req!.id}`);
    expect(detail.text).toContain(`href="/console/audit/${refusalId}"`);
    const csrf = formOf(detail.text).csrf;
    const approve = `/console/waivers/requests/${req!.id}/approve`;
    const form = { csrf, repo: 'acme/evil-bert', sha256: rec!.sha256!, rule: '', expires: new Date(Date.now() + 7 * 86400_000).toISOString().slice(0, 10), note: 'ok for a week' };
    expect((await admin.req(approve, { method: 'POST', form: { ...form, csrf: 'nope' } })).res.status).toBe(403);
    expect((await admin.req(approve, { method: 'POST', form, headers: { 'sec-fetch-site': 'cross-site' } })).res.status).toBe(403);
    const past = await admin.req(approve, { method: 'POST', form: { ...form, expires: '2020-01-01' } });
    expect(past.res.status).toBe(400);
    expect(past.text).toContain('expiry must be in the future');
    expect((await s.gw.ctx.store.getWaiverRequest(req!.id))!.status).toBe('pending');
    expect((await download(s, EVIL)).status).toBe(403);

    const ok = await admin.req(approve, { method: 'POST', form });
    expect(ok.res.status).toBe(303);
    expect(ok.res.headers.get('location')).toBe('/console/waivers?done=approved');
    expect((await admin.req(approve, { method: 'POST', form })).res.status).toBe(409);
    const approved = (await s.gw.ctx.store.getWaiverRequest(req!.id))!;
    expect(approved).toMatchObject({ status: 'approved', decidedBy: 'bootstrap-admin', note: 'ok for a week' });
    const waiver = (await s.gw.ctx.store.getWaiver(approved.waiverId!))!;
    expect(waiver).toMatchObject({ repo: 'acme/evil-bert', sha256: rec!.sha256, rule: null, author: 'bootstrap-admin' });
    expect(waiver.expiresAt).toBe(`${new Date(Date.parse(form.expires) + 86400_000).toISOString().slice(0, 10)}T00:00:00.000Z`);
    expect((await s.gw.ctx.store.queryAudit({ limit: 1 }))[0]!.message).toBe(`waiver request ${req!.id} approved by bootstrap-admin: waiver ${waiver.id} for repository acme/evil-bert, sha256 ${rec!.sha256} until ${waiver.expiresAt}; ok for a week`);

    const served = await fetch(s.base + EVIL);
    expect(served.status).toBe(200);
    await served.arrayBuffer();
    const get = (await s.gw.ctx.store.queryAudit({ repo: 'acme/evil-bert', limit: 1 }))[0]!;
    expect(get.verdict).toBe('allow');
    expect(get.waivers).toEqual([waiver.id]);
    expect((await user.req(first.link!)).text).toMatch(/approved until [0-9-]+ 00:00:00Z: download again/);

    const revokeForm = /<form method="post" action="(\/console\/waivers\/[0-9a-f]+\/revoke)"/.exec((await admin.req('/console/waivers')).text)!;
    expect(revokeForm[1]).toBe(`/console/waivers/${waiver.id}/revoke`);
    expect((await admin.req(revokeForm[1]!, { method: 'POST', form: {} })).res.status).toBe(403);
    const revoked = await admin.req(revokeForm[1]!, { method: 'POST', form: { csrf } });
    expect(revoked.res.status).toBe(303);
    expect((await s.gw.ctx.store.queryAudit({ limit: 1 }))[0]!.message).toBe(`waiver ${waiver.id} revoked by bootstrap-admin`);
    expect((await download(s, EVIL)).status).toBe(403);
    expect((await user.req(first.link!)).text).toContain('approved, then revoked');
  });

  it('rejects with a note the user reads on their page (escaped), and audits it', async () => {
    const refused = await download(s, EVIL);
    const user = new Client(s.base);
    const page = await user.req(refused.link!);
    expect((await user.req(refused.link!, { method: 'POST', form: { csrf: formOf(page.text).csrf, scope: 'repo', rule: '', justification: 'please' } })).res.status).toBe(303);
    const [req] = await s.gw.ctx.store.listWaiverRequests({ status: 'pending' });
    expect(req).toMatchObject({ repo: 'acme/evil-bert', sha256: null, rule: null });
    const admin = new Client(s.base);
    await admin.login(ADMIN);
    const csrf = formOf((await admin.req(`/console/waivers/requests/${req!.id}`)).text).csrf;
    const rej = await admin.req(`/console/waivers/requests/${req!.id}/reject`, { method: 'POST', form: { csrf, note: 'use <i>safetensors</i>' } });
    expect(rej.res.status).toBe(303);
    const text = (await user.req(refused.link!)).text;
    expect(text).toContain('rejected: use &lt;i&gt;safetensors&lt;/i&gt;');
    expect((await s.gw.ctx.store.queryAudit({ limit: 1 }))[0]!.message).toBe(`waiver request ${req!.id} rejected by bootstrap-admin: use <i>safetensors</i>`);
    expect((await download(s, EVIL)).status).toBe(403);
  });

  it('lets a gateway token ask and follow its own requests; only admins answer', async () => {
    const mk = async (name: string) => ((await (await fetch(`${s.base}/admin/tokens`, { method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body: JSON.stringify({ name, role: 'client' }) })).json()) as { secret: string }).secret;
    const alice = await mk('alice');
    const bob = await mk('bob');
    const post = (token: string | null, body: unknown) => fetch(`${s.base}/console/waiver-requests`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    expect((await post(null, { repo: 'acme/x', justification: 'needed' })).status).toBe(401);
    const noScope = await post(alice, { justification: 'needed' });
    expect(noScope.status).toBe(400);
    expect(noScope.headers.get('x-error-message')).toBe('invalid waiver request: a waiver needs at least one of repository, sha256, rule');
    expect((await post(alice, { repo: 'acme/x', justification: 'needed', extra: 1 })).status).toBe(400);
    const made = await post(alice, { repo: 'acme/*', rule: 'PICKLE_DANGEROUS_GLOBAL', justification: 'research sandbox' });
    expect(made.status).toBe(201);
    const body = (await made.json()) as { id: string; state: string };
    expect(body.state).toBe('pending');
    expect(await s.gw.ctx.store.getWaiverRequest(body.id)).toMatchObject({ requester: 'alice', via: 'token', auditId: null, repo: 'acme/*' });
    const mine = (await (await fetch(`${s.base}/console/waiver-requests`, { headers: { authorization: `Bearer ${alice}` } })).json()) as { requests: Array<{ id: string }> };
    expect(mine.requests.map((r) => r.id)).toEqual([body.id]);
    const theirs = (await (await fetch(`${s.base}/console/waiver-requests`, { headers: { authorization: `Bearer ${bob}` } })).json()) as { requests: unknown[] };
    expect(theirs.requests).toEqual([]);
    // A client token cannot answer, nor can an anonymous caller.
    const approve = `/console/waivers/requests/${body.id}/approve`;
    const form = { repo: 'acme/*', expires: '2099-01-01' };
    expect((await new Client(s.base).req(approve, { method: 'POST', form, headers: { authorization: `Bearer ${alice}` } })).res.status).toBe(401);
    expect((await new Client(s.base).req(approve, { method: 'POST', form })).res.status).toBe(401);
    // An admin script may, with its bearer token (no session, so no CSRF token to echo).
    expect((await new Client(s.base).req(approve, { method: 'POST', form, headers: bearer })).res.status).toBe(303);
    const w = await s.gw.ctx.store.getWaiver((await s.gw.ctx.store.getWaiverRequest(body.id))!.waiverId!);
    expect(w).toMatchObject({ repo: 'acme/*', rule: null, sha256: null, expiresAt: '2099-01-02T00:00:00.000Z' });
    await s.gw.ctx.store.revokeWaiver(w!.id, new Date().toISOString());
  });

  it('escapes hostile requesters, scopes and justifications on the admin pages', async () => {
    const audit = (m: string): AuditRecord => ({ time: new Date().toISOString(), requestId: 'seed', client: 'seed', group: 'default', method: 'POST', repoType: 'model', repo: '*', revision: '', commit: null, path: null, sha256: null, verdict: 'allow', rules: [], findings: [], waivers: [], upstreamStatus: null, scanId: null, policyVersion: 'seed', message: m });
    await s.gw.ctx.store.addWaiverRequest(
      { id: 'ab'.repeat(8), createdAt: new Date().toISOString(), requester: '<img src=x onerror=alert(1)>', requesterGroup: 'g"', via: 'token', auditId: null, repoType: 'model', repo: 'evil/<script>alert(1)</script>', sha256: null, rule: 'x"><svg onload=alert(1)>', justification: '\u202Etxt.exe <script>', status: 'pending', decidedBy: null, decidedAt: null, note: null, waiverId: null },
      audit('seeded'),
    );
    for (const path of ['/console/waivers', `/console/waivers/requests/${'ab'.repeat(8)}`]) {
      const { res, text } = await new Client(s.base).req(path, { headers: bearer });
      expect(res.status).toBe(200);
      expect(text).not.toMatch(/<script>alert|<img src=x|<svg onload/);
      expect(text).not.toContain('\u202E');
      expect(text).toContain('evil/&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(text).toContain('&lt;U+202E&gt;txt.exe');
    }
  });

  it('lists what was pulled in the inventory, with who and how often, and the ML-BOM', async () => {
    expect((await download(s, CLEAN)).status).toBe(200);
    const admin = new Client(s.base);
    const list = await admin.req('/console/inventory', { headers: bearer });
    expect(list.res.status).toBe(200);
    expect(list.text).toMatch(/acme\/evil-bert@[0-9a-f]{12}<\/a>/);
    expect(list.text).toMatch(/acme\/tiny-bert@[0-9a-f]{12}<\/a>/);
    const href = /href="(\/console\/inventory\/repo\?type=model&amp;repo=acme%2Fevil-bert&amp;commit=[0-9a-f]{40})"/.exec(list.text)![1]!.replace(/&amp;/g, '&');
    const repo = await admin.req(href, { headers: bearer });
    expect(repo.res.status).toBe(200);
    expect(repo.text).toContain('pytorch_model.bin');
    // Served once (with the waiver), refused by every other GET of this suite.
    const blocks = (await s.gw.ctx.store.queryAudit({ repo: 'acme/evil-bert', verdict: 'block', limit: 100 })).filter((r) => r.method === 'GET').length;
    expect(repo.text).toContain(`<td data-label="pulls" class="num">1</td><td data-label="refused" class="num">${blocks}</td>`);
    expect(repo.text).toMatch(/anonymous@127\.0\.0\.1 <span class="muted">×1, refused ×\d+/);
    expect(repo.text).toContain('<td data-label="format"><code>zip</code></td>');
    expect(repo.text).toContain('<dt>licence</dt><dd><span class="mono">apache-2.0</span></dd>');
    expect(repo.text).toContain('<dt>custom code</dt><dd>no</dd>');
    const bom = await admin.req(href.replace('/console/inventory/repo', '/console/inventory/bom.json'), { headers: bearer });
    expect(bom.res.status).toBe(200);
    expect(bom.res.headers.get('content-disposition')).toMatch(/^attachment; filename="acme_evil-bert@[0-9a-f]{12}\.cdx\.json"$/);
    const doc = JSON.parse(bom.text) as { metadata: { component: { name: string; version: string } }; components: Array<{ name: string; properties: Array<{ name: string; value: string }> }>; vulnerabilities: unknown[] };
    expect(doc.metadata.component.name).toBe('acme/evil-bert');
    expect(doc.components.map((c) => c.name)).toContain('pytorch_model.bin');
    expect(doc.vulnerabilities.length).toBeGreaterThan(0);
    expect(await cycloneDxErrors(doc)).toBeNull();
    expect((await admin.req('/console/inventory/bom.json?repo=acme/evil-bert&commit=nope', { headers: bearer })).res.status).toBe(404);
    expect((await new Client(s.base).req('/console/inventory')).res.status).toBe(303);
    expect((await new Client(s.base).req(href.replace('/console/inventory/repo', '/console/inventory/bom.json'))).res.status).toBe(401);
  });

  it("shows each file's 8 newest clients and how many in all, and links to the file's full client list", async () => {
    const [last] = await s.gw.ctx.store.queryAudit({ repo: 'acme/evil-bert', verdict: 'block', limit: 1 });
    const commit = last!.commit!;
    // Eleven more clients, the newest with a hostile name: clients are whatever a token is called.
    const hostile = '<img src=x onerror=alert(1)>';
    for (let i = 0; i < 11; i++) {
      const rec: AuditRecord = { ...last!, time: new Date(Date.now() + 60_000 * (i + 1)).toISOString(), client: i === 10 ? hostile : `team-${String(i).padStart(2, '0')}`, verdict: 'allow', rules: [], message: null };
      delete rec.id;
      await s.gw.ctx.store.appendAudit(rec);
    }
    const admin = new Client(s.base);
    const repo = await admin.req(`/console/inventory/repo?type=model&repo=acme%2Fevil-bert&commit=${commit}`, { headers: bearer });
    expect(repo.res.status).toBe(200);
    const cell = /<td data-label="pulled by">(.*?)<\/td>/s.exec(repo.text)![1]!;
    // 12 clients: the 8 newest named, newest first, the other 4 behind a link.
    expect(cell.match(/<li>/g)).toHaveLength(9);
    expect(cell).toContain('<li>&lt;img src=x onerror=alert(1)&gt; <span class="muted">×1');
    expect(cell.indexOf('team-09')).toBeLessThan(cell.indexOf('team-03'));
    expect(cell).not.toContain('team-02');
    expect(cell).not.toContain('anonymous@');
    const more = /<a href="(\/console\/inventory\/clients\?[^"]+)">and 4 more<\/a> <span class="muted">\(12 clients in all\)<\/span>/.exec(cell);
    expect(more).not.toBeNull();
    const all = await admin.req(more![1]!.replace(/&amp;/g, '&'), { headers: bearer });
    expect(all.res.status).toBe(200);
    expect(all.text).toContain('<h1>Who pulled <code>pytorch_model.bin</code></h1>');
    expect(all.text.match(/<tr><td class="mono">/g)).toHaveLength(12);
    expect(all.text).toContain('<td class="mono">&lt;img src=x onerror=alert(1)&gt;</td>');
    expect(all.text).not.toContain(hostile);
    expect(all.text).toMatch(/<td class="mono">anonymous@127\.0\.0\.1<\/td><td data-label="pulls" class="num">1<\/td><td data-label="refused" class="num">[1-9]\d*<\/td>/);
    expect(all.text).toContain('No older clients.');
    const base = `/console/inventory/clients?type=model&repo=acme%2Fevil-bert&commit=${commit}`;
    expect((await admin.req(`${base}&path=pytorch_model.bin&before=not-a-cursor`, { headers: bearer })).res.status).toBe(400);
    expect((await admin.req(base, { headers: bearer })).res.status).toBe(400);
    expect((await admin.req(`${base}&path=nothing.bin`, { headers: bearer })).res.status).toBe(404);
    expect((await new Client(s.base).req(`${base}&path=pytorch_model.bin`)).res.status).toBe(303);
  });
});

const probe = await probePostgres();
if (!probe.ok) console.warn(`[console tests] SKIPPING the waiver workflow on PostgreSQL: ${probe.reason}`);

describe.skipIf(!probe.ok)(`waiver workflow on PostgreSQL${probe.ok ? '' : ` — SKIPPED: ${probe.ok ? '' : probe.reason}`}`, () => {
  let s: Stack;
  const schema = `mg_test_waivers_gw_${process.pid}_${randomBytes(4).toString('hex')}`;
  beforeAll(async () => {
    const u = new URL(probe.ok ? probe.url : 'postgres://x');
    u.searchParams.set('schema', schema);
    s = await startStack({ config: { store: u.toString() } });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
    if (probe.ok) {
      const c = new pg.Client({ connectionString: probe.url });
      await c.connect();
      await c.query(`drop schema if exists "${schema}" cascade`);
      await c.end();
    }
  });

  it('refusal page, request, approval (admin script), served download, inventory', async () => {
    const refused = await download(s, EVIL);
    expect(refused.status).toBe(403);
    const user = new Client(s.base);
    const page = await user.req(refused.link!);
    expect(page.res.status).toBe(200);
    expect((await user.req(refused.link!, { method: 'POST', form: { csrf: formOf(page.text).csrf, scope: 'file', rule: '', justification: 'reviewed' } })).res.status).toBe(303);
    const [req] = await s.gw.ctx.store.listWaiverRequests({ status: 'pending' });
    const ok = await new Client(s.base).req(`/console/waivers/requests/${req!.id}/approve`, { method: 'POST', form: { repo: req!.repo!, sha256: req!.sha256!, expires: '2099-01-01' }, headers: bearer });
    expect(ok.res.status).toBe(303);
    expect((await download(s, EVIL)).status).toBe(200);
    const list = await new Client(s.base).req('/console/inventory', { headers: bearer });
    expect(list.text).toMatch(/acme\/evil-bert@[0-9a-f]{12}<\/a><\/td><td data-label="files" class="num">1<\/td>/);
    const messages = (await s.gw.ctx.store.queryAudit({ limit: 3 })).map((r) => r.message ?? '');
    expect(messages[1]).toMatch(/^waiver request [0-9a-f]{16} approved by bootstrap-admin: waiver [0-9a-f]{16} for repository acme\/evil-bert, sha256 [0-9a-f]{64} until 2099-01-02T00:00:00\.000Z$/);
    expect(messages[2]).toMatch(/^waiver request [0-9a-f]{16} filed by anonymous@127\.0\.0\.1 from the refusal link of decision \d+/);
  });
});
