/**
 * The waiver workflow's persistence: requests from users, approvals (which create the waiver
 * the policy then applies), rejections and revocations. Every change is written in the same
 * transaction as its audit record, so an operator can never see one without the other.
 */
import { sql, type Insertable, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { Database, SqlDialect, WaiverRequestsTable } from './db.js';
import { StoreError } from './errors.js';
import { auditRow, checkScope, normTime, oneOf, rowToAudit, toNumber, waiverRow } from './rows.js';
import type { AuditRecord, Waiver, WaiverRequest, WaiverRequestQuery, WaiverRequestStatus } from './types.js';

const STATUSES: readonly WaiverRequestStatus[] = ['pending', 'approved', 'rejected'];
const VIA: readonly WaiverRequest['via'][] = ['link', 'token'];
const REPO_TYPES: readonly WaiverRequest['repoType'][] = ['model', 'dataset'];
const HASH_RE = /^[0-9a-f]{64}$/;

export type Decision = { by: string; at: string; note: string | null };

/**
 * Runs `change` and, when it applied (returned true), appends `audit` in the same transaction.
 * On PostgreSQL the commit is forced synchronous, as for every audit record (see appendAudit).
 */
export async function audited(db: Kysely<Database>, dialect: SqlDialect, audit: AuditRecord, change: (trx: Transaction<Database>) => Promise<boolean>): Promise<number | null> {
  const row = auditRow(audit);
  return db.transaction().execute(async (trx) => {
    if (dialect === 'postgres') await sql`set local synchronous_commit to on`.execute(trx);
    if (!(await change(trx))) return null;
    const r = await trx.insertInto('audit').values(row).returning('id').executeTakeFirstOrThrow();
    return toNumber(r.id, 'audit.id');
  });
}

function requestRow(r: WaiverRequest): Insertable<WaiverRequestsTable> {
  checkScope(`waiver request ${r.id}`, r);
  if (r.justification.trim() === '') throw new StoreError('invalid', `waiver request ${r.id}: a justification is required`);
  return {
    id: r.id,
    created_at: normTime(r.createdAt, 'waiverRequest.createdAt'),
    requester: r.requester,
    requester_group: r.requesterGroup,
    via: oneOf(VIA, r.via, 'waiverRequest.via', 'invalid'),
    audit_id: r.auditId,
    repo_type: oneOf(REPO_TYPES, r.repoType, 'waiverRequest.repoType', 'invalid'),
    repo: r.repo,
    sha256: r.sha256,
    rule: r.rule,
    justification: r.justification,
    status: oneOf(STATUSES, r.status, 'waiverRequest.status', 'invalid'),
    decided_by: r.decidedBy,
    decided_at: r.decidedAt === null ? null : normTime(r.decidedAt, 'waiverRequest.decidedAt'),
    note: r.note,
    waiver_id: r.waiverId,
  };
}

export function rowToWaiverRequest(r: Selectable<WaiverRequestsTable>): WaiverRequest {
  return {
    id: r.id,
    createdAt: r.created_at,
    requester: r.requester,
    requesterGroup: r.requester_group,
    via: oneOf(VIA, r.via, `waiver request ${r.id} via`, 'corrupt'),
    auditId: r.audit_id === null ? null : toNumber(r.audit_id, `waiver request ${r.id} audit_id`),
    repoType: oneOf(REPO_TYPES, r.repo_type, `waiver request ${r.id} repo_type`, 'corrupt'),
    repo: r.repo,
    sha256: r.sha256,
    rule: r.rule,
    justification: r.justification,
    status: oneOf(STATUSES, r.status, `waiver request ${r.id} status`, 'corrupt'),
    decidedBy: r.decided_by,
    decidedAt: r.decided_at,
    note: r.note,
    waiverId: r.waiver_id,
  };
}

export function addWaiverRequest(db: Kysely<Database>, dialect: SqlDialect, r: WaiverRequest, audit: AuditRecord): Promise<number> {
  const row = requestRow(r);
  return audited(db, dialect, audit, async (trx) => {
    await trx.insertInto('waiver_requests').values(row).execute();
    return true;
  }) as Promise<number>;
}

/** Marks a pending request decided; false when it is not pending (decided already, or unknown). */
async function decide(trx: Transaction<Database>, id: string, status: WaiverRequestStatus, d: Decision, waiverId: string | null): Promise<boolean> {
  const r = await trx
    .updateTable('waiver_requests')
    .set({ status, decided_by: d.by, decided_at: normTime(d.at, 'decidedAt'), note: d.note, waiver_id: waiverId })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

/** The waiver is created only if the request was still pending: two admins cannot both approve. */
export function approveWaiverRequest(db: Kysely<Database>, dialect: SqlDialect, id: string, w: Waiver, d: Decision, audit: AuditRecord): Promise<number | null> {
  const row = waiverRow(w);
  return audited(db, dialect, audit, async (trx) => {
    if (!(await decide(trx, id, 'approved', d, w.id))) return false;
    await trx.insertInto('waivers').values(row).execute();
    return true;
  });
}

export function rejectWaiverRequest(db: Kysely<Database>, dialect: SqlDialect, id: string, d: Decision, audit: AuditRecord): Promise<number | null> {
  return audited(db, dialect, audit, (trx) => decide(trx, id, 'rejected', d, null));
}

export function addWaiverAudited(db: Kysely<Database>, dialect: SqlDialect, w: Waiver, audit: AuditRecord): Promise<number> {
  const row = waiverRow(w);
  return audited(db, dialect, audit, async (trx) => {
    await trx.insertInto('waivers').values(row).execute();
    return true;
  }) as Promise<number>;
}

export function revokeWaiverAudited(db: Kysely<Database>, dialect: SqlDialect, id: string, at: string, audit: AuditRecord): Promise<number | null> {
  const when = normTime(at, 'revokedAt');
  return audited(db, dialect, audit, async (trx) => {
    const r = await trx.updateTable('waivers').set({ revoked_at: when }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    return r.numUpdatedRows > 0n;
  });
}

export async function getWaiverRequest(db: Kysely<Database>, id: string): Promise<WaiverRequest | null> {
  const r = await db.selectFrom('waiver_requests').selectAll().where('id', '=', id).executeTakeFirst();
  return r ? rowToWaiverRequest(r) : null;
}

export async function listWaiverRequests(db: Kysely<Database>, q: WaiverRequestQuery = {}): Promise<WaiverRequest[]> {
  let query = db.selectFrom('waiver_requests').selectAll();
  if (q.status !== undefined) query = query.where('status', '=', oneOf(STATUSES, q.status, 'query.status', 'invalid'));
  if (q.auditId !== undefined) query = query.where('audit_id', '=', q.auditId);
  if (q.requester !== undefined) query = query.where('requester', '=', q.requester);
  const limit = Math.min(500, Math.max(1, Math.floor(q.limit ?? 100)));
  const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  return rows.map(rowToWaiverRequest);
}

export async function findAuditByTicket(db: Kysely<Database>, ticketHash: string): Promise<AuditRecord | null> {
  if (!HASH_RE.test(ticketHash)) return null;
  const r = await db.selectFrom('audit').selectAll().where('ticket_hash', '=', ticketHash).orderBy('id').executeTakeFirst();
  return r ? rowToAudit(r) : null;
}
