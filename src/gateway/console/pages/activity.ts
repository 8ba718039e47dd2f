/** The audit log: filters, one page of records (keyset on the audit id), links to exports. */
import type { AuditRecord } from '../../../store/types.js';
import { esc, href, page, verdictBadge } from '../html.js';
import { VERDICTS, type FilterEcho } from '../filters.js';

export function fileLabel(r: AuditRecord): string {
  const at = r.commit ? r.commit.slice(0, 12) : r.revision;
  return `${r.repo}@${at}${r.path ? `/${r.path}` : ''}`;
}

/** Newest-first table of records; shared by the overview's recent activity. */
export function auditTable(records: readonly AuditRecord[], caption: string): string {
  if (!records.length) return '<p class="muted">No records.</p>';
  const rows = records
    .map((r) => {
      const rules = r.rules.length ? r.rules.map((x) => `<code>${esc(x.rule)}</code>`).join(', ') : '<span class="muted">none</span>';
      const kinds = [...new Set(r.findings.map((f) => f.rule))];
      const findings = kinds.length ? kinds.slice(0, 4).map((k) => `<code>${esc(k)}</code>`).join(', ') + (kinds.length > 4 ? ` +${kinds.length - 4}` : '') : '<span class="muted">none</span>';
      return `<tr><td class="mono time">${esc(r.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'))}</td><td>${verdictBadge(r.verdict)}</td>
<td><a href="/console/audit/${esc(r.id)}" class="mono">${esc(fileLabel(r))}</a></td>
<td data-label="client">${esc(r.client)}<span class="muted hide-narrow"> (${esc(r.group)})</span></td><td data-label="rules">${rules}</td><td class="hide-narrow">${findings}</td></tr>`;
    })
    .join('\n');
  return `<div class="scroll"><table class="records"><caption class="muted">${esc(caption)}</caption>
<thead><tr><th scope="col">time (UTC)</th><th scope="col">verdict</th><th scope="col">file</th><th scope="col">client</th><th scope="col">policy rules</th><th scope="col" class="hide-narrow">findings</th></tr></thead>
<tbody>${rows}</tbody></table></div>`;
}

export interface ActivityView {
  who: string;
  csrf?: string;
  echo: FilterEcho;
  records: AuditRecord[];
  /** Cursor (`before`) of the older page, when there is one. */
  older: number | null;
  /** Cursor (`after`) of the newer page, when this is not the newest. */
  newer: number | null;
  limit: number;
  error?: string;
}

export function activityPage(v: ActivityView): string {
  const e = v.echo;
  const opt = (x: string, label: string) => `<option value="${esc(x)}"${e.verdict === x ? ' selected' : ''}>${esc(label)}</option>`;
  const input = (name: keyof FilterEcho, label: string, type = 'text', extra = '') =>
    `<label for="f-${name}">${label}<input id="f-${name}" name="${name}" type="${type}" value="${esc(e[name])}"${extra}></label>`;
  const filters = { ...e, limit: v.limit === 50 ? undefined : v.limit };
  const form = `<form class="filters" method="get" action="/console/activity" role="search" aria-label="Filter the audit log">
<label for="f-verdict">verdict<select id="f-verdict" name="verdict">${opt('', 'any')}${VERDICTS.map((x) => opt(x, x)).join('')}</select></label>
${input('repo', 'repository (exact)')}${input('client', 'user or token name')}${input('rule', 'policy rule')}
${input('since', 'from (UTC day or time)', 'text', ' placeholder="2026-01-31"')}${input('until', 'to (inclusive day, or exclusive time)', 'text', ' placeholder="2026-02-28"')}
${input('sha256', 'sha256', 'text', ' class="mono"')}
<button type="submit">Filter</button></form>`;
  const exports = `<p>Export what matches: <a href="${href('/console/activity.jsonl', e)}">JSONL</a> · <a href="${href('/console/activity.csv', e)}">CSV</a> <span class="muted">(newest first, at most 100,000 records)</span></p>`;
  const pager = `<nav class="pager" aria-label="Pages">${
    v.newer !== null ? `<a href="${href('/console/activity', filters)}">« Newest</a><a href="${href('/console/activity', { ...filters, after: v.newer })}" rel="prev">‹ Newer</a>` : ''
  }${v.older !== null ? `<a href="${href('/console/activity', { ...filters, before: v.older })}" rel="next">Older ›</a>` : '<span class="muted">No older records.</span>'}</nav>`;
  const body = v.error
    ? `<p class="error-box" role="alert">${esc(v.error)}</p>`
    : `${auditTable(v.records, `${v.records.length} record${v.records.length === 1 ? '' : 's'} on this page, newest first`)}${pager}`;
  return page({ title: 'Activity', nav: 'activity', who: v.who, ...(v.csrf ? { csrf: v.csrf } : {}) }, `<h1>Activity</h1>${form}${exports}${body}`);
}
