/**
 * The Policy and Exposure pages in a real browser (Debian's chromium through playwright-core).
 *
 * A gateway whose scanner is an older rules version (the real engine's report without the
 * dangerous-global finding, under another engine key) lets a malicious model through to a
 * client. The gateway restarts on the same data with the real engine: it notices the engine
 * change, rescans the cached blob in the background, and the Exposure page names the file and
 * the client that pulled it. On the way, the admin dry-runs a policy with the keyboard and sees
 * that decision flip.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScanPool } from '../../src/gateway/scan-pool.js';
import type { FileReport } from '../../src/scan/report.js';
import { launchChromium, loadPlaywright, type PlaywrightCore } from '../helpers/browser.js';
import { ADMIN, startStack, type Stack } from './stack.js';

const EVIL = '/acme/evil-bert/resolve/main/pytorch_model.bin';
const CLEAN = '/acme/tiny-bert/resolve/main/model.safetensors';
const OLD_ENGINE = 'modelgate-older-rules+000000000000';

const pw = await loadPlaywright();
if (typeof pw === 'string') console.warn(`[console tests] SKIPPING the policy/exposure browser test: ${pw}`);
const SHOTS = process.env['MG_CONSOLE_SHOTS'] ?? mkdtempSync(join(tmpdir(), 'mg-console-shots-'));

/** The scanner before its catalogue knew the global this model calls. */
class OlderRules extends ScanPool {
  override async scan(path: string, displayName: string): Promise<FileReport> {
    const r = await super.scan(path, displayName);
    const findings = r.findings.filter((f) => f.rule !== 'PICKLE_DANGEROUS_GLOBAL');
    return { ...r, findings, maxSeverity: findings.length ? r.maxSeverity : null };
  }
}

/** WCAG contrast of an element's text against the nearest background behind it. */
async function contrast(page: import('playwright-core').Page, selector: string): Promise<number> {
  return page.locator(selector).first().evaluate((el) => {
    const rgb = (s: string) => (s.match(/[\d.]+/g) ?? []).map(Number);
    const lum = ([r, g, b]: number[]) => {
      const c = [r!, g!, b!].map((v) => {
        const x = v / 255;
        return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * c[0]! + 0.7152 * c[1]! + 0.0722 * c[2]!;
    };
    let bg: number[] = [255, 255, 255];
    for (let n: Element | null = el; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3]! > 0)) {
        bg = c.slice(0, 3);
        break;
      }
    }
    const a = lum(rgb(getComputedStyle(el).color));
    const b = lum(bg);
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  });
}

