/**
 * /reports/<id>: one scan, as JSON (Accept: application/json or ?format=json) or a plain HTML
 * page. Everything in a report comes from an attacker-controlled file: escape all of it.
 *
 * A scan belongs to bytes, not to a repository: every file with the same sha256 shares it, so
 * the page names the file by its sha256, never by the path it had in whichever (possibly
 * private) repository it was first downloaded from. Member names inside it are part of the bytes
 * and stay. With requireClientToken, reports need a client token like downloads.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FileReport } from '../../scan/report.js';
import type { StoredScan } from '../../store/types.js';
import { identify } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { refuse } from '../http.js';

/** The scan as shown to anyone holding its id: the top-level name replaced by the content hash. */
export function shareableScan(scan: StoredScan): StoredScan {
  const name = `sha256:${scan.sha256}`;
  const r = scan.report;
  const report: FileReport = {
    ...r,
    path: name,
    findings: r.findings.map((f) => ({ ...f, location: { ...f.location, path: [name, ...f.location.path.slice(1)] } })),
    imports: r.imports.map((i) => ({ ...i, path: [name, ...i.path.slice(1)] })),
  };
  return { ...scan, report };
}

/** The report page styles itself inline; nothing else loads, nothing runs, it cannot be framed. */
export const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const SEV_COLOUR: Record<string, string> = { critical: '#8b0000', high: '#c0392b', medium: '#b9770e', low: '#2471a3', info: '#616a6b' };

export function renderReportHtml(scan: StoredScan): string {
  const r = scan.report;
  const rows = r.findings
    .map((f) => {
      const where = esc(f.location.path.join(' › ')) + (f.location.offset !== undefined ? ` @ ${f.location.offset}` : '');
      const chain = f.evidence.chain ? `<div class="chain"><code>${esc(f.evidence.chain)}</code></div>` : '';
      const why = f.evidence.reason ? `<div class="why">${esc(f.evidence.reason)}</div>` : '';
      return `<tr><td><span class="sev" style="background:${SEV_COLOUR[f.severity] ?? '#555'}">${esc(f.severity)}</span></td><td><code>${esc(f.rule)}</code></td><td>${esc(f.message)}${chain}${why}<div class="where">${where}</div></td></tr>`;
    })
    .join('\n');
  const verdict = r.maxSeverity ?? 'no findings';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>modelgate report ${esc(scan.id)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.5rem;vertical-align:top;text-align:left}
.sev{color:#fff;border-radius:3px;padding:.1rem .4rem;font-size:.8rem;text-transform:uppercase}
.chain code{background:#f4f4f4;display:inline-block;padding:.2rem .4rem;margin-top:.3rem;word-break:break-all}
.where,.why{color:#666;font-size:.85rem;margin-top:.2rem}dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{color:#666}
</style></head><body>
<h1>modelgate scan report</h1>
<dl><dt>file</dt><dd><code>${esc(r.path)}</code></dd><dt>sha256</dt><dd><code>${esc(scan.sha256)}</code></dd>
<dt>formats</dt><dd>${esc(r.formats.join(', '))}</dd><dt>worst finding</dt><dd>${esc(verdict)}</dd>
<dt>complete</dt><dd>${r.complete ? 'yes' : 'no — not everything could be scanned'}</dd>
<dt>scanned</dt><dd>${esc(scan.createdAt)} by ${esc(scan.engineKey)}</dd></dl>
<h2>Findings (${r.findings.length})</h2>
${r.findings.length ? `<table><thead><tr><th>severity</th><th>rule</th><th>finding</th></tr></thead><tbody>${rows}</tbody></table>` : '<p>No findings.</p>'}
<p><a href="?format=json">JSON</a></p>
</body></html>`;
}

export async function handleReport(ctx: GatewayContext, req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply): Promise<FastifyReply> {
  const { id } = req.params;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) return refuse(reply, 400, 'invalid report id');
  if (ctx.config.requireClientToken) {
    const who = await identify(req, ctx.store, ctx.config, ctx.throttle);
    if (!who.ok) return refuse(reply, who.status, who.message, who.status === 429 ? { retryAfter: who.retryAfter } : {});
  }
  const stored = await ctx.store.getScanById(id);
  if (!stored) return refuse(reply, 404, `no report ${id}`);
  const scan = shareableScan(stored);
  const q = req.query as { format?: string };
  const wantsJson = q.format === 'json' || (req.headers.accept ?? '').includes('application/json');
  // Attacker-chosen text in either form: never sniffed as another type, framed, or cached by proxies.
  reply.header('x-content-type-options', 'nosniff').header('x-frame-options', 'DENY').header('referrer-policy', 'no-referrer').header('cache-control', 'private, no-store');
  if (wantsJson) return reply.type('application/json; charset=utf-8').send(JSON.stringify({ id: scan.id, sha256: scan.sha256, engine: scan.engineKey, createdAt: scan.createdAt, report: scan.report }));
  return reply.type('text/html; charset=utf-8').header('content-security-policy', REPORT_CSP).send(renderReportHtml(scan));
}
