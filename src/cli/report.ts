/**
 * `modelgate report`: the study report from a crawl store (docs/study.md). Exit codes follow
 * the rest of the CLI: 0 written, 2 usage error or a store that cannot be read. The report is
 * a description, not a gate, so findings do not change the exit code.
 */
import { existsSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { SEVERITIES, type Severity } from '../core/findings.js';
import { checkOutputPath, writeOutput } from './output.js';
import { isStoreError } from '../store/errors.js';
import type { SqlStore } from '../store/sql.js';
import { DEFAULT_STUDY_OPTIONS, HUB_LEVELS, MAX_LIST_LIMIT, STUDY_FORMATS, type HubLevel, type StudyFormat } from '../study/types.js';

interface ReportFlags {
  store?: string;
  format: StudyFormat;
  output?: string;
  title?: string;
  threshold: Severity;
  hubLevel: HubLevel;
  limit: number;
  top: number;
}

function boundedInt(name: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > MAX_LIST_LIMIT) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${MAX_LIST_LIMIT}, got '${v}'`);
    return n;
  };
}


export function registerReport(program: Command, usage: (message: string) => Error): void {
  program
    .command('report')
    .description('the study report of a crawl store: formats, findings, dangerous globals, trust_remote_code, and modelgate against the hub\'s own verdicts')
    .option('--store <url>', 'the crawl store: postgres://… or a SQLite path (default: $MODELGATE_STORE)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(STUDY_FORMATS).default('markdown'))
    .option('-o, --output <file>', 'write the report to a file instead of stdout')
    .option('--title <text>', 'title of the report')
    .addOption(new Option('--threshold <severity>', 'a file is flagged by modelgate when its worst finding is at or above this').choices(SEVERITIES).default(DEFAULT_STUDY_OPTIONS.threshold))
    .addOption(new Option('--hub-level <level>', 'a file is flagged by the hub when it lists it at or above this level').choices(HUB_LEVELS).default(DEFAULT_STUDY_OPTIONS.hubLevel))
    .option('--limit <n>', 'rows per list (the rest is counted)', boundedInt('--limit', 0), DEFAULT_STUDY_OPTIONS.limit)
    .option('--top <n>', 'rows of the format and dangerous-global tables', boundedInt('--top', 1), DEFAULT_STUDY_OPTIONS.top)
    .action(async (flags: ReportFlags) => {
      const location = flags.store ?? process.env['MODELGATE_STORE'];
      if (location === undefined || location.trim() === '') throw usage('report: --store is required (postgres://… or a SQLite path), or set MODELGATE_STORE');
      if (flags.output !== undefined) await checkOutputPath(flags.output);
      // Loaded on demand: the database drivers and the study queries are for this command only.
      const { parseStoreLocation, openStore, redactStoreUrl } = await import('../store/open.js');
      const { buildStudy, renderStudy } = await import('../study/index.js');
      let store: SqlStore;
      try {
        const loc = parseStoreLocation(location);
        // Opening a SQLite path creates the file: a typo would produce an empty study.
        if (loc.kind === 'sqlite' && loc.path !== ':memory:' && !existsSync(loc.path)) throw usage(`report: no such store: ${loc.path}`);
        store = openStore(location);
      } catch (e) {
        if (isStoreError(e)) throw usage(`report: ${e.message}`);
        throw e;
      }
      try {
        const r = await buildStudy(store, {
          threshold: flags.threshold,
          hubLevel: flags.hubLevel,
          limit: flags.limit,
          top: flags.top,
          ...(flags.title !== undefined ? { title: flags.title } : {}),
        });
        if (!r.ok) throw usage(`report: ${redactStoreUrl(location)}: ${r.error.message}`);
        const text = renderStudy(r.study, flags.format);
        if (flags.output !== undefined) await writeOutput(flags.output, text);
        else process.stdout.write(text);
      } finally {
        await store.close().catch(() => undefined);
      }
      process.exitCode = 0;
    });
}
