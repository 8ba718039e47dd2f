/**
 * Shapes shared by `modelgate crawl` (the producer) and `modelgate worker` (the consumers): the
 * job payload that crosses Redis, the job result, the error kinds, and the job-id rule.
 */
import type { HubErrorKind, HubResult } from '../remote/hub.js';
import { parseEndpoint } from '../remote/target.js';

// Here rather than in redis.ts: the command definitions show them without loading ioredis.
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_QUEUE = 'modelgate-crawl';

/** A repository on a hub. */
export type HubRepoType = 'model' | 'dataset';
/**
 * What a job crawls: a hub repository, or (`s3`) one model in an S3 bucket, whose `repo` is
 * `bucket/key`: a "directory" when the key ends in '/', else one object (docs/crawl.md).
 */
export type RepoType = HubRepoType | 's3';
export const REPO_TYPES: readonly RepoType[] = ['model', 'dataset', 's3'];

/** Payload of one repository job. Versioned so that old jobs left in Redis are recognised. */
export interface RepoJobData {
  v: 1;
  type: RepoType;
  repo: string;
  /** What to crawl: a branch, tag or commit; resolved to a commit by the worker. */
  revision: string;
  /**
   * The upstream the crawl enumerated; a worker's own --endpoint overrides it. For `s3` jobs,
   * the S3 endpoint, '' for the worker's AWS default (its environment); never overridden.
   */
  endpoint: string;
  /** `s3` jobs: the region the crawl was given, if any (else the worker's AWS default). */
  region?: string;
  /** Identifies the `crawl` invocation that enqueued it (reconciliation after lost jobs). */
  run: string;
}

export type RepoStatus =
  /** Every file has a scan under the worker's engine key. */
  | 'done'
  /** Some files could not be scanned (each has its error in repo_files). */
  | 'partial';

export const REPO_STATUSES: readonly RepoStatus[] = ['done', 'partial'];

export interface RepoJobResult {
  type: RepoType;
  repo: string;
  commit: string;
  status: RepoStatus;
  /** True when the repo at this commit was already complete under this engine key: nothing fetched. */
  unchanged: boolean;
  files: number;
  /** Files this worker scanned. */
  scanned: number;
  /** Files whose content already had a scan (by sha256 or git oid), or that another worker scanned meanwhile. */
  skipped: number;
  fileErrors: number;
  bytesFetched: number;
  ms: number;
}

export type CrawlErrorKind =
  /** Network failure, timeout, 5xx or 429 that outlived our retries: the job is retried later. */
  | 'transient'
  /** The repository or revision does not exist, or is gated/private for us: retrying will not help. */
  | 'not-found'
  /** The upstream answered something that breaks the protocol (no commit, bad JSON, wrong size or hash). */
  | 'protocol'
  /** A file exceeds --max-file-bytes and is not fetched. */
  | 'too-large'
  /** Bad input from the user or the queue (invalid repo id, unknown job version). */
  | 'invalid'
  /** Writing results failed (database unavailable); retried with the job. */
  | 'store';

