/**
 * The study's Markdown, HTML and JSON: every section there, the numbers in them, and strings
 * from the store (repository ids, paths, globals, messages: attacker-chosen) unable to inject
 * markup. The HTML page is also opened in a real browser (Debian's chromium).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open.js';
import { buildStudy, renderStudy, renderStudyHtml, renderStudyMarkdown, type Study } from '../../src/study/index.js';
import { HOSTILE_PATH, HOSTILE_REPO, populate } from './fixture.js';
import { launchChromium, loadPlaywright, type PlaywrightCore } from '../helpers/browser.js';

const NOW = new Date('2025-03-02T00:00:00.000Z');
const dir = mkdtempSync(join(tmpdir(), 'modelgate-study-render-'));
let study: Study;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  const store = openStore(join(dir, 'study.db'));
  try {
    await store.migrate();
    await populate(store);
    const r = await buildStudy(store, { now: NOW });
    if (!r.ok) throw new Error(r.error.message);
    study = r.study;
  } finally {
    await store.close();
  }
});

const HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)>|`*_[x](http://e.test)@here\u202e\u0000\n## heading';

/** The study with an attacker's string in every field that comes from the store or the hub. */
function poisoned(s: Study): Study {
  const FIELDS = new Set(['repo', 'path', 'global', 'message', 'license', 'format', 'rule', 'title', 'kind', 'engineKey', 'level', 'worstFile', 'commit', 'type', 'severity']);
  const walk = (v: unknown, key: string | null): unknown => {
    if (typeof v === 'string') return key !== null && FIELDS.has(key) ? `${v}${HOSTILE}` : v;
    if (Array.isArray(v)) return v.map((x) => walk(x, null));
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    return v;
  };
  const p = walk(s, null) as Study;
  // The byType keys come from repositories.repo_type too.
  p.crawl.byType = { ...p.crawl.byType, [`x${HOSTILE}`]: 1 };
  return p;
}

const ALLOWED_TAGS = new Set(['html', 'head', 'meta', 'title', 'style', 'body', 'main', 'header', 'h1', 'h2', 'h3', 'p', 'ul', 'li', 'div', 'span', 'section', 'figure', 'figcaption', 'svg', 'g', 'rect', 'text', 'desc', 'table', 'caption', 'thead', 'tbody', 'tr', 'th', 'td', 'code']);

