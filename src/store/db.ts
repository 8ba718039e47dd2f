/**
 * Row shapes of the SQL schema, shared by the migrations and the store. Portable types only:
 * text for JSON and ISO-8601 times, integers for booleans (SQLite has no boolean), and bigint
 * columns that PostgreSQL's driver returns as strings (hence `number | string` on reads).
 */
import type { ColumnType, Generated } from 'kysely';

export type SqlDialect = 'sqlite' | 'postgres';

/** A bigint column: written as a number, read back as number (SQLite) or string (pg int8). */
type BigIntCol = ColumnType<number | string, number, number>;
type BigIntNullCol = ColumnType<number | string | null, number | null, number | null>;

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
  /** sha256 of a refusal link's secret (migration 0004). */
  ticket_hash: string | null;
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

export interface WaiverRequestsTable {
  id: string;
  created_at: string;
  requester: string;
  requester_group: string;
  via: string;
  audit_id: BigIntNullCol;
  repo_type: string;
  repo: string | null;
  sha256: string | null;
  rule: string | null;
  justification: string;
  status: string;
  decided_by: string | null;
  decided_at: string | null;
  note: string | null;
  waiver_id: string | null;
}

/** One row per (repo, commit): counts folded from the audit log, facts noted by the gatekeeper. */
export interface InventoryReposTable {
  repo_type: string;
  repo: string;
  commit: string;
  files: number;
  blocked_files: number;
  warned_files: number;
  served: number;
  refused: number;
  first_at: string | null;
  last_at: string | null;
  license: string | null;
  remote_code: string | null;
  remote_files: string | null;
  facts_at: string | null;
}

export interface InventoryFilesTable {
  repo_type: string;
  repo: string;
  commit: string;
  path: string;
  sha256: string | null;
  scan_id: string | null;
  verdict: string;
  last_audit_id: BigIntCol;
  findings: string;
  served: number;
  refused: number;
  first_at: string;
  last_at: string;
}

export interface InventoryClientsTable {
  repo_type: string;
  repo: string;
  commit: string;
  path: string;
  client: string;
  served: number;
  refused: number;
  first_at: string;
  last_at: string;
}

/** The id of the newest audit record folded into the inventory (one row, name 'inventory'). */
export interface FoldCursorTable {
  name: string;
  last_id: BigIntCol;
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

/** The policy rules that fired per audit record (migration 0008), filled by a trigger on audit. */
export interface AuditRulesTable {
  rule: string;
  audit_id: BigIntCol;
}

export interface Database {
  scans: ScansTable;
  file_meta: FileMetaTable;
  audit: AuditTable;
  waivers: WaiversTable;
  tokens: TokensTable;
  waiver_requests: WaiverRequestsTable;
  inventory_repos: InventoryReposTable;
  inventory_files: InventoryFilesTable;
  inventory_clients: InventoryClientsTable;
  fold_cursor: FoldCursorTable;
  audit_rules: AuditRulesTable;
}

/** Our migration bookkeeping tables: named for us, so another kysely app in the same schema is unaffected. */
export const MIGRATION_TABLE = 'modelgate_migration';
export const MIGRATION_LOCK_TABLE = 'modelgate_migration_lock';
