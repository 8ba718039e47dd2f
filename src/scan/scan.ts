/**
 * The library's entry points: scan a file, a buffer, or paths (files and directories).
 * None of them throws on bad input: unreadable files and analyzer failures are findings.
 */
import { dirname } from 'node:path';
import { SEVERITY_RANK } from '../core/findings.js';
import { BufferSource } from '../source/buffer.js';
import { FileSource } from '../source/file.js';
import { SourceError } from '../source/types.js';
import { Engine, emptyCounts, type ScanOptions } from './engine.js';
import { REPORT_SCHEMA, type FileReport, type ScanReport } from './report.js';
import { walkPaths } from './walk.js';
import type { PathSelector } from './select.js';
import { summariseRepositories } from './repository.js';
import { checkExternalDataLinks } from './links.js';
import { checkMlflowModel, localDirectory } from './mlflow.js';

export interface PathScanOptions extends ScanOptions {
  /** Files scanned at once (I/O overlaps; analysis is single-threaded). */
  concurrency?: number;
  /** Called after each file scanned, with the number of files to scan in all. */
  onProgress?: (done: number, total: number | null, last: FileReport) => void;
  /** Which files to scan (`--include` / `--exclude`); every file when absent. */
  select?: PathSelector;
}

function unreadable(path: string, reason: string): FileReport {
  return {
    path,
    size: null,
    formats: ['unreadable'],
    findings: [{ rule: 'SCAN_UNREADABLE', severity: 'medium', message: `cannot read: ${reason}`, location: { path: [path] }, evidence: {}, references: [] }],
    facts: {},
    imports: [],
    members: [],
    complete: false,
    maxSeverity: 'medium',
    bytesRead: 0,
    durationMs: 0,
  };
}

export async function scanFileWith(engine: Engine, path: string): Promise<FileReport> {
  let src: FileSource;
  try {
    // Small files are read whole at once (FileSource's smallSync): this is the command line's and scanPath's path.
    src = await FileSource.open(path, path, { smallSync: true });
  } catch (e) {
    return unreadable(path, e instanceof SourceError ? e.message : String(e));
  }
  try {
    const report = await engine.scanSource(src, path);
    // Only a file on disk has a directory whose links the loader would follow.
    await checkExternalDataLinks(path, report);
    // An MLmodel is read with the directory around it: environment pins, code files, artefacts.
    await checkMlflowModel(localDirectory(dirname(path)), report);
    return report;
  } finally {
    await src.close().catch(() => undefined);
  }
}

/** The report's summary of some file reports: counts by severity, the worst, incomplete files, bytes read. */
export function summarize(files: readonly FileReport[]): ScanReport['summary'] {
  const findings = emptyCounts();
  let maxSeverity: ScanReport['summary']['maxSeverity'] = null;
  let incomplete = 0;
  let bytesRead = 0;
  for (const f of files) {
    for (const x of f.findings) findings[x.severity]++;
    if (f.maxSeverity && (maxSeverity === null || SEVERITY_RANK[f.maxSeverity] > SEVERITY_RANK[maxSeverity])) maxSeverity = f.maxSeverity;
    if (!f.complete) incomplete++;
    bytesRead += f.bytesRead;
  }
  return { files: files.length, findings, maxSeverity, incomplete, bytesRead };
}

export function buildReport(engine: Engine, files: FileReport[], startedAt: Date): ScanReport {
  return {
    schema: REPORT_SCHEMA,
    engine: engine.info,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    files,
    summary: summarize(files),
  };
}

/** Scan one local file. */
export async function scanFile(path: string, opts: ScanOptions = {}): Promise<ScanReport> {
  const started = new Date();
  const engine = new Engine(opts);
  return buildReport(engine, [await scanFileWith(engine, path)], started);
}

/** Scan bytes in memory; `name` is used for display only, never to choose a format. */
export async function scanBytes(bytes: Uint8Array, name = '<bytes>', opts: ScanOptions = {}): Promise<ScanReport> {
  const started = new Date();
  const engine = new Engine(opts);
  return buildReport(engine, [await engine.scanSource(new BufferSource(name, bytes), name)], started);
}

/** Scan files and directories (recursively; every file sniffed by content). */
export async function scanPath(paths: string | readonly string[], opts: PathScanOptions = {}): Promise<ScanReport> {
  const started = new Date();
  const engine = new Engine(opts);
  const list = typeof paths === 'string' ? [paths] : paths;
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  // Walk first (directory listings are cheap), so progress knows the total from the start.
  const entries = [];
  let excluded = 0;
  for await (const entry of walkPaths(list, opts.select)) {
    if (entry.excluded) excluded++;
    else entries.push(entry);
  }
  const total = entries.length;
  const results: FileReport[] = [];
  const running = new Set<Promise<void>>();
  let done = 0;
  const finish = (r: FileReport) => {
    results.push(r);
    done++;
    opts.onProgress?.(done, total, r);
  };
  for (const entry of entries) {
    if (entry.error !== undefined) {
      finish(unreadable(entry.path, entry.error));
      continue;
    }
    const p: Promise<void> = scanFileWith(engine, entry.path).then(finish).finally(() => running.delete(p));
    running.add(p);
    if (running.size >= concurrency) await Promise.race(running);
  }
  await Promise.all(running);
  results.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const report = buildReport(engine, results, started);
  if (opts.select) report.summary.excluded = excluded;
  const repositories = await summariseRepositories(list, results);
  if (repositories.length) report.repositories = repositories;
  return report;
}
