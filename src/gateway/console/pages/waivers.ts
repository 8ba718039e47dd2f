/**
 * The admins' side of the waiver workflow: requests waiting for a decision, active waivers
 * (each with a revoke button), recent answers and ended waivers; and one request's page with
 * the approve form (scope editable, to narrow what was asked; an expiry) and the reject form.
 */
import type { AuditRecord, Waiver, WaiverRequest } from '../../../store/types.js';
import { clip, csrfField, esc, page, verdictBadge, when } from '../html.js';
import { fileLabel } from './activity.js';
import { ruleLink } from './file.js';

export type RequestState = 'pending' | 'approved' | 'rejected' | 'revoked' | 'expired';

/** What became of a request: an approval is only as alive as its waiver. */
export function requestState(r: WaiverRequest, w: Waiver | null, now: number): RequestState {
  if (r.status !== 'approved') return r.status;
  if (!w) return 'approved';
  if (w.revokedAt !== null) return 'revoked';
  return Date.parse(w.expiresAt) <= now ? 'expired' : 'approved';
}

export function stateBadge(s: RequestState): string {
  return `<span class="state s-${s}">${s}</span>`;
}

export function scopeCells(s: { repo: string | null; sha256: string | null; rule: string | null }): string {
  const any = '<span class="muted">any</span>';
  return `<td data-label="repository" class="mono">${s.repo !== null ? esc(s.repo) : any}</td><td data-label="sha256" class="mono">${s.sha256 !== null ? `<abbr title="${esc(s.sha256)}">${esc(s.sha256.slice(0, 12))}…</abbr>` : any}</td><td data-label="rule">${s.rule !== null ? ruleLink(s.rule) : any}</td>`;
}

const SCOPE_HEAD = '<th scope="col">repository</th><th scope="col">sha256</th><th scope="col">rule</th>';

export interface WaiversView {
  who: string;
  csrf?: string;
  pending: WaiverRequest[];
  decided: Array<{ request: WaiverRequest; state: RequestState }>;
  active: Waiver[];
  ended: Waiver[];
  notice?: string;
}

function revokeForm(w: Waiver, csrf: string | undefined): string {
  return `<form method="post" action="/console/waivers/${esc(w.id)}/revoke" class="inline">${csrfField(csrf)}<button type="submit" class="danger" aria-label="Revoke waiver ${esc(w.id)}">Revoke</button></form>`;
}

export function waiversPage(v: WaiversView): string {
  const pending = v.pending.length
    ? `<div class="scroll"><table class="records"><caption class="muted">oldest first</caption><thead><tr><th scope="col">asked (UTC)</th><th scope="col">by</th>${SCOPE_HEAD}<th scope="col">justification</th><th scope="col"><span class="sr">action</span></th></tr></thead><tbody>${v.pending
        .map(
          (r) =>
            `<tr><td class="mono time">${when(r.createdAt)}</td><td data-label="by">${esc(r.requester)} <span class="muted">(${r.via === 'link' ? 'refusal link' : 'token'})</span></td>${scopeCells(r)}<td data-label="justification">${esc(clip(r.justification, 200))}</td><td><a href="/console/waivers/requests/${esc(r.id)}">Review request ${esc(r.id)}</a></td></tr>`,
        )
        .join('')}</tbody></table></div>`
    : '<p class="muted">No request is waiting.</p>';
  const active = v.active.length
    ? `<div class="scroll"><table class="records"><thead><tr><th scope="col">waiver</th>${SCOPE_HEAD}<th scope="col">reason</th><th scope="col">by</th><th scope="col">expires (UTC)</th><th scope="col"><span class="sr">action</span></th></tr></thead><tbody>${v.active
        .map((w) => `<tr><td class="mono">${esc(w.id)}</td>${scopeCells(w)}<td data-label="reason">${esc(clip(w.reason, 200))}</td><td data-label="by">${esc(w.author)}</td><td data-label="expires" class="mono">${when(w.expiresAt)}</td><td>${revokeForm(w, v.csrf)}</td></tr>`)
        .join('')}</tbody></table></div>`
    : '<p class="muted">No waiver is in force.</p>';
  const decided = v.decided.length
    ? `<div class="scroll"><table class="records"><thead><tr><th scope="col">answered (UTC)</th><th scope="col">request</th><th scope="col">state</th><th scope="col">by</th>${SCOPE_HEAD}<th scope="col">answered by</th><th scope="col">note</th></tr></thead><tbody>${v.decided
        .map(
          ({ request: r, state }) =>
            `<tr><td class="mono time">${when(r.decidedAt)}</td><td><a class="mono" href="/console/waivers/requests/${esc(r.id)}">${esc(r.id)}</a></td><td>${stateBadge(state)}</td><td data-label="by">${esc(r.requester)}</td>${scopeCells(r)}<td data-label="answered by">${esc(r.decidedBy)}</td><td data-label="note">${esc(clip(r.note ?? '', 200))}</td></tr>`,
        )
        .join('')}</tbody></table></div>`
    : '<p class="muted">No request has been answered yet.</p>';
  const ended = v.ended.length
    ? `<div class="scroll"><table class="records"><thead><tr><th scope="col">waiver</th>${SCOPE_HEAD}<th scope="col">by</th><th scope="col">ended (UTC)</th></tr></thead><tbody>${v.ended
        .map((w) => `<tr><td class="mono">${esc(w.id)}</td>${scopeCells(w)}<td data-label="by">${esc(w.author)}</td><td data-label="ended" class="mono">${w.revokedAt ? `revoked ${when(w.revokedAt)}` : `expired ${when(w.expiresAt)}`}</td></tr>`)
        .join('')}</tbody></table></div>`
    : '<p class="muted">None.</p>';
  const body = `<h1>Waivers</h1>
${v.notice ? `<p class="notice" role="status">${esc(v.notice)}</p>` : ''}
<p class="muted">Users ask for a waiver from the page their refusal links to, or with their gateway token (<code>POST /console/waiver-requests</code>). An approval takes effect on the next download; so does a revocation.</p>
<section aria-labelledby="h-pending"><h2 id="h-pending">Requests waiting for a decision (${v.pending.length})</h2>${pending}</section>
<section aria-labelledby="h-active"><h2 id="h-active">Waivers in force (${v.active.length})</h2>${active}</section>
<section aria-labelledby="h-decided"><h2 id="h-decided">Recently answered requests</h2>${decided}</section>
<section aria-labelledby="h-ended"><h2 id="h-ended">Ended waivers</h2>${ended}</section>`;
  return page({ title: 'Waivers', nav: 'waivers', who: v.who, ...(v.csrf ? { csrf: v.csrf } : {}) }, body);
}

