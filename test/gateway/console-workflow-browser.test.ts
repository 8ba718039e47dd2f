/**
 * The waiver workflow end to end, with a real huggingface_hub client and a real browser
 * (Debian's chromium through playwright-core): a download is refused; the user opens the link
 * in the refusal message (no login) and asks for a waiver with the keyboard; an admin approves
 * it in the console; the next download succeeds; the admin revokes it; the next download is
 * refused again. Then the inventory lists the repository and its ML-BOM downloads and validates.
 * Nothing is fetched from outside the gateway, the CSP blocks nothing, and no page scrolls
 * sideways at phone width.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/manifest.js';
import { launchChromium, loadPlaywright, type PlaywrightCore } from '../helpers/browser.js';
import { cycloneDxErrors } from '../report/validators.js';
import { ADMIN, HAVE_PYTHON, PYTHON, py, startStack, tempHome, type Stack } from './stack.js';

type Page = import('playwright-core').Page;

const EVIL_BIN = readFileSync(join(FIXTURES, 'repos', 'acme', 'evil-bert', 'pytorch_model.bin'));
const LINK = /see (http:\/\/127\.0\.0\.1:\d+\/console\/refusal\/[A-Za-z0-9_-]{43})/;

const pw = await loadPlaywright();
const skip = typeof pw === 'string' ? pw : HAVE_PYTHON ? null : `no Python client environment at ${PYTHON} (see test/requirements.txt)`;
if (skip) console.warn(`[console tests] SKIPPING the waiver workflow in the browser: ${skip}`);

const SHOTS = process.env['MG_CONSOLE_SHOTS'] ?? mkdtempSync(join(tmpdir(), 'mg-console-shots-'));

/** A page that records anything that should not happen: foreign requests, console errors (a CSP report is one), dialogs. */
function watch(page: Page, base: string): string[] {
  const problems: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(base)) problems.push(`foreign request ${r.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.text()}`);
  });
  page.on('dialog', (d) => {
    problems.push(`dialog ${d.message()}`);
    void d.dismiss();
  });
  return problems;
}

async function noSideScroll(page: Page, paths: string[]): Promise<void> {
  const size = page.viewportSize();
  await page.setViewportSize({ width: 390, height: 844 });
  for (const p of paths) {
    await page.goto(p);
    await expect(page.evaluate(() => document.documentElement.scrollWidth), p).resolves.toBeLessThanOrEqual(390);
  }
  if (size) await page.setViewportSize(size);
}

