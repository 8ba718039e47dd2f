/**
 * `modelgate policy test`: what the gateway would decide, without a server. Takes stored scan
 * reports (`modelgate scan --format json`) or model files to scan first, evaluates a policy for a
 * group and repository at a given time, and prints each file's verdict with the rules behind it.
 * Exit 0 when everything is allowed, 1 on a verdict at or above --fail-on, 2 on a usage error.
 */
import { Option, type Command } from 'commander';

export class PolicyUsageError extends Error {}

export interface PolicyTestFlags {
  policy?: string;
  group: string;
  repo?: string;
  repoType?: 'model' | 'dataset';
  commit?: string;
  facts?: string;
  waivers?: string;
  now?: string;
  userAgent?: string;
  failOn: 'block' | 'warn';
  format: 'console' | 'json';
}

export const DEFAULT_REPO = 'local/model';

export function registerPolicy(program: Command): void {
  const policy = program
    .command('policy')
    .description('work with gateway policies')
    .action(() => {
      // Commander's own "missing subcommand" help goes to the silenced error stream.
      process.stderr.write("modelgate: policy: expected a subcommand: test (see 'modelgate policy test --help')\n");
      process.exitCode = 2;
    });
  policy
    .command('test')
    .description('evaluate a policy against stored scan reports (modelgate scan --format json) or model files, without a server')
    .argument('<inputs...>', 'scan report JSON files, or model files and directories to scan')
    .option('--policy <file>', 'policy YAML (default: the built-in default policy)')
    .option('--group <name>', 'policy group of the client', 'default')
    .option('--repo <id>', `repository id the files belong to (default ${DEFAULT_REPO})`)
    .addOption(new Option('--repo-type <type>', 'repository type (default model)').choices(['model', 'dataset']))
    .option('--commit <sha>', 'commit the files were downloaded at (for pinned-revisions)')
    .option('--facts <file>', 'repository facts as JSON or YAML (license, createdAt, lastModified, upstreamScan, remoteCode, ...)')
    .option('--waivers <file>', 'waivers as a JSON or YAML list ({repo, sha256, rule, expiresAt, ...})')
    .option('--now <time>', 'evaluate at this ISO 8601 time (min-age, waiver expiry)')
    .option('--user-agent <text>', "the client's User-Agent, e.g. 'hf_hub/0.30.2; torch/2.5.1' (for client-vulnerable)")
    .addOption(new Option('--fail-on <verdict>', 'exit 1 when a verdict is at or above this').choices(['block', 'warn']).default('block'))
    .addOption(new Option('-f, --format <format>', 'output format').choices(['console', 'json']).default('console'))
    .action(async (inputs: string[], flags: PolicyTestFlags) => {
      try {
        // Loaded on demand: the schemas, YAML and policy engine are for this command only.
        const { runPolicyTest } = await import('./policy-test.js');
        process.exitCode = await runPolicyTest(inputs, flags);
      } catch (e) {
        // One line on stderr and exit 2, as every usage error of the CLI.
        if (!(e instanceof PolicyUsageError)) throw e;
        process.stderr.write(`modelgate: ${e.message}\n`);
        process.exitCode = 2;
      }
    });
}
