/**
 * The overview: decisions per day as an inline SVG chart (no library, no script), the most
 * blocked repositories and finding kinds, the newest records and the health of each part.
 */
import type { AuditDay, AuditRecord, AuditTop, AuditVerdict } from '../../../store/types.js';
import { esc, href, page } from '../html.js';
import { auditTable } from './activity.js';
import { ruleLink } from './file.js';

export interface HealthRow {
  part: string;
  /** true healthy, false failing, null not probed. */
  ok: boolean | null;
  detail: string;
}

export interface OverviewView {
  who: string;
  csrf?: string;
  /** The UTC days shown, oldest first (gaps filled with zeros). */
  days: string[];
  counts: AuditDay[];
  top: AuditTop;
  statsSince: string;
  recent: AuditRecord[];
  health: HealthRow[];
}

const COLOURS: Record<AuditVerdict, string> = { allow: '#1a7f37', warn: '#9a6700', block: '#cf222e', error: '#6e7781' };
const ORDER: readonly AuditVerdict[] = ['allow', 'warn', 'block', 'error'];

/** UTC days from `n - 1` days before `today` to `today`, as YYYY-MM-DD. */
export function lastDays(today: Date, n: number): string[] {
  const out: string[] = [];
  for (let i = n - 1; i >= 0; i--) {
    const d = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i));
    out.push(d.toISOString().slice(0, 10));
  }
  return out;
}

function niceMax(v: number): number {
  // Even, so that the middle grid line is a whole number.
  if (v <= 4) return 4;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 4, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function decisionsChart(days: readonly string[], counts: readonly AuditDay[]): string {
  const byDay = new Map(counts.map((d) => [d.day, d]));
  const rows = days.map((day) => byDay.get(day) ?? { day, allow: 0, warn: 0, block: 0, error: 0 });
  const W = 900;
  const H = 240;
  const left = 48;
  const bottom = 34;
  const top = 10;
  const plotH = H - top - bottom;
  const slot = (W - left - 10) / Math.max(1, rows.length);
  const barW = Math.max(4, Math.min(40, slot * 0.6));
  const max = niceMax(Math.max(0, ...rows.map((r) => r.allow + r.warn + r.block + r.error)));
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const parts: string[] = [];
  for (const t of [0, max / 2, max]) {
    parts.push(`<line x1="${left}" x2="${W - 10}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#d0d7de"/><text x="${left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" fill="#57606a">${esc(Math.round(t))}</text>`);
  }
  rows.forEach((r, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    let acc = 0;
    const segs: string[] = [];
    for (const v of ORDER) {
      if (!r[v]) continue;
      const y0 = y(acc + r[v]);
      const h = y(acc) - y0;
      segs.push(`<rect x="${x.toFixed(1)}" y="${y0.toFixed(1)}" width="${barW.toFixed(1)}" height="${Math.max(1, h).toFixed(1)}" fill="${COLOURS[v]}"/>`);
      acc += r[v];
    }
    const label = `${r.day}: ${r.allow} allowed, ${r.warn} warned, ${r.block} blocked, ${r.error} errors`;
    const showLabel = rows.length <= 16 || i % Math.ceil(rows.length / 16) === 0;
    parts.push(`<g><title>${esc(label)}</title>${segs.join('')}${showLabel ? `<text x="${(x + barW / 2).toFixed(1)}" y="${H - bottom + 16}" text-anchor="middle" fill="#57606a">${esc(r.day.slice(5))}</text>` : ''}</g>`);
  });
  const total = (v: AuditVerdict) => rows.reduce((a, r) => a + r[v], 0);
  const desc = `${rows.length} days from ${rows[0]?.day ?? ''} to ${rows[rows.length - 1]?.day ?? ''}: ${total('allow')} allowed, ${total('warn')} warned, ${total('block')} blocked, ${total('error')} errors in all.`;
  const chart = `<svg class="chart" role="img" aria-labelledby="dc-t dc-d" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, sans-serif" font-size="12" xmlns="http://www.w3.org/2000/svg">
<title id="dc-t">Decisions per day</title><desc id="dc-d">${esc(desc)}</desc>${parts.join('')}</svg>`;
  const legend = `<ul class="legend">${ORDER.map((v) => `<li class="l-${v}">${v === 'allow' ? 'allowed' : v === 'warn' ? 'warned' : v === 'block' ? 'blocked' : 'errors'} (${total(v)})</li>`).join('')}</ul>`;
  const table = `<details><summary>Numbers per day</summary><div class="scroll"><table><thead><tr><th scope="col">day (UTC)</th>${ORDER.map((v) => `<th scope="col" class="num">${v}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr><td><a href="${href('/console/activity', { since: r.day, until: r.day })}">${esc(r.day)}</a></td>${ORDER.map((v) => `<td class="num">${r[v]}</td>`).join('')}</tr>`)
    .join('')}</tbody></table></div></details>`;
  return chart + legend + table;
}

function healthTable(rows: readonly HealthRow[]): string {
  return `<table><thead><tr><th scope="col">part</th><th scope="col">state</th><th scope="col">detail</th></tr></thead><tbody>${rows
    .map((h) => `<tr><td>${esc(h.part)}</td><td>${h.ok === null ? '<span class="muted">not probed</span>' : h.ok ? '<span class="ok">ok</span>' : '<span class="bad">failing</span>'}</td><td>${esc(h.detail)}</td></tr>`)
    .join('')}</tbody></table>`;
}

export function overviewPage(v: OverviewView): string {
  const since = v.statsSince.slice(0, 10);
  const repos = v.top.topBlockedRepos.length
    ? `<table><thead><tr><th scope="col">repository</th><th scope="col" class="num">blocked</th></tr></thead><tbody>${v.top.topBlockedRepos
        .map((r) => `<tr><td><a class="mono" href="${href('/console/activity', { repo: r.repo, verdict: 'block', since })}">${esc(r.repo)}</a></td><td class="num">${r.count}</td></tr>`)
        .join('')}</tbody></table>`
    : '<p class="muted">Nothing blocked.</p>';
  const kinds = v.top.topFindingKinds.length
    ? `<table><thead><tr><th scope="col">finding rule</th><th scope="col" class="num">records</th></tr></thead><tbody>${v.top.topFindingKinds
        .map((k) => `<tr><td>${ruleLink(k.rule)}</td><td class="num">${k.count}</td></tr>`)
        .join('')}</tbody></table><p class="muted">Counted over the newest ${v.top.findingSample} warned or blocked records.</p>`
    : '<p class="muted">No findings behind warnings or refusals.</p>';
  const body = `<h1>Overview</h1>
<section aria-labelledby="h-days"><h2 id="h-days">Decisions per day, last ${v.days.length} days</h2>${decisionsChart(v.days, v.counts)}</section>
<div class="grid">
<section aria-labelledby="h-repos"><h2 id="h-repos">Most blocked repositories since ${esc(since)}</h2>${repos}</section>
<section aria-labelledby="h-kinds"><h2 id="h-kinds">Most frequent finding kinds since ${esc(since)}</h2>${kinds}</section>
</div>
<section aria-labelledby="h-health"><h2 id="h-health">Health</h2>${healthTable(v.health)}</section>
<section aria-labelledby="h-recent"><h2 id="h-recent">Recent activity</h2>${auditTable(v.recent, 'the newest records')}<p><a href="/console/activity">All activity »</a></p></section>`;
  return page({ title: 'Overview', nav: 'overview', who: v.who, ...(v.csrf ? { csrf: v.csrf } : {}) }, body);
}
