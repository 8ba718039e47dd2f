/**
 * Exposure runs in the store. A run is created together with one item per cached file (one
 * transaction: a run never exists half-filled); workers in any process claim items with a
 * lease, so a crash leaves items that the next start-up (or another replica) takes over once
 * the lease runs out, and a clean shutdown gives its items back at once. Worsened files are
 * unique per (served decision, new verdict) and written with their audit record in one
 * transaction: however often a run is resumed or repeated, each is recorded, and announced, once.
 */
import { sql, type Generated, type Kysely, type Selectable } from 'kysely';
import type { Download, Exposure, ExposureItemNote, ExposureItemState, ExposureProgress, ExposureReason, ExposureRun, ServedDecision } from './console-types.js';
import { auditRow } from './rows.js';
import type { Database, SqlDialect } from './db.js';
import { StoreError } from './errors.js';
import { idOf, iso } from './policy-history.js';
import type { AuditRecord, AuditVerdict } from './types.js';

export interface ExposureRunsTable {
  id: string;
  reason: string;
  detail: string;
  engine_key: string;
  policy_version: string;
  created_at: string;
  finished_at: string | null;
  total: number;
  /** Item counts of a finished run (migration 0010); null while it goes on, or when an older build finished it. */
  done_items: number | null;
  skipped_items: number | null;
  failed_items: number | null;
}

export interface ExposureItemsTable {
  run_id: string;
  sha256: string;
  state: string;
  owner: string | null;
  lease_until: string | null;
  note: string | null;
  updated_at: string;
}

export interface ExposuresTable {
  id: Generated<number | string>;
  run_id: string;
  found_at: string;
  sha256: string;
  repo_type: string;
  repo: string;
  commit: string | null;
  path: string | null;
  client_group: string;
  basis_audit_id: number | string;
  before: string;
  after: string;
  rules: string;
  findings: string;
  scan_id: string | null;
  engine_key: string;
  audit_id: number | string | null;
}

type Tables = { exposure_runs: ExposureRunsTable; exposure_items: ExposureItemsTable; exposures: ExposuresTable };
type Db = Kysely<Database & Tables>;

const REASONS: readonly ExposureReason[] = ['engine', 'waiver', 'manual'];
const STATES: readonly ExposureItemState[] = ['pending', 'running', 'done', 'skipped', 'failed'];
const VERDICTS: readonly AuditVerdict[] = ['allow', 'warn', 'block', 'error'];
const REPO_TYPES = ['model', 'dataset'] as const;
/** Served means the bytes went out: a GET answered allow or warn. */
const SERVED: AuditVerdict[] = ['allow', 'warn'];

function tables(db: Kysely<Database>): Db {
  return db.withTables<Tables>();
}

function one<T extends string>(allowed: readonly T[], v: string, what: string): T {
  if ((allowed as readonly string[]).includes(v)) return v as T;
  throw new StoreError('corrupt', `${what}: unexpected value ${JSON.stringify(v)}`);
}

function json<T>(text: string, what: string): T {
  try {
    const v = JSON.parse(text) as unknown;
    if (!Array.isArray(v) && (v === null || typeof v !== 'object')) throw new Error('not an array or object');
    return v as T;
  } catch (e) {
    throw new StoreError('corrupt', `${what}: stored JSON does not parse`, { cause: e });
  }
}

function rowToRun(r: Selectable<ExposureRunsTable>): ExposureRun {
  return {
    id: r.id,
    reason: one(REASONS, r.reason, `exposure run ${r.id} reason`),
    detail: r.detail,
    engineKey: r.engine_key,
    policyVersion: r.policy_version,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
    total: idOf(r.total, 'exposure_runs.total'),
  };
}

