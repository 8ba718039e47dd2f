/**
 * The vocabulary every layer shares: severities, finding kinds and findings.
 * Finding kinds are stable ids; each has a page in docs/rules/<id>.md.
 */

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Higher is worse; used for thresholds and sorting. */
export const SEVERITY_RANK: Record<Severity, number> = { critical: 4, high: 3, medium: 2, low: 1, info: 0 };

export function atLeast(s: Severity, threshold: Severity): boolean {
  return SEVERITY_RANK[s] >= SEVERITY_RANK[threshold];
}

export function worst(list: readonly Severity[]): Severity | null {
  let best: Severity | null = null;
  for (const s of list) if (best === null || SEVERITY_RANK[s] > SEVERITY_RANK[best]) best = s;
  return best;
}

/**
 * Where a finding sits: the chain of containers from the scanned file down to the member
 * (`model.pt › archive/data.pkl`), and a byte offset inside the innermost one.
 */
export interface Location {
  path: string[];
  offset?: number;
}

/** How a global was used by the pickle: imported only, or called (REDUCE, NEWOBJ, INST, OBJ, BUILD). */
export type GlobalUse = 'imported' | 'called';

/** Structured, renderer-independent evidence; every field optional, all plain data. */
export interface Evidence {
  /** Dotted global as the pickle names it, e.g. `posix.system`. */
  global?: string;
  /** The same global after alias normalisation, e.g. `os.system`. */
  canonical?: string;
  use?: GlobalUse;
  /** Opcode that produced the fact (GLOBAL, STACK_GLOBAL, REDUCE...). */
  opcode?: string;
  /** Decompiled call chain, e.g. `builtins.getattr(<import os>, 'system')('echo pwned')`. */
  chain?: string;
  /** Catalogue entry that matched (pattern), when one did. */
  matched?: string;
  /** Why the matched entry is dangerous, from the catalogue. */
  reason?: string;
  /** Free-form details (sizes, names, limits) shown as key: value. */
  details?: Record<string, string | number | boolean>;
  /**
   * The finding as a clause that follows the file's name, aliases left out (`calls os.system`),
   * for findings that read as one; headlines use it instead of taking the message apart.
   */
  phrase?: string;
  /** The verb that clause starts with. */
  verb?: FindingVerb;
  /** Files of the repository the finding is about (the custom code a config makes transformers run). */
  files?: string[];
}

export type FindingVerb = 'calls' | 'constructs' | 'imports' | 'passes';

export interface Finding {
  rule: string;
  severity: Severity;
  message: string;
  location: Location;
  evidence: Evidence;
  references: string[];
  /**
   * Set by `modelgate scan` when an entry of the repository's accepted-findings file covers the
   * finding: still reported, but it no longer counts for `--fail-on`.
   */
  accepted?: Acceptance;
}

/** The accepted-findings entry that covers a finding (src/scan/accepted.ts). */
export interface Acceptance {
  /** The accepted-findings file, as found or given. */
  file: string;
  /** The entry's `id`, else `#n`, its position in the file (from 1). */
  entry: string;
  reason: string;
  expiresAt: string;
}
