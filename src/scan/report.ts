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
}

export interface ScanReport {
  schema: typeof REPORT_SCHEMA;
  engine: EngineInfo;
  startedAt: string;
  durationMs: number;
  files: FileReport[];
  summary: ScanSummary;
}
