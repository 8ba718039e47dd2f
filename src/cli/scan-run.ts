/**
 * What `modelgate scan` does once its flags are parsed: choose the files, scan them (local,
 * standard input, remote), apply the accepted-findings file, render, and choose the exit code.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import pc from 'picocolors';
import { atLeast, type Severity } from '../core/findings.js';
import { scanBytes, scanPath } from '../scan/scan.js';
import type { FileReport, ScanReport } from '../scan/report.js';
import type { AcceptList } from '../scan/accepted.js';
import { pathSelector, SelectorError, type PathSelector } from '../scan/select.js';
import { withMinSeverity } from '../scan/min-severity.js';
import { isRemoteSpec, isS3Spec } from '../remote/target.js';
import { fsReason, UsageError } from './errors.js';
import { checkOutputPath, writeOutput } from './output.js';
import { Progress } from './progress.js';
import { ACCEPT_FILE_NAME, type ScanFlags } from './scan-command.js';

/** The display path of standard input in reports. */
export const STDIN_PATH = '<stdin>';

/** Standard input is held in memory to be scanned: past this, scan a file instead. */
export const MAX_STDIN_BYTES = 1024 * 1024 * 1024;

/** Top-level formats that are no model: a scan that found only these found no model file. */
const NOT_MODEL_FORMATS: ReadonlySet<string> = new Set(['text', 'unknown', 'empty']);

/** Exit status when no model file was found (as ModelScan's 3). */
export const EXIT_NO_MODEL = 3;

/** Whether a finding at or above the threshold remains once accepted findings are set aside. */
export function failed(report: ScanReport, threshold: Severity): boolean {
  return report.files.some((f) => f.findings.some((x) => !x.accepted && atLeast(x.severity, threshold)));
}

/**
 * No model file: nothing was scanned, or every file scanned was text, empty or data of no
 * recognised format. An unreadable file is not "no model": it may be one.
 */
export function noModelFound(report: ScanReport): boolean {
  return report.files.every((f) => f.formats.every((x) => NOT_MODEL_FORMATS.has(x)));
}

