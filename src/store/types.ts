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
  /**
   * Write-only: the sha256 of the refusal link's secret (`/console/refusal/<secret>`), so the
   * user a refusal was for can open that decision and nothing else. Never read back into a record.
   */
  ticketHash?: string | null;
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

export type WaiverRequestStatus = 'pending' | 'approved' | 'rejected';

/** A user's request for a waiver, and the admin's answer (docs/console.md, Waivers). */
export interface WaiverRequest {
  id: string;
  createdAt: string;
  /** Token name, or the client of the refused decision when filed from its refusal link. */
  requester: string;
  requesterGroup: string;
  /** From the refusal link of decision `auditId`, or with a gateway token. */
  via: 'link' | 'token';
  auditId: number | null;
  repoType: 'model' | 'dataset';
  /** What is asked for: the same scope fields as a Waiver; at least one is set. */
  repo: string | null;
  sha256: string | null;
  rule: string | null;
  justification: string;
  status: WaiverRequestStatus;
  decidedBy: string | null;
  decidedAt: string | null;
  /** The admin's note (why rejected, or what was narrowed). */
  note: string | null;
  /** The waiver an approval created (its scope may be narrower than what was asked). */
  waiverId: string | null;
}

export interface WaiverRequestQuery {
  status?: WaiverRequestStatus;
  auditId?: number;
  requester?: string;
  limit?: number;
}

/** One repository at one commit as pulled through the gateway (folded from the audit log). */
export interface InventoryRepo {
  repoType: 'model' | 'dataset';
  repo: string;
  commit: string;
  /** Files requested with GET, and those whose newest decision is block or warn. */
  files: number;
  blockedFiles: number;
  warnedFiles: number;
  /** GET requests answered with the file (allow, warn) and refused (block). */
  served: number;
  refused: number;
  firstAt: string | null;
  lastAt: string | null;
  /** From the upstream's repo info and config.json when the gateway last judged it; null = not learned. */
  license: string | null;
  remoteCode: 'yes' | 'no' | 'unknown' | null;
  remoteFiles: string[];
}

export interface InventoryClient {
  client: string;
  served: number;
  refused: number;
  firstAt: string;
  lastAt: string;
}

export interface InventoryFile {
  path: string;
  sha256: string | null;
  scanId: string | null;
  /** The newest GET decision for this file, and its audit record. */
  verdict: AuditVerdict;
  lastAuditId: number;
  /** Finding kinds of that decision. */
  findings: string[];
  served: number;
  refused: number;
  firstAt: string;
  lastAt: string;
  /** How many clients pulled this file or were refused it. */
  clientCount: number;
  /** The newest of them (by their last pull or refusal), as many as were asked for. */
  clients: InventoryClient[];
}

/** A page of one file's clients, newest first; `before` is the last client of the previous page. */
export interface InventoryClientQuery {
  before?: { lastAt: string; client: string };
  limit?: number;
}

export interface InventoryQuery {
  repo?: string;
  /** Keyset cursor: repositories last pulled before this one (newest first). */
  after?: { lastAt: string; repoType: string; repo: string; commit: string };
  limit?: number;
}

export interface RepoFactsNote {
  repoType: 'model' | 'dataset';
  repo: string;
  commit: string;
  license?: string | null;
  remoteCode?: { needed: boolean | 'unknown'; files?: string[] };
  at: string;
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
  /** The stored scans of these ids that exist, in no particular order. */
  getScansByIds(ids: readonly string[]): Promise<StoredScan[]>;
  putScan(scan: StoredScan): Promise<void>;

  getFileMeta(repoType: FileMeta['repoType'], repo: string, commit: string, path: string): Promise<FileMeta | null>;
  putFileMeta(meta: FileMeta): Promise<void>;

  /** Durable before it resolves: the gateway awaits it before finishing a response. */
  appendAudit(rec: AuditRecord): Promise<number>;
  queryAudit(q: AuditQuery): Promise<AuditRecord[]>;
  /** The lowest id of a record at or after `since` (null when there is none). */
  auditFirstId(since: string): Promise<number | null>;
  /** Whether more than `n` records match `q` (its limit ignored). */
  auditExceeds(q: AuditQuery, n: number): Promise<boolean>;
  /** Decisions per UTC day, for records with since <= time < until. */
  auditDays(since: string, until?: string): Promise<AuditDay[]>;
  /** The `top` most blocked repositories and finding kinds at or after `since`. */
  auditTop(since: string, top: number): Promise<AuditTop>;

  addWaiver(w: Waiver): Promise<void>;
  revokeWaiver(id: string, at: string): Promise<boolean>;
  listWaivers(opts?: { activeAt?: string }): Promise<Waiver[]>;
  getWaiver(id: string): Promise<Waiver | null>;

  /**
   * The waiver workflow: each change commits together with its audit record (one transaction),
   * so a change is never without its record nor a record without its change. Each returns the
   * audit id, or null when the change did not apply (not pending, already revoked): then
   * nothing was written.
   */
  addWaiverAudited(w: Waiver, audit: AuditRecord): Promise<number>;
  revokeWaiverAudited(id: string, at: string, audit: AuditRecord): Promise<number | null>;
  addWaiverRequest(r: WaiverRequest, audit: AuditRecord): Promise<number>;
  approveWaiverRequest(id: string, waiver: Waiver, decision: { by: string; at: string; note: string | null }, audit: AuditRecord): Promise<number | null>;
  rejectWaiverRequest(id: string, decision: { by: string; at: string; note: string | null }, audit: AuditRecord): Promise<number | null>;
  getWaiverRequest(id: string): Promise<WaiverRequest | null>;
  /** Newest first. */
  listWaiverRequests(q?: WaiverRequestQuery): Promise<WaiverRequest[]>;
  /** The decision a refusal link names (by the sha256 of its secret). */
  findAuditByTicket(ticketHash: string): Promise<AuditRecord | null>;

  /**
   * Folds audit records not yet counted into the inventory (at most `max`); safe to run from
   * several processes at once (each record is counted once). `behind`: more remain.
   */
  foldInventory(max?: number): Promise<{ folded: number; behind: boolean }>;
  noteRepoFacts(f: RepoFactsNote): Promise<void>;
  /** Repositories at commits, last pulled first. */
  listInventory(q?: InventoryQuery): Promise<InventoryRepo[]>;
  /** Every commit of one repository that was pulled, last pulled first. */
  inventoryCommits(repoType: InventoryRepo['repoType'], repo: string): Promise<InventoryRepo[]>;
  /** The files of a commit (by path), each with its client count and its `clientsPerFile` newest clients. */
  inventoryFiles(repoType: InventoryRepo['repoType'], repo: string, commit: string, clientsPerFile: number): Promise<InventoryFile[]>;
  inventoryFileClients(repoType: InventoryRepo['repoType'], repo: string, commit: string, path: string, q?: InventoryClientQuery): Promise<InventoryClient[]>;

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
