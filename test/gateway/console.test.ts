/**
 * The console at /console on a real gateway stack: login and sessions (cookie flags, expiry by
 * revocation, logout), CSRF refusals, security headers, escaping of hostile repository names,
 * the activity filters, keyset pagination, the JSONL/CSV exports, the file page of a real
 * refusal; and once in a real browser (Debian's chromium through playwright-core).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSP } from '../../src/gateway/console/routes.js';
import type { AuditRecord } from '../../src/store/types.js';
import { probePostgres } from '../store/pg-probe.js';
import { ADMIN, startStack, type Stack } from './stack.js';
import { Client } from './console-client.js';

const EVIL = '/acme/evil-bert/resolve/main/pytorch_model.bin';
const bearer = { authorization: `Bearer ${ADMIN}` };
const HOSTILE_REPO = `evil/<script>alert("r")</script>'x`;
const HOSTILE_PATH = `a"b'<img src=x onerror=alert(1)>\u202Etxt.exe`;
const HOSTILE_CLIENT = '<b>bob</b>';

function rec(over: Partial<AuditRecord>): AuditRecord {
  return {
    time: new Date().toISOString(),
    requestId: 'seed',
    client: 'seed-bot',
    group: 'default',
    method: 'GET',
    repoType: 'model',
    repo: 'org/model',
    revision: 'main',
    commit: 'c'.repeat(40),
    path: 'model.bin',
    sha256: 'd'.repeat(64),
    verdict: 'allow',
    rules: [],
    findings: [],
    waivers: [],
    upstreamStatus: 200,
    scanId: null,
    policyVersion: 'seed',
    message: null,
    ...over,
  };
}

const rowsOf = (html: string): string[] => [...html.matchAll(/<a href="\/console\/audit\/(\d+)"/g)].map((m) => m[1]!);

describe('console over HTTP', () => {
  let s: Stack;
  let evilId = 0;
  beforeAll(async () => {
    s = await startStack();
    const r = await fetch(s.base + EVIL);
    await r.arrayBuffer();
    expect(r.status).toBe(403);
    const store = s.gw.ctx.store;
    evilId = (await store.queryAudit({ repo: 'acme/evil-bert', verdict: 'block' }))[0]!.id!;
    await store.appendAudit(rec({ repo: HOSTILE_REPO, path: HOSTILE_PATH, client: HOSTILE_CLIENT, verdict: 'block', rules: [{ rule: 'deny<x>', action: 'block', reason: '<i>why</i>' }], findings: [{ rule: 'PICKLE_<svg>', severity: 'critical', message: '<svg onload=alert(1)>' }] }));
    await store.appendAudit(rec({ repo: '=cmd|\' /C calc\'!A0', path: '+1', client: '@evil', message: '-2+3 "quoted"', verdict: 'warn', rules: [{ rule: 'custom-code', action: 'warn', reason: 'r' }], time: '2026-01-15T12:00:00.000Z' }));
    for (let i = 0; i < 7; i++) await store.appendAudit(rec({ client: 'pager-bot', repo: `pager/r${i}`, verdict: i % 2 ? 'block' : 'allow', time: `2026-02-0${i + 1}T08:00:00.000Z` }));
  }, 120_000);
  afterAll(async () => s?.close());

  it('sends a browser without a session to the login form, and refuses data to anonymous and non-admin callers', async () => {
    const c = new Client(s.base);
    const { res } = await c.req('/console');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console/login');
    expect((await c.req('/console/activity.csv')).res.status).toBe(401);
    expect((await c.req('/console/activity', { headers: { authorization: 'Bearer mg_not_a_token' } })).res.status).toBe(401);
    const client = await (await fetch(`${s.base}/admin/tokens`, { method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ci', role: 'client' }) })).json() as { secret: string };
    expect((await c.req('/console', { headers: { authorization: `Bearer ${client.secret}` } })).res.status).toBe(401);
    expect((await c.login(client.secret)).status).toBe(401);
  });

  it('throttles an address after 10 failed logins', async () => {
    // A stack of its own: every other test here logs in from the same address.
    const t = await startStack();
    try {
      const c = new Client(t.base);
      for (let i = 0; i < 10; i++) expect((await c.login(`mg_guess_${i}`)).status).toBe(401);
      const res = await c.login(ADMIN);
      expect(res.status).toBe(429);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await t.close();
    }
  }, 60_000);

  it('logs in with an admin token: HttpOnly SameSite=Strict session cookie, strict CSP, no framing', async () => {
    const c = new Client(s.base);
    const login = await c.req('/console/login');
    expect(login.res.headers.get('content-security-policy')).toBe(CSP);
    expect(CSP).toContain("default-src 'self'");
    expect(CSP).toContain("script-src 'none'");
    expect(CSP).toContain("frame-ancestors 'none'");
    expect(login.res.headers.get('x-frame-options')).toBe('DENY');
    expect(login.text).not.toMatch(/<script|style=/);
    const res = await c.login(ADMIN);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console');
    const set = res.headers.getSetCookie().find((x) => x.startsWith('mg_console='))!;
    expect(set).toMatch(/^mg_console=[A-Za-z0-9_-]{43}; Path=\/console; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    expect(set).not.toContain(ADMIN);
    const home = await c.req('/console');
    expect(home.res.status).toBe(200);
    expect(home.res.headers.get('content-security-policy')).toBe(CSP);
    expect(home.res.headers.get('cache-control')).toBe('no-store');
    expect(home.text).toContain('<h1>Overview</h1>');
    expect(home.text).toContain('bootstrap-admin');
    expect(home.text).not.toMatch(/<script|style=/);
    // Nothing is loaded or linked from elsewhere: every src/href is a path of the gateway.
    expect(home.text).not.toMatch(/(?:src|href|action)="(?!\/(?!\/)|#)/);
  });

  it('refuses a login without the form token and a wrong token', async () => {
    const c = new Client(s.base);
    await c.req('/console/login');
    expect((await c.req('/console/login', { method: 'POST', form: { token: ADMIN } })).res.status).toBe(403);
    const wrong = await c.login('mg_wrong');
    expect(wrong.status).toBe(401);
    expect(c.jar.has('mg_console')).toBe(false);
  });

  it('refuses a logout without the CSRF token or from a foreign origin, and logs out with it', async () => {
    const c = new Client(s.base);
    expect((await c.login(ADMIN)).status).toBe(303);
    const csrf = await c.csrf();
    const no = await c.req('/console/logout', { method: 'POST', form: {} });
    expect(no.res.status).toBe(403);
    expect((await c.req('/console/logout', { method: 'POST', form: { csrf: 'x'.repeat(csrf.length) } })).res.status).toBe(403);
    expect((await c.req('/console/logout', { method: 'POST', form: { csrf }, headers: { origin: 'https://attacker.example' } })).res.status).toBe(403);
    expect((await c.req('/console/logout', { method: 'POST', form: { csrf }, headers: { 'sec-fetch-site': 'cross-site' } })).res.status).toBe(403);
    expect((await c.req('/console')).res.status).toBe(200);
    const out = await c.req('/console/logout', { method: 'POST', form: { csrf } });
    expect(out.res.status).toBe(303);
    expect((await c.req('/console')).res.status).toBe(303);
  });

  it('ends a session when its admin token is revoked', async () => {
    const made = await (await fetch(`${s.base}/admin/tokens`, { method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ops-alice', role: 'admin' }) })).json() as { id: string; secret: string };
    const c = new Client(s.base);
    expect((await c.login(made.secret)).status).toBe(303);
    expect((await c.req('/console')).text).toContain('ops-alice');
    expect((await fetch(`${s.base}/admin/tokens/${made.id}`, { method: 'DELETE', headers: bearer })).status).toBe(200);
    expect((await c.req('/console')).res.status).toBe(303);
  });

  it('escapes hostile repository names, paths, clients, rules and messages everywhere', async () => {
    for (const path of ['/console', `/console/activity?repo=${encodeURIComponent(HOSTILE_REPO)}`]) {
      const { res, text } = await new Client(s.base).req(path, { headers: bearer });
      expect(res.status).toBe(200);
      expect(text).not.toContain('<script>alert');
      expect(text).not.toContain('<img src=x');
      expect(text).not.toContain('<b>bob');
      expect(text).not.toContain('\u202E');
      expect(text).toContain('evil/&lt;script&gt;alert(&quot;r&quot;)&lt;/script&gt;&#39;x');
    }
    const overview = (await new Client(s.base).req('/console', { headers: bearer })).text;
    // Finding kinds link to their rule page, except names that are not rule ids.
    expect(overview).toContain('<a href="/console/rules/PICKLE_DANGEROUS_GLOBAL"><code>PICKLE_DANGEROUS_GLOBAL</code></a>');
    expect(overview).toContain('<td><code>PICKLE_&lt;svg&gt;</code></td>');
    const { text } = await new Client(s.base).req(`/console/activity?repo=${encodeURIComponent(HOSTILE_REPO)}`, { headers: bearer });
    expect(text).toContain('a&quot;b&#39;&lt;img src=x onerror=alert(1)&gt;&lt;U+202E&gt;txt.exe');
    expect(text).toContain('&lt;b&gt;bob&lt;/b&gt;');
    expect(text).toContain('<code>deny&lt;x&gt;</code>');
    // The filter value is echoed back into the form, escaped as an attribute.
    expect(text).toContain('value="evil/&lt;script&gt;alert(&quot;r&quot;)&lt;/script&gt;&#39;x"');
    const id = rowsOf(text)[0]!;
    const file = await new Client(s.base).req(`/console/audit/${id}`, { headers: bearer });
    expect(file.text).not.toMatch(/<svg onload|<i>why/);
    expect(file.text).toContain('&lt;svg onload=alert(1)&gt;');
  });

  it('filters by verdict, repository, client, policy rule and time', async () => {
    const get = async (q: string) => {
      const r = await new Client(s.base).req(`/console/activity?${q}`, { headers: bearer });
      expect(r.res.status).toBe(200);
      return r.text;
    };
    const blocks = await get('client=pager-bot&verdict=block');
    expect(rowsOf(blocks)).toHaveLength(3);
    expect(blocks).not.toContain('pager/r0');
    expect(blocks).toContain('pager/r1');
    expect(rowsOf(await get('repo=pager/r4'))).toHaveLength(1);
    expect(rowsOf(await get('rule=custom-code'))).toHaveLength(1);
    const days = await get('client=pager-bot&since=2026-02-02&until=2026-02-04');
    expect(rowsOf(days)).toHaveLength(3);
    expect(days).toContain('pager/r1');
    expect(days).toContain('pager/r3');
    expect(days).not.toContain('pager/r4');
    const bad = await new Client(s.base).req('/console/activity?verdict=maybe', { headers: bearer });
    expect(bad.res.status).toBe(400);
    expect(bad.text).toContain('verdict must be allow, warn, block or error');
  });

  it('pages through the log with keyset cursors both ways, without gaps or repeats', async () => {
    const newest = rowsOf((await new Client(s.base).req('/console/activity?client=pager-bot&limit=3', { headers: bearer })).text);
    const down0 = newest[0]!;
    const walk = async (start: string, rel: 'next' | 'prev'): Promise<string[][]> => {
      const pages: string[][] = [];
      let url: string | null = start;
      while (url) {
        const { res, text } = await new Client(s.base).req(url, { headers: bearer });
        expect(res.status).toBe(200);
        pages.push(rowsOf(text));
        const m = new RegExp(`<a href="([^"]+)" rel="${rel}">`).exec(text);
        url = m ? m[1]!.replace(/&amp;/g, '&') : null;
        // Every page but the newest offers a way back to the newest.
        expect(text.includes('« Newest')).toBe(!rowsOf(text).includes(down0));
        expect(pages.length).toBeLessThan(10);
      }
      return pages;
    };
    const down = await walk('/console/activity?client=pager-bot&limit=3', 'next');
    expect(down.map((p) => p.length)).toEqual([3, 3, 1]);
    const seen = down.flat();
    expect(new Set(seen).size).toBe(7);
    expect(seen.map(Number)).toEqual([...seen.map(Number)].sort((a, b) => b - a));
    // From the last page back up with "Newer": the same pages in reverse.
    const lastOlder = Number(down[1]![2]);
    const up = await walk(`/console/activity?client=pager-bot&limit=3&before=${lastOlder}`, 'prev');
    expect(up).toEqual([down[2], down[1], down[0]]);
    const bad = await new Client(s.base).req('/console/activity?before=5&after=2', { headers: bearer });
    expect(bad.res.status).toBe(400);
  });

  it('exports what the filters select as JSONL and formula-safe CSV', async () => {
    const j = await new Client(s.base).req('/console/activity.jsonl?client=pager-bot&verdict=block', { headers: bearer });
    expect(j.res.status).toBe(200);
    expect(j.res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(j.res.headers.get('content-disposition')).toBe('attachment; filename="modelgate-audit.jsonl"');
    const lines = j.text.trimEnd().split('\n').map((l) => JSON.parse(l) as AuditRecord);
    expect(lines.map((l) => l.repo)).toEqual(['pager/r5', 'pager/r3', 'pager/r1']);

    const c = await new Client(s.base).req('/console/activity.csv?rule=custom-code', { headers: bearer });
    expect(c.res.headers.get('content-type')).toMatch(/^text\/csv/);
    const rows = c.text.split('\r\n');
    expect(rows[0]).toBe('id,time,client,group,method,repoType,repo,revision,commit,path,sha256,verdict,rules,findings,waivers,upstreamStatus,scanId,policyVersion,message');
    expect(rows).toHaveLength(3);
    const cells = rows[1]!;
    expect(cells).toContain(`"'@evil"`);
    expect(cells).toContain(`"'=cmd|' /C calc'!A0"`);
    expect(cells).toContain(`"'+1"`);
    expect(cells).toContain(`"'-2+3 ""quoted"""`);
    expect(cells).toContain('"custom-code:warn"');
    expect(cells).not.toMatch(/(^|,)"[=+\-@]/);
  });

  it('shows the file page of a real refusal: sha256, rules, findings with evidence, rule docs, downloads', async () => {
    const { res, text } = await new Client(s.base).req(`/console/audit/${evilId}`, { headers: bearer });
    expect(res.status).toBe(200);
    const [r] = await s.gw.ctx.store.queryAudit({ before: evilId + 1, limit: 1 });
    expect(text).toContain(`acme/evil-bert@${r!.commit}/pytorch_model.bin`);
    expect(text).toContain(r!.sha256!);
    expect(r!.rules.length).toBeGreaterThan(0);
    expect(text).toContain(`<code>${r!.rules[0]!.rule}</code>`);
    expect(text).toMatch(/os\.system/);
    // Member path inside the file, not the gateway's cache path.
    expect(text).toContain('in pytorch_model.bin › pytorch_model/data.pkl at byte');
    expect(text).not.toContain(s.dataDir);
    const ruleId = /href="\/console\/rules\/([A-Z0-9_]+)"/.exec(text)![1]!;
    expect(r!.findings.map((f) => f.rule)).toContain(ruleId);
    const doc = await new Client(s.base).req(`/console/rules/${ruleId}`, { headers: bearer });
    expect(doc.res.status).toBe(200);
    expect(doc.text).toContain(`Rule <code>${ruleId}</code>`);
    expect((await new Client(s.base).req('/console/rules/..%2Fpackage', { headers: bearer })).res.status).toBe(404);
    expect(rowsOf(text)).toContain(String(evilId));
    expect((await new Client(s.base).req('/console/audit/999999', { headers: bearer })).res.status).toBe(404);
  });
});

describe('console behind https', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ config: { publicUrl: 'https://models.example.test' } });
  }, 120_000);
  afterAll(async () => s?.close());

  it('marks the session cookie Secure when the public URL is https', async () => {
    const addr = s.gw.app.server.address();
    const c = new Client(`http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`);
    const res = await c.login(ADMIN);
    expect(res.status).toBe(303);
    expect(res.headers.getSetCookie().find((x) => x.startsWith('mg_console='))).toMatch(/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
  });
});

const probe = await probePostgres();
if (!probe.ok) console.warn(`[console tests] SKIPPING the PostgreSQL pages: ${probe.reason}`);

describe.skipIf(!probe.ok)(`console on PostgreSQL${probe.ok ? '' : ` — SKIPPED: ${probe.ok ? '' : probe.reason}`}`, () => {
  let s: Stack;
  const schema = `mg_test_console_gw_${process.pid}_${randomBytes(4).toString('hex')}`;
  beforeAll(async () => {
    const u = new URL(probe.ok ? probe.url : 'postgres://x');
    u.searchParams.set('schema', schema);
    s = await startStack({ config: { store: u.toString() } });
    const r = await fetch(s.base + EVIL);
    await r.arrayBuffer();
    expect(r.status).toBe(403);
    await s.gw.ctx.store.appendAudit(rec({ repo: 'pg/one', verdict: 'warn', rules: [{ rule: 'custom_code%', action: 'warn', reason: 'r' }] }));
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

  it('renders the overview, filters by rule and exports from PostgreSQL', async () => {
    const home = await new Client(s.base).req('/console', { headers: bearer });
    expect(home.res.status).toBe(200);
    expect(home.text).toContain('PostgreSQL');
    expect(home.text).toContain("0 allowed, 1 warned, 1 blocked, 0 errors in all.");
    expect(home.text).toMatch(/acme\/evil-bert<\/a><\/td><td class="num">1</);
    const byRule = await new Client(s.base).req(`/console/activity?rule=${encodeURIComponent('custom_code%')}`, { headers: bearer });
    expect(rowsOf(byRule.text)).toHaveLength(1);
    expect(rowsOf((await new Client(s.base).req('/console/activity?rule=custom', { headers: bearer })).text)).toHaveLength(0);
    const csv = await new Client(s.base).req('/console/activity.csv?verdict=block', { headers: bearer });
    expect(csv.text.split('\r\n').filter(Boolean)).toHaveLength(2);
    expect(csv.text).toContain('"acme/evil-bert"');
  });
});
