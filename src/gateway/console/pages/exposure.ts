/**
 * The Exposure page: the background re-evaluations of cached files (progress of the newest
 * runs) and every file whose verdict got worse than when it was served, with everyone who
 * downloaded those bytes and when.
 */
import type { Download, Exposure, ExposureItemNote, ExposureProgress, ExposureRun } from '../../../store/console-types.js';
import { esc, href, page, verdictBadge } from '../html.js';

export interface RunView {
  run: ExposureRun;
  progress: ExposureProgress;
  notes: ExposureItemNote[];
}

export interface ExposedFile {
  exposure: Exposure;
  downloads: Download[];
  totalDownloads: number;
}

export interface ExposureView {
  who: string;
  csrf?: string;
  runs: RunView[];
  files: ExposedFile[];
  older: number | null;
  /** Seconds between automatic refreshes while a run goes on (0: none). */
  refreshS: number;
}

const REASON: Record<ExposureRun['reason'], string> = { engine: 'scanner or rules changed', waiver: 'a waiver expired', manual: 'asked for' };

function t(s: string): string {
  return esc(s.replace('T', ' ').replace(/\.\d+Z$/, 'Z'));
}

function runBlock(r: RunView): string {
  const p = r.progress;
  const settled = p.done + p.skipped + p.failed;
  const total = Math.max(r.run.total, settled + p.pending + p.running);
  const state = r.run.finishedAt ? `finished ${t(r.run.finishedAt)}` : 'running';
  const notes = r.notes.length
    ? `<details><summary>${esc(r.notes.length)} file${r.notes.length === 1 ? '' : 's'} not judged</summary><ul>${r.notes.map((n) => `<li><code>${esc(n.sha256.slice(0, 16))}</code> ${esc(n.state)}: ${esc(n.note)}</li>`).join('')}</ul></details>`
    : '';
  return `<li class="run"><div><strong>${esc(REASON[r.run.reason])}</strong> <span class="muted">(${esc(r.run.detail)})</span></div>
<div class="muted">started ${t(r.run.createdAt)} · ${state} · run <code>${esc(r.run.id)}</code></div>
<label class="progress">${esc(settled)} of ${esc(total)} cached file${total === 1 ? '' : 's'} judged${p.skipped ? `, ${esc(p.skipped)} skipped` : ''}${p.failed ? `, ${esc(p.failed)} failed` : ''}<progress max="${esc(Math.max(1, total))}" value="${esc(settled)}">${esc(settled)} of ${esc(total)}</progress></label>${notes}</li>`;
}

function downloadsList(f: ExposedFile): string {
  if (!f.downloads.length) return '<p class="muted">No served download of these bytes is recorded.</p>';
  const rows = f.downloads
    .map((d) => `<tr><td data-label="client"><strong>${esc(d.client)}</strong><span class="muted"> (${esc(d.group)})</span></td><td class="mono time" data-label="when">${t(d.time)}</td><td data-label="as"><a class="mono" href="/console/audit/${esc(d.id)}">${esc(`${d.repo}@${(d.commit ?? '').slice(0, 12)}/${d.path ?? ''}`)}</a></td><td>${verdictBadge(d.verdict)}</td></tr>`)
    .join('');
  const more = f.totalDownloads > f.downloads.length ? `<p><a href="${href('/console/activity', { sha256: f.exposure.sha256 })}">All ${esc(f.totalDownloads)} records of these bytes</a></p>` : '';
  return `<div class="scroll"><table class="records downloads"><caption class="muted">Downloaded by (${esc(f.totalDownloads)} served download${f.totalDownloads === 1 ? '' : 's'}, newest first)</caption>
<thead><tr><th scope="col">client</th><th scope="col">when (UTC)</th><th scope="col">as</th><th scope="col">verdict then</th></tr></thead><tbody>${rows}</tbody></table></div>${more}`;
}

function fileBlock(f: ExposedFile): string {
  const e = f.exposure;
  const name = `${e.repoType === 'dataset' ? 'datasets/' : ''}${e.repo}@${(e.commit ?? '').slice(0, 12)}/${e.path ?? ''}`;
  const rules = e.rules.length ? `<ul class="plain">${e.rules.map((r) => `<li>${verdictBadge(r.action)} <code>${esc(r.rule)}</code> ${esc(r.reason)}</li>`).join('')}</ul>` : '';
  return `<article class="exposed" aria-labelledby="x-${esc(e.id)}"><h3 id="x-${esc(e.id)}" class="mono">${esc(name)}</h3>
<p>${verdictBadge(e.before)} when served <span aria-hidden="true">→</span> now ${verdictBadge(e.after)} <span class="muted">(group ${esc(e.group)}; found ${t(e.foundAt)}; ${e.auditId !== null ? `<a href="/console/audit/${esc(e.auditId)}">audit record</a>` : 'audit record being written'})</span></p>
<p class="muted mono">sha256 ${esc(e.sha256)}${e.scanId ? ` · <a href="/reports/${esc(e.scanId)}">new report</a>` : ''}</p>${rules}${downloadsList(f)}</article>`;
}

export function exposurePage(v: ExposureView): string {
  const runs = v.runs.length ? `<ul class="runs">${v.runs.map(runBlock).join('')}</ul>` : '<p class="muted">No re-evaluation has run yet. One starts by itself when the gateway starts with another scanner or rules version than the one its cached files were scanned with, and when a waiver expires.</p>';
  const start = `<form method="post" action="/console/exposure/run">${v.csrf ? `<input type="hidden" name="csrf" value="${esc(v.csrf)}">` : ''}<button type="submit">Re-evaluate every cached file now</button></form>`;
  const refresh = v.refreshS > 0 ? `<p class="muted" role="status">A run is going on: this page reloads every ${esc(v.refreshS)} seconds.</p>` : '';
  const files = v.files.length ? v.files.map(fileBlock).join('') : '<p>No file served through the gateway has a worse verdict now than when it was served.</p>';
  const pager = v.older !== null ? `<nav class="pager" aria-label="Pages"><a href="${href('/console/exposure', { before: v.older })}" rel="next">Older ›</a></nav>` : '';
  const body = `<h1>Exposure</h1>
<p>Files let through by the gateway whose verdict is now worse — after a scanner or rules change, or a waiver's expiry — and who downloaded them. Each is also an audit record (method <code>EXPOSURE</code>) sent to the webhook and syslog.</p>
<section aria-labelledby="runs-h"><h2 id="runs-h">Re-evaluations</h2>${refresh}${runs}${start}</section>
<section aria-labelledby="files-h"><h2 id="files-h">Files whose verdict got worse</h2>${files}${pager}</section>`;
  return page({ title: 'Exposure', nav: 'exposure', who: v.who, ...(v.csrf ? { csrf: v.csrf } : {}) }, body);
}
