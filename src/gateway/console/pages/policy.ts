/**
 * The Policy page: the policy in force (its effective rules per group and its file, escaped),
 * the dry run of a candidate policy against the recent audit log, and the history of every
 * policy version the gateway loaded.
 */
import type { DryRunJob } from '../../dry-run-job.js';
import type { DryRunResult, FlippedFile } from '../../dry-run.js';
import { DRY_RUN_MAX_DAYS } from '../../dry-run.js';
import { RULE_NAMES, type RuleSet } from '../../../policy/schema.js';
import type { PolicyLoad } from '../../../store/console-types.js';
import { esc, escBlock, href, page, verdictBadge } from '../html.js';

export interface RunningPolicy {
  version: string;
  source: string | null;
  sha256: string | null;
  text: string | null;
  /** Effective rules by group (`default` first); null for a policy supplied by an embedding program. */
  groups: Array<[string, RuleSet]> | null;
}

export interface DryRunView {
  text: string;
  days: number;
  error?: string;
  /** The background run this page shows (going on, finished or failed). */
  job?: DryRunJob;
  /** The run going on that kept this one from starting. */
  busy?: DryRunJob;
  /** Seconds between reloads while the run goes on (0: none). */
  refreshS?: number;
}

export interface PolicyView {
  who: string;
  csrf?: string;
  running: RunningPolicy;
  history: PolicyLoad[];
  /** Cursor of the older history page, when there is one. */
  older: number | null;
  dry?: DryRunView;
}

function setting(v: unknown): string {
  if (Array.isArray(v)) return v.length ? v.map((x) => `<code>${esc(String(x))}</code>`).join(', ') : '<span class="muted">none</span>';
  if (v !== null && typeof v === 'object') {
    const e = Object.entries(v as Record<string, unknown>);
    return e.length ? e.map(([k, x]) => `<code>${esc(k)}</code>: ${setting(x)}`).join('; ') : '<span class="muted">none</span>';
  }
  return `<code>${esc(String(v))}</code>`;
}

