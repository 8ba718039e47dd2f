/**
 * The globals catalogue: which Python globals a pickle may name safely, which are dangerous,
 * and everything else is unknown (suspicious). The data lives in rules/globals.yaml at the
 * package root; this module loads it and matches names against it.
 *
 * INTERFACE ONLY for now; the implementation is being written (see classify()).
 */
import type { Severity } from '../core/findings.js';

export type GlobalVerdict = 'safe' | 'dangerous' | 'unknown';

export interface GlobalClassification {
  verdict: GlobalVerdict;
  /** critical/high for dangerous (from the entry), medium for unknown, info for safe. */
  severity: Severity;
  /** Dotted path after alias normalisation, e.g. `posix.system` -> `os.system`. */
  canonical: string;
  /** The catalogue pattern that matched (e.g. `os` or `builtins.eval`), when one did. */
  matched?: string;
  reason?: string;
  references: string[];
}

export interface GlobalCatalogue {
  /** Content version of the rule data (goes into cache keys). */
  readonly version: string;
  /** Classify `module` + `name` as a pickle GLOBAL / STACK_GLOBAL would resolve them. */
  classify(module: string, name: string): GlobalClassification;
}
