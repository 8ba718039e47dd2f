/**
 * `modelgate crawl`: enqueue repositories for the workers, and optionally wait with a progress
 * line. Usage errors are thrown through `usage` so main.ts reports them like every other command.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { CrawlProgress } from '../queue/crawl.js';
import { CrawlError, DEFAULT_QUEUE, DEFAULT_REDIS_URL } from '../queue/types.js';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export function nonNegativeNumber(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a number ≥ 0, got '${v}'`);
    return n;
  };
}

export function positiveInteger(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got '${v}'`);
    return n;
  };
}

export const collect = (v: string, prev: string[]): string[] => [...prev, v];

interface CrawlFlags {
  author: string[];
  search: string[];
  all: boolean;
  fromFile?: string;
  datasets: boolean;
  s3: string[];
  region?: string;
  profile?: string;
  endpoint?: string;
  redis: string;
  store?: string;
  queue: string;
  wait: boolean;
  waitTimeout: number;
  attempts: number;
  backoffMs: number;
  rate: number;
  burst: number;
  json: boolean;
  progress: boolean;
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

/** One redrawn line on a TTY; a plain line every 5 s otherwise (logs of CI and services). */
function progressPrinter(tty: boolean): (p: CrawlProgress) => void {
  let lastPlain = 0;
  return (p) => {
    const width = 20;
    const total = p.total;
    const frac = total > 0 ? Math.min(1, p.done / total) : 0;
    const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
    const text = p.redisDown
      ? `Redis unreachable, waiting for it to come back… (${p.done} done so far)`
      : `${p.done}/${total} done, ${p.failed} failed, ${p.active} active, ${p.waiting + p.delayed} waiting | ${p.filesPerSec.toFixed(1)} files/s, ${p.reposPerSec.toFixed(1)} repos/s | ${fmtBytes(p.bytesFetched)} fetched${p.upstream429 ? `, ${p.upstream429}× 429` : ''}`;
    if (tty) process.stderr.write(`\r\x1b[2K${bar} ${text}`);
    else if (Date.now() - lastPlain >= 5000) {
      lastPlain = Date.now();
      process.stderr.write(`crawl: ${text}\n`);
    }
  };
}