export class CrawlError extends Error {
  override readonly name = 'CrawlError';
  constructor(
    readonly kind: CrawlErrorKind,
    message: string,
    readonly status: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What a failed Hub call means for a job: gated counts as gone (not retried), an outage as transient (retried). */
const FROM_HUB: Record<HubErrorKind, CrawlErrorKind> = {
  network: 'transient',
  unavailable: 'transient',
  'not-found': 'not-found',
  auth: 'not-found',
  status: 'protocol',
  protocol: 'protocol',
  limit: 'too-large',
};

export function crawlKindOf(kind: HubErrorKind): CrawlErrorKind {
  return FROM_HUB[kind];
}

/** A Hub call's value, or its error thrown as a CrawlError (BullMQ retries jobs by what they throw). */
export function orThrow<T>(r: HubResult<T>): T {
  if (r.ok) return r.value;
  throw new CrawlError(FROM_HUB[r.error.kind], r.error.message, r.error.status);
}

/** The upstream's API root; a bad one is an input error, not something a retry cures. */
export function endpointOrThrow(raw: string): URL {
  const r = parseEndpoint(raw);
  if (!r.ok) throw new CrawlError('invalid', `--endpoint: ${r.message}`);
  return r.value;
}

export function isCrawlError(e: unknown, kind?: CrawlErrorKind): e is CrawlError {
  return e instanceof CrawlError && (kind === undefined || e.kind === kind);
}

/**
 * Errors worth retrying the whole job for. A repository that is gone, gated or invalid stays so;
 * anything else (network, 5xx, a database hiccup, a garbled answer from a proxy) may pass.
 */
export function isRetryable(e: unknown): boolean {
  return !(e instanceof CrawlError) || !(e.kind === 'not-found' || e.kind === 'invalid' || e.kind === 'too-large');
}

// huggingface_hub's validate_repo_id: word characters, '-' and '.', no '--' or '..', ≤ 96 chars.
const NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?$/;

export function validRepoId(id: string): boolean {
  const parts = id.split('/');
  return parts.length >= 1 && parts.length <= 2 && parts.every((p) => NAME.test(p) && !p.includes('--') && !p.includes('..'));
}

/** A revision safe to put in a URL segment and a job id (no ':' for BullMQ, no control characters). */
export function validRevision(rev: string): boolean {
  return rev.length > 0 && rev.length <= 256 && !/[\u0000-\u001f\u007f:\s]/.test(rev);
}

/**
 * The job id: one job per (type, repo, revision) while it is queued, so enqueueing the same
 * repository twice (two crawls of one organisation, a re-run) adds nothing. A commit given as
 * the revision makes the id name the exact content. BullMQ forbids ':' in custom ids; repo ids
 * and revisions never contain one (checked above), and '@' cannot occur in a repo id.
 */
export function jobIdOf(type: RepoType, repo: string, revision: string): string {
  // S3 keys may hold ':' (and '%'): escaped so the id stays one per model and BullMQ takes it.
  const r = type === 's3' ? repo.replace(/%/g, '%25').replace(/:/g, '%3A') : repo;
  return `${type}/${r}@${revision}`;
}

/** The revision of every `s3` job: a bucket has no commits; the worker fingerprints the listing. */
export const S3_REVISION = 'latest';

const S3_BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/;

/** `bucket/key` with a plausible bucket and a key S3 could hold. */
export function validS3Repo(repo: string): boolean {
  const slash = repo.indexOf('/');
  if (slash < 0) return false;
  const key = repo.slice(slash + 1);
  return S3_BUCKET.test(repo.slice(0, slash)) && key !== '' && Buffer.byteLength(key) <= 1024 && !/[\u0000-\u001f\u007f]/.test(key);
}

/** Parses a line of --from-file: `org/name`, `org/name@revision`, optionally `datasets/org/name`. */
export function parseRepoSpec(line: string, defaultType: HubRepoType): { ok: true; type: HubRepoType; repo: string; revision: string } | { ok: false; message: string } {
  let s = line.trim();
  let type = defaultType;
  if (s.startsWith('datasets/')) {
    type = 'dataset';
    s = s.slice('datasets/'.length);
  } else if (s.startsWith('models/')) {
    type = 'model';
    s = s.slice('models/'.length);
  }
  const at = s.indexOf('@');
  const repo = at < 0 ? s : s.slice(0, at);
  const revision = at < 0 ? 'main' : s.slice(at + 1);
  if (!validRepoId(repo)) return { ok: false, message: `not a repository id: ${JSON.stringify(line.trim())}` };
  if (!validRevision(revision)) return { ok: false, message: `not a usable revision: ${JSON.stringify(revision)}` };
  return { ok: true, type, repo, revision };
}
