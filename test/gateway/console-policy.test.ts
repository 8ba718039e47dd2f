/**
 * The console's Policy, Exposure and Study pages on a real gateway stack: the running policy
 * rendered and escaped, its history across a hot reload, the dry run (CSRF, parser errors as the
 * parser words them, pasted and uploaded candidates, a real refusal flipped), a run started by
 * hand, and the crawl store's study report with and without a crawl store.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSP } from '../../src/gateway/console/routes.js';
import { STUDY_CSP } from '../../src/gateway/console/study-routes.js';
import { openStore } from '../../src/store/open.js';
import { populate } from '../study/fixture.js';
import { ADMIN, startStack, type Stack } from './stack.js';

const EVIL = '/acme/evil-bert/resolve/main/pytorch_model.bin';
const CLEAN = '/acme/tiny-bert/resolve/main/model.safetensors';
const bearer = { authorization: `Bearer ${ADMIN}` };
const POLICY = 'version: "7"\n# reviewed by <script>alert(1)</script>\nrules:\n  repositories:\n    deny: ["evil/*"]\n';

/** Keeps the session cookie, never follows redirects. */
class Browser {
  cookie = '';
  constructor(readonly base: string) {}
  async go(path: string, init: RequestInit = {}): Promise<{ res: Response; text: string }> {
    const headers = new Headers(init.headers);
    if (this.cookie) headers.set('cookie', this.cookie);
    const res = await fetch(this.base + path, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) if (c.startsWith('mg_console=')) this.cookie = c.split(';')[0]!;
    return { res, text: await res.text() };
  }
  async login(): Promise<string> {
    const r = await fetch(`${this.base}/console/login`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(await r.text())![1]!;
    const login = r.headers.getSetCookie()[0]!.split(';')[0]!;
    const res = await fetch(`${this.base}/console/login`, { method: 'POST', redirect: 'manual', headers: { cookie: login, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, token: ADMIN }).toString() });
    this.cookie = res.headers.getSetCookie().find((c) => c.startsWith('mg_console='))!.split(';')[0]!;
    const home = await this.go('/console');
    return /name="csrf" value="([^"]+)"/.exec(home.text)![1]!;
  }
  dryRun(fields: Record<string, string | Blob>, headers: Record<string, string> = {}) {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) {
      if (typeof v === 'string') form.set(k, v);
      else form.set(k, v, 'soft.yaml');
    }
    return this.go('/console/policy/dry-run', { method: 'POST', body: form, headers });
  }
}