async function readStdin(max: number): Promise<Uint8Array> {
  if (process.stdin.isTTY) throw new UsageError("'-' reads a model from standard input, which is a terminal: pipe or redirect a file into it");
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > max) throw new UsageError(`standard input is larger than ${Math.round(max / (1024 * 1024))} MiB: save it to a file and scan the file`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

// The checks below stat synchronously: the command line has nothing else to do meanwhile, and a
// scan that reads only small files then never loads node:fs/promises (and the readline, stream
// and watcher modules it brings, ~2 % of a one-pickle scan's instructions; tools/build-dist.mjs).
function checkPaths(paths: readonly string[]): void {
  for (const p of paths) {
    try {
      statSync(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new UsageError(`no such file or directory: ${p}`);
    }
  }
}

function selector(flags: ScanFlags): PathSelector | undefined {
  if (!flags.include.length && !flags.exclude.length) return undefined;
  try {
    return pathSelector(flags.include, flags.exclude);
  } catch (e) {
    if (e instanceof SelectorError) throw new UsageError(e.message);
    throw e;
  }
}

/** The accepted-findings file: `--accept FILE`, else the default name in the working directory when it exists. */
function acceptFile(flags: ScanFlags): string | null {
  if (flags.accept !== undefined) return flags.accept;
  try {
    statSync(ACCEPT_FILE_NAME);
    return ACCEPT_FILE_NAME;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UsageError(`cannot read accepted-findings file ${ACCEPT_FILE_NAME}: ${fsReason(e)}`);
  }
}

export async function runScan(args: string[], flags: ScanFlags): Promise<number> {
  const stdin = args.filter((a) => a === '-').length;
  if (stdin > 1) throw new UsageError("'-' (standard input) given more than once");
  const remote = args.filter(isRemoteSpec);
  const paths = args.filter((p) => p !== '-' && !isRemoteSpec(p));
  checkPaths(paths);
  if (flags.output !== undefined) await checkOutputPath(flags.output);
  const select = selector(flags);

  const now = new Date();
  const acceptPath = acceptFile(flags);
  // Loaded only when there is a file to read: YAML and schema parsers cost start-up time.
  const accepted = acceptPath !== null ? await import('../scan/accepted.js') : null;
  let acceptList: AcceptList | null = null;
  if (accepted && acceptPath !== null) {
    try {
      acceptList = await accepted.loadAcceptList(acceptPath);
    } catch (e) {
      if (e instanceof accepted.AcceptFileError) throw new UsageError(e.message);
      throw e;
    }
  }
  const stdinBytes = stdin ? await readStdin(MAX_STDIN_BYTES) : null;

  const progress = flags.progress && process.stderr.isTTY && flags.format === 'console' ? new Progress(process.stderr) : null;
  const limits: Record<string, number> = {};
  if (flags.maxDepth !== undefined) limits['maxDepth'] = flags.maxDepth;
  if (flags.timeout !== undefined) limits['timeoutMs'] = flags.timeout * 1000;
  const common = {
    limits,
    // A BOM without hashes cannot be matched against the files it describes.
    hash: flags.hash || flags.format === 'cyclonedx',
    ...(progress ? { onProgress: (done: number, total: number | null, last: { path: string }) => progress.update(done, total, last.path) } : {}),
  };
  const parts: ScanReport[] = [];
  if (paths.length) parts.push(await scanPath(paths, { ...common, ...(select ? { select } : {}) }));
  if (stdinBytes) {
    const r = await scanBytes(stdinBytes, STDIN_PATH, { limits, hash: common.hash });
    // Entries matched by sha256 need it; it costs one pass over bytes already in memory.
    if (acceptList && !r.files[0]!.sha256) r.files[0]!.sha256 = createHash('sha256').update(stdinBytes).digest('hex');
    parts.push(r);
  }
  if (remote.length) {
    const s3Only = remote.every(isS3Spec);
    if (flags.endpoint !== undefined && !s3Only && remote.some(isS3Spec)) {
      throw new UsageError('--endpoint is ambiguous with both s3:// and hf:// or http(s):// targets; give the S3 endpoint in AWS_ENDPOINT_URL_S3 instead');
    }
    if (remote.some(isS3Spec)) {
      // The SDK's notice about its own 2027 releases on Node 20 would break the one-line stderr contract.
      process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
    }
    const { scanRemote } = await import('../remote/scan.js');
    const r = await scanRemote(remote, {
      ...common,
      ...(select ? { select } : {}),
      ...(flags.endpoint !== undefined && !s3Only ? { endpoint: flags.endpoint } : {}),
      s3: {
        ...(flags.endpoint !== undefined && s3Only ? { endpoint: flags.endpoint } : {}),
        ...(flags.region !== undefined ? { region: flags.region } : {}),
        ...(flags.profile !== undefined ? { profile: flags.profile } : {}),
      },
      ...(flags.token !== undefined ? { token: flags.token } : {}),
      allowedHosts: flags.allowRedirect,
      ...(flags.maxDownload !== undefined ? { http: { maxFallbackBytes: flags.maxDownload * 1024 * 1024 } } : {}),
    });
    if (!r.ok) {
      progress?.done();
      throw new UsageError(`${r.error.target}: ${r.error.message}`);
    }
    parts.push(r.report);
  }
  progress?.done();
  if (parts.length === 0) throw new UsageError('nothing to scan');
  let report = parts[0]!;
  if (parts.length > 1) {
    const { mergeReports } = await import('../remote/scan.js');
    report = parts.reduce((a, b) => mergeReports(a, b));
  }

  if (accepted && acceptList) {
    const isLocal = (f: FileReport) => f.remote === undefined && f.path !== STDIN_PATH;
    await accepted.hashForAcceptance(report, acceptList, now, isLocal);
    accepted.applyAcceptList(report, acceptList, now, isLocal);
    for (const e of accepted.expiredEntries(acceptList, now)) {
      process.stderr.write(`modelgate: warning: ${acceptList.file}: entry ${e.label} expired on ${e.expiresAt} and no longer applies\n`);
    }
  }

  const noModel = noModelFound(report);
  const code = failed(report, flags.failOn) ? 1 : noModel && !flags.allowNoModels ? EXIT_NO_MODEL : 0;
  const defaultMin: Severity = flags.format === 'sarif' || flags.format === 'markdown' ? 'low' : 'info';
  if (flags.format !== 'console') report = withMinSeverity(report, flags.minSeverity ?? defaultMin, flags.failOn);

  const toFile = flags.output !== undefined;
  let text: string;
  if (flags.format === 'json') text = JSON.stringify(report, null, 2) + '\n';
  else if (flags.format === 'sarif') text = (await import('../report/sarif.js')).renderSarifText(report);
  else if (flags.format === 'cyclonedx') text = (await import('../report/cyclonedx.js')).renderCycloneDxText(report);
  else if (flags.format === 'markdown') text = (await import('../report/markdown.js')).renderMarkdown(report, { failOn: flags.failOn });
  else {
    const { renderConsole } = await import('./render/console.js');
    const useColor = !toFile && process.stdout.isTTY === true && !('NO_COLOR' in process.env);
    text = renderConsole(report, { colors: pc.createColors(useColor), listImports: flags.listImports, showBelow: flags.minSeverity ?? (flags.listImports ? 'info' : 'low'), failOn: flags.failOn });
    if (remote.length) text += (await import('../remote/scan.js')).renderRemoteSummary(report) ?? '';
  }
  if (toFile) await writeOutput(flags.output!, text);
  else process.stdout.write(text);
  if (noModel && code !== 1) process.stderr.write(`modelgate: ${noModelMessage(report, select !== undefined)}\n`);
  return code;
}

function noModelMessage(report: ScanReport, filtered: boolean): string {
  const n = report.files.length;
  if (n === 0) {
    const excluded = report.summary.excluded ?? 0;
    if (filtered) return `no model file found: --include/--exclude left nothing to scan${excluded ? ` (${excluded} file${excluded === 1 ? '' : 's'} excluded)` : ''}`;
    return 'no model file found: no file to scan';
  }
  return `no model file found: ${n} file${n === 1 ? '' : 's'} scanned, only text, empty files or data of no recognised format`;
}
