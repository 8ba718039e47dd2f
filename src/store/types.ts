/**
 * Persistence the gateway (and later the crawler) stand on. Two interfaces: a Store for records
 * (reports, verdict cache, file metadata, audit, waivers, tokens) and a BlobStore for file bytes
 * addressed by sha256. Embedded defaults: SQLite and the filesystem; PostgreSQL and shared/S3
 * storage implement the same interfaces for replicas.
 */
import type { FileReport } from '../scan/report.js';
import type { Severity } from '../core/findings.js';
import type { ExposureStore, PolicyHistoryStore } from './console-types.js';

/** A stored scan of one blob under one engine key (scanner + analyzer + rules versions). */
export interface StoredScan {
  /** Short random id used in URLs (/reports/<id>). */
  id: string;
  sha256: string;
  engineKey: string;
  report: FileReport;
  maxSeverity: Severity | null;
  complete: boolean;
  createdAt: string;
}

/** What the gateway learned about a file of a repository at a commit (from upstream headers). */
export interface FileMeta {
  repoType: 'model' | 'dataset';
  repo: string;
  commit: string;
  path: string;
  size: number;
  /** Git blob sha1 (ETag of regular files). */
  etag: string;
  /** sha256 for LFS files (X-Linked-Etag); for small files the gateway computes it. */
  sha256: string | null;
  lfs: boolean;
  fetchedAt: string;
}

export type AuditVerdict = 'allow' | 'warn' | 'block' | 'error';

export interface AuditRecord {
  /** Assigned by the store (monotonic). */
  id?: number;
  time: string;
  requestId: string;
  /** Client identity: token name, or 'anonymous@<ip>'. Never a secret. */
  client: string;
  group: string;
  method: string;
  repoType: 'model' | 'dataset';
  repo: string;
  revision: string;
  commit: string | null;
  path: string | null;
  sha256: string | null;
  verdict: AuditVerdict;
  /** Policy rules that fired, with reasons. */
  rules: Array<{ rule: string; action: 'block' | 'warn'; reason: string }>;
  /** The findings behind the decision (rule, severity, message), capped. */
  findings: Array<{ rule: string; severity: Severity; message: string }>;
  waivers: string[];
  upstreamStatus: number | null;
  scanId: string | null;
  policyVersion: string;
  message: string | null;
  /**
   * The library versions the client declared in User-Agent (`torch` -> `2.5.1`), as the
   * client-vulnerable rule read them. Stored only when it named some: absent (or null) is none,
   * as in records written before this was recorded.
   */
  clientLibraries?: Record<string, string> | null;
}

export interface AuditQuery {
  repo?: string;
  verdict?: AuditVerdict;
  client?: string;
  sha256?: string;
  /** A policy rule that fired (exact name). */
  rule?: string;
  since?: string;
  until?: string;
  /** Records with id < before (pagination cursor, newest first). */
  before?: number;
  /**
   * Records with id > after. Without `before`, the `limit` OLDEST of them (the page just newer
   * than a cursor), still returned newest first.
   */
  after?: number;
  limit?: number;
}

/** Decisions of one UTC day (YYYY-MM-DD), by verdict. */
export type AuditDay = { day: string } & Record<AuditVerdict, number>;

/** The most frequent refusals since a time. */
export interface AuditTop {
  topBlockedRepos: Array<{ repo: string; count: number }>;
  /** Finding rules over the newest warned/blocked records (`findingSample` of them). */
  topFindingKinds: Array<{ rule: string; count: number }>;
  findingSample: number;
}

export interface Waiver {
  id: string;
  /** Glob on repo id (`org/*`), exact sha256, and/or a policy rule name; at least one is set. */
  repo: string | null;
  sha256: string | null;
  rule: string | null;
  reason: string;
  author: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

export type TokenRole = 'admin' | 'client';

export interface TokenRecord {
  id: string;
  name: string;
  role: TokenRole;
  /** Policy group for client tokens. */
  group: string;
  createdAt: string;
  revokedAt: string | null;
}

/** Policy history and exposure runs: console-types.ts. */
export interface Store extends PolicyHistoryStore, ExposureStore {
  /** Create or upgrade the schema (idempotent). */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Liveness of the backing database (readiness probes, fail-closed checks). */
  ping(): Promise<boolean>;

  getScan(sha256: string, engineKey: string): Promise<StoredScan | null>;
  getScanById(id: string): Promise<StoredScan | null>;
  putScan(scan: StoredScan): Promise<void>;

  getFileMeta(repoType: FileMeta['repoType'], repo: string, commit: string, path: string): Promise<FileMeta | null>;
  putFileMeta(meta: FileMeta): Promise<void>;

  /** Durable before it resolves: the gateway awaits it before finishing a response. */
  appendAudit(rec: AuditRecord): Promise<number>;
  queryAudit(q: AuditQuery): Promise<AuditRecord[]>;
  /** Decisions per UTC day, for records with since <= time < until. */
  auditDays(since: string, until?: string): Promise<AuditDay[]>;
  /** The `top` most blocked repositories and finding kinds at or after `since`. */
  auditTop(since: string, top: number): Promise<AuditTop>;

  addWaiver(w: Waiver): Promise<void>;
  revokeWaiver(id: string, at: string): Promise<boolean>;
  listWaivers(opts?: { activeAt?: string }): Promise<Waiver[]>;

  /** Tokens are stored as sha256 hashes of the secret only. */
  addToken(rec: TokenRecord, secretHash: string): Promise<void>;
  findToken(secretHash: string): Promise<TokenRecord | null>;
  listTokens(): Promise<TokenRecord[]>;
  revokeToken(id: string, at: string): Promise<boolean>;
}

/** A blob being written: bytes go to a temporary file, published only under its verified hash. */
export interface BlobWriter {
  readonly tempPath: string;
  write(chunk: Uint8Array): Promise<void>;
  /** Bytes written so far and their running sha256. */
  readonly written: number;
  /** Finish: returns the sha256 of what was written; the blob is NOT yet visible. */
  finish(): Promise<string>;
  /** Publish under `sha256` (must equal finish()'s value): atomic rename. */
  commit(sha256: string): Promise<void>;
  /** Drop the temporary file. Safe to call after commit (no-op). */
  abort(): Promise<void>;
}

export interface BlobStore {
  has(sha256: string): Promise<boolean>;
  /** Local path of a published blob (for scanning and serving with ranges), or null. */
  localPath(sha256: string): Promise<string | null>;
  size(sha256: string): Promise<number | null>;
  create(): Promise<BlobWriter>;
  /** Remove temporary files left by a crash (called at start-up). */
  sweep(): Promise<number>;
  /** Release connections (S3 clients); stores without any leave it out. */
  close?(): Promise<void>;
  /** Readiness of a remote tier (S3); local stores leave it out. */
  ping?(): Promise<boolean>;
}
