/**
 * `npm run bench`: builds inputs with the real libraries (Python; set MG_PYTHON to a venv with
 * torch, numpy, joblib and scikit-learn, see fixtures/README.md), scans them with the compiled
 * scanner in child processes, and prints a Markdown table to paste into bench/RESULTS.md.
 * Never a test: timings vary by machine.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gatewayBench, type GatewayBenchRow } from './gateway.js';
import { formatBench, type FormatRow } from './formats.js';
import { benchRemote } from './remote.js';
import { benchS3 } from './s3.js';
import { runCrawlBench } from './crawl.js';
import { renderStartup, startupBench } from './startup.js';
import { consoleScaleBench, renderConsoleScale } from './console-scale.js';
import { pythonOf } from '../test/helpers/python-envs.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const out = join(root, 'bench', 'out');
const python = existsSync(pythonOf('MG_PYTHON')) ? pythonOf('MG_PYTHON') : 'python3';
mkdirSync(out, { recursive: true });

function py(code: string): void {
  execFileSync(python, ['-c', code], { stdio: ['ignore', 'inherit', 'inherit'] });
}

function measure(...paths: string[]): { ms: number; startupMs: number; cpuMs: number; processCpuMs: number; maxRssMB: number; files: number; bytesRead: number; maxSeverity: string | null; incomplete: number } {
  const res = execFileSync(process.execPath, [join(root, 'dist', 'bench', 'measure.js'), ...paths], { encoding: 'utf8', maxBuffer: 1 << 24 });
  return JSON.parse(res.trim().split('\n').pop()!);
}

function best(n: number, ...paths: string[]) {
  const runs = Array.from({ length: n }, () => measure(...paths));
  runs.sort((a, b) => a.ms - b.ms);
  return { best: runs[0]!, median: runs[Math.floor(n / 2)]!, runs };
}

/** Median of one field over runs (each field on its own: the machine is shared, runs vary). */
function median(runs: ReadonlyArray<Record<string, unknown>>, key: string): number {
  const v = runs.map((r) => r[key] as number).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)]!;
}

const rows: string[] = [];
const only = process.argv[2];

if (!only || only === 'pickle') {
  const f = join(out, 'range10m.pkl');
  if (!existsSync(f)) py(`import pickle; open(${JSON.stringify(f)},'wb').write(pickle.dumps(list(range(10_000_000)), protocol=4))`);
  const r = best(7, f);
  const m = (k: string) => median(r.runs, k).toFixed(0);
  rows.push(`| 50 MB opcode-dense pickle (list(range(10_000_000)), protocol 4, ${(statSync(f).size / 1e6).toFixed(1)} MB) | scan ${m('ms')} ms (best ${r.best.ms.toFixed(0)}), scan CPU ${m('cpuMs')} ms, process CPU ${m('processCpuMs')} ms | ${m('maxRssMB')} MB | ${r.median.bytesRead} | scan ≤ 0.3 s, RSS ≤ 97 MB (issue 12) |`);
}

if (!only || only === 'torch') {
  const f = join(out, 'big-2gb.pt');
  if (!existsSync(f)) {
    py(`import torch
sd = {f'layer{i}.weight': torch.zeros(64, 1024, 1024) for i in range(8)}
sd['bias'] = torch.zeros(10)
torch.save(sd, ${JSON.stringify(f)})`);
  }
  const size = statSync(f).size;
  const r = best(5, f);
  rows.push(`| PyTorch zip checkpoint (${(size / 2 ** 30).toFixed(2)} GiB, torch.save of 9 tensors) | scan ${r.median.ms.toFixed(0)} ms (best ${r.best.ms.toFixed(0)}) after ${r.median.startupMs.toFixed(0)} ms engine start-up | ${r.median.maxRssMB.toFixed(0)} MB | ${r.median.bytesRead} (${((100 * r.median.bytesRead) / size).toFixed(4)} % of the file) | target ≤ 100 ms, < 1 % read |`);
}

