/**
 * Row shapes of the SQL schema, shared by the migrations and the store. Portable types only:
 * text for JSON and ISO-8601 times, integers for booleans (SQLite has no boolean), and bigint
 * columns that PostgreSQL's driver returns as strings (hence `number | string` on reads).
 */
import type { ColumnType, Generated } from 'kysely';

export type SqlDialect = 'sqlite' | 'postgres';

/** A bigint column: written as a number, read back as number (SQLite) or string (pg int8). */
type BigIntCol = ColumnType<number | string, number, number>;

export interface ScansTable {
  id: string;
  sha256: string;
  engine_key: string;
  report: string;
  max_severity: string | null;
  complete: number;
  created_at: string;
}

export interface FileMetaTable {
  repo_type: string;
  repo: string;
  commit: string;
  path: string;
  size: BigIntCol;
  etag: string;
  sha256: string | null;
  lfs: number;
  fetched_at: string;
}

export interface AuditTable {
  id: Generated<number | string>;
  time: string;
  request_id: string;
  client: string;
  client_group: string;
  method: string;
  repo_type: string;
  repo: string;
  revision: string;
  commit: string | null;
  path: string | null;
  sha256: string | null;
  verdict: string;
  rules: string;
  findings: string;
  waivers: string;
  upstream_status: number | null;
  scan_id: string | null;
  policy_version: string;
  message: string | null;
  /** JSON object of declared library versions (migration 0003). */
  client_libraries: string | null;
}

export interface WaiversTable {
  id: string;
  repo: string | null;
  sha256: string | null;
  rule: string | null;
  reason: string;
  author: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
}

export interface TokensTable {
  id: string;
  name: string;
  role: string;
  client_group: string;
  secret_hash: string;
  created_at: string;
  revoked_at: string | null;
}

export interface Database {
  scans: ScansTable;
  file_meta: FileMetaTable;
  audit: AuditTable;
  waivers: WaiversTable;
  tokens: TokensTable;
}

/** Our migration bookkeeping tables: named for us, so another kysely app in the same schema is unaffected. */
export const MIGRATION_TABLE = 'modelgate_migration';
export const MIGRATION_LOCK_TABLE = 'modelgate_migration_lock';
