/**
 * Start-up cost, side by side with picklescan (issue 12): the CPU (user + sys) one `modelgate
 * scan` process spends on a small pickle and on directories of mixed model files, next to
 * picklescan's on the same paths when PICKLESCAN_DIR points at a picklescan checkout (run as
 * `python3 -m picklescan -p PATH` with PYTHONPATH=$PICKLESCAN_DIR/src; nothing of it is copied
 * here; the interpreter is run directly, as sys.executable names it, not through a launcher
 * script such as pyenv's shim). Each command runs in a fresh process, the two tools alternating,
 * REPS times (default 15); CPU comes from getrusage of the finished child (a small Python wrapper,
 * so both are measured the same way and at microsecond resolution). Prints a Markdown table for
 * bench/RESULTS.md.
 *
 *   npm run build && PICKLESCAN_DIR=/path/to/picklescan node dist/bench/startup.js
 *
 * When NODE_EXTRA_CA_CERTS is set (this session's sandbox points it at the system bundle, 144
 * certificates), Node parses that file at start, before any script runs (Node 20; ~50 ms of CPU
 * here, `node -e 0` 28 ms without it and ~80 with it): modelgate is then measured a second time
 * with the variable removed, and the floors of both runtimes are given (`node -e 0`, `python -c pass`).
 *
 * The "mixed-168" directory is 168 files spread evenly over the committed fixtures (benign,
 * malicious, anomalies, repos; not bad-input, whose bombs and 20,000-member zip are stress tests,
 * not model files), copied into bench/out/mixed-168 with their relative paths.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const fixtures = join(root, 'fixtures');
const BIN = join(root, 'bin', 'modelgate.js');

/** Runs argv, output discarded; returns its exit code and CPU seconds from getrusage(RUSAGE_CHILDREN). */
// The counters are read before and after: a python3 launcher (pyenv's shim is a shell script)
// leaves its own children's time in them.
const WRAPPER = `
import json, os, resource, subprocess, sys
b = resource.getrusage(resource.RUSAGE_CHILDREN)
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
user, sys_ = u.ru_utime - b.ru_utime, u.ru_stime - b.ru_stime
print(json.dumps({"code": r.returncode, "cpu": user + sys_, "user": user, "sys": sys_, "rssKiB": u.ru_maxrss}))
`;

/** The interpreter itself, not a launcher script in front of it (whose cost is not picklescan's). */
function realPython(): string {
  return execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
}

interface Run {
  code: number;
  cpu: number;
  user: number;
  sys: number;
  rssKiB: number;
}

