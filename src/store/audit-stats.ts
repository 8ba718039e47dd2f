/**
 * Aggregates over the audit log for the console's overview, written once over Kysely so SQLite
 * and PostgreSQL answer the same way. Days are the first ten characters of the stored time,
 * which is always `toISOString()` text (UTC), so grouping needs no dialect date functions.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from './db.js';
import type { AuditDay, AuditTop, AuditVerdict } from './types.js';

/** Finding kinds are counted over at most this many of the newest warned/blocked records. */
export const FINDING_SAMPLE = 5000;

const VERDICTS: readonly AuditVerdict[] = ['allow', 'warn', 'block', 'error'];

/**
 * A LIKE pattern matching a policy rule name inside the stored `rules` JSON array. The name is
 * spelled exactly as JSON.stringify wrote it, and LIKE's own wildcards are escaped so a name
 * with `%` or `_` matches only itself.
 */
export function ruleLikePattern(rule: string): string {
  const needle = `"rule":${JSON.stringify(rule)}`;
  return `%${needle.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Decisions per UTC day for records with since <= time < until (until optional). */
export async function auditDays(db: Kysely<Database>, since: string, until?: string): Promise<AuditDay[]> {
  const day = sql<string>`substr(time, 1, 10)`;
  let q = db
    .selectFrom('audit')
    .select([day.as('day'), 'verdict', (eb) => eb.fn.countAll<number | string>().as('n')])
    .where('time', '>=', since);
  if (until !== undefined) q = q.where('time', '<', until);
  const dayRows = await q.groupBy([day, 'verdict']).execute();
  const days = new Map<string, Record<AuditVerdict, number>>();
  for (const r of dayRows) {
    if (!(VERDICTS as readonly string[]).includes(r.verdict)) continue;
    const row = days.get(r.day) ?? { allow: 0, warn: 0, block: 0, error: 0 };
    row[r.verdict as AuditVerdict] += Number(r.n);
    days.set(r.day, row);
  }
  return [...days.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([d, c]) => ({ day: d, ...c }));
}

export async function auditTop(db: Kysely<Database>, since: string, top: number): Promise<AuditTop> {
  const repoRows = await db
    .selectFrom('audit')
    .select(['repo', (eb) => eb.fn.countAll<number | string>().as('n')])
    .where('time', '>=', since)
    .where('verdict', '=', 'block')
    .groupBy('repo')
    .orderBy(sql`count(*)`, 'desc')
    .orderBy('repo')
    .limit(top)
    .execute();

  // Findings live in a JSON column whose functions differ between the dialects: count in JS
  // over a bounded sample of the newest refusals and warnings instead.
  const findingRows = await db
    .selectFrom('audit')
    .select(['findings'])
    .where('time', '>=', since)
    .where('verdict', 'in', ['block', 'warn'])
    .orderBy('id', 'desc')
    .limit(FINDING_SAMPLE)
    .execute();
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
