/**
 * Report pages (issue 10, item 11): with requireClientToken they need a client token like
 * downloads, and a report id shared by every file with the same bytes never reveals the name
 * the file had in the repository it was first downloaded from.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPORT_CSP } from '../../src/gateway/routes/reports.js';
import { ADMIN, startStack, type Stack } from './stack.js';

describe('report pages', () => {
  let s: Stack;
  let client = '';
  let reportUrl = '';
  beforeAll(async () => {
    s = await startStack({ config: { requireClientToken: true } });
    const made = await fetch(`${s.base}/admin/tokens`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'alice', role: 'client', group: 'default' }) });
    client = ((await made.json()) as { secret: string }).secret;
    const refused = await fetch(`${s.base}/acme/evil-bert/resolve/main/pytorch_model.bin`, { headers: { authorization: `Bearer ${client}` } });
    expect(refused.status).toBe(403);
    // The refusal links to the user's refusal page; the shared report is found through the audit log.
    expect(refused.headers.get('x-error-message')).toMatch(/\/console\/refusal\/[A-Za-z0-9_-]{43}$/);
    const audit = await fetch(`${s.base}/admin/audit?repo=acme/evil-bert&verdict=block&limit=1`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const scanId = ((await audit.json()) as { records: Array<{ scanId: string }> }).records[0]!.scanId;
    reportUrl = `${s.base}/reports/${scanId}`;
  });
  afterAll(async () => {
    await s?.close();
  });

  it('answer 401 without a client token when requireClientToken is on', async () => {
    const html = await fetch(reportUrl);
    expect(html.status).toBe(401);
    expect(await html.text()).not.toContain('os.system');
    expect((await fetch(`${reportUrl}?format=json`)).status).toBe(401);
    expect((await fetch(reportUrl, { headers: { authorization: 'Bearer hf_not_a_gateway_token' } })).status).toBe(401);
  });

  it('with a client token, name the file by its sha256, not by its path in the repository', async () => {
    const res = await fetch(`${reportUrl}?format=json`, { headers: { authorization: `Bearer ${client}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { sha256: string; report: { path: string; findings: Array<{ location: { path: string[] } }> } };
    const text = JSON.stringify(body);
    expect(text).not.toContain('pytorch_model.bin');
    expect(text).not.toContain('.partial');
    expect(body.report.path).toBe(`sha256:${body.sha256}`);
    expect(body.report.findings.every((f) => f.location.path[0] === `sha256:${body.sha256}`)).toBe(true);
    const html = await (await fetch(reportUrl, { headers: { authorization: `Bearer ${client}` } })).text();
    expect(html).toContain(`sha256:${body.sha256}`);
    expect(html).not.toContain('pytorch_model.bin');
  });

  it('sends the page with a CSP that forbids framing, and neither form may be sniffed or framed', async () => {
    const html = await fetch(reportUrl, { headers: { authorization: `Bearer ${client}` } });
    expect(html.headers.get('content-security-policy')).toBe(REPORT_CSP);
    expect(REPORT_CSP).toContain("frame-ancestors 'none'");
    const json = await fetch(`${reportUrl}?format=json`, { headers: { authorization: `Bearer ${client}` } });
    for (const r of [html, json]) {
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('x-frame-options')).toBe('DENY');
      expect(r.headers.get('referrer-policy')).toBe('no-referrer');
    }
  });
});
