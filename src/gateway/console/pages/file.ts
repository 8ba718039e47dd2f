/**
 * One decision about one file: repo@commit/path, sha256, the verdict and the policy rules that
 * fired, the findings of its stored scan with their evidence (call chains, offsets, member
 * paths) and links to each rule's page, and every recorded download of the same bytes.
 */
import type { AuditRecord, StoredScan, WaiverRequest } from '../../../store/types.js';
import { esc, href, page, verdictBadge } from '../html.js';
import { auditTable } from './activity.js';

export interface FileView {
  who: string;
  csrf?: string;
  rec: AuditRecord | null;
  scan: StoredScan | null;
  downloads: AuditRecord[];
  /** Waiver requests filed from this decision's refusal link. */
  requests?: WaiverRequest[];
}

/** Rule ids with a page under docs/rules (the console serves them at /console/rules/ID). */
export const RULE_ID = /^[A-Z0-9][A-Z0-9_]{0,80}$/;

export function ruleLink(rule: string): string {
  return RULE_ID.test(rule) ? `<a href="/console/rules/${esc(rule)}"><code>${esc(rule)}</code></a>` : `<code>${esc(rule)}</code>`;
}

/** The libraries the client declared (User-Agent): what client-vulnerable judged. Header-derived, so escaped. */
function clientLibraries(rec: AuditRecord): string {
  const libs = Object.entries(rec.clientLibraries ?? {});
  if (libs.length === 0) return '';
  return `<dt>client libraries</dt><dd class="mono">${libs.map(([k, v]) => `${esc(k)} ${esc(v)}`).join(' · ')}</dd>\n`;
}

/** The findings of a decision: from its stored scan (with evidence), else the audit record's summary. */
export function findingsSection(scan: StoredScan | null, rec: AuditRecord, reportLink = true): string {
  if (scan) {
    const r = scan.report;
    if (!r.findings.length) return `<p>The scan (${esc(scan.engineKey)}) found nothing.</p>`;
    const rows = r.findings
      .map((f) => {
        const ev = f.evidence;
        // The first element is where the gateway scanned the bytes (a cache file): name the file instead.
        const where = esc([rec.path ?? rec.repo, ...f.location.path.slice(1)].join(' › '));
        const offset = f.location.offset !== undefined ? ` at byte ${esc(f.location.offset)}` : '';
        const details = [
          ev.chain ? `<code class="chain">${esc(ev.chain)}</code>` : '',
          ev.global ? `<div>global <code>${esc(ev.global)}</code>${ev.canonical && ev.canonical !== ev.global ? ` (<code>${esc(ev.canonical)}</code>)` : ''}${ev.use ? `, ${esc(ev.use)}` : ''}</div>` : '',
          ev.reason ? `<div class="muted">${esc(ev.reason)}</div>` : '',
          `<div class="muted">in ${where}${offset}</div>`,
        ].join('');
        return `<tr><td>${esc(f.severity)}</td><td>${ruleLink(f.rule)}</td><td>${esc(f.message)}${details}</td></tr>`;
      })
      .join('');
    return `<div class="scroll"><table><thead><tr><th scope="col">severity</th><th scope="col">rule</th><th scope="col">finding and evidence</th></tr></thead><tbody>${rows}</tbody></table></div>
<p class="muted">Scan ${esc(scan.id)} by ${esc(scan.engineKey)}, ${scan.report.complete ? 'complete' : 'incomplete: not everything could be read'}.${reportLink ? ` <a href="/reports/${esc(scan.id)}">Full report</a>` : ''}</p>`;
  }
  if (!rec.findings.length) return '<p class="muted">No scan is attached to this decision.</p>';
  // The scan may have been superseded; the audit record keeps a capped summary of its findings.
  return `<table><thead><tr><th scope="col">severity</th><th scope="col">rule</th><th scope="col">finding</th></tr></thead><tbody>${rec.findings
    .map((f) => `<tr><td>${esc(f.severity)}</td><td>${ruleLink(f.rule)}</td><td>${esc(f.message)}</td></tr>`)
    .join('')}</tbody></table><p class="muted">From the audit record (the stored scan is not available).</p>`;
}

function waiverSection(rec: AuditRecord, requests: readonly WaiverRequest[]): string {
  const asked = requests.length
    ? `<ul>${requests.map((r) => `<li><a href="/console/waivers/requests/${esc(r.id)}">request <code>${esc(r.id)}</code></a> by ${esc(r.requester)}: ${esc(r.status)}</li>`).join('')}</ul>`
    : rec.verdict === 'block'
      ? '<p class="muted">No waiver was asked for from this refusal.</p>'
      : '';
  const how = rec.verdict === 'block' ? '<p>The refusal sent the user a link to a page of this decision, where they can ask for a waiver; requests wait on the <a href="/console/waivers">Waivers</a> page.</p>' : '';
  return `${how}${asked}<p class="muted">Administrators can also add a waiver directly for a sha256, a repository or one rule, with a reason and an expiry: <code>POST /admin/waivers</code> (see docs/gateway.md).</p>`;
}

export function filePage(v: FileView): string {
  const fr = { who: v.who, ...(v.csrf ? { csrf: v.csrf } : {}) };
  const rec = v.rec;
  if (!rec) return page({ title: 'Not found', nav: 'file', ...fr }, '<h1>No such record</h1><p><a href="/console/activity">Back to the activity</a></p>');
  const name = `${rec.repo}@${rec.commit ?? rec.revision}${rec.path ? `/${rec.path}` : ''}`;
  const rules = rec.rules.length
    ? `<ul>${rec.rules.map((r) => `<li>${verdictBadge(r.action)} <code>${esc(r.rule)}</code>: ${esc(r.reason)}</li>`).join('')}</ul>`
    : '<p class="muted">No policy rule fired.</p>';
  const facts = `<dl class="facts">
<dt>file</dt><dd class="mono">${esc(name)}</dd>
<dt>repository</dt><dd><a class="mono" href="${href('/console/activity', { repo: rec.repo })}">${esc(rec.repo)}</a> (${esc(rec.repoType)}, asked for revision <code>${esc(rec.revision)}</code>)</dd>
<dt>sha256</dt><dd>${rec.sha256 ? `<a class="mono" href="${href('/console/activity', { sha256: rec.sha256 })}">${esc(rec.sha256)}</a>` : '<span class="muted">unknown</span>'}</dd>
<dt>verdict</dt><dd>${verdictBadge(rec.verdict)}${rec.message ? ` ${esc(rec.message)}` : ''}</dd>
<dt>when, who</dt><dd>${esc(rec.time)} · ${esc(rec.client)} (${esc(rec.group)}) · request <code>${esc(rec.requestId)}</code></dd>
${clientLibraries(rec)}<dt>policy</dt><dd>version <code>${esc(rec.policyVersion)}</code>${rec.waivers.length ? ` · waivers ${rec.waivers.map((w) => `<code>${esc(w)}</code>`).join(', ')}` : ''}</dd>
</dl>`;
  const body = `<h1>File decision</h1>${facts}
<h2>Policy rules that fired</h2>${rules}
<h2>Findings</h2>${findingsSection(v.scan, rec)}
<h2>Downloads of these bytes</h2>${rec.sha256 ? auditTable(v.downloads, `the newest ${v.downloads.length} records with this sha256`) : '<p class="muted">The sha256 is unknown, so other downloads cannot be matched.</p>'}
<h2>Waivers</h2>${waiverSection(rec, v.requests ?? [])}`;
  return page({ title: name, nav: 'file', ...fr }, body);
}
