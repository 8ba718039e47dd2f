/**
 * Runs one scan in a fresh Node process (so peak RSS is the scan's own) and reports wall time,
 * CPU time (of the scan, and of the whole process including start-up), peak RSS, bytes read and
 * the worst severity. Invoked by bench/run.ts.
 */
import { Engine, scanPath } from '../src/index.js';

const paths = process.argv.slice(2);
// Engine start-up (loading the rule catalogues) is timed apart from the scan it enables.
const s0 = performance.now();
new Engine();
const startupMs = performance.now() - s0;
const t0 = performance.now();
const c0 = process.cpuUsage();
const report = await scanPath(paths, { concurrency: 4 });
const ms = performance.now() - t0;
const scanCpu = process.cpuUsage(c0);
const all = process.cpuUsage();
const out = {
  ms,
  startupMs,
  cpuMs: (scanCpu.user + scanCpu.system) / 1000,
  processCpuMs: (all.user + all.system) / 1000,
  maxRssMB: process.resourceUsage().maxRSS / 1024,
  files: report.summary.files,
  bytesRead: report.summary.bytesRead,
  maxSeverity: report.summary.maxSeverity,
  incomplete: report.summary.incomplete,
  findings: report.summary.findings,
};
process.stdout.write(JSON.stringify(out) + '\n');
