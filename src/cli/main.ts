/**
 * The `modelgate` command line. Thin: parses arguments, calls the library, renders.
 * Exit codes (scan): 0 nothing at or above the threshold, 1 findings at or above it, 2 usage or
 * internal error, 3 no model file found. Every usage error is one line on stderr.
 */
import { Command, CommanderError } from 'commander';
import { packageVersion } from '../core/package.js';
import { registerServe, ServeUsageError } from './serve.js';
import { registerPolicy } from './policy.js';
import { registerHubCommand } from '../hub/cli.js';
import { registerCrawl } from './crawl.js';
import { registerWorker } from './worker.js';
import { registerReport } from './report.js';
import { fsReason, UsageError, USER_FS_CODES } from './errors.js';
import { registerScan } from './scan-command.js';
import { addExamples } from './examples.js';

export { UsageError } from './errors.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('modelgate')
    .description('Stop malicious machine-learning models before they run.')
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, outputError: () => undefined })
    .showHelpAfterError(false);

  registerScan(program);
  registerServe(program);
  registerPolicy(program);
  registerHubCommand(program, (message) => new UsageError(message));
  registerCrawl(program, (message) => new UsageError(message));
  registerWorker(program, (message) => new UsageError(message));
  registerReport(program, (message) => new UsageError(message));
  addExamples(program);
  return program;
}

/**
 * Commander's message as one line: it puts its suggestion on a second line
 * ("unknown option '--formt'\n(Did you mean --format?)").
 */
function commanderLine(e: CommanderError, argv: readonly string[], program: Command): string {
  const msg = e.message
    .replace(/^error: /, '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ')
    .replace(/\(Did you mean/g, '(did you mean');
  if (msg.includes('--help')) return msg;
  // Point at the help of the (sub)command the user was typing: `modelgate policy test --help`.
  const names: string[] = [];
  let cmd: Command = program;
  for (const word of argv) {
    const sub = cmd.commands.find((c) => c.name() === word);
    if (!sub) break;
    names.push(word);
    cmd = sub;
  }
  return `${msg} (see '${['modelgate', ...names].join(' ')} --help')`;
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
      process.stderr.write(`modelgate: ${commanderLine(e, argv, program)}\n`);
      return 2;
    }
    if (e instanceof UsageError || e instanceof ServeUsageError) {
      process.stderr.write(`modelgate: ${e.message.split('\n')[0]}\n`);
      return 2;
    }
    // A file the user named that cannot be opened or written is their mistake, not ours.
    const err = e as NodeJS.ErrnoException;
    if (typeof err?.code === 'string' && USER_FS_CODES.has(err.code) && typeof err.path === 'string') {
      process.stderr.write(`modelgate: ${err.path}: ${fsReason(err)}\n`);
      return 2;
    }
    const text = e instanceof Error ? e.message : String(e);
    process.stderr.write(`modelgate: internal error: ${text.split('\n')[0]}\n`);
    return 2;
  }
}
