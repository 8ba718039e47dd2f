/** modelgate's library API. */
export { scanFile, scanBytes, scanPath, type PathScanOptions } from './scan/scan.js';
export { Engine, type ScanOptions } from './scan/engine.js';
export type { ScanReport, FileReport, MemberRecord, EngineInfo, ScanSummary } from './scan/report.js';
export { REPORT_SCHEMA } from './scan/report.js';
export { pathSelector, type PathSelector } from './scan/select.js';
export { withMinSeverity } from './scan/min-severity.js';
export type { Finding, Severity, Location, Evidence, Acceptance } from './core/findings.js';
export { SEVERITIES, atLeast } from './core/findings.js';
export { DEFAULT_LIMITS, type Limits } from './core/limits.js';
export { RULES, type RuleKind } from './core/rules.js';
export type { ByteSource } from './source/types.js';
export type { Analyzer, AnalysisContext, ImportRecord } from './formats/types.js';
export { renderSarif, renderSarifText } from './report/sarif.js';
export { renderCycloneDx, renderCycloneDxText } from './report/cyclonedx.js';
export { renderMarkdown } from './report/markdown.js';
