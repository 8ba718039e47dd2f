/**
 * The Store, written once over Kysely so SQLite (embedded) and PostgreSQL (replicas, crawler)
 * share every query. Dialect differences live in sqlite.ts / postgres.ts (connection, pragmas,
 * migration locking) plus one durability knob here (audit commit on PostgreSQL).
 */
import { sql, type Kysely } from 'kysely';
import * as auditQuery from './audit-query.js';
import { auditDays, auditTop } from './audit-stats.js';
import type { Database, SqlDialect } from './db.js';
import { StoreError, toStoreError } from './errors.js';
import { foldInventory, inventoryCommits, listInventory, noteRepoFacts } from './inventory.js';
import { inventoryFileClients, inventoryFiles } from './inventory-files.js';
import { auditRow, normTime, oneOf, REPO_TYPES, rowToFileMeta, rowToScan, rowToToken, rowToWaiver, ROLES, SHA256_RE, toNumber, waiverRow, normTimeOrNull } from './rows.js';
import type { Download, Exposure, ExposureItemNote, ExposureProgress, ExposureRun, PolicyLoad, PolicyText, ServedDecision } from './console-types.js';
import * as exposure from './exposure.js';
import * as policyHistory from './policy-history.js';
import type {
  AuditQuery,
  AuditRecord,
  AuditDay,
  AuditTop,
  FileMeta,
  InventoryClient,
  InventoryClientQuery,
  InventoryFile,
  InventoryQuery,
  InventoryRepo,
  RepoFactsNote,
  Store,
  StoredScan,
  TokenRecord,
  Waiver,
  WaiverRequest,
  WaiverRequestQuery,
} from './types.js';
import * as requests from './waiver-requests.js';

export { normTime } from './rows.js';

export const AUDIT_DEFAULT_LIMIT = 100;
export const AUDIT_MAX_LIMIT = 1000;

/** How a dialect module plugs into the shared store. */
export interface SqlStoreDriver {
  readonly dialect: SqlDialect;
  /** Runs the migrations under whatever cross-process exclusion the dialect needs. */
  migrate(): Promise<string[]>;
  /** Releases connections (kysely's destroy plus anything the dialect opened itself). */
  close(): Promise<void>;
}

function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return AUDIT_DEFAULT_LIMIT;
  return Math.min(AUDIT_MAX_LIMIT, Math.max(1, Math.floor(limit)));
}

export class SqlStore implements Store {
  readonly dialect: SqlDialect;
  private closed = false;

  constructor(
    /** Exposed for tests and operational tooling; the gateway should use the Store methods. */
    readonly db: Kysely<Database>,
    private readonly driver: SqlStoreDriver,
  ) {
    this.dialect = driver.dialect;
  }

