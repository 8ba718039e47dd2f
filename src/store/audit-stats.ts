/**
 * Aggregates over the audit log for the console's overview, written once over Kysely so SQLite
 * and PostgreSQL answer the same way. Days are the first ten characters of the stored time,
 * which is always `toISOString()` text (UTC), so grouping needs no dialect date functions.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from './db.js';
import type { AuditDay, AuditTop, AuditVerdict } from './types.js';

/**
 * The overview counts what the gateway decided for clients' downloads: GET requests (a file, or
 * a repository's info refused by repository rules). Admin actions (POST, DELETE), exposure
 * announcements (EXPOSURE) and HEADs (metadata a client checks before or instead of a GET; a
 * refused file is refused on its GET) are audit records too, but no download decision.
 */
export const DECISION_METHOD = 'GET';

/** Finding kinds are counted over at most this many of the newest warned/blocked records. */
export const FINDING_SAMPLE = 5000;

const VERDICTS: readonly AuditVerdict[] = ['allow', 'warn', 'block', 'error'];

/** Days counted one query each; a longer window is counted by one grouping query. */
const MAX_DAY_QUERIES = 400;
const DAY_MS = 86_400_000;

/** Download decisions per UTC day for records with since <= time < until (until optional). */
export async function auditDays(db: Kysely<Database>, since: string, until?: string, now = Date.now()): Promise<AuditDay[]> {
  const days = new Map<string, Record<AuditVerdict, number>>();
  const add = (day: string, verdict: string, n: number | string) => {
    if (!(VERDICTS as readonly string[]).includes(verdict)) return;
    const row = days.get(day) ?? { allow: 0, warn: 0, block: 0, error: 0 };
    row[verdict as AuditVerdict] += Number(n);
    days.set(day, row);
  };
  // Every verdict named, so the index on (method, verdict, time) is read one range per verdict.
  const base = db.selectFrom('audit').where('method', '=', DECISION_METHOD).where('verdict', 'in', VERDICTS);
  // Grouping by a day computed from the text costs a sort of every record; a count per day
  // and verdict over its own time range is read from the index alone. Up to the end of the
  // window, or of today when it is open (a later time, from a skewed clock, is grouped after).
  const end = until ?? new Date(Math.floor(now / DAY_MS) * DAY_MS + DAY_MS).toISOString();
  let from = since;
  let next = new Date(Math.floor(Date.parse(since) / DAY_MS) * DAY_MS + DAY_MS).toISOString();
  if ((Date.parse(end) - Date.parse(since)) / DAY_MS <= MAX_DAY_QUERIES) {
    while (from < end) {
      const to = next < end ? next : end;
      const rows = await base.select(['verdict', (eb) => eb.fn.countAll<number | string>().as('n')]).where('time', '>=', from).where('time', '<', to).groupBy('verdict').execute();
      for (const r of rows) add(from.slice(0, 10), r.verdict, r.n);
      from = to;
      next = new Date(Date.parse(next) + DAY_MS).toISOString();
    }
    if (until !== undefined) return sorted(days);
  }
  const day = sql<string>`substr(time, 1, 10)`;
  let q = base.select([day.as('day'), 'verdict', (eb) => eb.fn.countAll<number | string>().as('n')]).where('time', '>=', from);
  if (until !== undefined) q = q.where('time', '<', until);
  for (const r of await q.groupBy([day, 'verdict']).execute()) add(r.day, r.verdict, r.n);
  return sorted(days);
}

function sorted(days: Map<string, Record<AuditVerdict, number>>): AuditDay[] {
  return [...days.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([d, c]) => ({ day: d, ...c }));
}

export async function auditTop(db: Kysely<Database>, since: string, top: number): Promise<AuditTop> {
  const repoRows = await db
    .selectFrom('audit')
    .select(['repo', (eb) => eb.fn.countAll<number | string>().as('n')])
    .where('method', '=', DECISION_METHOD)
    .where('time', '>=', since)
    .where('verdict', '=', 'block')
    .groupBy('repo')
    .orderBy(sql`count(*)`, 'desc')
    .orderBy('repo')
    .limit(top)
    .execute();

  // Findings live in a JSON column whose functions differ between the dialects: count in JS
  // over a bounded sample of the newest refusals and warnings instead.
  // The sample's ids come from the index alone; only those records are read.
  const sampleIds = db
    .selectFrom('audit')
    .select('id')
    .where('method', '=', DECISION_METHOD)
    .where('time', '>=', since)
    .where('verdict', 'in', ['block', 'warn'])
    .orderBy('id', 'desc')
    .limit(FINDING_SAMPLE);
  const findingRows = await db.selectFrom('audit').select(['findings']).where('id', 'in', sampleIds).orderBy('id', 'desc').execute();
  const kinds = new Map<string, number>();
  for (const r of findingRows) {
    let list: unknown;
    try {
      list = JSON.parse(r.findings);
    } catch {
      list = [{ rule: 'unreadable-audit-findings' }];
    }
    if (!Array.isArray(list)) continue;
    // A record counts once per kind, however many findings of that kind it carries.
    const seen = new Set<string>();
    for (const f of list) {
      const rule = typeof f === 'object' && f !== null && typeof (f as { rule?: unknown }).rule === 'string' ? (f as { rule: string }).rule : null;
      if (rule !== null) seen.add(rule);
    }
    for (const k of seen) kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }

  return {
    topBlockedRepos: repoRows.map((r) => ({ repo: r.repo, count: Number(r.n) })),
    topFindingKinds: [...kinds.entries()]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, top)
      .map(([rule, count]) => ({ rule, count })),
    findingSample: findingRows.length,
  };
}