function rulesTable(name: string, rules: RuleSet): string {
  const rows = RULE_NAMES.map((r) => {
    const { action, ...rest } = rules[r] as { action: string } & Record<string, unknown>;
    const params = Object.entries(rest).map(([k, v]) => `<code>${esc(k)}</code> ${setting(v)}`).join('<br>');
    return `<tr${action === 'off' ? ' class="off"' : ''}><th scope="row"><code>${esc(r)}</code></th><td>${action === 'off' ? '<span class="muted">off</span>' : verdictBadge(action)}</td><td>${params || '<span class="muted">none</span>'}</td></tr>`;
  }).join('');
  return `<div class="scroll"><table><caption>${esc(name)}</caption><thead><tr><th scope="col">rule</th><th scope="col">action</th><th scope="col">settings</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

function running(r: RunningPolicy): string {
  const facts = `<dl class="facts">
<dt>version</dt><dd><code>${esc(r.version)}</code></dd>
<dt>source</dt><dd>${r.source ? `<span class="mono">${esc(r.source)}</span>` : '<span class="muted">unknown</span>'}</dd>
<dt>content sha256</dt><dd>${r.sha256 ? `<a class="mono" href="/console/policy/versions/${esc(r.sha256)}">${esc(r.sha256)}</a>` : '<span class="muted">not in the history</span>'}</dd>
</dl>`;
  const tables = r.groups
    ? r.groups.map(([g, rules]) => rulesTable(g === 'default' ? 'Top-level rules (group default, and any group the policy does not name)' : `Group ${g}`, rules)).join('')
    : '<p class="muted">This policy was supplied by the program embedding the gateway; its rules cannot be listed.</p>';
  const file = r.text !== null ? `<details><summary>The policy file as loaded</summary><pre class="doc">${escBlock(r.text)}</pre></details>` : '<p class="muted">No policy file is configured: this is the built-in default policy (docs/policy.md; policy.example.yaml writes it out).</p>';
  return `<section aria-labelledby="running-h"><h2 id="running-h">Running policy</h2>${facts}${tables}${file}</section>`;
}

function flippedRow(f: FlippedFile): string {
  const at = f.commit ? f.commit.slice(0, 12) : '?';
  const name = `${f.repoType === 'dataset' ? 'datasets/' : ''}${f.repo}@${at}/${f.path}`;
  const rules = f.rules.length
    ? `<ul class="plain">${f.rules.map((o) => `<li>${verdictBadge(o.action)} <code>${esc(o.rule)}</code> ${esc(o.reason)}${o.carried ? ' <span class="muted">(as recorded)</span>' : ''}</li>`).join('')}</ul>`
    : '<span class="muted">no rule fires</span>';
  const notes = [
    f.repositoryOnly ? 'refused before download: under the candidate it would be downloaded and scanned, and its verdict is not known yet' : '',
    f.unknownFacts.length ? `depends on repository facts the audit log does not keep (${f.unknownFacts.map(esc).join(', ')})` : '',
  ].filter(Boolean);
  return `<tr><td><a class="mono" href="/console/audit/${esc(f.auditId)}">${esc(name)}</a>${notes.length ? `<div class="muted">${notes.join('; ')}</div>` : ''}</td>
<td data-label="verdict" class="flip">${verdictBadge(f.before)} <span aria-hidden="true">→</span><span class="sr"> becomes </span> ${verdictBadge(f.after)}</td>
<td data-label="under the candidate">${rules}</td><td data-label="decisions" class="num">${esc(f.decisions)}</td><td data-label="clients">${f.clients.map(esc).join(', ')}</td><td class="mono time hide-narrow">${esc(f.newest.replace('T', ' ').replace(/\.\d+Z$/, 'Z'))}</td></tr>`;
}

function result(r: DryRunResult): string {
  const changed = r.stricter + r.looser;
  const summary = `<p role="status" id="dry-run-summary">Candidate version <code>${esc(r.candidateVersion)}</code>: of ${esc(r.examined)} file decision${r.examined === 1 ? '' : 's'} since ${esc(r.since.slice(0, 16).replace('T', ' '))} UTC, <strong>${esc(changed)} would change</strong> (${esc(r.stricter)} stricter, ${esc(r.looser)} looser), in ${esc(r.flipped.length)} file${r.flipped.length === 1 ? '' : 's'}.</p>`;
  const notes = [
    r.truncated ? `Only the newest ${esc(r.examined)} decisions were replayed; older ones in the window were not.` : '',
    r.missingScans ? `${esc(r.missingScans)} decision${r.missingScans === 1 ? '' : 's'} could not be replayed: the stored scan is gone.` : '',
    r.uncertain ? `${esc(r.uncertain)} decision${r.uncertain === 1 ? '' : 's'} depend on repository facts (licence, dates, the hub's verdict, custom code) that the audit log does not keep and that the candidate sets differently: their recorded outcomes were carried over.` : '',
  ].filter(Boolean);
  const table = r.flipped.length
    ? `<div class="scroll"><table class="records flips"><caption class="muted">Files whose decisions would change, worst outcome first</caption>
<thead><tr><th scope="col">file</th><th scope="col">before → after</th><th scope="col">rules under the candidate</th><th scope="col" class="num">decisions</th><th scope="col">clients</th><th scope="col" class="hide-narrow">newest (UTC)</th></tr></thead>
<tbody>${r.flipped.map(flippedRow).join('\n')}</tbody></table></div>`
    : '<p>No decision would change.</p>';
  return `<div id="dry-run-result">${summary}${notes.map((n) => `<p class="muted">${n}</p>`).join('')}${table}</div>`;
}

function t(s: string): string {
  return esc(s.replace('T', ' ').replace(/\.\d+Z$/, 'Z'));
}

/** A run going on: how far it got, against the window's record count (an upper bound: ids may skip). */
function progress(j: DryRunJob, refreshS: number): string {
  const p = j.progress;
  const total = Math.max(p.estimate, p.read, 1);
  return `<div id="dry-run-progress" role="status"><p>Dry run of candidate <code>${esc(j.candidateVersion)}</code> over the last ${esc(j.days)} day${j.days === 1 ? '' : 's'}, started by ${esc(j.by)} at ${t(j.startedAt)}: <span id="dry-run-read">${esc(p.read)} of about ${esc(p.estimate)}</span> audit records read, ${esc(p.examined)} file decision${p.examined === 1 ? '' : 's'} replayed.${refreshS ? ` This page reloads itself every ${esc(refreshS)} s until the result is here.` : ''}</p>
<label class="progress">records read<progress max="${esc(total)}" value="${esc(Math.min(p.read, total))}">${esc(p.read)} of about ${esc(p.estimate)}</progress></label></div>`;
}

function jobBlock(d: DryRunView): string {
  const j = d.job;
  if (!j) return '';
  if (j.state === 'running') return progress(j, d.refreshS ?? 0);
  if (j.state === 'failed') return `<p class="error-box" role="alert" id="dry-run-error">The dry run of candidate <code>${esc(j.candidateVersion)}</code> stopped at ${t(j.finishedAt ?? j.startedAt)} after ${esc(j.progress.read)} audit records: ${esc(j.error ?? 'unknown error')}. Nothing was changed; run it again.</p>`;
  return j.result ? result(j.result) : '';
}

