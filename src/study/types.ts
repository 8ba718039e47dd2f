/**
 * The study: what `modelgate report` computes from a crawl store, in the shape its JSON output
 * carries (`modelgate/study@1`). Renderers (Markdown, HTML) read only this, never the database.
 *
 * Bump STUDY_SCHEMA when a field changes meaning; adding a field is not a change of meaning.
 */
import type { Severity } from '../core/findings.js';

export const STUDY_SCHEMA = 'modelgate/study@1';

/** Worst-severity buckets: a file or repository falls in exactly one. */
export type SeverityBucket = Severity | 'none' | 'not-scanned';
export const SEVERITY_BUCKETS: readonly SeverityBucket[] = ['critical', 'high', 'medium', 'low', 'info', 'none', 'not-scanned'];

/** The hub's levels as huggingface.co names them; anything else it sends is kept as text. */
export type HubLevel = 'unsafe' | 'caution';
export const HUB_LEVELS: readonly HubLevel[] = ['caution', 'unsafe'];

/**
 * What the hub said about a repository: `scanned` (scansDone: true), `not-scanned`
 * (scansDone: false) or `none` (no securityStatus at all, e.g. a hub without scanners).
 */
export type HubState = 'scanned' | 'not-scanned' | 'none';

/** Where a file or repository sits when our verdict is put next to the hub's. */
export type Agreement = 'both' | 'ours-only' | 'hub-only' | 'neither' | 'hub-not-scanned-flagged' | 'hub-not-scanned-clean';
export const AGREEMENTS: readonly Agreement[] = ['both', 'ours-only', 'hub-only', 'neither', 'hub-not-scanned-flagged', 'hub-not-scanned-clean'];

export interface StudyOptions {
  /** A file is "flagged by us" when its worst finding is at or above this. */
  threshold: Severity;
  /** A file is "flagged by the hub" when it lists it at or above this level. */
  hubLevel: HubLevel;
  /** Rows per list (the rest is counted, not listed). */
  limit: number;
  /** Rows of the format, kind and global tables. */
  top: number;
}

/** Defaults and bounds of the `modelgate report` flags (here so the command defines them without loading the store). */
export const DEFAULT_STUDY_OPTIONS: StudyOptions = { threshold: 'high', hubLevel: 'caution', limit: 50, top: 20 };
export const MAX_LIST_LIMIT = 10_000;

export const STUDY_FORMATS = ['markdown', 'html', 'json'] as const;
export type StudyFormat = (typeof STUDY_FORMATS)[number];

/** A list cut at `limit` rows: `total` says how many there are in all. */
export interface Capped<T> {
  total: number;
  rows: T[];
}

/** The finding a human should look at first for one file: its worst, earliest in the report. */
export interface TopFinding {
  rule: string;
  title: string;
  severity: string;
  /** The dangerous global (evidence.canonical, else evidence.global), when the finding names one. */
  global: string | null;
  message: string;
}

export interface RepoRef {
  type: string;
  repo: string;
  commit: string;
}

/** One file in a comparison list. */
export interface ComparisonRow extends RepoRef {
  path: string;
  /** Null for a file the hub lists but the crawl has no record of. */
  size: number | null;
  ours: {
    severity: Severity | null;
    scanned: boolean;
    top: TopFinding | null;
    /** Why the file was not scanned (error kind: message), when it was not. */
    error: string | null;
  };
  hub: { state: HubState; level: string | null };
}

export interface WorstRepositoryRow extends RepoRef {
  files: number;
  bytes: number;
  /** Files at or above the threshold. */
  flaggedFiles: number;
  severity: Severity;
  worstFile: string;
  top: TopFinding | null;
  hub: { state: HubState; flaggedFiles: number };
  needsRemoteCode: boolean;
  license: string | null;
}

export interface RemoteCodeRow extends RepoRef {
  license: string | null;
  files: number;
  severity: Severity | null;
}

export interface ErrorRow extends RepoRef {
  path: string;
  size: number;
  kind: string;
  message: string;
}

export interface Study {
  schema: typeof STUDY_SCHEMA;
  title: string;
  generatedAt: string;
  generator: { name: 'modelgate'; version: string; engineKey: string };
  options: StudyOptions;
  store: { dialect: 'sqlite' | 'postgres' };
  crawl: {
    /** Repositories (their latest crawled commit each). */
    repositories: number;
    byType: Record<string, number>;
    /** Every (repository, commit) row, older commits included. */
    commits: number;
    partialRepositories: number;
    firstCrawledAt: string | null;
    lastCrawledAt: string | null;
  };
  files: {
    total: number;
    bytes: number;
    scanned: number;
    scannedBytes: number;
    notScanned: number;
    /** Scanned, but something was not read: never counted as clean. */
    incomplete: number;
    /** Distinct scanned contents (the same bytes in several repositories are scanned once). */
    distinctContents: number;
  };
  formats: Capped<{ format: string; files: number; repositories: number; bytes: number }>;
  severity: {
    files: Record<SeverityBucket, number>;
    repositories: Record<SeverityBucket, number>;
  };
  kinds: Capped<{ rule: string; title: string; severity: string; files: number; repositories: number; findings: number }>;
  dangerousGlobals: Capped<{ global: string; files: number; repositories: number }>;
  remoteCode: { repositories: number; flagged: number; list: Capped<RemoteCodeRow> };
  hub: {
    states: Record<HubState, number>;
    repositories: Record<Agreement, number>;
    files: Record<Agreement, number>;
    oursOnly: Capped<ComparisonRow>;
    hubOnly: Capped<ComparisonRow>;
    notScanned: Capped<ComparisonRow>;
  };
  worstRepositories: Capped<WorstRepositoryRow>;
  engines: {
    files: Array<{ engineKey: string; files: number; current: boolean }>;
    repositories: Array<{ engineKey: string; repositories: number; current: boolean }>;
  };
  errors: {
    files: number;
    byKind: Array<{ kind: string; files: number }>;
    list: Capped<ErrorRow>;
  };
}

export type StudyErrorKind = 'unavailable' | 'empty' | 'schema' | 'corrupt' | 'internal' | 'invalid';

export type StudyResult = { ok: true; study: Study } | { ok: false; error: { kind: StudyErrorKind; message: string } };
