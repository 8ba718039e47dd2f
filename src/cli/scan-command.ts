/**
 * `modelgate scan`: its options, help and examples. The work is in scan-run.ts, loaded only
 * when the command runs, so that other commands (and `--help`) do not load the engine.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { SEVERITIES, type Severity } from '../core/findings.js';

/** The accepted-findings file looked for in the working directory when no `--accept FILE` is given. */
export const ACCEPT_FILE_NAME = '.modelgate-accept.yaml';

export const SCAN_FORMATS = ['console', 'json', 'sarif', 'cyclonedx', 'markdown'] as const;
export type ScanFormat = (typeof SCAN_FORMATS)[number];

export interface ScanFlags {
  format: ScanFormat;
  output?: string;
  failOn: Severity;
  minSeverity?: Severity;
  include: string[];
  exclude: string[];
  accept?: string;
  listImports: boolean;
  progress: boolean;
  maxDepth?: number;
  timeout?: number;
  hash: boolean;
  endpoint?: string;
  token?: string;
  allowRedirect: string[];
  maxDownload?: number;
  allowNoModels: boolean;
  region?: string;
  profile?: string;
}

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got '${v}'`);
    return n;
  };
}

const repeat = (v: string, acc: string[]): string[] => [...acc, v];

export const SCAN_EXAMPLES = `
Examples:
  modelgate scan model.pt                                one file
  modelgate scan --exclude .git --exclude 'tests/**' .   a checkout, some of it left out
  modelgate scan --include '*.pt' --include '*.bin' models/
  modelgate scan -f sarif -o modelgate.sarif .           for GitHub code scanning
  modelgate scan -f markdown --fail-on high .            a pull-request comment
  git show HEAD:model.pt | modelgate scan -              standard input
  modelgate scan hf://openai-community/gpt2              a Hub repository, by range requests
  modelgate scan s3://models/team/bert/                  an S3 prefix, by range requests

Globs: * and ? stop at /, ** crosses directories, [a-z] and {pt,bin} as usual; a pattern
without / matches a name at any depth, one with / the path below the directory scanned; an
exclude wins over an include. Accepted findings: .modelgate-accept.yaml in the working
directory, or --accept FILE (docs/cli.md).

Exit codes:
  0  no finding at or above --fail-on (accepted findings do not count)
  1  a finding at or above --fail-on
  2  usage or internal error (one line on stderr)
  3  no model file found: nothing left to scan after --include/--exclude, or only text,
     empty files and data of no recognised format (0 with --allow-no-models)
`;

export function registerScan(program: Command): void {
  program
    .command('scan')
    .description('scan model files and directories (every file is identified by its content), standard input (-), Hub repositories (hf://org/repo[@rev]), URLs and S3 prefixes (s3://bucket/prefix), remotely by range requests')
    .argument('<paths...>', 'files, directories, - (standard input), hf://[datasets/]org/repo[@rev][/path], http(s):// URLs or s3://bucket[/prefix-or-key]')
    .addOption(new Option('-f, --format <format>', 'output format').choices(SCAN_FORMATS).default('console'))
    .option('-o, --output <file>', 'write the report to a file instead of stdout')
    .addOption(new Option('--fail-on <severity>', 'exit 1 when a finding is at or above this severity').choices(SEVERITIES.filter((s) => s !== 'info')).default('medium'))
    .addOption(new Option('--min-severity <severity>', 'leave findings below this out of the report (default: low for console, sarif and markdown; info, i.e. all, for json and cyclonedx); findings that fail the run are always kept').choices(SEVERITIES))
    .option('--include <glob>', 'scan only files matching this glob (repeatable)', repeat, [] as string[])
    .option('--exclude <glob>', 'do not scan files matching this glob; wins over --include (repeatable)', repeat, [] as string[])
    .option('--accept <file>', 'accepted-findings file (default: ./.modelgate-accept.yaml when present)')
    .option('--allow-no-models', 'exit 0 instead of 3 when no model file is found (the line on stderr stays): hooks and jobs given files by name', false)
    .option('--list-imports', 'list every global the pickles import, innocuous ones included', false)
    .option('--no-progress', 'no progress bar on stderr')
    .option('--max-depth <n>', 'maximum container nesting', positiveInt('--max-depth'))
    .option('--timeout <seconds>', 'time budget per file', positiveInt('--timeout'))
    .option('--hash', 'compute the sha256 of each file (reads it whole)', false)
    .option('--endpoint <url>', 'Hub endpoint for hf:// (default: $HF_ENDPOINT, else https://huggingface.co); with only s3:// targets, the S3 endpoint (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS)')
    .option('--token <token>', 'Hub token (default: $HF_TOKEN); sent only to the endpoint host')
    .option('--allow-redirect <host>', 'also follow redirects to this host (host, host:port or *.suffix); repeatable', repeat, [] as string[])
    .option('--max-download <MiB>', 'when an upstream ignores Range requests, download files up to this size whole (default 1024)', positiveInt('--max-download'))
    .option('--region <region>', "AWS region for s3:// (default: $AWS_REGION, $AWS_DEFAULT_REGION, the profile's, else us-east-1)")
    .option('--profile <name>', 'AWS profile for s3:// credentials and settings (default: $AWS_PROFILE)')
    .addHelpText('after', SCAN_EXAMPLES)
    .action(async (paths: string[], flags: ScanFlags) => {
      const { runScan } = await import('./scan-run.js');
      process.exitCode = await runScan(paths, flags);
    });
}
