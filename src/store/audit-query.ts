/**
 * Reading the audit log by filters, newest first, paged by a keyset cursor on the id. Written
 * once over Kysely for SQLite and PostgreSQL; kept apart from sql.ts because the console's
 * scale (bench/console-scale.ts: 1,000,000 records) shapes every query here.
 */
import { sql, type Kysely, type SelectQueryBuilder } from 'kysely';
import type { Database, SqlDialect } from './db.js';
import { StoreError } from './errors.js';
import { normTime, oneOf, rowToAudit, toNumber, VERDICTS } from './rows.js';
import type { AuditQuery, AuditRecord } from './types.js';

/**
 * The records `q` selects, and the id column to order and page them by. A rule filter starts
 * from audit_rules (index (rule, audit_id), walked newest first), so a rare rule costs a few
 * index rows instead of a LIKE over every record's JSON. `idsOnly`: the caller reads ids alone,
 * so a rule with no other filter needs no record at all.
 */
function auditWhere(db: Kysely<Database>, q: AuditQuery, idsOnly = false) {
  const byRule = q.rule !== undefined;
  const onRecords = q.repo !== undefined || q.verdict !== undefined || q.client !== undefined || q.sha256 !== undefined || q.since !== undefined || q.until !== undefined;
  const rules = () => db.selectFrom('audit_rules').where('audit_rules.rule', '=', q.rule!);
  // One builder type for every shape: the join only adds audit_rules, whose columns are named
  // nowhere below but in `id`.
  let query = (!byRule ? db.selectFrom('audit') : idsOnly && !onRecords ? rules() : rules().innerJoin('audit', 'audit.id', 'audit_rules.audit_id')) as SelectQueryBuilder<Database, 'audit' | 'audit_rules', object>;
  const id = byRule ? sql.ref<number>('audit_rules.audit_id') : sql.ref<number>('audit.id');
  if (q.repo !== undefined) query = query.where('repo', '=', q.repo);
  if (q.verdict !== undefined) query = query.where('verdict', '=', oneOf(VERDICTS, q.verdict, 'query.verdict', 'invalid'));
  if (q.client !== undefined) query = query.where('client', '=', q.client);
  if (q.sha256 !== undefined) query = query.where('sha256', '=', q.sha256);
  if (q.since !== undefined) query = query.where('time', '>=', normTime(q.since, 'query.since'));
  if (q.until !== undefined) query = query.where('time', '<', normTime(q.until, 'query.until'));
  if (q.before !== undefined) {
    if (!Number.isSafeInteger(q.before)) throw new StoreError('invalid', `query.before: not an integer id: ${q.before}`);
    query = query.where(id, '<', q.before);
  }
  if (q.after !== undefined) {
    if (!Number.isSafeInteger(q.after)) throw new StoreError('invalid', `query.after: not an integer id: ${q.after}`);
    query = query.where(id, '>', q.after);
  }
  return { query, id };
}

/** `after` without `before` means the page just newer than a cursor: read upward, returned newest first. */
export async function queryAudit(db: Kysely<Database>, dialect: SqlDialect, q: AuditQuery, limit: number): Promise<AuditRecord[]> {
  const upward = q.after !== undefined && q.before === undefined;
  const dir = upward ? 'asc' : 'desc';
  const { query, id } = auditWhere(db, q);
  let rows;
  if (dialect === 'postgres' && q.until !== undefined) {
    // A window that ends in the past: PostgreSQL expects its records spread evenly along the
    // primary key and walks it from the newest, past every newer record (500,000 of them for a
    // day in the middle of 1,000,000). Behind an OFFSET 0 fence the window is read by its own
    // index, its ids sorted, and only the page's records fetched.
    const window = query.select(id.as('id')).offset(0).as('w');
    const ids = db.selectFrom(window).select('w.id').orderBy('w.id', dir).limit(limit);
    rows = await db.selectFrom('audit').selectAll().where('id', 'in', ids).orderBy('id', dir).execute();
  } else {
    rows = await query.selectAll('audit').orderBy(id, dir).limit(limit).execute();
  }
  if (upward) rows.reverse();
  return rows.map(rowToAudit);
}

/**
 * Whether more than `n` records match `q` (its limit ignored): one look at the (n+1)-th newest
 * id, so an export can say up front that its cap will cut it and still stream.
 */
export async function auditExceeds(db: Kysely<Database>, q: AuditQuery, n: number): Promise<boolean> {
  const { query, id } = auditWhere(db, q, true);
  const r = await query.select(id.as('id')).orderBy(id, 'desc').limit(1).offset(Math.max(0, Math.floor(n))).executeTakeFirst();
  return r !== undefined;
}

/**
 * The lowest id of a record at or after `since`, or null: with it, a long walk through a time
 * window pages by id range alone (SQLite otherwise reads the window through the time index and
 * sorts all of it for every page). Read from the time index; on PostgreSQL behind an OFFSET 0
 * fence, which keeps the planner from turning min() into a walk up the primary key that passes
 * every older record first.
 */
export async function auditFirstId(db: Kysely<Database>, dialect: SqlDialect, since: string): Promise<number | null> {
  const t = normTime(since, 'firstId.since');
  const r =
    dialect === 'postgres'
      ? (await sql<{ id: number | string | null }>`select min(id) as id from (select id from audit where time >= ${t} offset 0) s`.execute(db)).rows[0]
      : await db
          .selectFrom('audit')
          .select((eb) => eb.fn.min('id').as('id'))
          .where('time', '>=', t)
          .executeTakeFirst();
  return r?.id === null || r?.id === undefined ? null : toNumber(r.id, 'audit.id');
}
