/**
 * `modelgate hub`: the command's flags. What it runs (the server) is loaded by its action from run.ts.
 */
import { Command, InvalidArgumentError } from 'commander';

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
        // Loaded on demand: other commands never load the server (src/hub/run.ts).
        const { runHub } = await import('./run.js');
        process.exitCode = await runHub(flags);
      } catch (e) {
        throw e instanceof HubUsageError ? usageError(e.message) : e;
      }
    });
}
