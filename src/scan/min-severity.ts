/**
 * `--min-severity`: a report without the findings below a severity (SARIF and Markdown leave
 * info notes out by default; code scanning alerts and pull-request comments are no place for
 * "text file; not a model format"). Findings that fail the run (`keepFrom`, the `--fail-on`
 * threshold, accepted findings aside) are always kept, so a failing run always shows why.
 */
import { atLeast, type Finding, type Severity } from '../core/findings.js';
import type { ScanReport } from './report.js';

export function keeps(f: Finding, min: Severity, keepFrom?: Severity): boolean {
  return atLeast(f.severity, min) || (keepFrom !== undefined && !f.accepted && atLeast(f.severity, keepFrom));
}

/**
 * A copy of the report without the findings `keeps` rejects: `summary.findings` and
 * `summary.accepted` count what remains, `summary.omitted` what was left out, and `minSeverity`
 * says so. Each file's `maxSeverity` stays the worst of all its findings, listed or not.
 */
export function withMinSeverity(report: ScanReport, min: Severity, keepFrom?: Severity): ScanReport {
  if (min === 'info') return report;
  const findings = { critical: 0, high: 0, medium: 0, low: 0, info: 0 };
  let omitted = 0;
  let accepted = 0;
  const files = report.files.map((file) => {
    const kept = file.findings.filter((f) => keeps(f, min, keepFrom));
    omitted += file.findings.length - kept.length;
    for (const f of kept) {
      findings[f.severity]++;
      if (f.accepted) accepted++;
    }
    return kept.length === file.findings.length ? file : { ...file, findings: kept };
  });
  const summary = { ...report.summary, findings, omitted, ...(report.summary.accepted !== undefined ? { accepted } : {}) };
  return { ...report, files, summary, minSeverity: min };
}

