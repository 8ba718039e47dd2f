/**
 * The console in a real browser (Debian's chromium through playwright-core): log in with the
 * admin token, read the overview and the activity page, filter, open a decision. Nothing may be
 * fetched from outside the gateway and the CSP must not have to block anything.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, startStack, type Stack } from './stack.js';
import { launchChromium, loadPlaywright, type PlaywrightCore } from '../helpers/browser.js';

const EVIL = '/acme/evil-bert/resolve/main/pytorch_model.bin';
const CLEAN = '/acme/tiny-bert/resolve/main/model.safetensors';
const HOSTILE_REPO = 'evil/<script>alert(1)</script>';

const pw = await loadPlaywright();
if (typeof pw === 'string') console.warn(`[console tests] SKIPPING the browser test: ${pw}`);

/** Where the screenshots go (MG_CONSOLE_SHOTS to keep them, e.g. for docs/). */
const SHOTS = process.env['MG_CONSOLE_SHOTS'] ?? mkdtempSync(join(tmpdir(), 'mg-console-shots-'));

describe.skipIf(typeof pw === 'string')(`console in chromium${typeof pw === 'string' ? ` — SKIPPED: ${pw}` : ''}`, () => {
  let s: Stack;
  let browser: import('playwright-core').Browser | undefined;
  beforeAll(async () => {
    // A record two days old, in the store before the gateway starts: the overview counts past
    // days in the background from start-up on (a record written later with a past time shows
    // at their next count, within 5 minutes).
    const seeding = await startStack();
    await seeding.gw.ctx.store.appendAudit({
      time: new Date(Date.now() - 2 * 86400_000).toISOString(), requestId: 'seed', client: 'ci-bot', group: 'default', method: 'GET', repoType: 'model', repo: HOSTILE_REPO, revision: 'main',
      commit: 'c'.repeat(40), path: 'model.bin', sha256: 'd'.repeat(64), verdict: 'block', rules: [{ rule: 'scan-severity', action: 'block', reason: 'seeded' }], findings: [], waivers: [], upstreamStatus: 200, scanId: null, policyVersion: 'seed', message: null,
    });
    await seeding.close();
    s = await startStack({ dataDir: seeding.dataDir });
    for (const path of [EVIL, CLEAN, CLEAN]) {
      const r = await fetch(s.base + path);
      await r.arrayBuffer();
    }
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await s?.close();
  });

  it('logs in, shows the overview and the filtered activity, and opens a refusal', async () => {
    browser = await launchChromium(pw as PlaywrightCore);
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const foreign: string[] = [];
    const problems: string[] = [];
    const dialogs: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(s.base)) foreign.push(r.url());
    });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
    });
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });

    await page.goto(`${s.base}/console`);
    expect(new URL(page.url()).pathname).toBe('/console/login');
    await page.getByLabel('Admin token').fill(ADMIN);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${s.base}/console`);

    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Overview');
    const chart = page.getByRole('img', { name: /^Decisions per day/ });
    await expect(chart.count()).resolves.toBe(1);
    const box = await chart.boundingBox();
    expect(box!.width).toBeGreaterThan(600);
    // The chart's description counts today's decisions: one blocked, two allowed, plus the seeded block.
    await expect(page.locator('#dc-d').textContent()).resolves.toMatch(/2 allowed, 0 warned, 2 blocked, 0 errors/);
    const blocked = page.getByRole('region', { name: /Most blocked repositories/ });
    await expect(blocked.getByRole('link', { name: 'acme/evil-bert' }).isVisible()).resolves.toBe(true);
    await expect(blocked.getByText(HOSTILE_REPO, { exact: true }).isVisible()).resolves.toBe(true);
    await expect(page.getByRole('region', { name: 'Health' }).getByRole('cell', { name: 'store', exact: true }).isVisible()).resolves.toBe(true);
    // The stylesheet applied (a CSP that blocked it would leave the header unstyled).
    await expect(page.locator('header').evaluate((el) => getComputedStyle(el).backgroundColor)).resolves.toBe('rgb(36, 41, 47)');
    await page.screenshot({ path: join(SHOTS, 'console-overview.png'), fullPage: true });

    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Activity', exact: true }).click();
    await page.getByLabel('verdict').selectOption('block');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/verdict=block/);
    const rows = page.locator('tbody tr');
    await expect(rows.count()).resolves.toBe(2);
    await expect(page.getByRole('link', { name: /^acme\/evil-bert@[0-9a-f]{12}\/pytorch_model\.bin$/ }).isVisible()).resolves.toBe(true);
    await page.screenshot({ path: join(SHOTS, 'console-activity.png'), fullPage: true });

    await page.getByRole('link', { name: /^acme\/evil-bert@/ }).click();
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('File decision');
    await expect(page.getByText('os.system', { exact: false }).first().isVisible()).resolves.toBe(true);
    await page.screenshot({ path: join(SHOTS, 'console-file.png'), fullPage: true });

    // Phone width: the page itself never scrolls sideways (wide tables scroll in their own box).
    await page.setViewportSize({ width: 390, height: 844 });
    for (const path of ['/console', '/console/activity']) {
      await page.goto(s.base + path);
      await expect(page.evaluate(() => document.documentElement.scrollWidth)).resolves.toBeLessThanOrEqual(390);
    }
    await page.screenshot({ path: join(SHOTS, 'console-activity-phone.png'), fullPage: true });

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(`${s.base}/console/login`);

    expect(foreign).toEqual([]);
    expect(dialogs).toEqual([]);
    expect(problems).toEqual([]);
  }, 120_000);
});
