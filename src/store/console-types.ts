/**
 * What the console's policy history and exposure runs keep in the store (migrations 0006, 0007):
 * every policy version the gateway loaded, and the background re-evaluations of cached files
 * after a scanner/rules change or a waiver's expiry, with the files whose verdict got worse.
 */
import type { AuditRecord, AuditVerdict } from './types.js';

/** How a policy came into force. */
export type PolicyLoadEvent = 'start' | 'reload';

/** One time a gateway put a policy in force (start-up or hot reload). */
export interface PolicyLoad {
  /** Assigned by the store (monotonic). */
  id?: number;
  at: string;
  /** The compiled version (`declared+rulehash`), as recorded with each decision. */
  version: string;
  /** sha256 of the policy text (of `builtin:<version>` for the built-in default policy). */
  sha256: string;
  /** The file it was read from, or `(built-in default policy)`. */
  source: string;
  event: PolicyLoadEvent;
  /** Who caused it: `start-up`, an admin token's name, `signal:SIGHUP`. */
  actor: string;
}

export interface PolicyText {
  sha256: string;
  version: string;
  /** The file as loaded; null for the built-in default policy (it has no file). */
  text: string | null;
}

export type ExposureReason = 'engine' | 'waiver' | 'manual';

/** A background re-evaluation of every cached file. */
export interface ExposureRun {
  /** Deterministic for a trigger (`e-…` per engine key, `w-…` per waiver), so replicas and restarts share one run. */
  id: string;
  reason: ExposureReason;
  /** For people: which engine keys were replaced, which waiver expired. */
  detail: string;
  engineKey: string;
  policyVersion: string;
  createdAt: string;
  finishedAt: string | null;
  /** Cached files (distinct sha256) the run covers. */
  total: number;
}

export type ExposureItemState = 'pending' | 'running' | 'done' | 'skipped' | 'failed';

export type ExposureProgress = Record<ExposureItemState, number>;

/** A cached file's item in a run that did not end `done`, and why. */
export interface ExposureItemNote {
  sha256: string;
  state: ExposureItemState;
  note: string | null;
}

/** A decision that served a file (GET, allow or warn): the newest one of each repository path and group. */
export type ServedDecision = { id: number } & Pick<
  AuditRecord,
  'time' | 'client' | 'group' | 'repoType' | 'repo' | 'revision' | 'commit' | 'path' | 'sha256' | 'verdict' | 'rules' | 'clientLibraries' | 'policyVersion'
>;

/** A file whose verdict got worse than when it was served. */
export interface Exposure {
  id?: number;
  runId: string;
  foundAt: string;
  sha256: string;
  repoType: 'model' | 'dataset';
  repo: string;
  commit: string | null;
  path: string | null;
  group: string;
  /** The served decision this compares against (its audit id). */
  basisAuditId: number;
  before: AuditVerdict;
  after: AuditVerdict;
  rules: Array<{ rule: string; action: 'block' | 'warn'; reason: string }>;
  findings: Array<{ rule: string; severity: string; message: string }>;
  scanId: string | null;
  engineKey: string;
  /** The audit record that announced it (written in the same transaction). */
  auditId: number | null;
}

/** One download of a file's bytes (GET served), for "who has it". */
export interface Download {
  id: number;
  time: string;
  client: string;
  group: string;
  repo: string;
  commit: string | null;
  path: string | null;
  verdict: AuditVerdict;
}

export interface PolicyHistoryStore {
  /** Stores the text once per content hash and the load itself; returns the load's id. */
  recordPolicyLoad(load: PolicyLoad, text: string | null): Promise<number>;
  /** Newest first; `before` is an id cursor. */
  listPolicyLoads(q?: { limit?: number; before?: number }): Promise<PolicyLoad[]>;
  /** A loaded policy's text by content hash, or the newest one loaded under a version. */
  getPolicyText(key: { sha256: string } | { version: string }): Promise<PolicyText | null>;
}

export interface ExposureStore {
  /** Cached files whose only scans are under other engine keys, and (up to 10 of) those keys. */
  staleScans(engineKey: string): Promise<{ files: number; engines: string[] }>;
  /** Creates the run with one pending item per cached file; false when a run with this id exists. */
  createExposureRun(run: ExposureRun): Promise<boolean>;
  getExposureRun(id: string): Promise<ExposureRun | null>;
  /** Newest first. */
  listExposureRuns(limit?: number): Promise<ExposureRun[]>;
  /** Takes one pending item (or one whose lease ran out) for `owner` until `leaseUntil`; null when none is left. */
  claimExposureItem(runId: string, owner: string, now: string, leaseUntil: string): Promise<string | null>;
  settleExposureItem(runId: string, sha256: string, state: 'done' | 'skipped' | 'failed', note: string | null, now: string): Promise<void>;
  /** Gives back what `owner` holds (a clean shutdown), so another process need not wait for the lease. */
  releaseExposureItems(runId: string, owner: string): Promise<number>;
  exposureProgress(runId: string): Promise<ExposureProgress>;
  /** Items not done (skipped, failed), for the console. */
  exposureItemNotes(runId: string, limit?: number): Promise<ExposureItemNote[]>;
  /** Marks the run finished when no item is pending or running; true when it did now. */
  finishExposureRun(runId: string, now: string): Promise<boolean>;
  /** The newest served decision of each (repository, commit, path, group) for these bytes. */
  servedDecisions(sha256: string): Promise<ServedDecision[]>;
  /**
   * Records a worsened file once per (served decision, new verdict), together with the audit
   * record announcing it (one transaction). `auditId` is that record's id when this call wrote
   * both; a rerun, a resumed run or a second replica gets the existing row and null.
   */
  addExposure(e: Exposure, announcement: AuditRecord): Promise<{ exposure: Exposure; auditId: number | null }>;
  /** Newest first; `before` is an id cursor. */
  listExposures(q?: { runId?: string; before?: number; limit?: number }): Promise<Exposure[]>;
  /** Served downloads of these bytes, newest first, and how many there are in all. */
  servedDownloads(sha256: string, limit?: number): Promise<{ total: number; downloads: Download[] }>;
  /** The same for several sha256s at once (each present in the answer, with 0 when none). */
  servedDownloadsOf(sha256s: readonly string[], limit?: number): Promise<Map<string, { total: number; downloads: Download[] }>>;
}