export function registerCrawl(program: Command, usage: (message: string) => Error): void {
  program
    .command('crawl')
    .description('enqueue upstream repositories for `modelgate worker` processes (BullMQ on Redis)')
    .option('--author <org>', 'every repository of this author or organisation (repeatable)', collect, [])
    .option('--search <text>', 'every repository whose id contains this text (repeatable)', collect, [])
    .option('--all', "every repository in the upstream's listing", false)
    .option('--from-file <file>', 'repository ids, one per line (`org/name`, `org/name@revision`, `datasets/org/name`)')
    .option('--datasets', 'crawl datasets instead of models', false)
    .option('--s3 <s3://bucket/prefix>', 'every model under an S3 prefix: each immediate "subdirectory", and each object directly under it (repeatable)', collect, [])
    .option('--endpoint <url>', `the upstream hub (default: $HF_ENDPOINT or ${DEFAULT_ENDPOINT}); with only --s3 sources, the S3 endpoint (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS)`)
    .option('--region <region>', 'AWS region of the --s3 buckets, passed to the workers (default: $AWS_REGION, $AWS_DEFAULT_REGION)')
    .option('--profile <name>', 'AWS profile for listing the --s3 prefixes (workers use their own credentials)')
    .option('--redis <url>', 'Redis holding the queue', DEFAULT_REDIS_URL)
    .option('--store <url>', 'the workers\' store (postgres://… or a SQLite path): with --wait, re-enqueues jobs lost with a Redis restart')
    .option('--queue <name>', 'queue name', DEFAULT_QUEUE)
    .option('--wait', 'wait until the queue drains, showing progress', false)
    .option('--wait-timeout <seconds>', 'give up waiting after this long (0 = never)', nonNegativeNumber('--wait-timeout'), 0)
    .option('--attempts <n>', 'tries per repository before its job is marked failed', positiveInteger('--attempts'), 5)
    .option('--backoff-ms <ms>', 'first retry delay of a failed job (doubles each time)', nonNegativeNumber('--backoff-ms'), 5000)
    .option('--rate <n>', 'upstream requests per second for the listing, shared with the workers (0 = unlimited)', nonNegativeNumber('--rate'), 5)
    .option('--burst <n>', 'requests allowed at once after a pause', positiveInteger('--burst'), 10)
    .option('--json', 'print the summary as JSON on stdout', false)
    .addOption(new Option('--no-progress', 'no progress line on stderr'))
    .action(async (flags: CrawlFlags) => {
      const hubSources = flags.author.length > 0 || flags.search.length > 0 || flags.all || flags.fromFile !== undefined;
      if (!hubSources && flags.s3.length === 0) {
        throw usage('crawl: say what to crawl: --author ORG, --search TEXT, --all, --from-file FILE or --s3 s3://bucket/prefix');
      }
      if (flags.s3.length > 0 && hubSources && flags.endpoint !== undefined) {
        throw usage('crawl: --endpoint is ambiguous with both hub and --s3 sources; give the S3 endpoint in AWS_ENDPOINT_URL_S3 instead');
      }
      const s3Endpoint = !hubSources ? flags.endpoint : undefined;
      if (flags.s3.length > 0) process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
      if (flags.queue.includes(':')) throw usage('crawl: --queue must not contain ":"');
      const endpoint = (hubSources ? flags.endpoint : undefined) ?? process.env['HF_ENDPOINT'] ?? DEFAULT_ENDPOINT;
      const tty = process.stderr.isTTY === true;
      const printer = flags.progress ? progressPrinter(tty) : undefined;
      // Loaded on demand: BullMQ and Redis are for this command and `worker` only.
      const { runCrawl } = await import('../queue/crawl.js');
      try {
        const summary = await runCrawl({
          redisUrl: flags.redis,
          queue: flags.queue,
          endpoint,
          token: process.env['HF_TOKEN'],
          sources: { authors: flags.author, searches: flags.search, all: flags.all, fromFile: flags.fromFile, datasets: flags.datasets, s3: flags.s3 },
          s3: { endpoint: s3Endpoint, region: flags.region, profile: flags.profile },
          attempts: flags.attempts,
          backoffMs: flags.backoffMs,
          rate: flags.rate,
          burst: flags.burst,
          store: flags.store,
          wait: flags.wait,
          waitTimeoutMs: flags.waitTimeout * 1000,
          log: (l) => {
            if (tty) process.stderr.write('\r\x1b[2K');
            process.stderr.write(`crawl: ${l}\n`);
          },
          progress: printer,
        });
        if (tty && flags.progress && flags.wait) process.stderr.write('\r\x1b[2K');
        if (flags.json) process.stdout.write(JSON.stringify(summary) + '\n');
        else {
          const lines = [`queue ${summary.queue}: ${summary.enqueued} repositories (${summary.added} new jobs, ${summary.alreadyQueued} already pending), run ${summary.run}`];
          if (summary.waited) {
            lines.push(
              `drained in ${(summary.elapsedMs / 1000).toFixed(1)} s: ${summary.done} jobs done, ${summary.failed} failed${summary.requeued ? `, ${summary.requeued} re-enqueued after being lost` : ''}`,
              `throughput: ${summary.reposPerSec.toFixed(2)} repos/s, ${summary.filesPerSec.toFixed(2)} files/s; files scanned ${summary.filesScanned}, skipped ${summary.filesSkipped}, errors ${summary.fileErrors}; ${fmtBytes(summary.bytesFetched)} fetched; upstream 429s ${summary.upstream429}`,
            );
          }
          process.stdout.write(lines.join('\n') + '\n');
        }
        process.exitCode = summary.failed > 0 ? 1 : 0;
      } catch (e) {
        if (e instanceof CrawlError && e.kind === 'invalid') throw usage(`crawl: ${e.message}`);
        if (e instanceof CrawlError) {
          if (tty) process.stderr.write('\r\x1b[2K');
          process.stderr.write(`modelgate crawl: ${e.kind === 'transient' ? '' : `${e.kind}: `}${e.message}\n`);
          process.exitCode = 2;
          return;
        }
        throw e;
      }
    });
}