function rowToExposure(r: Selectable<ExposuresTable>): Exposure {
  const id = idOf(r.id, 'exposures.id');
  return {
    id,
    runId: r.run_id,
    foundAt: r.found_at,
    sha256: r.sha256,
    repoType: one(REPO_TYPES, r.repo_type, `exposure ${id} repo_type`),
    repo: r.repo,
    commit: r.commit,
    path: r.path,
    group: r.client_group,
    basisAuditId: idOf(r.basis_audit_id, 'exposures.basis_audit_id'),
    before: one(VERDICTS, r.before, `exposure ${id} before`),
    after: one(VERDICTS, r.after, `exposure ${id} after`),
    rules: json(r.rules, `exposure ${id} rules`),
    findings: json(r.findings, `exposure ${id} findings`),
    scanId: r.scan_id,
    engineKey: r.engine_key,
    auditId: r.audit_id === null ? null : idOf(r.audit_id, 'exposures.audit_id'),
  };
}

export async function staleScans(base: Kysely<Database>, engineKey: string): Promise<{ files: number; engines: string[] }> {
  const db = tables(base);
  const n = await db
    .selectFrom('scans as s')
    .select((eb) => eb.fn.count<number | string>(sql`distinct s.sha256`).as('n'))
    .where('s.engine_key', '<>', engineKey)
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('scans as c').select('c.id').whereRef('c.sha256', '=', 's.sha256').where('c.engine_key', '=', engineKey))))
    .executeTakeFirst();
  const files = idOf(n?.n ?? 0, 'stale scans');
  if (files === 0) return { files, engines: [] };
  const engines = await db.selectFrom('scans').select('engine_key').distinct().where('engine_key', '<>', engineKey).orderBy('engine_key').limit(10).execute();
  return { files, engines: engines.map((e) => e.engine_key) };
}