if (!only || only === 'dir') {
  const d = join(out, 'mixed');
  if (!existsSync(join(d, 'done'))) {
    mkdirSync(d, { recursive: true });
    py(`import os, pickle, collections, numpy as np, torch, joblib
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.linear_model import LogisticRegression
d = ${JSON.stringify(d)}
rng = np.random.default_rng(0)
X = rng.normal(size=(64, 8)); y = (X[:, 0] > 0).astype(int)
for i in range(50):
    m = torch.nn.Sequential(torch.nn.Linear(16 + i, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    torch.save(m.state_dict(), f'{d}/state_{i}.pt')
    torch.save(m.state_dict(), f'{d}/legacy_{i}.bin', _use_new_zipfile_serialization=False)
    np.save(f'{d}/array_{i}.npy', rng.normal(size=(100, 10 + i)).astype(np.float32))
    p = Pipeline([('s', StandardScaler()), ('c', LogisticRegression())]).fit(X, y)
    joblib.dump(p, f'{d}/pipe_{i}.joblib', compress=[0, 3, ('gzip', 3), ('xz', 3)][i % 4])
open(f'{d}/done', 'w').write('ok')`);
  }
  const r = best(3, d);
  rows.push(`| directory of ${r.median.files} real mixed model files (torch zip + legacy, npy, joblib raw/zlib/gzip/xz) | ${r.median.ms.toFixed(0)} ms (best ${r.best.ms.toFixed(0)}) = ${(r.median.files / (r.median.ms / 1000)).toFixed(0)} files/s | ${r.median.maxRssMB.toFixed(0)} MB | ${r.median.bytesRead} | |`);
}

if (!only || only === 'lzma') {
  // Incompressible weights are the LZMA decoder's worst case: almost every byte is a literal.
  const f = join(out, 'weights-32mb.joblib.xz');
  if (!existsSync(f)) py(`import joblib, numpy as np
joblib.dump({'w': np.random.default_rng(0).standard_normal(8_000_000).astype(np.float32)}, ${JSON.stringify(f)}, compress='xz')`);
  const r = best(5, f);
  const m = (k: string) => median(r.runs, k).toFixed(0);
  rows.push(`| joblib xz of 32 MB of float32 noise (${(statSync(f).size / 1e6).toFixed(1)} MB compressed) | scan ${m('ms')} ms (best ${r.best.ms.toFixed(0)}), scan CPU ${m('cpuMs')} ms | ${m('maxRssMB')} MB | ${r.median.bytesRead} | |`);
}

const remoteLines: string[] = [];
if (!only || only === 'remote') remoteLines.push(...(await benchRemote(Number(process.env['MG_BENCH_LATENCY_MS'] ?? 0))));
if (!only || only === 's3') remoteLines.push(...(remoteLines.length ? [''] : []), ...(await benchS3(Number(process.env['MG_BENCH_LATENCY_MS'] ?? 0))));

const formatRows: FormatRow[] = [];
if (!only || only === 'formats') formatRows.push(...formatBench(root, python, measure));

const gatewayRows: GatewayBenchRow[] = [];
if (!only || only === 'gateway') gatewayRows.push(...(await gatewayBench(root, python)));

// Start-up CPU next to picklescan (PICKLESCAN_DIR); prints its own table.
const startupTable = !only || only === 'startup' ? renderStartup(startupBench()) : null;

// Crawl throughput on Redis + PostgreSQL; prints and writes its own section of bench/RESULTS.md.
if (!only || only === 'crawl') await runCrawlBench();

// The console over 1,000,000 generated audit records on SQLite and PostgreSQL (issue 11): only
// when asked by name, since it takes minutes; prints its own table.
const consoleTable = only === 'console-scale' ? renderConsoleScale(await consoleScaleBench()) : null;

const cpu = cpus()[0]?.model ?? 'unknown CPU';
console.log(`\nMachine: ${cpu}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; ${new Date().toISOString().slice(0, 10)}\n`);
console.log('| input | wall time (median of runs) | peak RSS | bytes read | target |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(r);
if (remoteLines.length) console.log('\n' + remoteLines.join('\n'));
if (formatRows.length) {
  const mib = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`);
  console.log('\n| format | small: size, time, bytes read | large: size, time, bytes read | time large/small | bytes read large/small |\n|---|---|---|---|---|');
  for (const r of formatRows) {
    console.log(`| ${r.format} | ${mib(r.small.size)}, ${r.small.ms.toFixed(0)} ms, ${r.small.bytesRead} | ${mib(r.large.size)}, ${r.large.ms.toFixed(0)} ms, ${r.large.bytesRead} | ${(r.large.ms / r.small.ms).toFixed(2)} | ${(r.large.bytesRead / r.small.bytesRead).toFixed(2)} |`);
  }
}
if (startupTable) console.log('\n' + startupTable);
if (consoleTable) console.log('\n' + consoleTable);
if (gatewayRows.length) {
  console.log('\n| gateway (local hub on loopback) | measured | target |\n|---|---|---|');
  for (const r of gatewayRows) console.log(`| ${r.name} | ${r.value} | ${r.target} |`);
}