export interface RequestView {
  who: string;
  csrf?: string;
  request: WaiverRequest | null;
  decision: AuditRecord | null;
  waiver: Waiver | null;
  state: RequestState;
  /** The approve form's values (the request's scope, or what the admin typed before an error). */
  form: { repo: string; sha256: string; rule: string; expires: string; note: string };
  error?: string;
}

export function requestPage(v: RequestView): string {
  const fr = { who: v.who, ...(v.csrf ? { csrf: v.csrf } : {}) };
  const r = v.request;
  if (!r) return page({ title: 'Not found', nav: 'waivers', ...fr }, '<h1>No such waiver request</h1><p><a href="/console/waivers">Back to the waivers</a></p>');
  const d = v.decision;
  const facts = `<dl class="facts">
<dt>state</dt><dd>${stateBadge(v.state)}${r.decidedBy ? ` by ${esc(r.decidedBy)} at ${when(r.decidedAt)}` : ''}${r.note ? `: ${esc(r.note)}` : ''}</dd>
<dt>asked by</dt><dd>${esc(r.requester)} (${esc(r.requesterGroup)}), ${r.via === 'link' ? 'from the link of their refusal' : 'with a gateway token'}, at ${when(r.createdAt)}</dd>
<dt>repository</dt><dd class="mono">${r.repo !== null ? esc(r.repo) : '<span class="muted">any</span>'} <span class="muted">(${esc(r.repoType)})</span></dd>
<dt>sha256</dt><dd class="mono">${r.sha256 !== null ? esc(r.sha256) : '<span class="muted">any</span>'}</dd>
<dt>rule</dt><dd>${r.rule !== null ? ruleLink(r.rule) : '<span class="muted">every rule that fires</span>'}</dd>
<dt>justification</dt><dd class="prose">${esc(r.justification)}</dd>
${d ? `<dt>refusal</dt><dd>${verdictBadge(d.verdict)} <a class="mono" href="/console/audit/${esc(d.id)}">${esc(fileLabel(d))}</a> at ${when(d.time)}: ${d.rules.map((x) => `<code>${esc(x.rule)}</code>`).join(', ')}</dd>` : ''}
${v.waiver ? `<dt>waiver</dt><dd><code>${esc(v.waiver.id)}</code> until ${when(v.waiver.expiresAt)}${v.waiver.revokedAt ? `, revoked ${when(v.waiver.revokedAt)}` : ''}</dd>` : ''}
</dl>`;
  const f = v.form;
  const field = (name: keyof RequestView['form'], label: string, extra = '') => `<label for="a-${name}">${label}<input id="a-${name}" name="${name}" value="${esc(f[name])}"${extra}></label>`;
  const forms =
    v.state === 'pending'
      ? `<h2 id="h-answer">Answer</h2>
${v.error ? `<p class="error-box" role="alert">${esc(v.error)}</p>` : ''}
<div class="grid">
<form method="post" action="/console/waivers/requests/${esc(r.id)}/approve" class="stack" aria-labelledby="h-approve"><h3 id="h-approve">Approve</h3>${csrfField(v.csrf)}
<p class="muted">The waiver covers what these fields name; narrow it if the request asks for more than it needs (leave a field empty for any).</p>
${field('repo', 'repository (id or glob)', ' class="mono" maxlength="200"')}${field('sha256', 'sha256', ' class="mono" maxlength="64"')}${field('rule', 'rule (policy rule or finding rule)', ' maxlength="100"')}
${field('expires', 'valid through (UTC day)', ' type="date" required')}
<label for="a-note">note (optional)<textarea id="a-note" name="note" rows="2" maxlength="1000">${esc(f.note)}</textarea></label>
<button type="submit">Approve</button></form>
<form method="post" action="/console/waivers/requests/${esc(r.id)}/reject" class="stack" aria-labelledby="h-reject"><h3 id="h-reject">Reject</h3>${csrfField(v.csrf)}
<label for="r-note">why (shown to the requester)<textarea id="r-note" name="note" rows="3" maxlength="1000"></textarea></label>
<button type="submit" class="danger">Reject</button></form>
</div>`
      : v.state === 'approved' && v.waiver
        ? `<h2>Waiver in force</h2><div class="actions">${revokeForm(v.waiver, v.csrf)} <span class="muted">Revoked, the next download is judged without it.</span></div>`
        : '';
  return page({ title: `Waiver request ${r.id}`, nav: 'waivers', ...fr }, `<p><a href="/console/waivers">« Waivers</a></p><h1>Waiver request <code>${esc(r.id)}</code></h1>${facts}${forms}`);
}
