/**
 * The `modelgate` command line. Thin: parses arguments, calls the library, renders.
 * Exit codes: 0 nothing at or above the threshold, 1 findings at or above it, 2 usage or
 * internal error. Every usage error is one line on stderr.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { stat, writeFile } from 'node:fs/promises';
import pc from 'picocolors';
import { SEVERITIES, atLeast, type Severity } from '../core/findings.js';
import { packageVersion } from '../core/package.js';
import { scanPath } from '../scan/scan.js';
import type { ScanReport } from '../scan/report.js';
import { renderConsole } from './render/console.js';
import { renderCycloneDxText } from '../report/cyclonedx.js';
import { renderMarkdown } from '../report/markdown.js';
import { renderSarifText } from '../report/sarif.js';
import { Progress } from './progress.js';
import { registerServe, ServeUsageError } from './serve.js';
import { registerPolicy } from './policy.js';
import { registerHubCommand } from '../hub/cli.js';
import { isRemoteSpec } from '../remote/target.js';
import { mergeReports, renderRemoteSummary } from '../remote/summary.js';
import { registerCrawl } from './crawl.js';
import { registerWorker } from './worker.js';
import { registerReport } from './report.js';

export class UsageError extends Error {}

const FORMATS = ['console', 'json', 'sarif', 'cyclonedx', 'markdown'] as const;
type OutputFormat = (typeof FORMATS)[number];

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got '${v}'`);
    return n;
  };
}

interface ScanFlags {
  format: OutputFormat;
  output?: string;
  failOn: Severity;
  listImports: boolean;
  progress: boolean;
  maxDepth?: number;
  timeout?: number;
  hash: boolean;
  endpoint?: string;
  token?: string;
  allowRedirect: string[];
  maxDownload?: number;
}

export function failed(report: ScanReport, threshold: Severity): boolean {
  return report.files.some((f) => f.findings.some((x) => atLeast(x.severity, threshold)));
}

async function runScan(args: string[], flags: ScanFlags): Promise<number> {
  const remote = args.filter(isRemoteSpec);
  const paths = args.filter((p) => !isRemoteSpec(p));
  for (const p of paths) {
    try {
      await stat(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new UsageError(`no such file or directory: ${p}`);
    }
  }
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
  let report: ScanReport | null = paths.length ? await scanPath(paths, common) : null;
  if (remote.length) {
    const { scanRemote } = await import('../remote/scan.js'); // the HTTP client only when needed
    const r = await scanRemote(remote, {
      ...common,
      ...(flags.endpoint !== undefined ? { endpoint: flags.endpoint } : {}),
      ...(flags.token !== undefined ? { token: flags.token } : {}),
      allowedHosts: flags.allowRedirect,
      ...(flags.maxDownload !== undefined ? { http: { maxFallbackBytes: flags.maxDownload * 1024 * 1024 } } : {}),
    });
    if (!r.ok) {
      progress?.done();
      throw new UsageError(`${r.error.target}: ${r.error.message}`);
    }
    report = report ? mergeReports(report, r.report) : r.report;
  }
  progress?.done();
  if (report === null) throw new UsageError('nothing to scan');
  const toFile = flags.output !== undefined;
  let text: string;
  if (flags.format === 'json') text = JSON.stringify(report, null, 2) + '\n';
  else if (flags.format === 'sarif') text = renderSarifText(report);
  else if (flags.format === 'cyclonedx') text = renderCycloneDxText(report);
  else if (flags.format === 'markdown') text = renderMarkdown(report, { failOn: flags.failOn });
  else {
    const useColor = !toFile && process.stdout.isTTY === true && !('NO_COLOR' in process.env);
    text = renderConsole(report, { colors: pc.createColors(useColor), listImports: flags.listImports, showBelow: flags.listImports ? 'info' : 'low' });
    text += renderRemoteSummary(report) ?? '';
  }
  if (toFile) await writeFile(flags.output!, text);
  else process.stdout.write(text);
  return failed(report, flags.failOn) ? 1 : 0;
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('modelgate')
    .description('Stop malicious machine-learning models before they run.')
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, outputError: () => undefined })
    .showHelpAfterError(false);

  program
    .command('scan')
    .description('scan model files and directories (every file is identified by its content), Hub repositories (hf://org/repo[@rev]) and URLs, remotely by range requests')
    .argument('<paths...>', 'files, directories, hf://[datasets/]org/repo[@rev][/path] or http(s):// URLs')
    .addOption(new Option('-f, --format <format>', 'output format').choices(FORMATS).default('console'))
    .option('-o, --output <file>', 'write the report to a file instead of stdout')
    .addOption(new Option('--fail-on <severity>', 'exit 1 when a finding is at or above this severity').choices(SEVERITIES.filter((s) => s !== 'info')).default('medium'))
    .option('--list-imports', 'list every global the pickles import, innocuous ones included', false)
    .option('--no-progress', 'no progress bar on stderr')
    .option('--max-depth <n>', 'maximum container nesting', positiveInt('--max-depth'))
    .option('--timeout <seconds>', 'time budget per file', positiveInt('--timeout'))
    .option('--hash', 'compute the sha256 of each file (reads it whole)', false)
    .option('--endpoint <url>', 'Hub endpoint for hf:// (default: $HF_ENDPOINT, else https://huggingface.co)')
    .option('--token <token>', 'Hub token (default: $HF_TOKEN); sent only to the endpoint host')
    .option('--allow-redirect <host>', 'also follow redirects to this host (host, host:port or *.suffix); repeatable', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--max-download <MiB>', 'when an upstream ignores Range requests, download files up to this size whole (default 1024)', positiveInt('--max-download'))
    .action(async (paths: string[], flags: ScanFlags) => {
      process.exitCode = await runScan(paths, flags);
    });
  registerServe(program);
  registerPolicy(program);
  registerHubCommand(program, (message) => new UsageError(message));
  registerCrawl(program, (message) => new UsageError(message));
  registerWorker(program, (message) => new UsageError(message));
  registerReport(program, (message) => new UsageError(message));
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      if (e.code === 'commander.executeSubCommandAsync') return 0;
      const msg = e.message.replace(/^error: /, '');
      process.stderr.write(`modelgate: ${msg}${msg.includes('--help') ? '' : " (see 'modelgate --help')"}\n`);
      return 2;
    }
    if (e instanceof UsageError || e instanceof ServeUsageError) {
      process.stderr.write(`modelgate: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`modelgate: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
}