export async function createExposureRun(base: Kysely<Database>, run: ExposureRun): Promise<boolean> {
  one(REASONS, run.reason, 'exposure run reason');
  const at = iso(run.createdAt, 'exposureRun.createdAt');
  return tables(base)
    .transaction()
    .execute(async (trx) => {
      const made = await trx
        .insertInto('exposure_runs')
        .values({ id: run.id, reason: run.reason, detail: run.detail, engine_key: run.engineKey, policy_version: run.policyVersion, created_at: at, finished_at: null, total: 0 })
        .onConflict((oc) => oc.column('id').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (!made) return false;
      // Every cached file: each sha256 the gateway has a stored scan of.
      await sql`insert into exposure_items (run_id, sha256, state, updated_at) select distinct cast(${run.id} as text), sha256, 'pending', cast(${at} as text) from scans`.execute(trx);
      const n = await trx.selectFrom('exposure_items').select((eb) => eb.fn.countAll<number | string>().as('n')).where('run_id', '=', run.id).executeTakeFirst();
      await trx.updateTable('exposure_runs').set({ total: idOf(n?.n ?? 0, 'exposure items') }).where('id', '=', run.id).execute();
      return true;
    });
}

export async function getExposureRun(base: Kysely<Database>, id: string): Promise<ExposureRun | null> {
  const r = await tables(base).selectFrom('exposure_runs').selectAll().where('id', '=', id).executeTakeFirst();
  return r ? rowToRun(r) : null;
}

export async function listExposureRuns(base: Kysely<Database>, limit = 20): Promise<ExposureRun[]> {
  const rows = await tables(base).selectFrom('exposure_runs').selectAll().orderBy('created_at', 'desc').orderBy('id').limit(Math.min(200, Math.max(1, limit))).execute();
  return rows.map(rowToRun);
}

export async function claimExposureItem(base: Kysely<Database>, runId: string, owner: string, now: string, leaseUntil: string): Promise<string | null> {
  const db = tables(base);
  const t = iso(now, 'now');
  const until = iso(leaseUntil, 'leaseUntil');
  for (;;) {
    const free = await db
      .selectFrom('exposure_items')
      .select('sha256')
      .where('run_id', '=', runId)
      .where((eb) => eb.or([eb('state', '=', 'pending'), eb.and([eb('state', '=', 'running'), eb('lease_until', '<', t)])]))
      .orderBy('sha256')
      .limit(16)
      .execute();
    if (free.length === 0) return null;
    // Workers starting together would all reach for the first row: each starts somewhere else.
    const start = Math.floor(Math.random() * free.length);
    for (let i = 0; i < free.length; i++) {
      const sha256 = free[(start + i) % free.length]!.sha256;
      const r = await db
        .updateTable('exposure_items')
        .set({ state: 'running', owner, lease_until: until, updated_at: t })
        .where('run_id', '=', runId)
        .where('sha256', '=', sha256)
        .where((eb) => eb.or([eb('state', '=', 'pending'), eb.and([eb('state', '=', 'running'), eb('lease_until', '<', t)])]))
        .executeTakeFirst();
      if (r.numUpdatedRows > 0n) return sha256;
    }
  }
}

export async function settleExposureItem(base: Kysely<Database>, runId: string, sha256: string, state: 'done' | 'skipped' | 'failed', note: string | null, now: string): Promise<void> {
  one(STATES, state, 'exposure item state');
  await tables(base)
    .updateTable('exposure_items')
    .set({ state, note: note === null ? null : note.slice(0, 500), owner: null, lease_until: null, updated_at: iso(now, 'now') })
    .where('run_id', '=', runId)
    .where('sha256', '=', sha256)
    .execute();
}

export async function releaseExposureItems(base: Kysely<Database>, runId: string, owner: string): Promise<number> {
  const r = await tables(base)
    .updateTable('exposure_items')
    .set({ state: 'pending', owner: null, lease_until: null })
    .where('run_id', '=', runId)
    .where('owner', '=', owner)
    .where('state', '=', 'running')
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

export async function exposureProgress(base: Kysely<Database>, runId: string): Promise<ExposureProgress> {
  const db = tables(base);
  const kept = await db.selectFrom('exposure_runs').select(['finished_at', 'done_items', 'skipped_items', 'failed_items']).where('id', '=', runId).executeTakeFirst();
  if (kept && kept.finished_at !== null && kept.done_items !== null && kept.skipped_items !== null && kept.failed_items !== null) {
    return { pending: 0, running: 0, done: idOf(kept.done_items, 'exposure_runs.done_items'), skipped: idOf(kept.skipped_items, 'exposure_runs.skipped_items'), failed: idOf(kept.failed_items, 'exposure_runs.failed_items') };
  }
  const rows = await db
    .selectFrom('exposure_items')
    .select(['state', (eb) => eb.fn.countAll<number | string>().as('n')])
    .where('run_id', '=', runId)
    .groupBy('state')
    .execute();
  const out: ExposureProgress = { pending: 0, running: 0, done: 0, skipped: 0, failed: 0 };
  for (const r of rows) out[one(STATES, r.state, 'exposure item state')] = idOf(r.n, 'exposure item count');
  // Finished by a build that did not keep the counts: keep them now, so this count is the last.
  if (kept && kept.finished_at !== null && out.pending === 0 && out.running === 0) {
    await db.updateTable('exposure_runs').set({ done_items: out.done, skipped_items: out.skipped, failed_items: out.failed }).where('id', '=', runId).where('done_items', 'is', null).execute();
  }
  return out;
}

export async function exposureItemNotes(base: Kysely<Database>, runId: string, limit = 50): Promise<ExposureItemNote[]> {
  const n = Math.min(500, Math.max(1, limit));
  // One query per state, each an ordered range of (run_id, state, sha256), merged here: with
  // `state in (...)` SQLite walked the primary key instead, through every item of the run.
  const per = await Promise.all(
    (['skipped', 'failed'] as const).map((state) => tables(base).selectFrom('exposure_items').select(['sha256', 'state', 'note']).where('run_id', '=', runId).where('state', '=', state).orderBy('sha256').limit(n).execute()),
  );
  const rows = per.flat().sort((a, b) => (a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : 0)).slice(0, n);
  return rows.map((r) => ({ sha256: r.sha256, state: one(STATES, r.state, 'exposure item state'), note: r.note }));
}

export async function finishExposureRun(base: Kysely<Database>, runId: string, now: string): Promise<boolean> {
  const db = tables(base);
  // The counts are taken in the same statement that finishes the run: no item changes state once
  // none is pending or running, so they are final, and exposureProgress reads them from here.
  const count = (state: ExposureItemState) =>
    db
      .selectFrom('exposure_items')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('run_id', '=', runId)
      .where('state', '=', state);
  const r = await db
    .updateTable('exposure_runs')
    .set({ finished_at: iso(now, 'now'), done_items: count('done'), skipped_items: count('skipped'), failed_items: count('failed') })
    .where('id', '=', runId)
    .where('finished_at', 'is', null)
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('exposure_items').select('sha256').where('run_id', '=', runId).where('state', 'in', ['pending', 'running']))))
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

