/**
 * The crawler's tables (migration 0002_crawl), next to the store's `scans`: which repositories
 * were crawled at which commit, and which scan (by content) covers each of their files. Every
 * write is an upsert on the natural key, so a job retried after a crash, or run twice by two
 * workers after a stalled-lock handover, leaves exactly the rows one run would.
 */
import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../store/db.js';
import { toStoreError, StoreError } from '../store/errors.js';
import type { SqlStore } from '../store/sql.js';
import { REPO_STATUSES, REPO_TYPES, type CrawlErrorKind, type RepoStatus, type RepoType } from './types.js';

export interface RepositoriesTable {
  repo_type: string;
  repo: string;
  commit: string;
  revision: string;
  status: string;
  engine_key: string;
  files: number;
  file_errors: number;
  /** The upstream's securityRepoStatus as JSON, or null when it gave none. */
  security_status: string | null;
  license: string | null;
  needs_remote_code: number;
  error: string | null;
  /** When the files were last (re)scanned under engine_key. */
  crawled_at: string;
  /** When a worker last looked at this commit (also when it found nothing to do). */
  checked_at: string;
  last_run: string | null;
}

export interface RepoFilesTable {
  repo_type: string;
  repo: string;
  commit: string;
  path: string;
  size: number | string;
  sha256: string | null;
  oid: string;
  lfs: number;
  scan_id: string | null;
  error_kind: string | null;
  error: string | null;
  updated_at: string;
}

export type CrawlTables = { repositories: RepositoriesTable; repo_files: RepoFilesTable };
export type CrawlDatabase = Database & CrawlTables;

export interface RepositoryRecord {
  type: RepoType;
  repo: string;
  commit: string;
  revision: string;
  status: RepoStatus;
  engineKey: string;
  files: number;
  fileErrors: number;
  securityStatus: unknown;
  license: string | null;
  needsRemoteCode: boolean;
  error: string | null;
  crawledAt: string;
  checkedAt: string;
  lastRun: string | null;
}

export interface RepoFileRecord {
  type: RepoType;
  repo: string;
  commit: string;
  path: string;
  size: number;
  sha256: string | null;
  oid: string;
  lfs: boolean;
  scanId: string | null;
  errorKind: CrawlErrorKind | null;
  error: string | null;
  updatedAt: string;
}

function oneOf<T extends string>(allowed: readonly T[], v: string, what: string): T {
  if ((allowed as readonly string[]).includes(v)) return v as T;
  throw new StoreError('corrupt', `${what}: unexpected value ${JSON.stringify(v)}`);
}

function rowToRepository(r: Selectable<RepositoriesTable>): RepositoryRecord {
  let securityStatus: unknown = null;
  if (r.security_status !== null) {
    try {
      securityStatus = JSON.parse(r.security_status);
    } catch (e) {
      throw new StoreError('corrupt', `repositories ${r.repo}@${r.commit}: security_status does not parse`, { cause: e });
    }
  }
  return {
    type: oneOf(REPO_TYPES, r.repo_type, 'repositories.repo_type'),
    repo: r.repo,
    commit: r.commit,
    revision: r.revision,
    status: oneOf(REPO_STATUSES, r.status, 'repositories.status'),
    engineKey: r.engine_key,
    files: Number(r.files),
    fileErrors: Number(r.file_errors),
    securityStatus,
    license: r.license,
    needsRemoteCode: Number(r.needs_remote_code) !== 0,
    error: r.error,
    crawledAt: r.crawled_at,
    checkedAt: r.checked_at,
    lastRun: r.last_run,
  };
}

export class CrawlResults {
  readonly db: Kysely<CrawlDatabase>;

  constructor(readonly store: SqlStore) {
    this.db = store.db.withTables<CrawlTables>();
  }

