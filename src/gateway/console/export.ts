/**
 * Audit exports: JSONL (one record per line, as the admin API writes them) and CSV for
 * spreadsheets. Spreadsheet programs run a cell starting with = + - @ (or tab/CR, which some
 * of them strip first) as a formula, and repository names, paths and messages are chosen by
 * outsiders: such a cell gets a leading apostrophe, and every cell is quoted.
 */
import type { AuditQuery, AuditRecord, Store } from '../../store/types.js';

/** An export stops here (the filters can narrow it); the response says so in a header. */
export const EXPORT_CAP = 100_000;

export function csvCell(v: string | number | null): string {
  let s = v === null ? '' : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return `"${s.replace(/"/g, '""')}"`;
}

export const CSV_COLUMNS = ['id', 'time', 'client', 'group', 'method', 'repoType', 'repo', 'revision', 'commit', 'path', 'sha256', 'verdict', 'rules', 'findings', 'waivers', 'upstreamStatus', 'scanId', 'policyVersion', 'message'] as const;

export function csvRow(r: AuditRecord): string {
  const cells: Array<string | number | null> = [
    r.id ?? null,
    r.time,
    r.client,
    r.group,
    r.method,
    r.repoType,
    r.repo,
    r.revision,
    r.commit,
    r.path,
    r.sha256,
    r.verdict,
    r.rules.map((x) => `${x.rule}:${x.action}`).join(' '),
    r.findings.map((f) => `${f.rule}:${f.severity}`).join(' '),
    r.waivers.join(' '),
    r.upstreamStatus,
    r.scanId,
    r.policyVersion,
    r.message,
  ];
  return cells.map(csvCell).join(',');
}

/** Every record matching `q`, newest first, in pages of 1000 up to EXPORT_CAP. */
export async function collect(store: Store, q: AuditQuery): Promise<{ records: AuditRecord[]; truncated: boolean }> {
  const records: AuditRecord[] = [];
  let before = q.before;
  for (;;) {
    const pageRecs = await store.queryAudit({ ...q, limit: 1000, ...(before !== undefined ? { before } : {}) });
    for (const r of pageRecs) {
      if (records.length >= EXPORT_CAP) return { records, truncated: true };
      records.push(r);
    }
    if (pageRecs.length < 1000) return { records, truncated: false };
    before = pageRecs[pageRecs.length - 1]!.id;
  }
}