export async function servedDecisions(base: Kysely<Database>, sha256: string): Promise<ServedDecision[]> {
  const db = tables(base);
  const newest = db
    .selectFrom('audit')
    .select((eb) => eb.fn.max('id').as('id'))
    .where('sha256', '=', sha256)
    .where('method', '=', 'GET')
    .where('verdict', 'in', SERVED)
    .groupBy(['repo_type', 'repo', 'commit', 'path', 'client_group']);
  const rows = await db.selectFrom('audit').selectAll().where('id', 'in', newest).orderBy('id', 'desc').execute();
  return rows.map((r) => {
    const id = idOf(r.id, 'audit.id');
    return {
      id,
      time: r.time,
      client: r.client,
      group: r.client_group,
      repoType: one(REPO_TYPES, r.repo_type, `audit ${id} repo_type`),
      repo: r.repo,
      revision: r.revision,
      commit: r.commit,
      path: r.path,
      sha256: r.sha256,
      verdict: one(VERDICTS, r.verdict, `audit ${id} verdict`),
      rules: json(r.rules, `audit ${id} rules`),
      clientLibraries: r.client_libraries === null ? null : json<Record<string, string>>(r.client_libraries, `audit ${id} client_libraries`),
      policyVersion: r.policy_version,
    };
  });
}

/**
 * Records a worsened file and its audit record in one transaction, once per (served decision, new
 * verdict): whoever inserts the exposure writes the record, so two runs or two replicas judging
 * the same file at once announce it once, and a crash leaves both or neither. On PostgreSQL the
 * commit is synchronous, as for every audit record (appendAudit).
 */
