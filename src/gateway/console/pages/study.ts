/**
 * The Study page: when a crawl store is configured, a summary of its study report (`modelgate
 * report`) with links to the whole report in HTML, JSON and Markdown; otherwise how to set one.
 */
import type { Study } from '../../../study/types.js';
import { esc, page } from '../html.js';

export interface StudyView {
  who: string;
  csrf?: string;
  /** The crawl store as it may be shown (password removed); null when none is configured. */
  store: string | null;
  study: Study | null;
  error: string | null;
  builtAt: string | null;
}

function n(v: number): string {
  return esc(v.toLocaleString('en-US'));
}

export function studyPage(v: StudyView): string {
  const fr = { who: v.who, ...(v.csrf ? { csrf: v.csrf } : {}) };
  if (v.store === null) {
    return page(
      { title: 'Study', nav: 'study', ...fr },
      `<h1>Study</h1><p>No crawl store is configured, so there is no study report to show.</p>
<p>The study report (<code>modelgate report</code>, docs/study.md) describes what <code>modelgate crawl</code> and <code>modelgate worker</code> found on a hub. Point the gateway at their store with <code>crawlStore</code> in the configuration file or <code>MODELGATE_CRAWL_STORE</code> (<code>postgres://…</code> or a SQLite path) and restart it.</p>`,
    );
  }
  const head = `<h1>Study</h1><p>Crawl store <span class="mono">${esc(v.store)}</span>.</p>`;
  if (!v.study) return page({ title: 'Study', nav: 'study', ...fr }, `${head}<p class="error-box" role="alert">The study report could not be built: ${esc(v.error ?? 'unknown error')}</p>`);
  const s = v.study;
  const flagged = s.hub.repositories.both + s.hub.repositories['ours-only'] + s.hub.repositories['hub-not-scanned-flagged'];
  const facts = `<dl class="facts">
<dt>report</dt><dd>${esc(s.title)}</dd>
<dt>repositories</dt><dd>${n(s.crawl.repositories)} (${n(s.crawl.commits)} commits crawled)</dd>
<dt>files</dt><dd>${n(s.files.total)}, ${n(s.files.scanned)} scanned</dd>
<dt>flagged repositories</dt><dd>${n(flagged)} at or above ${esc(s.options.threshold)}; ${n(s.hub.repositories['ours-only'])} flagged by modelgate and not by the hub</dd>
<dt>built</dt><dd>${esc(v.builtAt)} <span class="muted">(kept 5 minutes; <a href="/console/study?fresh=1">build it again now</a>)</span></dd>
</dl>`;
  const links = `<ul><li><a href="/console/study/report">Open the study report</a> (HTML, with charts)</li><li><a href="/console/study/report.json">JSON</a> (schema <code>${esc(s.schema)}</code>)</li><li><a href="/console/study/report.md">Markdown</a></li></ul>`;
  return page({ title: 'Study', nav: 'study', ...fr }, `${head}${facts}${links}`);
}