function measure(argv: string[], env: NodeJS.ProcessEnv = process.env): Run {
  return JSON.parse(execFileSync('python3', ['-c', WRAPPER, ...argv], { encoding: 'utf8', env })) as Run;
}

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** 168 fixture files spread evenly over the sorted list, relative paths kept (external data beside its model where both are picked). */
export function mixedDir(count = 168): string {
  const dir = join(root, 'bench', 'out', `mixed-${count}`);
  rmSync(dir, { recursive: true, force: true });
  const pool = ['benign', 'malicious', 'anomalies', 'repos'].flatMap((d) => files(join(fixtures, d))).filter((f) => !lstatSync(f).isSymbolicLink());
  for (let i = 0; i < count; i++) {
    const src = pool[Math.floor((i * pool.length) / count)]!;
    const dst = join(dir, relative(fixtures, src));
    mkdirSync(dirname(dst), { recursive: true });
    copyFileSync(src, dst);
  }
  return dir;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;

interface Stat {
  median: number;
  min: number;
  codes: number[];
}

const stat = (runs: Run[]): Stat => ({ median: median(runs.map((r) => r.cpu)), min: Math.min(...runs.map((r) => r.cpu)), codes: [...new Set(runs.map((r) => r.code))] });

export interface StartupRow {
  input: string;
  files: number;
  modelgate: { median: number; min: number; codes: number[] };
  /** modelgate with NODE_EXTRA_CA_CERTS removed from its environment; null when it is not set. */
  modelgateNoCa: Stat | null;
  /** Runs in which modelgate without NODE_EXTRA_CA_CERTS used no more CPU than picklescan. */
  notMoreNoCa: number;
  picklescan: { median: number; min: number; codes: number[] } | null;
  /** Runs in which modelgate used no more CPU than the picklescan run next to it. */
  notMore: number;
  reps: number;
}

export function startupBench(reps = Number(process.env['REPS'] ?? 15)): { rows: StartupRow[]; floors: Array<[string, Stat]>; load: [number[], number[]] } {
  const pdir = process.env['PICKLESCAN_DIR'];
  const noCa = process.env['NODE_EXTRA_CA_CERTS'] ? Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS')) : null;
  const penv = pdir ? { ...process.env, PYTHONPATH: join(pdir, 'src') } : undefined;
  const python = penv ? realPython() : 'python3';
  const inputs: Array<[string, string]> = [
    ['small pickle with globals (fixtures/benign/numpy_array_p2.pkl, 304 B)', join(fixtures, 'benign', 'numpy_array_p2.pkl')],
    ['small malicious pickle (fixtures/malicious/global_p0_os_system.pkl, 41 B)', join(fixtures, 'malicious', 'global_p0_os_system.pkl')],
    ['mixed-168 (168 fixture files spread over benign, malicious, anomalies, repos)', mixedDir()],
    ['fixtures/malicious', join(fixtures, 'malicious')],
    ['fixtures/benign', join(fixtures, 'benign')],
  ];
  const before = loadavg();
  const rows: StartupRow[] = [];
  for (const [input, path] of inputs) {
    const mg: Run[] = [];
    const mgNoCa: Run[] = [];
    const ps: Run[] = [];
    for (let i = 0; i < reps; i++) {
      // Alternate which tool goes first, so neither always runs on a warmer cache.
      const runMg = () => {
        mg.push(measure([process.execPath, BIN, 'scan', '--no-progress', path]));
        if (noCa) mgNoCa.push(measure([process.execPath, BIN, 'scan', '--no-progress', path], noCa));
      };
      const runPs = () => penv && ps.push(measure([python, '-m', 'picklescan', '-p', path], penv));
      if (i % 2) {
        runPs();
        runMg();
      } else {
        runMg();
        runPs();
      }
    }
    rows.push({
      input,
      files: existsSync(path) && lstatSync(path).isDirectory() ? files(path).length : 1,
      modelgate: stat(mg),
      modelgateNoCa: mgNoCa.length ? stat(mgNoCa) : null,
      picklescan: ps.length ? stat(ps) : null,
      notMore: ps.length ? mg.filter((r, i) => r.cpu <= ps[i]!.cpu).length : 0,
      notMoreNoCa: ps.length && mgNoCa.length ? mgNoCa.filter((r, i) => r.cpu <= ps[i]!.cpu).length : 0,
      reps,
    });
  }
  // What each runtime costs before any of the tool's code runs.
  const floorCmds: Array<[string, string[], NodeJS.ProcessEnv]> = [
    ['`node -e 0`', [process.execPath, '-e', '0'], process.env],
    ...(noCa ? [['`node -e 0` without NODE_EXTRA_CA_CERTS', [process.execPath, '-e', '0'], noCa] as [string, string[], NodeJS.ProcessEnv]] : []),
    ['`modelgate --version`', [process.execPath, BIN, '--version'], process.env],
    ...(noCa ? [['`modelgate --version` without NODE_EXTRA_CA_CERTS', [process.execPath, BIN, '--version'], noCa] as [string, string[], NodeJS.ProcessEnv]] : []),
    ['`python -c pass`', [python, '-c', 'pass'], process.env],
  ];
  const floorRuns = floorCmds.map((): Run[] => []);
  for (let i = 0; i < reps; i++) floorCmds.forEach(([, argv, env], j) => floorRuns[j]!.push(measure(argv, env)));
  const floors = floorCmds.map(([label], j): [string, Stat] => [label, stat(floorRuns[j]!)]);
  return { rows, floors, load: [before, loadavg()] };
}

export function renderStartup(r: ReturnType<typeof startupBench>): string {
  const lines = [
    `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}; ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC;`,
    `load average ${r.load[0].map((x) => x.toFixed(1)).join(' ')} before, ${r.load[1].map((x) => x.toFixed(1)).join(' ')} after. CPU = user + sys of the process, ${r.rows[0]?.reps ?? 0} runs each.`,
    '',
    '| input | files | modelgate CPU, median (min) | modelgate without NODE_EXTRA_CA_CERTS | picklescan CPU, median (min) | runs where modelgate ≤ picklescan (without NODE_EXTRA_CA_CERTS) |',
    '|---|---|---|---|---|---|',
  ];
  for (const row of r.rows) {
    const p = row.picklescan;
    const n = row.modelgateNoCa;
    lines.push(
      `| ${row.input} | ${row.files} | ${ms(row.modelgate.median)} (${ms(row.modelgate.min)}) | ${n ? `${ms(n.median)} (${ms(n.min)})` : 'not set'} | ${p ? `${ms(p.median)} (${ms(p.min)})` : 'PICKLESCAN_DIR not set'} | ${p ? `${row.notMore}/${row.reps}${n ? ` (${row.notMoreNoCa}/${row.reps})` : ''}` : ''} |`,
    );
  }
  lines.push('', '| floor | CPU, median (min) |', '|---|---|');
  for (const [label, f] of r.floors) lines.push(`| ${label} | ${ms(f.median)} (${ms(f.min)}) |`);
  return lines.join('\n') + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(renderStartup(startupBench()));
}
