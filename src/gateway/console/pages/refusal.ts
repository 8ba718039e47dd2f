/**
 * The page a refusal links to, for the user it refused: that decision (file, sha256, the rules
 * that fired, the findings and their evidence) and how to ask for a waiver, with the form and
 * the answers to what they asked. Nothing else: no navigation, no other decisions, no other
 * users' downloads.
 */
import type { AuditRecord, StoredScan, WaiverRequest } from '../../../store/types.js';
import { esc, page, verdictBadge, when } from '../html.js';
import { findingsSection } from './file.js';
import { stateBadge, type RequestState } from './waivers.js';

export interface RefusalView {
  rec: AuditRecord;
  scan: StoredScan | null;
  requests: Array<{ request: WaiverRequest; state: RequestState; expiresAt: string | null }>;
  /** Form token (double-submit cookie). */
  csrf: string;
  action: string;
  /** Values typed before an error, or after a request was sent. */
  form: { scope: string; rule: string; justification: string };
  error?: string;
  sent?: boolean;
  /** Requests a link may file while earlier ones wait. */
  canAsk: boolean;
}

/** The rules a waiver request from this refusal may name: the policy rules and finding kinds behind it. */
export function askableRules(rec: AuditRecord): string[] {
  return [...new Set([...rec.rules.map((r) => r.rule), ...rec.findings.map((f) => f.rule)])];
}

export function invalidLinkPage(): string {
  return page(
    { title: 'Link not valid', nav: 'refusal' },
    '<h1>This refusal link is not valid</h1><p>It may be mistyped, or older than 30 days. Download the file again to get a new link with the refusal, or ask your modelgate administrators.</p>',
  );
}

function requestsList(v: RefusalView): string {
  if (!v.requests.length) return '';
  const rows = v.requests
    .map(({ request: r, state, expiresAt }) => {
      const what = [r.sha256 !== null ? 'this file' : 'any file of the repository', r.rule !== null ? `rule ${r.rule}` : 'every rule'].join(', ');
      const answer =
        state === 'pending'
          ? 'waiting for an administrator'
          : state === 'approved'
            ? `approved until ${when(expiresAt)}: download again`
            : state === 'rejected'
              ? `rejected${r.note ? `: ${esc(r.note)}` : ''}`
              : state === 'revoked'
                ? 'approved, then revoked'
                : 'approved, then expired';
      return `<tr><td class="mono time">${when(r.createdAt)}</td><td>${stateBadge(state)}</td><td data-label="for">${esc(what)}</td><td data-label="answer">${answer}</td></tr>`;
    })
    .join('');
  return `<h3 id="requests">Your requests for this refusal</h3><div class="scroll"><table class="records"><thead><tr><th scope="col">asked (UTC)</th><th scope="col">state</th><th scope="col">for</th><th scope="col">answer</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

export function refusalPage(v: RefusalView): string {
  const rec = v.rec;
  const name = `${rec.repo}@${rec.commit ?? rec.revision}${rec.path ? `/${rec.path}` : ''}`;
  const rules = rec.rules.length
    ? `<ul>${rec.rules.map((r) => `<li>${verdictBadge(r.action)} <code>${esc(r.rule)}</code>: ${esc(r.reason)}</li>`).join('')}</ul>`
    : '<p class="muted">No policy rule is recorded.</p>';
  const facts = `<dl class="facts">
<dt>file</dt><dd class="mono">${esc(name)}</dd>
<dt>sha256</dt><dd class="mono">${rec.sha256 ? esc(rec.sha256) : '<span class="muted">unknown (refused before download)</span>'}</dd>
<dt>decision</dt><dd>${verdictBadge(rec.verdict)} at ${when(rec.time)}, for ${esc(rec.client)}, policy version <code>${esc(rec.policyVersion)}</code></dd>
</dl>`;
  const rulesAsk = askableRules(rec);
  const opt = (value: string, label: string, selected: boolean) => `<option value="${esc(value)}"${selected ? ' selected' : ''}>${esc(label)}</option>`;
  const scope = v.form.scope || (rec.sha256 ? 'file' : 'repo');
  const form = v.canAsk
    ? `<form method="post" action="${esc(v.action)}" class="stack" aria-labelledby="h-ask">
<input type="hidden" name="csrf" value="${esc(v.csrf)}">
<fieldset><legend>What should the waiver cover?</legend>
${rec.sha256 ? `<label class="choice" for="s-file"><input type="radio" id="s-file" name="scope" value="file"${scope === 'file' ? ' checked' : ''}> this file only (these exact bytes, sha256 ${esc(rec.sha256.slice(0, 12))}…)</label>` : ''}
<label class="choice" for="s-repo"><input type="radio" id="s-repo" name="scope" value="repo"${scope === 'repo' ? ' checked' : ''}> any file of <span class="mono">${esc(rec.repo)}</span></label>
</fieldset>
<label for="q-rule">for which finding<select id="q-rule" name="rule">${opt('', 'every rule that refused it', v.form.rule === '')}${rulesAsk.map((r) => opt(r, r, v.form.rule === r)).join('')}</select></label>
<label for="q-why">why it is safe, or why you need it (an administrator reads this)<textarea id="q-why" name="justification" rows="4" minlength="3" maxlength="1000" required>${esc(v.form.justification)}</textarea></label>
<button type="submit">Ask for a waiver</button>
</form>`
    : '<p class="muted">Your earlier requests for this refusal are waiting for an answer.</p>';
  const body = `<h1>Download refused</h1>
<p>modelgate refused this download because the organisation's policy does not allow it. This page shows that one decision; only the person who received the link can open it.</p>
${facts}
<h2>Why</h2>${rules}
<h2>What the scan found</h2>${findingsSection(v.scan, rec, false)}
<h2 id="h-ask">How to ask for a waiver</h2>
<p>If you believe the file is safe (a false positive), or you need it despite the finding, ask for a waiver. An administrator approves it for a limited time, or rejects it with a reason; both answers appear on this page. Once approved, download the file again.</p>
${v.sent ? '<p class="notice" role="status">Your request was sent to the administrators.</p>' : ''}
${v.error ? `<p class="error-box" role="alert">${esc(v.error)}</p>` : ''}
${form}
${requestsList(v)}`;
  return page({ title: 'Download refused', nav: 'refusal' }, body);
}
