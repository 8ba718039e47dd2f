/**
 * `modelgate worker`: a long-running consumer of the crawl queue. SIGTERM/SIGINT finish the
 * jobs in hand and exit; a second signal abandons them (another worker takes them over once
 * their locks expire).
 */
import { Command, Option } from 'commander';
import { CrawlError, DEFAULT_QUEUE, DEFAULT_REDIS_URL } from '../queue/types.js';
import { collect, nonNegativeNumber, positiveInteger } from './crawl.js';

interface WorkerFlags {
  redis: string;
  queue: string;
  store?: string;
  endpoint?: string;
  concurrency: number;
  fileConcurrency: number;
  rate: number;
  burst: number;
  lockMs: number;
  stalledMs: number;
  maxFileBytes: number;
  maxFiles: number;
  redirectHost: string[];
  timeout: number;
  metricsPort?: number;
  metricsHost: string;
  quiet: boolean;
}

export function registerWorker(program: Command, usage: (message: string) => Error): void {
  program
    .command('worker')
    .description('scan repositories from the crawl queue into the store (run any number, anywhere)')
    .option('--redis <url>', 'Redis holding the queue', DEFAULT_REDIS_URL)
    .option('--queue <name>', 'queue name', DEFAULT_QUEUE)
    .option('--store <url>', 'where results go: postgres://… (shared by machines) or a SQLite path (default: $MODELGATE_STORE)')
    .option('--endpoint <url>', "use this upstream instead of the one each job names")
    .option('--concurrency <n>', 'repositories processed at once by this process', positiveInteger('--concurrency'), 4)
    .option('--file-concurrency <n>', 'files of one repository fetched at once', positiveInteger('--file-concurrency'), 4)
    .option('--rate <n>', 'upstream requests per second shared by all workers (0 = unlimited)', nonNegativeNumber('--rate'), 5)
    .option('--burst <n>', 'requests allowed at once after an idle period', positiveInteger('--burst'), 10)
    .option('--lock-ms <ms>', "job lock: a killed worker's job is retried by another after about this long", positiveInteger('--lock-ms'), 60_000)
    .option('--stalled-ms <ms>', 'how often to look for jobs whose worker died', positiveInteger('--stalled-ms'), 30_000)
    .option('--max-file-bytes <n>', 'files larger than this are recorded as not scanned', positiveInteger('--max-file-bytes'), 2 * 1024 ** 3)
    .option('--max-files <n>', 'repositories with more files than this are not crawled', positiveInteger('--max-files'), 100_000)
    .option('--redirect-host <host>', 'another host the upstream may redirect downloads to (repeatable)', collect, [])
    .option('--timeout <seconds>', 'upstream timeout per request and per body read', positiveInteger('--timeout'), 60)
    .addOption(new Option('--metrics-port <port>', 'serve Prometheus metrics on GET /metrics at this port (0 = any free port)').argParser(nonNegativeNumber('--metrics-port')))
    .option('--metrics-host <host>', 'address for --metrics-port', '127.0.0.1')
    .option('--quiet', 'no line per job on stderr', false)
    .action(async (flags: WorkerFlags) => {
      const store = flags.store ?? process.env['MODELGATE_STORE'];
      if (store === undefined || store === '') throw usage('worker: --store is required (postgres://… or a SQLite path), or set MODELGATE_STORE');
      if (flags.queue.includes(':')) throw usage('worker: --queue must not contain ":"');
      // S3 jobs load the AWS SDK, whose multi-line notice about its 2027 releases on Node 20 would clutter the log.
      process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
      const log = (l: string): void => {
        process.stderr.write(`worker ${process.pid}: ${l}\n`);
      };
      // Loaded on demand: BullMQ, Redis and the store are for this command only.
      const { startCrawlWorker } = await import('../queue/worker.js');
      let w;
      try {
        w = await startCrawlWorker({
          redisUrl: flags.redis,
          queue: flags.queue,
          store,
          endpoint: flags.endpoint,
          token: process.env['HF_TOKEN'],
          concurrency: flags.concurrency,
          fileConcurrency: flags.fileConcurrency,
          rate: flags.rate,
          burst: flags.burst,
          lockMs: flags.lockMs,
          stalledIntervalMs: flags.stalledMs,
          maxFileBytes: flags.maxFileBytes,
          maxFilesPerRepo: flags.maxFiles,
          redirectHosts: flags.redirectHost,
          timeoutMs: flags.timeout * 1000,
          metricsPort: flags.metricsPort,
          metricsHost: flags.metricsHost,
          log: flags.quiet ? (l) => (l.startsWith('failed') || l.startsWith('upstream') || l.startsWith('queue') ? log(l) : undefined) : log,
        });
      } catch (e) {
        if (e instanceof CrawlError && e.kind === 'invalid') throw usage(`worker: ${e.message}`);
        throw e;
      }
      const running = w;
      log(`ready on queue ${flags.queue} (engine ${running.engineKey}, concurrency ${flags.concurrency}${running.metricsPort !== null ? `, metrics on :${running.metricsPort}` : ''})`);
      await new Promise<void>((resolve) => {
        let signals = 0;
        const onSignal = (sig: NodeJS.Signals): void => {
          signals++;
          if (signals === 1) {
            log(`${sig}: finishing the jobs in hand, then exiting (send it again to abandon them)`);
            void running.close(false).then(resolve, resolve);
          } else {
            log(`${sig} again: abandoning active jobs`);
            void running.close(true).then(resolve, resolve);
          }
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
      log('stopped');
      // A connection that refuses to close must not keep a stopped worker alive forever.
      setTimeout(() => process.exit(process.exitCode ?? 0), 5000).unref();
    });
}
