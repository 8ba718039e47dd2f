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
function auditWhere(db: Kysely<Database>, dialect: SqlDialect, q: AuditQuery, idsOnly = false) {
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
  // SQLite, a verdict and an open window (since, no until): the newest records of that verdict
  // are in the window, so walking (verdict, id) from the newest stops after a page. Unary plus
  // keeps the planner off (verdict, time), which would read the whole window and sort it.
  const sinceCol = dialect === 'sqlite' && q.verdict !== undefined && q.until === undefined ? sql<string>`+time` : sql.ref<string>('time');
  if (q.since !== undefined) query = query.where(sinceCol, '>=', normTime(q.since, 'query.since'));
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
  const { query, id } = auditWhere(db, dialect, q);
  let rows;
  // SQLite: only where the window's own index is the one to read (a verdict, or no other
  // filter); a client's or a repository's records are better walked by their (x, id) index.
  const windowFirst = dialect === 'postgres' || q.verdict !== undefined || (q.repo === undefined && q.client === undefined && q.sha256 === undefined && q.rule === undefined);
  if (q.until !== undefined && windowFirst) {
    // A window that ends in the past: PostgreSQL expects its records spread evenly along the
    // primary key and walks it from the newest, past every newer record (500,000 of them for a
    // day in the middle of 1,000,000). Behind an OFFSET 0 fence the window is read by its own
    // index, its ids sorted, and only the page's records fetched. SQLite reads the window from
    // (verdict, time) (migration 0009) or (time): its ids alone are sorted, from the index,
    // rather than every record of the window.
    // (SQLite needs no fence, and takes no OFFSET without a LIMIT.)
    const window = (dialect === 'postgres' ? query.select(id.as('id')).offset(0) : query.select(id.as('id'))).as('w');
    const ids = db.selectFrom(window).select('w.id').orderBy('w.id', dir).limit(limit);
    rows = await db.selectFrom('audit').selectAll().where('id', 'in', ids).orderBy('id', dir).execute();
  } else {
    rows = await query.selectAll('audit').orderBy(id, dir).limit(limit).execute();
  }
  if (upward) rows.reverse();
  return rows.map(rowToAudit);
}

/**
 * Whether more than `n` records match `q` (its limit ignored), so an export can say up front
 * that its cap will cut it and still stream. PostgreSQL: one look at the (n+1)-th newest id (an
 * index-only walk of the primary key). SQLite keeps its records in the primary key's tree, so
 * walking n ids there reads n whole records (about 0.1 to 1 s for 100,000): it counts n+1
 * matches in no particular order instead, which lets it read the narrowest index that answers.
 */
export async function auditExceeds(db: Kysely<Database>, dialect: SqlDialect, q: AuditQuery, n: number): Promise<boolean> {
  const { query, id } = auditWhere(db, dialect, q, true);
  const skip = Math.max(0, Math.floor(n));
  if (dialect === 'sqlite') {
    const matches = query.select(sql<number>`1`.as('one')).limit(skip + 1).as('m');
    const r = await db.selectFrom(matches).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst();
    return Number(r?.n ?? 0) > skip;
  }
  const r = await query.select(id.as('id')).orderBy(id, 'desc').limit(1).offset(skip).executeTakeFirst();
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
