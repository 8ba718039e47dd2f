/**
 * The analyzer interface: which bytes it claims, how it analyses them, and its version
 * (which goes into every cache key together with the rules version).
 * Analyzers do no I/O beyond the ByteSource they are given, and never execute what they read.
 */
import type { Evidence, GlobalUse, Severity } from '../core/findings.js';
import type { Limits } from '../core/limits.js';
import type { RuleId } from '../core/rules.js';
import type { ByteSource } from '../source/types.js';
import type { GlobalCatalogue } from '../rules/globals.js';
import type { FormatId } from './catalogue.js';

/** What sniffing sees: the first and last bytes of a source (tail empty when the size is unknown). */
export interface SniffInput {
  head: Uint8Array;
  tail: Uint8Array;
  size: number | null;
  /** Display name; NEVER used to choose an analyzer, only to refine a claim's wording. */
  name: string;
}

export interface Claim {
  /** Format id from the catalogue (formats/catalogue.ts), e.g. `pickle`, `zip`, `npy`, `gzip`. */
  format: FormatId;
  /** 0..1; the engine picks the highest. Magic numbers are ~0.9+, heuristics lower. */
  confidence: number;
  /** Analyzer-private data computed while sniffing (e.g. the EOCD offset). */
  hint?: Record<string, number | string | boolean>;
}

export interface FindingDraft {
  /** A rule id from core/rules.ts (checked by the compiler). */
  rule: RuleId;
  /** Defaults to the rule's default severity from core/rules. */
  severity?: Severity;
  message: string;
  /** Byte offset inside the current source. */
  offset?: number;
  evidence?: Evidence;
  references?: string[];
}

export type FactValue = string | number | boolean | string[];

/** One global a pickle resolved, kept for --list-imports and for the report's import table. */
export interface ImportRecord {
  global: string;
  canonical: string;
  verdict: 'safe' | 'dangerous' | 'unknown';
  use: GlobalUse;
  opcode: string;
  offset: number;
  path: string[];
}

export interface MemberOptions {
  /** Compressed size of the member, for ratio checks. */
  compressedSize?: number;
  /**
   * Sniff from this many head bytes and no tail, for members no loader interprets beyond raw
   * numbers (PyTorch tensor storages): a magic number still shows, and a checkpoint of hundreds
   * of tensors is not read 128 KiB per tensor (which a remote scan would download).
   */
  sniffBytes?: number;
}

export interface AnalysisContext {
  readonly limits: Limits;
  readonly globals: GlobalCatalogue;
  /** Location chain of the source being analysed (file › member › member). */
  readonly path: readonly string[];
  /** Container depth of the current source (0 = the scanned file). */
  readonly depth: number;
  emit(finding: FindingDraft): void;
  fact(key: string, value: FactValue): void;
  recordImport(rec: Omit<ImportRecord, 'path'>): void;
  /** Sniff a member and dispatch it to its analyzer, one level deeper (depth-limited by the engine). */
  scanMember(member: ByteSource, opts?: MemberOptions): Promise<void>;
  /** Count decompressed bytes against the per-file budget; false once it is exhausted. */
  chargeDecompressed(bytes: number): boolean;
  /** True once the per-file time budget is spent; long loops check it and stop with a finding. */
  expired(): boolean;
  /** Marks the file as not completely scanned (also emits SCAN_INCOMPLETE once, with the reason). */
  incomplete(reason: string, offset?: number): void;
}

export interface Analyzer {
  readonly id: string;
  readonly version: string;
  /** Human-readable list of what it reads, for `modelgate analyzers` and docs. */
  readonly description: string;
  sniff(input: SniffInput): Claim | null;
  analyze(source: ByteSource, ctx: AnalysisContext, claim: Claim): Promise<void>;
}