export async function addExposure(base: Kysely<Database>, dialect: SqlDialect, e: Exposure, announcement: AuditRecord): Promise<{ exposure: Exposure; auditId: number | null }> {
  const values = {
    run_id: e.runId,
    found_at: iso(e.foundAt, 'exposure.foundAt'),
    sha256: e.sha256,
    repo_type: one(REPO_TYPES, e.repoType, 'exposure.repoType'),
    repo: e.repo,
    commit: e.commit,
    path: e.path,
    client_group: e.group,
    basis_audit_id: e.basisAuditId,
    before: one(VERDICTS, e.before, 'exposure.before'),
    after: one(VERDICTS, e.after, 'exposure.after'),
    rules: JSON.stringify(e.rules),
    findings: JSON.stringify(e.findings),
    scan_id: e.scanId,
    engine_key: e.engineKey,
    audit_id: null,
  };
  const row = auditRow(announcement);
  const db = tables(base);
  const auditId = await db.transaction().execute(async (trx) => {
    if (dialect === 'postgres') await sql`set local synchronous_commit to on`.execute(trx);
    const made = await trx
      .insertInto('exposures')
      .values(values)
      .onConflict((oc) => oc.columns(['basis_audit_id', 'after']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!made) return null;
    const a = await trx.insertInto('audit').values(row).returning('id').executeTakeFirstOrThrow();
    const id = idOf(a.id, 'audit.id');
    await trx.updateTable('exposures').set({ audit_id: id }).where('id', '=', made.id).execute();
    return id;
  });
  const stored = await db.selectFrom('exposures').selectAll().where('basis_audit_id', '=', e.basisAuditId).where('after', '=', e.after).executeTakeFirstOrThrow();
  return { exposure: rowToExposure(stored), auditId };
}

export async function listExposures(base: Kysely<Database>, q: { runId?: string; before?: number; limit?: number } = {}): Promise<Exposure[]> {
  let query = tables(base).selectFrom('exposures').selectAll();
  if (q.runId !== undefined) query = query.where('run_id', '=', q.runId);
  if (q.before !== undefined) query = query.where('id', '<', q.before);
  const rows = await query.orderBy('id', 'desc').limit(Math.min(500, Math.max(1, q.limit ?? 50))).execute();
  return rows.map(rowToExposure);
}

export async function servedDownloads(base: Kysely<Database>, sha256: string, limit = 100): Promise<{ total: number; downloads: Download[] }> {
  return (await servedDownloadsOf(base, [sha256], limit)).get(sha256)!;
}

/**
 * Served downloads of several sha256s (newest first, `limit` each) and how many each has, in two
 * statements whatever their number: the exposure page asks for 20 at once, and 40 round trips
 * cost more on PostgreSQL than the index ranges they read. Each sha256 stays its own part of a
 * UNION ALL (its newest as an ordered, limited subquery), so each reads its own range of
 * audit_served_idx.
 */
export async function servedDownloadsOf(base: Kysely<Database>, sha256s: readonly string[], limit = 100): Promise<Map<string, { total: number; downloads: Download[] }>> {
  const db = tables(base);
  const shas = [...new Set(sha256s)];
  const out = new Map<string, { total: number; downloads: Download[] }>(shas.map((s) => [s, { total: 0, downloads: [] }]));
  if (shas.length === 0) return out;
  const n = Math.min(1000, Math.max(1, limit));
  const newest = shas.map((sha) =>
    db
      .selectFrom((eb) =>
        eb
          .selectFrom('audit')
          .select(['id', 'time', 'client', 'client_group', 'repo', 'commit', 'path', 'verdict', 'sha256'])
          .where('sha256', '=', sha)
          .where('method', '=', 'GET')
          .where('verdict', 'in', SERVED)
          .orderBy('id', 'desc')
          .limit(n)
          .as('d'),
      )
      .selectAll(),
  );
  // Counted one sha256 at a time too: with `sha256 in (...)` over 20 values SQLite counted every
  // served GET from the (method, verdict, ...) index instead (1.5 s at 1,000,000 records).
  const counted = shas.map((sha) =>
    db
      .selectFrom('audit')
      .select([sql<string>`cast(${sha} as text)`.as('sha'), (eb) => eb.fn.countAll<number | string>().as('n')])
      .where('sha256', '=', sha)
      .where('method', '=', 'GET')
      .where('verdict', 'in', SERVED),
  );
  const [counts, rows] = await Promise.all([counted.slice(1).reduce((q, next) => q.unionAll(next), counted[0]!).execute(), newest.slice(1).reduce((q, next) => q.unionAll(next), newest[0]!).execute()]);
  for (const c of counts) out.get(c.sha)!.total = idOf(c.n, 'download count');
  for (const r of rows) {
    out.get(r.sha256!)!.downloads.push({ id: idOf(r.id, 'audit.id'), time: r.time, client: r.client, group: r.client_group, repo: r.repo, commit: r.commit, path: r.path, verdict: one(VERDICTS, r.verdict, 'audit verdict') });
  }
  // UNION ALL keeps no order across its parts: newest first within each sha256, as one query did.
  for (const v of out.values()) v.downloads.sort((a, b) => b.id - a.id);
  return out;
}