  /** Every method goes through here: one place turns driver errors into StoreError kinds. */
  private async run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreError('unavailable', `${op}: store is closed`);
    try {
      return await fn();
    } catch (e) {
      throw toStoreError(e, op);
    }
  }

  async migrate(): Promise<void> {
    await this.run('migrate', () => this.driver.migrate());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.run('close', () => this.driver.close());
    this.closed = true;
  }

  async ping(): Promise<boolean> {
    if (this.closed) return false;
    try {
      await sql`select 1`.execute(this.db);
      return true;
    } catch {
      return false;
    }
  }

  getScan(sha256: string, engineKey: string): Promise<StoredScan | null> {
    return this.run('getScan', async () => {
      const r = await this.db
        .selectFrom('scans')
        .selectAll()
        .where('sha256', '=', sha256)
        .where('engine_key', '=', engineKey)
        .executeTakeFirst();
      return r ? rowToScan(r) : null;
    });
  }

  getScanById(id: string): Promise<StoredScan | null> {
    return this.run('getScanById', async () => {
      const r = await this.db.selectFrom('scans').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? rowToScan(r) : null;
    });
  }

  /** The stored scans of these ids that exist, in no particular order (one query per 500 ids). */
  getScansByIds(ids: readonly string[]): Promise<StoredScan[]> {
    return this.run('getScansByIds', async () => {
      const out: StoredScan[] = [];
      const unique = [...new Set(ids)];
      for (let i = 0; i < unique.length; i += 500) {
        const rows = await this.db.selectFrom('scans').selectAll().where('id', 'in', unique.slice(i, i + 500)).execute();
        for (const r of rows) out.push(rowToScan(r));
      }
      return out;
    });
  }

  /**
   * Idempotent on (sha256, engineKey): when two replicas scan the same blob at once the first
   * stored scan wins and the second put is a no-op (read it back with getScan for its id).
   * A different scan reusing an existing id is a 'conflict'.
   */
  putScan(scan: StoredScan): Promise<void> {
    return this.run('putScan', async () => {
      await this.db
        .insertInto('scans')
        .values({
          id: scan.id,
          sha256: scan.sha256,
          engine_key: scan.engineKey,
          report: JSON.stringify(scan.report),
          max_severity: scan.maxSeverity,
          complete: scan.complete ? 1 : 0,
          created_at: normTime(scan.createdAt, 'scan.createdAt'),
        })
        .onConflict((oc) => oc.columns(['sha256', 'engine_key']).doNothing())
        .execute();
    });
  }

  getFileMeta(repoType: FileMeta['repoType'], repo: string, commit: string, path: string): Promise<FileMeta | null> {
    return this.run('getFileMeta', async () => {
      const r = await this.db
        .selectFrom('file_meta')
        .selectAll()
        .where('repo_type', '=', repoType)
        .where('repo', '=', repo)
        .where('commit', '=', commit)
        .where('path', '=', path)
        .executeTakeFirst();
      return r ? rowToFileMeta(r) : null;
    });
  }

  /** Upsert: a later observation of the same (repo, commit, path) replaces the earlier one. */
  putFileMeta(meta: FileMeta): Promise<void> {
    return this.run('putFileMeta', async () => {
      const values = {
        size: meta.size,
        etag: meta.etag,
        sha256: meta.sha256,
        lfs: meta.lfs ? 1 : 0,
        fetched_at: normTime(meta.fetchedAt, 'fileMeta.fetchedAt'),
      };
      await this.db
        .insertInto('file_meta')
        .values({
          repo_type: oneOf(REPO_TYPES, meta.repoType, 'fileMeta.repoType', 'invalid'),
          repo: meta.repo,
          commit: meta.commit,
          path: meta.path,
          ...values,
        })
        .onConflict((oc) => oc.columns(['repo_type', 'repo', 'commit', 'path']).doUpdateSet(values))
        .execute();
    });
  }

  /**
   * Resolves with the new id only after the row is committed and flushed: on SQLite by the
   * connection's synchronous=FULL, on PostgreSQL by forcing synchronous_commit=on for this
   * transaction whatever the server or role default is (with `off`, a commit can be
   * acknowledged before its WAL reaches disk and be lost in a crash).
   */
  appendAudit(rec: AuditRecord): Promise<number> {
    return this.run('appendAudit', async () => {
      const row = auditRow(rec);
      if (this.dialect === 'postgres') {
        return this.db.transaction().execute(async (trx) => {
          await sql`set local synchronous_commit to on`.execute(trx);
          const r = await trx.insertInto('audit').values(row).returning('id').executeTakeFirstOrThrow();
          return toNumber(r.id, 'audit.id');
        });
      }
      const r = await this.db.insertInto('audit').values(row).returning('id').executeTakeFirstOrThrow();
      return toNumber(r.id, 'audit.id');
    });
  }

  /**
   * Newest first (by id, which only grows). `since` is inclusive and `until` exclusive, so
   * adjacent windows never count a record twice. Limit defaults to 100 and is capped at 1000.
   */
  queryAudit(q: AuditQuery): Promise<AuditRecord[]> {
    return this.run('queryAudit', () => auditQuery.queryAudit(this.db, this.dialect, q, clampLimit(q.limit)));
  }

  auditExceeds(q: AuditQuery, n: number): Promise<boolean> {
    return this.run('auditExceeds', () => auditQuery.auditExceeds(this.db, this.dialect, q, n));
  }

  auditFirstId(since: string): Promise<number | null> {
    return this.run('auditFirstId', () => auditQuery.auditFirstId(this.db, this.dialect, since));
  }

  auditDays(since: string, until?: string): Promise<AuditDay[]> {
    return this.run('auditDays', () => auditDays(this.db, normTime(since, 'days.since'), until === undefined ? undefined : normTime(until, 'days.until')));
  }

  auditTop(since: string, top: number): Promise<AuditTop> {
    return this.run('auditTop', () => auditTop(this.db, normTime(since, 'top.since'), Math.min(100, Math.max(1, Math.floor(top)))));
  }

  addWaiver(w: Waiver): Promise<void> {
    return this.run('addWaiver', async () => {
      await this.db.insertInto('waivers').values(waiverRow(w)).execute();
    });
  }

  /** False when there is no such waiver or it was already revoked (the first revocation time stands). */
  revokeWaiver(id: string, at: string): Promise<boolean> {
    return this.run('revokeWaiver', async () => {
      const r = await this.db
        .updateTable('waivers')
        .set({ revoked_at: normTime(at, 'revokedAt') })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return r.numUpdatedRows > 0n;
    });
  }

  /**
   * With `activeAt`: waivers not expired at that time and not revoked at all. A revocation
   * takes effect at once whatever time it carries, so clock skew between replicas can never
   * keep a revoked waiver alive.
   */
  listWaivers(opts?: { activeAt?: string }): Promise<Waiver[]> {
    return this.run('listWaivers', async () => {
      let query = this.db.selectFrom('waivers').selectAll();
      if (opts?.activeAt !== undefined) {
        query = query.where('expires_at', '>', normTime(opts.activeAt, 'activeAt')).where('revoked_at', 'is', null);
      }
      const rows = await query.orderBy('created_at').orderBy('id').execute();
      return rows.map(rowToWaiver);
    });
  }

  getWaiver(id: string): Promise<Waiver | null> {
    return this.run('getWaiver', async () => {
      const r = await this.db.selectFrom('waivers').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? rowToWaiver(r) : null;
    });
  }

  addWaiverAudited(w: Waiver, audit: AuditRecord): Promise<number> {
    return this.run('addWaiverAudited', () => requests.addWaiverAudited(this.db, this.dialect, w, audit));
  }

  revokeWaiverAudited(id: string, at: string, audit: AuditRecord): Promise<number | null> {
    return this.run('revokeWaiverAudited', () => requests.revokeWaiverAudited(this.db, this.dialect, id, at, audit));
  }

  addWaiverRequest(r: WaiverRequest, audit: AuditRecord): Promise<number> {
    return this.run('addWaiverRequest', () => requests.addWaiverRequest(this.db, this.dialect, r, audit));
  }

  approveWaiverRequest(id: string, w: Waiver, d: requests.Decision, audit: AuditRecord): Promise<number | null> {
    return this.run('approveWaiverRequest', () => requests.approveWaiverRequest(this.db, this.dialect, id, w, d, audit));
  }

  rejectWaiverRequest(id: string, d: requests.Decision, audit: AuditRecord): Promise<number | null> {
    return this.run('rejectWaiverRequest', () => requests.rejectWaiverRequest(this.db, this.dialect, id, d, audit));
  }

  getWaiverRequest(id: string): Promise<WaiverRequest | null> {
    return this.run('getWaiverRequest', () => requests.getWaiverRequest(this.db, id));
  }

  listWaiverRequests(q?: WaiverRequestQuery): Promise<WaiverRequest[]> {
    return this.run('listWaiverRequests', () => requests.listWaiverRequests(this.db, q));
  }

  findAuditByTicket(ticketHash: string): Promise<AuditRecord | null> {
    return this.run('findAuditByTicket', () => requests.findAuditByTicket(this.db, ticketHash));
  }

  foldInventory(max = 5000): Promise<{ folded: number; behind: boolean }> {
    return this.run('foldInventory', () => foldInventory(this.db, max));
  }

  noteRepoFacts(f: RepoFactsNote): Promise<void> {
    return this.run('noteRepoFacts', () => noteRepoFacts(this.db, f));
  }

  listInventory(q?: InventoryQuery): Promise<InventoryRepo[]> {
    return this.run('listInventory', () => listInventory(this.db, q));
  }

  inventoryCommits(repoType: InventoryRepo['repoType'], repo: string): Promise<InventoryRepo[]> {
    return this.run('inventoryCommits', () => inventoryCommits(this.db, repoType, repo));
  }

  inventoryFiles(repoType: InventoryRepo['repoType'], repo: string, commit: string, clientsPerFile: number): Promise<InventoryFile[]> {
    return this.run('inventoryFiles', () => inventoryFiles(this.db, this.dialect, repoType, repo, commit, clientsPerFile));
  }

  inventoryFileClients(repoType: InventoryRepo['repoType'], repo: string, commit: string, path: string, q?: InventoryClientQuery): Promise<InventoryClient[]> {
    return this.run('inventoryFileClients', () => inventoryFileClients(this.db, repoType, repo, commit, path, q));
  }

  addToken(rec: TokenRecord, secretHash: string): Promise<void> {
    return this.run('addToken', async () => {
      // Refuse anything that is not a hash: a caller passing the secret itself would store it.
      if (!SHA256_RE.test(secretHash)) throw new StoreError('invalid', 'token secret hash must be 64 lowercase hex digits');
      await this.db
        .insertInto('tokens')
        .values({
          id: rec.id,
          name: rec.name,
          role: oneOf(ROLES, rec.role, 'token.role', 'invalid'),
          client_group: rec.group,
          secret_hash: secretHash,
          created_at: normTime(rec.createdAt, 'token.createdAt'),
          revoked_at: normTimeOrNull(rec.revokedAt, 'token.revokedAt'),
        })
        .execute();
    });
  }

  /** Returns revoked tokens too (with revokedAt set): the caller refuses them and can say why. */
  findToken(secretHash: string): Promise<TokenRecord | null> {
    return this.run('findToken', async () => {
      const r = await this.db.selectFrom('tokens').selectAll().where('secret_hash', '=', secretHash).executeTakeFirst();
      return r ? rowToToken(r) : null;
    });
  }

  listTokens(): Promise<TokenRecord[]> {
    return this.run('listTokens', async () => {
      const rows = await this.db.selectFrom('tokens').selectAll().orderBy('created_at').orderBy('id').execute();
      return rows.map(rowToToken);
    });
  }

  revokeToken(id: string, at: string): Promise<boolean> {
    return this.run('revokeToken', async () => {
      const r = await this.db
        .updateTable('tokens')
        .set({ revoked_at: normTime(at, 'revokedAt') })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return r.numUpdatedRows > 0n;
    });
  }

  // Policy history and exposure runs (console-types.ts): the queries live in their own modules.

  recordPolicyLoad(load: PolicyLoad, text: string | null): Promise<number> {
    return this.run('recordPolicyLoad', () => policyHistory.recordPolicyLoad(this.db, load, text));
  }

  listPolicyLoads(q?: { limit?: number; before?: number }): Promise<PolicyLoad[]> {
    return this.run('listPolicyLoads', () => policyHistory.listPolicyLoads(this.db, q));
  }

  getPolicyText(key: { sha256: string } | { version: string }): Promise<PolicyText | null> {
    return this.run('getPolicyText', () => policyHistory.getPolicyText(this.db, key));
  }

  staleScans(engineKey: string): Promise<{ files: number; engines: string[] }> {
    return this.run('staleScans', () => exposure.staleScans(this.db, engineKey));
  }

  createExposureRun(r: ExposureRun): Promise<boolean> {
    return this.run('createExposureRun', () => exposure.createExposureRun(this.db, r));
  }

  getExposureRun(id: string): Promise<ExposureRun | null> {
    return this.run('getExposureRun', () => exposure.getExposureRun(this.db, id));
  }

  listExposureRuns(limit?: number): Promise<ExposureRun[]> {
    return this.run('listExposureRuns', () => exposure.listExposureRuns(this.db, limit));
  }

  claimExposureItem(runId: string, owner: string, now: string, leaseUntil: string): Promise<string | null> {
    return this.run('claimExposureItem', () => exposure.claimExposureItem(this.db, runId, owner, now, leaseUntil));
  }

  settleExposureItem(runId: string, sha256: string, state: 'done' | 'skipped' | 'failed', note: string | null, now: string): Promise<void> {
    return this.run('settleExposureItem', () => exposure.settleExposureItem(this.db, runId, sha256, state, note, now));
  }

  releaseExposureItems(runId: string, owner: string): Promise<number> {
    return this.run('releaseExposureItems', () => exposure.releaseExposureItems(this.db, runId, owner));
  }

  exposureProgress(runId: string): Promise<ExposureProgress> {
    return this.run('exposureProgress', () => exposure.exposureProgress(this.db, runId));
  }

  exposureItemNotes(runId: string, limit?: number): Promise<ExposureItemNote[]> {
    return this.run('exposureItemNotes', () => exposure.exposureItemNotes(this.db, runId, limit));
  }

  finishExposureRun(runId: string, now: string): Promise<boolean> {
    return this.run('finishExposureRun', () => exposure.finishExposureRun(this.db, runId, now));
  }

  servedDecisions(sha256: string): Promise<ServedDecision[]> {
    return this.run('servedDecisions', () => exposure.servedDecisions(this.db, sha256));
  }

  addExposure(e: Exposure, announcement: AuditRecord): Promise<{ exposure: Exposure; auditId: number | null }> {
    return this.run('addExposure', () => exposure.addExposure(this.db, this.dialect, e, announcement));
  }

  listExposures(q?: { runId?: string; before?: number; limit?: number }): Promise<Exposure[]> {
    return this.run('listExposures', () => exposure.listExposures(this.db, q));
  }

  servedDownloads(sha256: string, limit?: number): Promise<{ total: number; downloads: Download[] }> {
    return this.run('servedDownloads', () => exposure.servedDownloads(this.db, sha256, limit));
  }

  servedDownloadsOf(sha256s: readonly string[], limit?: number): Promise<Map<string, { total: number; downloads: Download[] }>> {
    return this.run('servedDownloadsOf', () => exposure.servedDownloadsOf(this.db, sha256s, limit));
  }
}