describe.skipIf(skip !== null)(`waiver workflow in chromium${skip ? ` — SKIPPED: ${skip}` : ''}`, () => {
  let s: Stack;
  let browser: import('playwright-core').Browser | undefined;
  beforeAll(async () => {
    s = await startStack();
    browser = await launchChromium(pw as PlaywrightCore);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await s?.close();
  });

  it('refused download -> request -> approve -> served -> revoke -> refused; inventory and ML-BOM', async () => {
    const refused = await py(s.base, tempHome(), 'download', 'acme/evil-bert', 'pytorch_model.bin');
    expect(refused.ok).toBe(false);
    expect(refused.message).toMatch(/403 Forbidden: blocked by modelgate: pytorch_model\.bin calls os\.system \(critical, rule scan-severity\); see /);
    const link = LINK.exec(refused.message!)![1]!;

    // The user: no login, only the link.
    const userCtx = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
    const user = await userCtx.newPage();
    const userProblems = watch(user, s.base);
    await user.goto(link);
    await expect(user.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Download refused');
    await expect(user.getByRole('navigation', { name: 'Console' }).getByRole('link').count()).resolves.toBe(0);
    await expect(user.getByText('os.system', { exact: false }).first().isVisible()).resolves.toBe(true);
    await expect(user.getByLabel(/this file only/).isChecked()).resolves.toBe(true);
    await user.screenshot({ path: join(SHOTS, 'console-refusal.png'), fullPage: true });
    // With the keyboard: type the justification, Tab to the button, Enter.
    await user.getByLabel(/why it is safe/).focus();
    await user.keyboard.type('Our own fine-tune; the os.system call is the test harness.');
    await user.keyboard.press('Tab');
    await expect(user.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Ask for a waiver');
    await user.keyboard.press('Enter');
    await user.waitForURL(/\?sent=1/);
    await expect(user.getByRole('status').textContent()).resolves.toBe('Your request was sent to the administrators.');
    await expect(user.getByRole('cell', { name: 'waiting for an administrator' }).isVisible()).resolves.toBe(true);

    // The admin: log in, review, approve with the default expiry.
    const adminCtx = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
    const admin = await adminCtx.newPage();
    const adminProblems = watch(admin, s.base);
    await admin.goto(`${s.base}/console/login`);
    await admin.getByLabel('Admin token').fill(ADMIN);
    await admin.getByRole('button', { name: 'Log in' }).click();
    await admin.waitForURL(`${s.base}/console`);
    await admin.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Waivers' }).click();
    const pending = admin.getByRole('region', { name: /Requests waiting for a decision \(1\)/ });
    await expect(pending.getByText('Our own fine-tune', { exact: false }).isVisible()).resolves.toBe(true);
    await admin.screenshot({ path: join(SHOTS, 'console-waivers.png'), fullPage: true });
    await pending.getByRole('link', { name: /^Review request/ }).click();
    await expect(admin.getByLabel('sha256').inputValue()).resolves.toMatch(/^[0-9a-f]{64}$/);
    await expect(admin.getByLabel('valid through (UTC day)').inputValue()).resolves.toMatch(/^\d{4}-\d{2}-\d{2}$/);
    await admin.getByLabel('note (optional)').fill('one month, then retrain');
    await admin.screenshot({ path: join(SHOTS, 'console-waiver-request.png'), fullPage: true });
    await admin.getByRole('button', { name: 'Approve' }).click();
    await admin.waitForURL(/done=approved/);
    await expect(admin.getByRole('status').textContent()).resolves.toBe('Approved: the waiver is in force.');

    const served = await py(s.base, tempHome(), 'download', 'acme/evil-bert', 'pytorch_model.bin');
    expect(served.ok, JSON.stringify(served)).toBe(true);
    expect(readFileSync(served.path!)).toEqual(EVIL_BIN);
    await user.reload();
    await expect(user.getByText(/approved until \d{4}-\d{2}-\d{2} 00:00:00Z: download again/).isVisible()).resolves.toBe(true);

    // Revoke from the waivers page: the next download is refused again.
    await admin.getByRole('region', { name: /Waivers in force \(1\)/ }).getByRole('button', { name: /^Revoke waiver/ }).click();
    await admin.waitForURL(/done=revoked/);
    const again = await py(s.base, tempHome(), 'download', 'acme/evil-bert', 'pytorch_model.bin');
    expect(again.ok).toBe(false);
    expect(again.message).toMatch(/blocked by modelgate: pytorch_model\.bin calls os\.system/);
    expect(LINK.exec(again.message!)![1]).not.toBe(link);
    await user.reload();
    await expect(user.getByText('approved, then revoked').isVisible()).resolves.toBe(true);

    // The inventory: the repository, its file, who pulled it and how often; the ML-BOM.
    await admin.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Inventory' }).click();
    await admin.getByRole('link', { name: /^acme\/evil-bert@[0-9a-f]{12}$/ }).click();
    const row = admin.getByRole('row').filter({ hasText: 'pytorch_model.bin' });
    await expect(row.locator('td[data-label="pulls"]').textContent()).resolves.toBe('1');
    await expect(row.locator('td[data-label="refused"]').textContent()).resolves.toBe('2');
    await expect(row.getByText(/anonymous@127\.0\.0\.1/).isVisible()).resolves.toBe(true);
    await admin.screenshot({ path: join(SHOTS, 'console-inventory-repo.png'), fullPage: true });
    const repoUrl = admin.url();
    const [download] = await Promise.all([admin.waitForEvent('download'), admin.getByRole('link', { name: 'Download the CycloneDX ML-BOM' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^acme_evil-bert@[0-9a-f]{12}\.cdx\.json$/);
    const bom = JSON.parse(readFileSync((await download.path())!, 'utf8')) as { metadata: { component: { name: string } }; components: Array<{ name: string }>; vulnerabilities: Array<{ id: string }> };
    expect(await cycloneDxErrors(bom)).toBeNull();
    expect(bom.metadata.component.name).toBe('acme/evil-bert');
    expect(bom.components.map((c) => c.name)).toEqual(['pytorch_model.bin']);
    expect(bom.vulnerabilities.some((v) => v.id.startsWith('PICKLE_DANGEROUS_GLOBAL:pytorch_model.bin'))).toBe(true);
    await admin.goto(`${s.base}/console/inventory`);
    await admin.screenshot({ path: join(SHOTS, 'console-inventory.png'), fullPage: true });

    // The file's full client list (what a busy file's "and N more" opens): one row here.
    const clientsUrl = `${repoUrl.replace('/console/inventory/repo', '/console/inventory/clients')}&path=pytorch_model.bin`;
    await admin.goto(clientsUrl);
    await expect(admin.getByRole('row').filter({ hasText: /anonymous@127\.0\.0\.1/ }).locator('td[data-label="refused"]').textContent()).resolves.toBe('2');
    await noSideScroll(admin, [`${s.base}/console/waivers`, `${s.base}/console/inventory`, repoUrl, clientsUrl]);
    await noSideScroll(user, [link]);
    expect(userProblems).toEqual([]);
    expect(adminProblems).toEqual([]);
    await userCtx.close();
    await adminCtx.close();
  }, 240_000);
});
