/**
 * Precision and recall on real files, for bench/RESULTS.md (issue 9's table):
 * - the benign corpus: every test/corpus/benign/gen_*.py run with the real libraries into
 *   bench/out/benign/<area>/ (kept between runs; delete the folder to regenerate), every file
 *   scanned; how many carry a finding at >= medium (target 0) and at >= low, and the scan time;
 * - the malicious fixtures of fixtures/manifest.json: how many `modelgate scan` flags (a finding at
 *   >= medium, its default --fail-on) and how many the gateway's default policy blocks.
 * Run: `npm run build && node dist/bench/precision.js`. Prints Markdown; never a test.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { atLeast, scanPath, type FileReport } from '../src/index.js';
import { defaultPolicy } from '../src/policy/index.js';
import type { ManifestEntry } from '../test/helpers/manifest.js';
import { pythonOf } from '../test/helpers/python-envs.mjs';

const root = join(import.meta.dirname, '..', '..');
const corpusDir = join(root, 'test', 'corpus', 'benign');
const out = join(root, 'bench', 'out', 'benign');
const python = pythonOf('MG_PYTHON');

const loud = (f: FileReport, s: 'medium' | 'low') => f.findings.some((x) => atLeast(x.severity, s));

const rows: string[] = ['| benign corpus | files | flagged ≥ medium | flagged ≥ low | scan time |', '|---|---|---|---|---|'];
let all = { files: 0, medium: 0, low: 0, ms: 0 };
const offenders: string[] = [];
for (const gen of readdirSync(corpusDir).filter((n) => /^gen_.*\.py$/.test(n)).sort()) {
  const area = gen.slice(4, -3);
  const dir = join(out, area);
  // Generated once and kept; a folder left empty or half-written by a failed run is made again.
  const done = `${dir}.generated`;
  if (!existsSync(done) || !existsSync(dir)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const said = execFileSync(python, [join(corpusDir, gen), dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    for (const line of said.split('\n')) if (line.startsWith('SKIP')) process.stderr.write(`${gen}: ${line}\n`);
    writeFileSync(done, '');
  }
  const t0 = performance.now();
  const report = await scanPath([dir], { concurrency: 2 });
  const ms = performance.now() - t0;
  const files = report.files;
  const medium = files.filter((f) => loud(f, 'medium'));
  const low = files.filter((f) => loud(f, 'low'));
  for (const f of medium) offenders.push(`${f.path}: ${f.findings.filter((x) => atLeast(x.severity, 'medium')).map((x) => `${x.rule} ${x.message}`).join('; ')}`);
  rows.push(`| ${area} | ${files.length} | ${medium.length} | ${low.length} | ${(ms / 1000).toFixed(2)} s |`);
  all = { files: all.files + files.length, medium: all.medium + medium.length, low: all.low + low.length, ms: all.ms + ms };
}
rows.push(`| **all** | ${all.files} | ${all.medium} | ${all.low} | ${(all.ms / 1000).toFixed(2)} s |`);

const policy = defaultPolicy();
const manifest = JSON.parse(readFileSync(join(root, 'fixtures', 'manifest.json'), 'utf8')) as ManifestEntry[];
const malicious = manifest.filter((e) => e.kind === 'malicious' && !e.pending);
let flagged = 0;
let blocked = 0;
const missed: string[] = [];
for (const e of malicious) {
  const report = await scanPath([join(root, 'fixtures', e.file)], { hash: true });
  const files = report.files;
  const isFlagged = files.some((f) => loud(f, 'medium'));
  const isBlocked = files.some((f) => policy.evaluate({ repo: { type: 'model', id: 'local/model', revision: 'main', commit: '' }, file: { path: f.path, sha256: f.sha256 ?? null, size: f.size, report: f }, group: 'default', now: new Date(), waivers: [] }).verdict === 'block');
  if (isFlagged) flagged++;
  if (isBlocked) blocked++;
  if (!isFlagged || !isBlocked) missed.push(`${e.file}: ${isFlagged ? 'flagged' : 'NOT flagged'}, ${isBlocked ? 'blocked' : 'NOT blocked'} (max ${files.map((f) => f.maxSeverity).join(',')})`);
}
rows.push('', '| malicious fixtures | count |', '|---|---|');
rows.push(`| in fixtures/manifest.json | ${malicious.length} |`, `| flagged by \`modelgate scan\` (≥ medium) | ${flagged} |`, `| blocked by the default policy | ${blocked} |`);
process.stdout.write(`${rows.join('\n')}\n`);
if (offenders.length) process.stdout.write(`\nbenign files flagged at >= medium:\n${offenders.map((o) => `- ${o}`).join('\n')}\n`);
if (missed.length) process.stdout.write(`\nmalicious fixtures not flagged or not blocked:\n${missed.map((o) => `- ${o}`).join('\n')}\n`);