function dryRunForm(v: PolicyView): string {
  const d = v.dry;
  const text = d?.text ?? v.running.text ?? '';
  const days = d?.days ?? 7;
  return `<section aria-labelledby="dry-h"><h2 id="dry-h">Dry run</h2>
<p>Give a candidate policy to see which decisions of the recent audit log it would change, file by file, before deploying it. Each decision is judged again from its stored scan report (nothing is downloaded or scanned) with the waivers of its time.</p>
${d?.error ? `<p class="error-box" role="alert" id="dry-run-error">${esc(d.error)}${d.busy ? ` <a href="/console/policy/dry-run/${esc(d.busy.id)}">See that run</a>.` : ''}</p>` : ''}
<form class="stack" method="post" action="/console/policy/dry-run#dry-h" enctype="multipart/form-data">
${v.csrf ? `<input type="hidden" name="csrf" value="${esc(v.csrf)}">` : ''}
<label for="dry-policy">Candidate policy (YAML)<textarea id="dry-policy" name="policy" rows="14" spellcheck="false" class="mono">\n${escBlock(text)}</textarea></label>
<label for="dry-file">…or upload a policy file (used instead of the text when chosen)<input id="dry-file" name="file" type="file" accept=".yaml,.yml,text/yaml,text/plain"></label>
<label for="dry-days">Days of the audit log<input id="dry-days" name="days" type="number" min="1" max="${DRY_RUN_MAX_DAYS}" value="${esc(days)}"></label>
<button type="submit">Dry run</button>
</form>${d ? jobBlock(d) : ''}</section>`;
}

function history(v: PolicyView): string {
  if (!v.history.length) return '<section aria-labelledby="hist-h"><h2 id="hist-h">History</h2><p class="muted">No policy load recorded yet.</p></section>';
  const rows = v.history
    .map((l) => `<tr><td class="mono time">${esc(l.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'))}</td><td><code>${esc(l.version)}</code></td><td data-label="event">${l.event === 'start' ? 'start-up' : 'reload'}</td><td data-label="by">${esc(l.actor)}</td><td data-label="source" class="mono">${esc(l.source)}</td><td data-label="text"><a class="mono" href="/console/policy/versions/${esc(l.sha256)}">${esc(l.sha256.slice(0, 12))}</a></td></tr>`)
    .join('\n');
  const pager = `<nav class="pager" aria-label="History pages">${v.older !== null ? `<a href="${href('/console/policy', { before: v.older })}#hist-h" rel="next">Older loads ›</a>` : '<span class="muted">No older loads.</span>'}</nav>`;
  return `<section aria-labelledby="hist-h"><h2 id="hist-h">History</h2><div class="scroll"><table class="records"><caption class="muted">Every time a gateway put a policy in force, newest first</caption>
<thead><tr><th scope="col">time (UTC)</th><th scope="col">version</th><th scope="col">event</th><th scope="col">by</th><th scope="col">source</th><th scope="col">text</th></tr></thead><tbody>${rows}</tbody></table></div>${pager}</section>`;
}

export function policyPage(v: PolicyView): string {
  return page({ title: 'Policy', nav: 'policy', who: v.who, ...(v.csrf ? { csrf: v.csrf } : {}) }, `<h1>Policy</h1>${running(v.running)}${dryRunForm(v)}${history(v)}`);
}

export function policyVersionPage(v: { who: string; csrf?: string; sha256: string; version: string | null; text: string | null; found: boolean }): string {
  const fr = { who: v.who, ...(v.csrf ? { csrf: v.csrf } : {}) };
  if (!v.found) return page({ title: 'No such policy', nav: 'policy', ...fr }, `<h1>No policy with content <code>${esc(v.sha256.slice(0, 16))}</code></h1><p><a href="/console/policy">Back to the policy</a></p>`);
  const body = v.text !== null ? `<pre class="doc">${escBlock(v.text)}</pre>` : '<p>The built-in default policy (no file): see docs/policy.md and policy.example.yaml.</p>';
  return page({ title: `Policy ${v.version ?? ''}`, nav: 'policy', ...fr }, `<h1>Policy version <code>${esc(v.version)}</code></h1><p class="muted mono">sha256 ${esc(v.sha256)}</p>${body}<p><a href="/console/policy">Back to the policy</a></p>`);
}
