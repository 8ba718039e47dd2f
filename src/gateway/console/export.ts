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

/** Records read from the store per query while an export streams; the first page is small, so the first bytes leave at once. */
const EXPORT_PAGE = 1000;
const FIRST_PAGE = 100;

/**
 * Every record matching `q`, newest first, up to EXPORT_CAP, in pages read by keyset as the
 * answer is sent: an export never holds more than one page in memory, and its first bytes go
 * out after one query. `truncated` is known before the first byte (the cap is a header).
 */
export async function exportRecords(store: Store, q: AuditQuery, cap = EXPORT_CAP): Promise<{ truncated: boolean; records: AsyncGenerator<AuditRecord[]> }> {
  const truncated = await store.auditExceeds(q, cap);
  async function* pages(): AsyncGenerator<AuditRecord[]> {
    let before = q.before;
    let left = cap;
    let size = FIRST_PAGE;
    while (left > 0) {
      const asked = Math.min(size, left);
      const page = await store.queryAudit({ ...q, limit: asked, ...(before !== undefined ? { before } : {}) });
      if (page.length === 0) return;
      yield page;
      left -= page.length;
      if (page.length < asked) return;
      before = page[page.length - 1]!.id;
      size = EXPORT_PAGE;
      // SQLite answers synchronously: without a turn of the event loop here the stream reads
      // page after page before the socket sends any (measured: 0.5 to 1 s to the first byte),
      // and downloads wait as long.
      await new Promise<void>((r) => setImmediate(r));
    }
  }
  return { truncated, records: pages() };
}