function checkHtml(html: string): void {
  const tags = [...html.matchAll(/<([a-zA-Z][\w-]*)/g)].map((m) => m[1]!.toLowerCase());
  expect(tags.filter((t) => !ALLOWED_TAGS.has(t))).toEqual([]);
  // Attributes: only ours, never an event handler or a reference to anything outside the page.
  for (const tag of html.matchAll(/<[a-zA-Z][^>]*>/g)) {
    expect(tag[0]).not.toMatch(/\son\w+\s*=|\s(src|href|xlink:href|action|formaction)\s*=/i);
  }
  expect(html).not.toMatch(/url\(|@import|<link|<script|<img|<iframe|<object|<embed/i);
  expect(html).not.toMatch(/[\u0000\u202e]/);
}

/** Code spans out; a backslash-escaped backtick opens none (CommonMark). */
const stripCode = (line: string): string => line.replace(/(?<!\\)(`+)(.*?)\1(?!`)/g, '');

/** Markdown outside code spans: no raw HTML, and every table row as wide as its header. */
function checkMarkdown(md: string): void {
  expect(md).not.toMatch(/[\u0000\u202e]/);
  const lines = md.split('\n');
  let cells: number | null = null;
  for (const line of lines) {
    if (!line.startsWith('|')) {
      cells = null;
      continue;
    }
    const outsideCode = stripCode(line);
    expect(outsideCode).not.toMatch(/</);
    const n = outsideCode.replace(/\\\|/g, '').split('|').length;
    cells ??= n;
    expect(n, line).toBe(cells);
  }
  const prose = lines.filter((l) => !l.startsWith('|')).map(stripCode);
  for (const l of prose) expect(l).not.toMatch(/<(?!U\+)/);
  // A hostile string never starts a line (no injected heading or list).
  expect(lines.filter((l) => /^#+ /.test(l)).every((l) => !l.includes('heading') || l.startsWith('# '))).toBe(true);
}

describe('Markdown', () => {
  it('has every section with the numbers', () => {
    const md = renderStudyMarkdown(study);
    const headings = md.split('\n').filter((l) => l.startsWith('#'));
    expect(headings).toEqual([
      '# Model security study: 10 repositories, 18 files',
      '## Summary',
      '## Formats',
      '## Findings by severity',
      '## Findings by kind',
      '## Dangerous globals',
      '## Repositories needing trust_remote_code',
      '## modelgate and the hub',
      '### Flagged by modelgate, not by the hub',
      '### Flagged by the hub, not by modelgate',
      '### Not scanned by the hub, flagged by modelgate',
      '## Worst repositories',
      '## Engine and crawl',
      '## Errors',
    ]);
    expect(md).toContain('| `pickle` | 7 | 6 |');
    expect(md).toContain('| `os.system` | 4 | 4 |');
    expect(md).toContain('| flagged by modelgate only | 2 | 3 |');
    expect(md).toContain('| `carol/clean` | `missing.bin` |');
    expect(md).toContain('`datasets/acme/data`');
    expect(md).toContain('~unverified are scans made by range requests');
    expect(md).not.toContain('more than one engine version');
    checkMarkdown(md);
  });

  it('escapes hostile repository ids, paths and globals', () => {
    const md = renderStudyMarkdown(study);
    expect(md).toContain('`evil/<img src=x onerror=alert(1)>\\|*_`');
    expect(md).toContain('<U+202E>');
    const bad = renderStudyMarkdown(poisoned(study));
    checkMarkdown(bad);
    // Mentions are defused outside code spans (inside them GitHub mentions nobody).
    const prose = bad.split('\n').map(stripCode).join('\n');
    expect(prose).not.toContain('@here');
    expect(prose).toContain('@\u200bhere');
  });
});

describe('HTML', () => {
  it('is one self-contained page with four charts and the tables', () => {
    const html = renderStudyHtml(study);
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`);
    expect(html.match(/<svg class="chart" role="img" aria-labelledby="/g)).toHaveLength(4);
    for (const m of html.matchAll(/aria-labelledby="([^"]+)"/g)) for (const id of m[1]!.split(' ')) expect(html).toContain(`id="${id}"`);
    expect(html).toContain('<title id="chart-formats-t">Scanned files by format</title>');
    expect(html).toContain('pickle: 7 files; json: 3 files');
    checkHtml(html);
  });

  it('escapes hostile strings everywhere', () => {
    const html = renderStudyHtml(study);
    expect(html).toContain('<code>evil/&lt;img src=x onerror=alert(1)&gt;|*_</code>');
    expect(html).toContain('&lt;/td&gt;&lt;script&gt;alert(&quot;p&quot;)&lt;/script&gt;');
    checkHtml(renderStudyHtml(poisoned(study)));
    checkHtml(renderStudyHtml({ ...study, title: HOSTILE }));
  });
});

describe('JSON', () => {
  it('is the study, versioned', () => {
    const j = JSON.parse(renderStudy(study, 'json')) as Study;
    expect(j).toEqual(study);
    expect(j.schema).toBe('modelgate/study@1');
    expect(j.hub.oursOnly.rows.map((r) => r.repo)).toContain(HOSTILE_REPO);
    expect(j.hub.oursOnly.rows.map((r) => r.path)).toContain(HOSTILE_PATH);
  });
});

const pw = await loadPlaywright();
if (typeof pw === 'string') console.warn(`[study tests] SKIPPING the browser rendering test: ${pw}`);

describe.skipIf(typeof pw === 'string')(`HTML in chromium${typeof pw === 'string' ? ` — SKIPPED: ${pw}` : ''}`, () => {
  let browser: import('playwright-core').Browser | undefined;
  afterAll(async () => {
    await browser?.close();
  });

  it('renders the charts and tables, runs nothing and fetches nothing', async () => {
    browser = await launchChromium(pw as PlaywrightCore);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const requests: string[] = [];
    const dialogs: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const file = join(dir, 'study.html');
    writeFileSync(file, renderStudyHtml(poisoned(study)));
    await page.goto(`file://${file}`);

    for (const name of ['Scanned files by format', 'Files by worst severity', 'Most common dangerous globals', 'modelgate and the hub: who flags what']) {
      const chart = page.getByRole('img', { name: new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`) });
      await expect(chart.count()).resolves.toBe(1);
      const box = await chart.boundingBox();
      expect(box!.width).toBeGreaterThan(300);
      expect(box!.height).toBeGreaterThan(40);
    }
    // One bar per format, and the stacked bars have a segment for every non-empty group.
    expect(await page.locator('#formats svg g.bar').count()).toBe(study.formats.rows.length);
    const nonEmpty = Object.values(study.hub.repositories).filter((n) => n > 0).length + Object.values(study.hub.files).filter((n) => n > 0).length;
    expect(await page.locator('#hub svg g.segment').count()).toBe(nonEmpty);
    expect(await page.locator('table').count()).toBe(14);
    for (const id of ['summary', 'hub', 'formats', 'severity', 'kinds', 'globals', 'remote-code', 'worst', 'engine', 'errors']) {
      await expect(page.locator(`section#${id} h2`).count()).resolves.toBe(1);
    }
    // The hostile strings are text on the page, not elements.
    const oursOnly = await page.locator('#hub table').nth(1).innerText();
    expect(oursOnly).toContain('evil/<img src=x onerror=alert(1)>|*_');
    expect(await page.locator('script, img, iframe').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(requests).toEqual([`file://${file}`]);

    // MODELGATE_STUDY_SCREENSHOT=file.png keeps a picture of the page to look at.
    const shot = process.env['MODELGATE_STUDY_SCREENSHOT'] ?? join(dir, 'study.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(existsSync(shot)).toBe(true);
    if (process.env['MODELGATE_STUDY_SCREENSHOT']) console.info(`[study tests] screenshot: ${shot}`);
  });
});
