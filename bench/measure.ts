/**
 * Runs one scan in a fresh Node process (so peak RSS is the scan's own) and reports wall time,
 * peak RSS, bytes read and the worst severity. Invoked by bench/run.ts.
 */
import { Engine, scanPath } from '../src/index.js';

const paths = process.argv.slice(2);
// Engine start-up (loading the rule catalogues) is timed apart from the scan it enables.
const s0 = performance.now();
new Engine();
const startupMs = performance.now() - s0;
const t0 = performance.now();
const report = await scanPath(paths, { concurrency: 4 });
const ms = performance.now() - t0;
const out = {
  ms,
  startupMs,
  maxRssMB: process.resourceUsage().maxRSS / 1024,
  files: report.summary.files,
  bytesRead: report.summary.bytesRead,
  maxSeverity: report.summary.maxSeverity,
  incomplete: report.summary.incomplete,
  findings: report.summary.findings,
};
process.stdout.write(JSON.stringify(out) + '\n');
