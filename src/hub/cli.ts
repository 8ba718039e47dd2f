/**
 * `modelgate hub`: serve a directory of repositories over the Hub protocol until interrupted.
 */
import { readFile, stat } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { RepoAccessListSchema, type RepoAccess } from './access.js';
import { parseFaultRules, type FaultRule } from './faults.js';
import { createHubServer, listenHub } from './server.js';

export interface HubFlags {
  dir: string;
  port: number;
  host: string;
  pageSize: number;
  latencyMs: number;
  rateMbit?: number;
  access?: string;
  faults?: string;
  control: boolean;
  lfsRedirect: boolean;
  publicUrl?: string;
  warm: boolean;
}

/** A flag error, reported by the CLI as one usage line (exit 2). */
export class HubUsageError extends Error {}

function int(name: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got '${v}'`);
    return n;
  };
}

async function readJsonFlag(flag: string, path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new HubUsageError(`cannot read ${flag} ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HubUsageError(`${flag} ${path} is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

async function loadAccess(path: string): Promise<RepoAccess[]> {
  const r = RepoAccessListSchema.safeParse(await readJsonFlag('--access', path));
  if (!r.success) throw new HubUsageError(`--access ${path}: ${z.prettifyError(r.error).replace(/\s+/g, ' ')}`);
  return r.data;
}

async function loadFaults(path: string): Promise<FaultRule[]> {
  const raw = await readJsonFlag('--faults', path);
  const rules = parseFaultRules(raw);
  if (!rules.ok) throw new HubUsageError(`--faults ${path}: ${rules.message}`);
  return rules.value;
}

/** Runs the server; resolves once it has shut down after SIGINT or SIGTERM. */
export async function runHub(flags: HubFlags, out: NodeJS.WritableStream = process.stderr): Promise<number> {
  try {
    if (!(await stat(flags.dir)).isDirectory()) throw new HubUsageError(`--dir ${flags.dir} is not a directory`);
  } catch (e) {
    if (e instanceof HubUsageError) throw e;
    throw new HubUsageError(`--dir ${flags.dir}: no such directory`);
  }
  const faults = flags.faults !== undefined ? await loadFaults(flags.faults) : [];
  const access = flags.access !== undefined ? await loadAccess(flags.access) : [];
  const app = createHubServer({
    dir: flags.dir,
    pageSize: flags.pageSize,
    latencyMs: flags.latencyMs,
    ...(flags.rateMbit !== undefined ? { bytesPerSecond: (flags.rateMbit * 1e6) / 8 } : {}),
    faults,
    access,
    control: flags.control,
    lfsRedirect: flags.lfsRedirect,
    ...(flags.publicUrl !== undefined ? { publicUrl: flags.publicUrl } : {}),
    warm: flags.warm,
  });
  const url = await listenHub(app, { port: flags.port, host: flags.host });
  // One write: whoever reads the banner for the URL gets all of it at once.
  const banner = [
    `modelgate hub: serving ${flags.dir} (read-only) at ${url}`,
    `  Python: HF_ENDPOINT=${url} python -c "from huggingface_hub import snapshot_download; print(snapshot_download('org/name'))"`,
    `  JS:     downloadFile({ repo: 'org/name', path: 'config.json', hubUrl: '${url}' })`,
    ...(flags.control ? [`  control: ${url}/-/hub/faults, ${url}/-/hub/requests`] : []),
    ...(faults.length > 0 ? [`  ${faults.length} fault rule(s) active`] : []),
  ];
  out.write(banner.join('\n') + '\n');
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void app.close().then(() => resolve());
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
}

/** `usageError` turns a flag problem into the caller's usage error (one line on stderr, exit 2). */
export function registerHubCommand(program: Command, usageError: (message: string) => Error = (m) => new HubUsageError(m)): void {
  program
    .command('hub')
    .description('serve a directory of repositories over the Hugging Face Hub protocol, read-only (see docs/hub.md)')
    .requiredOption('--dir <dir>', 'directory of repositories: DIR/<org>/<name>, DIR/<name>, DIR/datasets/<org>/<name>')
    .option('--port <n>', 'port to listen on (0: any free port)', int('--port', 0), 8081)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--page-size <n>', 'entries per page of tree and repo listings', int('--page-size', 1), 1000)
    .option('--latency-ms <n>', 'delay every answer by this many milliseconds', int('--latency-ms', 0), 0)
    .option('--rate-mbit <n>', 'serve file bodies at most at this many megabits per second (a distant upstream)', int('--rate-mbit', 1))
    .option('--access <file>', 'JSON list of gated or private repositories and the tokens that may read them (see docs/hub.md)')
    .option('--faults <file>', 'JSON file of fault rules to apply (testing only; see docs/hub.md)')
    .option('--control', 'expose /-/hub/faults and /-/hub/requests to steer faults and count requests (testing only)', false)
    .option('--lfs-redirect', 'answer LFS files with a 302 to /-/cdn/<sha256>, as huggingface.co does', false)
    .option('--public-url <url>', 'base URL for absolute links (default: from the Host header)')
    .option('--no-warm', 'do not hash every repo at startup')
    .action(async (flags: HubFlags) => {
      try {
        process.exitCode = await runHub(flags);
      } catch (e) {
        throw e instanceof HubUsageError ? usageError(e.message) : e;
      }
    });
}
