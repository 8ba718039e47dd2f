/**
 * Policy: turns a file's scan report and its repository's metadata into allow / warn / block,
 * with the named rules that fired and their reasons. Pure: no I/O; the gateway and
 * `modelgate policy test` supply the inputs.
 */
import type { FileReport } from '../scan/report.js';
import type { Waiver } from '../store/types.js';

export type Action = 'block' | 'warn' | 'off';
export type Verdict = 'allow' | 'warn' | 'block';

export interface RepoFacts {
  type: 'model' | 'dataset';
  /** `org/name` or `name`. */
  id: string;
  /** As requested (branch, tag or commit). */
  revision: string;
  commit: string;
  /** Upstream repo metadata when known. */
  createdAt?: string;
  lastModified?: string;
  license?: string;
  /**
   * Upstream hub verdict (securityStatus): files it flagged, and whether it scanned at all.
   * Absent: unknown (not fetched, or the upstream said nothing), never "clean".
   */
  upstreamScan?: { scansDone: boolean; filesWithIssues: Array<{ path: string; level: 'unsafe' | 'caution' }> };
  /**
   * config.json auto_map / custom code files (needs trust_remote_code). Absent: the repository
   * has no config.json. `needed: 'unknown'`: it has one that could not be read in time.
   */
  remoteCode?: { needed: boolean; files: string[] } | { needed: 'unknown'; reason: string };
  /** All file paths of the repository at this commit, when known. */
  files?: string[];
}

export interface FileFacts {
  path: string;
  sha256: string | null;
  size: number | null;
  /** The scan of the file's bytes; null when the decision is repository-level only. */
  report: FileReport | null;
}

export interface PolicyInput {
  repo: RepoFacts;
  file: FileFacts | null;
  /** The client's policy group ('default' when anonymous). */
  group: string;
  now: Date;
  /** Active waivers (the caller loads them; the policy checks scope and expiry). */
  waivers: Waiver[];
  /**
   * What the client declared about itself (User-Agent), per request: decisions that read it must
   * never be shared between clients. Absent: nothing known (same as no libraries).
   */
  client?: ClientFacts;
}

export interface ClientFacts {
  /** Library name -> version text as declared, e.g. `torch` -> `2.5.1+cpu`. */
  libraries: Record<string, string>;
  userAgent?: string;
}

export interface RuleOutcome {
  /** Policy rule name, e.g. `scan-severity`, `formats`, `repositories`. */
  rule: string;
  action: 'block' | 'warn';
  /** One line for humans, e.g. `pytorch_model.bin calls os.system (critical, rule scan-severity)`. */
  reason: string;
  /** The finding behind it, when a scan finding is. */
  finding?: { rule: string; severity: string; message: string; location: string };
}

export interface Decision {
  verdict: Verdict;
  /** Outcomes that count (after waivers), worst first. */
  outcomes: RuleOutcome[];
  /** Outcomes a waiver cancelled, with the waiver id. */
  waived: Array<RuleOutcome & { waiver: string }>;
  policyVersion: string;
}

export interface Policy {
  /** Content hash + declared version; part of verdict caching and audit records. */
  readonly version: string;
  evaluate(input: PolicyInput): Decision;
}