  private async run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw toStoreError(e, op);
    }
  }

  getRepository(type: RepoType, repo: string, commit: string): Promise<RepositoryRecord | null> {
    return this.run('getRepository', async () => {
      const r = await this.db.selectFrom('repositories').selectAll().where('repo_type', '=', type).where('repo', '=', repo).where('commit', '=', commit).executeTakeFirst();
      return r ? rowToRepository(r) : null;
    });
  }

  putRepository(rec: RepositoryRecord): Promise<void> {
    return this.run('putRepository', async () => {
      const values = {
        revision: rec.revision,
        status: rec.status,
        engine_key: rec.engineKey,
        files: rec.files,
        file_errors: rec.fileErrors,
        security_status: rec.securityStatus === null || rec.securityStatus === undefined ? null : JSON.stringify(rec.securityStatus),
        license: rec.license,
        needs_remote_code: rec.needsRemoteCode ? 1 : 0,
        error: rec.error,
        crawled_at: rec.crawledAt,
        checked_at: rec.checkedAt,
        last_run: rec.lastRun,
      };
      await this.db
        .insertInto('repositories')
        .values({ repo_type: rec.type, repo: rec.repo, commit: rec.commit, ...values })
        .onConflict((oc) => oc.columns(['repo_type', 'repo', 'commit']).doUpdateSet(values))
        .execute();
    });
  }

  /** Records a visit that found the commit already complete: nothing else changes. */
  touchRepository(type: RepoType, repo: string, commit: string, checkedAt: string, run: string | null): Promise<void> {
    return this.run('touchRepository', async () => {
      await this.db.updateTable('repositories').set({ checked_at: checkedAt, last_run: run }).where('repo_type', '=', type).where('repo', '=', repo).where('commit', '=', commit).execute();
    });
  }

  putFile(rec: RepoFileRecord): Promise<void> {
    return this.run('putFile', async () => {
      const values = {
        size: rec.size,
        sha256: rec.sha256,
        oid: rec.oid,
        lfs: rec.lfs ? 1 : 0,
        scan_id: rec.scanId,
        error_kind: rec.errorKind,
        error: rec.error,
        updated_at: rec.updatedAt,
      };
      await this.db
        .insertInto('repo_files')
        .values({ repo_type: rec.type, repo: rec.repo, commit: rec.commit, path: rec.path, ...values })
        .onConflict((oc) => oc.columns(['repo_type', 'repo', 'commit', 'path']).doUpdateSet(values))
        .execute();
    });
  }

  /**
   * A scan of a small (non-LFS) file found by its git blob id: the tree gives no sha256 for
   * those, but the same oid means the same bytes, so any earlier crawl's scan covers it.
   */
  scanByOid(oid: string, engineKey: string): Promise<{ scanId: string; sha256: string } | null> {
    return this.run('scanByOid', async () => {
      const r = await this.db
        .selectFrom('repo_files')
        .innerJoin('scans', 'scans.id', 'repo_files.scan_id')
        .select(['scans.id as scanId', 'scans.sha256 as sha256'])
        .where('repo_files.oid', '=', oid)
        .where('repo_files.lfs', '=', 0)
        .where('scans.engine_key', '=', engineKey)
        .limit(1)
        .executeTakeFirst();
      return r ?? null;
    });
  }

  /** Repositories a given crawl run has seen (reconciliation after jobs were lost). */
  reposSeenBy(run: string): Promise<Array<{ type: RepoType; repo: string }>> {
    return this.run('reposSeenBy', async () => {
      const rows = await this.db.selectFrom('repositories').select(['repo_type', 'repo']).where('last_run', '=', run).execute();
      return rows.map((r) => ({ type: oneOf(REPO_TYPES, r.repo_type, 'repositories.repo_type'), repo: r.repo }));
    });
  }

  listRepositories(): Promise<RepositoryRecord[]> {
    return this.run('listRepositories', async () => {
      const rows = await this.db.selectFrom('repositories').selectAll().orderBy('repo_type').orderBy('repo').orderBy('commit').execute();
      return rows.map(rowToRepository);
    });
  }

  listFiles(type: RepoType, repo: string, commit: string): Promise<RepoFileRecord[]> {
    return this.run('listFiles', async () => {
      const rows = await this.db.selectFrom('repo_files').selectAll().where('repo_type', '=', type).where('repo', '=', repo).where('commit', '=', commit).orderBy('path').execute();
      return rows.map((r) => ({
        type: oneOf(REPO_TYPES, r.repo_type, 'repo_files.repo_type'),
        repo: r.repo,
        commit: r.commit,
        path: r.path,
        size: Number(r.size),
        sha256: r.sha256,
        oid: r.oid,
        lfs: Number(r.lfs) !== 0,
        scanId: r.scan_id,
        errorKind: r.error_kind as CrawlErrorKind | null,
        error: r.error,
        updatedAt: r.updated_at,
      }));
    });
  }
}
