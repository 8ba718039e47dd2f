/**
 * The benign corpus: test/corpus/benign/gen_<area>.py scripts write files with the real
 * libraries into a directory (`python gen_x.py OUTDIR`, exit 0, `SKIP <library>: <reason>` on
 * stdout for what is not installed). This module runs them and scans what they wrote with the
 * same engine as `modelgate scan`, so the test and ad-hoc measurements share one code path.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { atLeast, type Severity } from '../../src/core/findings.js';
import { scanPath } from '../../src/index.js';
import { PYTHON } from '../helpers/python.js';

const run = promisify(execFile);

export const BENIGN_DIR = join(import.meta.dirname, 'benign');

/** Every generator script, sorted (gen_sklearn.py ...). */
export function generators(): string[] {
  return readdirSync(BENIGN_DIR).filter((f) => /^gen_[a-z0-9_]+\.py$/.test(f)).sort();
}

export interface Generated {
  dir: string;
  skips: string[];
  stdout: string;
}

export async function generate(script: string): Promise<Generated> {
  const dir = mkdtempSync(join(tmpdir(), `mg-benign-${script.replace(/\.py$/, '')}-`));
  const { stdout } = await run(PYTHON, [join(BENIGN_DIR, script), dir], { maxBuffer: 16 * 1024 * 1024, timeout: 600_000 });
  const skips = stdout.split('\n').filter((l) => l.startsWith('SKIP '));
  return { dir, skips, stdout };
}

export interface Loud {
  file: string;
  rule: string;
  severity: Severity;
  message: string;
}

export interface CorpusScan {
  files: number;
  /** Files with a finding at low or above / medium or above. */
  flaggedLow: number;
  flaggedMedium: number;
  /** Every finding at `threshold` or above, with the file it is in (relative to the output dir). */
  loud: Loud[];
  /** Files whose scan did not finish (a finding in itself). */
  incomplete: string[];
  /** Every finding at low, for the record. */
  low: Loud[];
}

export async function scanCorpus(dir: string, threshold: Severity = 'medium'): Promise<CorpusScan> {
  const report = await scanPath(dir, { concurrency: 2 });
  const out: CorpusScan = { files: report.files.length, flaggedLow: 0, flaggedMedium: 0, loud: [], incomplete: [], low: [] };
  for (const f of report.files) {
    const file = relative(dir, f.path);
    if (f.findings.some((x) => atLeast(x.severity, 'low'))) out.flaggedLow++;
    if (f.findings.some((x) => atLeast(x.severity, 'medium'))) out.flaggedMedium++;
    if (!f.complete) out.incomplete.push(file);
    for (const x of f.findings) {
      const rec = { file, rule: x.rule, severity: x.severity, message: x.message };
      if (atLeast(x.severity, threshold)) out.loud.push(rec);
      else if (x.severity === 'low') out.low.push(rec);
    }
  }
  return out;
}