describe('policy, exposure and study pages over HTTP', () => {
  let s: Stack;
  let b: Browser;
  let csrf = '';
  beforeAll(async () => {
    s = await startStack({ policy: POLICY });
    for (const p of [EVIL, CLEAN]) await (await fetch(s.base + p)).arrayBuffer();
    b = new Browser(s.base);
    csrf = await b.login();
  }, 120_000);
  afterAll(async () => s?.close());

  it('renders the running policy escaped, its rules per group and its history', async () => {
    const { res, text } = await b.go('/console/policy');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(CSP);
    const version = s.gw.ctx.gatekeeper.policy.version;
    expect(version).toMatch(/^7\+[0-9a-f]{12}$/);
    expect(text).toContain(`<code>${version}</code>`);
    expect(text).toContain('# reviewed by &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(text).not.toContain('<script>');
    expect(text).toContain('<pre class="doc">version: &quot;7&quot;\n# reviewed by');
    expect(text).toMatch(/<th scope="row"><code>repositories<\/code><\/th><td><span class="verdict v-block">block<\/span><\/td><td><code>allow<\/code> <span class="muted">none<\/span><br><code>deny<\/code> <code>evil\/\*<\/code><\/td>/);
    expect(text).toMatch(new RegExp(`<td><code>${version.replace('+', '\\+')}</code></td><td data-label="event">start-up</td><td data-label="by">start-up</td>`));
  });

  it('records a hot reload in the history and keeps the older text readable', async () => {
    const before = s.gw.ctx.gatekeeper.policy.version;
    const [first] = await s.gw.ctx.store.listPolicyLoads({ limit: 1 });
    writeFileSync(join(s.dataDir, 'policy.yaml'), POLICY.replace('version: "7"', 'version: "8"'));
    const r = await fetch(`${s.base}/admin/policy/reload`, { method: 'POST', headers: bearer });
    expect(r.status).toBe(200);
    const loads = await s.gw.ctx.store.listPolicyLoads({ limit: 5 });
    expect(loads[0]).toMatchObject({ event: 'reload', actor: 'bootstrap-admin', version: s.gw.ctx.gatekeeper.policy.version, source: join(s.dataDir, 'policy.yaml') });
    expect(loads[1]).toMatchObject({ event: 'start', version: before });
    const { text } = await b.go(`/console/policy/versions/${first!.sha256}`);
    expect(text).toContain('version: &quot;7&quot;');
    expect((await b.go(`/console/policy/versions/${'0'.repeat(64)}`)).res.status).toBe(404);
  });

  it('refuses a dry run without the form token or from another origin', async () => {
    const policy = 'rules:\n  scan-severity: {action: warn}\n';
    expect((await b.dryRun({ policy, days: '7' })).res.status).toBe(403);
    expect((await b.dryRun({ policy, days: '7', csrf: 'x'.repeat(43) })).res.status).toBe(403);
    expect((await b.dryRun({ policy, days: '7', csrf }, { origin: 'https://evil.example' })).res.status).toBe(403);
    expect((await new Browser(s.base).dryRun({ policy, days: '7' })).res.status).toBe(303);
  });

  it('shows a candidate that does not parse as the parser words it, and keeps the text', async () => {
    const { res, text } = await b.dryRun({ policy: 'rules:\n  scan-severity:\n    block: severe\n', days: '7', csrf });
    expect(res.status).toBe(400);
    expect(text).toContain('<p class="error-box" role="alert" id="dry-run-error">candidate policy: rules.scan-severity.block: expected one of critical|high|medium|low, got &quot;severe&quot;</p>');
    expect(text).toContain('class="mono">\nrules:\n  scan-severity:\n    block: severe\n</textarea>');
    const upload = await b.dryRun({ file: new Blob(['rules: [1]\n']), days: '7', csrf });
    expect(upload.text).toContain('candidate soft.yaml: rules: expected a mapping, got a list');
    expect((await b.dryRun({ policy: 'version: x', days: '400', csrf })).text).toContain('Days must be a whole number from 1 to 90.');
  });

  it('lists the real refusal a looser candidate would flip, from a pasted or an uploaded policy', async () => {
    const soft = 'version: soft\nrules:\n  scan-severity: {action: warn}\n';
    const forms: Array<Record<string, string | Blob>> = [{ policy: soft }, { file: new Blob([soft]), policy: 'ignored: when a file is chosen' }];
    for (const fields of forms) {
      const started = await b.dryRun({ ...fields, days: '7', csrf });
      expect(started.res.status).toBe(303);
      const where = started.res.headers.get('location')!;
      expect(where).toMatch(/^\/console\/policy\/dry-run\/[A-Za-z0-9_-]{16}$/);
      await s.gw.ctx.dryRuns.idle();
      const { res, text } = await b.go(where);
      expect(res.status).toBe(200);
      // Finished: no more reloads, no progress block.
      expect(res.headers.get('refresh')).toBeNull();
      expect(text).not.toContain('id="dry-run-progress"');
      expect(text).toContain('class="mono">\nversion: soft\n');
      expect(text).toMatch(/of 2 file decisions since .* UTC, <strong>1 would change<\/strong> \(0 stricter, 1 looser\), in 1 file\./);
      expect(text).toMatch(/acme\/evil-bert@[0-9a-f]{12}\/pytorch_model\.bin<\/a><\/td>\s*<td data-label="verdict" class="flip"><span class="verdict v-block">block<\/span> .*<span class="verdict v-warn">warn<\/span>/);
      expect(text).toMatch(/<code>scan-severity<\/code> pytorch_model\.bin [^<]*\(critical, rule scan-severity\)/);
    }
  });

  it('shows a run going on with its progress and reloads its page, refuses a second candidate meanwhile, and says when a run is unknown', async () => {
    // Held at its first pause, so the page is seen while the run goes on.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const jobs = s.gw.ctx.dryRuns;
    const orig = s.gw.ctx.store.queryAudit.bind(s.gw.ctx.store);
    let calls = 0;
    s.gw.ctx.store.queryAudit = async (q) => {
      if (calls++ === 1) await held;
      return orig(q);
    };
    try {
      const started = await b.dryRun({ policy: 'version: slow\nrules: {}\n', days: '3', csrf });
      expect(started.res.status).toBe(303);
      const where = started.res.headers.get('location')!;
      const running = await b.go(where);
      expect(running.res.status).toBe(200);
      expect(running.res.headers.get('refresh')).toBe(`2; url=${where}`);
      expect(running.text).toMatch(/<div id="dry-run-progress" role="status"><p>Dry run of candidate <code>slow\+[0-9a-f]{12}<\/code> over the last 3 days, started by bootstrap-admin at [0-9-]+ [0-9:]+Z: <span id="dry-run-read">0 of about \d+<\/span> audit records read, 0 file decisions replayed\. This page reloads itself every 2 s until the result is here\.<\/p>/);
      expect(running.text).toMatch(/<progress max="\d+" value="0">/);
      expect(running.text).not.toContain('id="dry-run-summary"');
      const other = await b.dryRun({ policy: 'version: other\nrules: {}\n', days: '3', csrf });
      expect(other.res.status).toBe(409);
      expect(other.text).toContain(`Another dry run is going on (started by bootstrap-admin); one runs at a time. Try again when it is finished. <a href="${where}">See that run</a>.`);
      release();
      await jobs.idle();
      const done = await b.go(where);
      expect(done.res.headers.get('refresh')).toBeNull();
      expect(done.text).toMatch(/<p role="status" id="dry-run-summary">Candidate version <code>slow\+[0-9a-f]{12}<\/code>: of 2 file decisions since/);
    } finally {
      release();
      s.gw.ctx.store.queryAudit = orig;
    }
    const gone = await b.go('/console/policy/dry-run/AAAAAAAAAAAAAAAA');
    expect(gone.res.status).toBe(404);
    expect(gone.text).toContain('No such dry run: its result is kept for a while and then dropped');
  });

  it('shows a run that failed as failed, with the reason', async () => {
    const orig = s.gw.ctx.store.queryAudit.bind(s.gw.ctx.store);
    s.gw.ctx.store.queryAudit = async () => Promise.reject(new Error('the store went away'));
    try {
      const started = await b.dryRun({ policy: 'version: broken\nrules: {}\n', days: '1', csrf });
      await s.gw.ctx.dryRuns.idle();
      const { res, text } = await b.go(started.res.headers.get('location')!);
      expect(res.status).toBe(200);
      expect(res.headers.get('refresh')).toBeNull();
      expect(text).toMatch(/<p class="error-box" role="alert" id="dry-run-error">The dry run of candidate <code>broken\+[0-9a-f]{12}<\/code> stopped at [^<]+ after 0 audit records: the store went away\. Nothing was changed; run it again\.<\/p>/);
    } finally {
      s.gw.ctx.store.queryAudit = orig;
    }
  });

  it('starts a re-evaluation by hand (CSRF-checked) and shows its progress', async () => {
    expect((await b.go('/console/exposure/run', { method: 'POST', body: new URLSearchParams({ csrf: 'nope' }) })).res.status).toBe(403);
    const r = await b.go('/console/exposure/run', { method: 'POST', body: new URLSearchParams({ csrf }) });
    expect(r.res.status).toBe(303);
    await s.gw.ctx.exposure.idle();
    const { text } = await b.go('/console/exposure');
    // The two files and the config.json the policy read for custom code, judged again; none
    // was served and is now worse.
    expect(text).toMatch(/3 of 3 cached files judged<progress max="3" value="3">/);
    expect(text).toContain('No file served through the gateway has a worse verdict now than when it was served.');
    const json = (await (await fetch(`${s.base}/console/exposure.json`, { headers: bearer })).json()) as { runs: Array<{ run: { reason: string; detail: string } }> };
    expect(json.runs[0]!.run).toMatchObject({ reason: 'manual', detail: 'asked for by bootstrap-admin' });
  });

  it('says in the nav and on the page that there is no crawl store', async () => {
    const { text } = await b.go('/console/study');
    expect(text).toContain('<a href="/console/study" aria-current="page">Study <span class="nav-note">(no crawl store)</span></a>');
    expect(text).toContain('No crawl store is configured');
    // Every page frame says it, whichever module draws the page.
    for (const path of ['/console', '/console/activity', '/console/policy', '/console/exposure', '/console/waivers', '/console/inventory', '/console/inventory/repo?repo=nobody/nothing']) {
      expect((await b.go(path)).text, path).toContain('<a href="/console/study">Study <span class="nav-note">(no crawl store)</span></a>');
    }
    expect((await b.go('/console/study/report')).res.status).toBe(404);
  });
});

describe('the study report in the console', () => {
  let s: Stack;
  beforeAll(async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'mg-crawl-')), 'crawl.db');
    const crawl = openStore(path);
    await crawl.migrate();
    await populate(crawl);
    await crawl.close();
    s = await startStack({ config: { crawlStore: path } });
  }, 120_000);
  afterAll(async () => s?.close());

  it('links the report of the configured crawl store and serves it from the gateway, admins only', async () => {
    expect((await fetch(`${s.base}/console/study`, { redirect: 'manual' })).status).toBe(303);
    expect((await fetch(`${s.base}/console/study/report.json`)).status).toBe(401);
    const page = await fetch(`${s.base}/console/study`, { headers: bearer });
    const text = await page.text();
    expect(page.status).toBe(200);
    expect(text).toContain('<a href="/console/study" aria-current="page">Study</a>');
    expect(text).toContain('<a href="/console/study/report">Open the study report</a>');
    expect(text).toMatch(/<dt>repositories<\/dt><dd>\d+ \(\d+ commits crawled\)<\/dd>/);
    const report = await fetch(`${s.base}/console/study/report`, { headers: bearer });
    expect(report.headers.get('content-security-policy')).toBe(STUDY_CSP);
    expect(STUDY_CSP).toContain("default-src 'none'");
    const html = await report.text();
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).not.toContain('<script');
    const json = (await (await fetch(`${s.base}/console/study/report.json`, { headers: bearer })).json()) as { schema: string };
    expect(json.schema).toBe('modelgate/study@1');
  });
});
