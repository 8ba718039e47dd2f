/**
 * The scan report: the JSON schema every renderer (console, JSON, SARIF, CycloneDX, the
 * gateway's refusals) reads. Versioned: `schema` changes when a field changes meaning.
 */
import type { Finding, Severity } from '../core/findings.js';
import type { FactValue, ImportRecord } from '../formats/types.js';

export const REPORT_SCHEMA = 'modelgate/scan-report@1';

export interface MemberRecord {
  path: string[];
  formats: string[];
  size: number | null;
}

export interface FileReport {
  /** The path as given (or the display name for scanBytes). */
  path: string;
  size: number | null;
  /** Formats identified at the top level (several for polyglots). */
  formats: string[];
  findings: Finding[];
  facts: Record<string, FactValue>;
  /** Every global the file's pickles name, innocuous ones included. */
  imports: ImportRecord[];
  /** Archive members and embedded streams, in the order they were scanned (capped). */
  members: MemberRecord[];
  /** False when something was not read: never "clean". A SCAN_INCOMPLETE finding says why. */
  complete: boolean;
  maxSeverity: Severity | null;
  bytesRead: number;
  durationMs: number;
  sha256?: string;
  /** Remote scans only (hf://, http(s)://): what reading the file over HTTP cost. */
  remote?: RemoteCost;
}

/**
 * `sequential`: the format is read from start to end (pickle, compressed stream), so the scan
 * was a streamed download. `download`: the upstream ignored Range requests and the file was
 * downloaded whole before scanning.
 */
export type RemoteFallback = 'sequential' | 'download';

export interface RemoteCost {
  /** The file's URL, without query (signed CDN URLs carry credentials there). */
  url: string;
  bytesFetched: number;
  /** HTTP requests sent for this file, redirect hops included. */
  requests: number;
  fallback?: RemoteFallback;
}

export interface EngineInfo {
  name: 'modelgate';
  version: string;
  rulesVersion: string;
  analyzers: Record<string, string>;
}

export interface ScanSummary {
  files: number;
  findings: Record<Severity, number>;
  maxSeverity: Severity | null;
  incomplete: number;
  bytesRead: number;
  /** Files `--include` / `--exclude` left out (directories an exclude matches are not counted: they are not listed). */
  excluded?: number;
  /** Findings an accepted-findings entry covers (counted in `findings` too). */
  accepted?: number;
  /** Findings below `minSeverity` left out of this report (not counted in `findings`). */
  omitted?: number;
}

/** The accepted-findings file `scan` read (src/scan/accepted.ts). */
export interface AcceptFileReport {
  path: string;
  /** Entries in the file, expired ones included. */
  entries: number;
  /** Entries whose `expiresAt` has passed: they no longer apply. */
  expired: Array<{ entry: string; expiresAt: string }>;
}

/** One model repository found among the scanned directories (see scan/repository.ts). */
export interface RepositoryReport {
  /** The repository's directory, as the user gave it when possible. */
  path: string;
  /** Why the directory counts as a model repository: `config.json`, `*.safetensors`, `pytorch_model*.bin`, `model card (README.md)`. */
  markers: string[];
  /** Number of scanned files that belong to it (nested repositories keep their own files). */
  files: number;
  /** Top-level formats of its files, with the number of files of each. */
  formats: Record<string, number>;
  /** What trust_remote_code=True would run, from auto_map / custom_pipelines in its JSON configs. */
  remoteCode: {
    /** True when some config refers to code that loads only with trust_remote_code=True. */
    needed: boolean;
    /**
     * Python files it would import (`repo:file` for another repository), whether each is in the
     * directory, and the highest severity of its own findings (what the code does; null = none).
     */
    files: Array<{ file: string; present: boolean; maxSeverity?: Severity | null }>;
    /** The references as written, `config file: Slot=module.Class`. */
    references: string[];
  };
  /** Chat templates found (GGUF metadata, tokenizer_config.json, chat_template.json/.jinja): file and template label. */
  chatTemplates: Array<{ file: string; template: string }>;
  /** `license:` from the model card's YAML front matter, or null. */
  license: string | null;
  /** Files that are executables or scripts (EXECUTABLE_FILE), relative to the repository. */
  executables: string[];
  /** Weight files by kind (relative paths) and the safest way to load them, in words. */
  weights: { safetensors: string[]; pickle: string[]; gguf: string[]; advice: string };
  /** Worst finding over its files. */
  maxSeverity: Severity | null;
}

export interface ScanReport {
  schema: typeof REPORT_SCHEMA;
  engine: EngineInfo;
  startedAt: string;
  durationMs: number;
  files: FileReport[];
  summary: ScanSummary;
  /** Model repositories among the scanned directories (scanPath only; absent when there are none). */
  repositories?: RepositoryReport[];
  /** Set when findings below this severity were left out (`--min-severity`); see `summary.omitted`. */
  minSeverity?: Severity;
  /** The accepted-findings file applied, when there was one. */
  acceptFile?: AcceptFileReport;
}