describe.skipIf(typeof pw === 'string')(`policy and exposure in chromium${typeof pw === 'string' ? ` — SKIPPED: ${pw}` : ''}`, () => {
  let s: Stack;
  let browser: import('playwright-core').Browser | undefined;
  beforeAll(async () => {
    // Before: the older rules version, and a client that downloads through it.
    const old = await startStack({ deps: { pool: new OlderRules(1), engineKey: OLD_ENGINE } });
    const token = (await (await fetch(`${old.base}/admin/tokens`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'alice-laptop', role: 'client' }) })).json()) as { secret: string };
    for (const path of [EVIL, CLEAN]) {
      const r = await fetch(old.base + path, { headers: { authorization: `Bearer ${token.secret}` } });
      await r.arrayBuffer();
      expect(r.status).toBe(200);
    }
    await old.close();
    // After: the same data directory, the real engine.
    s = await startStack({ dataDir: old.dataDir });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await s?.close();
  });

  it('dry-runs a policy with the keyboard, and names the exposed file and who pulled it after the rules change', async () => {
    browser = await launchChromium(pw as PlaywrightCore);
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const foreign: string[] = [];
    const problems: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(s.base)) foreign.push(r.url());
    });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
    });

    await page.goto(`${s.base}/console/login`);
    await page.getByLabel('Admin token').fill(ADMIN);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${s.base}/console`);

    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Policy', exact: true }).click();
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Policy');
    await expect(page.getByRole('table', { name: /^Top-level rules/ }).getByRole('rowheader', { name: 'scan-severity' }).isVisible()).resolves.toBe(true);
    // Both start-ups (the older gateway's and this one) are in the history.
    await expect(page.getByRole('region', { name: 'History' }).getByRole('row').filter({ hasText: 'start-up' }).count()).resolves.toBe(2);

    // The candidate denies the repository the older scanner let through.
    await page.getByLabel('Candidate policy (YAML)').fill('version: candidate\nrules:\n  repositories:\n    deny: [acme/evil-bert]\n');
    await page.getByLabel('Days of the audit log').fill('7');
    await page.keyboard.press('Tab');
    await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Dry run');
    await page.keyboard.press('Enter');
    // The run goes on in the background; its page reloads itself (Refresh header) until the result is there.
    await page.waitForURL(/\/console\/policy\/dry-run\/[A-Za-z0-9_-]{16}#dry-h$/);
    await page.locator('#dry-run-summary').waitFor({ timeout: 30_000 });
    await expect(page.locator('#dry-run-summary').textContent()).resolves.toMatch(/of 2 file decisions since .* UTC, 1 would change \(1 stricter, 0 looser\), in 1 file\./);
    const flip = page.getByRole('table', { name: /would change/ }).getByRole('row').filter({ has: page.getByRole('link', { name: /^acme\/evil-bert@[0-9a-f]{12}\/pytorch_model\.bin$/ }) });
    await expect(flip.getByRole('cell').nth(1).textContent()).resolves.toMatch(/^allow → becomes\s+block$/);
    await expect(flip.getByText('acme/evil-bert is denied by "acme/evil-bert" (rule repositories)').isVisible()).resolves.toBe(true);
    await expect(flip.getByRole('cell', { name: 'alice-laptop' }).isVisible()).resolves.toBe(true);
    await page.screenshot({ path: join(SHOTS, 'console-policy.png'), fullPage: true });

    // The restart found blobs scanned by another engine and re-evaluates them; the page reloads
    // itself (Refresh header) until the run is done.
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Exposure', exact: true }).click();
    const exposed = page.getByRole('article', { name: /^acme\/evil-bert@[0-9a-f]{12}\/pytorch_model\.bin$/ });
    await exposed.waitFor({ timeout: 60_000 });
    await expect(page.getByText('scanner or rules changed').isVisible()).resolves.toBe(true);
    await expect(page.getByText(new RegExp(`engine ${OLD_ENGINE.replace('+', '\\+')} -> `)).isVisible()).resolves.toBe(true);
    await page.getByText('A run is going on').waitFor({ state: 'detached', timeout: 60_000 });
    await expect(exposed.getByText(/^allow when served/).isVisible()).resolves.toBe(true);
    const downloads = exposed.getByRole('table', { name: /^Downloaded by \(1 served download/ });
    await expect(downloads.getByRole('cell', { name: /^alice-laptop/ }).isVisible()).resolves.toBe(true);
    await expect(exposed.getByText(/PICKLE|critical/).first().isVisible()).resolves.toBe(true);
    // The clean model is not listed.
    await expect(page.getByRole('article').count()).resolves.toBe(1);
    await page.screenshot({ path: join(SHOTS, 'console-exposure.png'), fullPage: true });

    // Readable contrast (WCAG AA 4.5:1) for the new pages' text, the nav note and the badges.
    for (const sel of ['main p', '.muted', 'header .nav-note', '.verdict.v-block', 'li.run label.progress']) expect(await contrast(page, sel), sel).toBeGreaterThanOrEqual(4.5);

    // Phone width: no page scrolls sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    for (const path of ['/console/policy', '/console/exposure', '/console/study']) {
      await page.goto(s.base + path);
      await expect(page.evaluate(() => document.documentElement.scrollWidth), path).resolves.toBeLessThanOrEqual(390);
    }
    await page.goto(`${s.base}/console/exposure`);
    await page.screenshot({ path: join(SHOTS, 'console-exposure-phone.png'), fullPage: true });

    expect(foreign).toEqual([]);
    expect(problems).toEqual([]);
  }, 180_000);
});
