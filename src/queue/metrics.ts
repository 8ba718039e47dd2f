/**
 * A worker's counters in Prometheus text format (0.0.4) on an optional port. Per process: a
 * scraper sums over workers. The same numbers also go to a Redis hash per queue (see worker.ts)
 * so `crawl` can show fleet-wide throughput without scraping anyone.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export const WORKER_METRICS = {
  modelgate_crawl_jobs_done_total: ['Repository jobs completed', 'counter'],
  modelgate_crawl_jobs_failed_total: ['Repository job attempts that failed (retried or not)', 'counter'],
  modelgate_crawl_files_scanned_total: ['Files this worker fetched and scanned', 'counter'],
  modelgate_crawl_files_skipped_total: ['Files whose content already had a scan under this engine key', 'counter'],
  modelgate_crawl_file_errors_total: ['Files that could not be scanned (recorded with their error)', 'counter'],
  modelgate_crawl_bytes_fetched_total: ['Response body bytes read from the upstream', 'counter'],
  modelgate_crawl_upstream_requests_total: ['Requests sent to the upstream', 'counter'],
  modelgate_crawl_upstream_429_total: ['Upstream answers 429 Too Many Requests', 'counter'],
  modelgate_crawl_upstream_503_total: ['Upstream answers 503 Service Unavailable', 'counter'],
  modelgate_crawl_upstream_pause_seconds_total: ['Time the shared limiter was paused by this worker (Retry-After)', 'counter'],
  modelgate_crawl_jobs_active: ['Jobs being processed now', 'gauge'],
} as const;

export type WorkerMetric = keyof typeof WORKER_METRICS;

export class WorkerMetrics {
  private readonly values = new Map<WorkerMetric, number>();
  private readonly gauges = new Map<WorkerMetric, () => number>();

  inc(name: WorkerMetric, by = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + by);
  }

  gauge(name: WorkerMetric, read: () => number): void {
    this.gauges.set(name, read);
  }

  get(name: WorkerMetric): number {
    return this.gauges.get(name)?.() ?? this.values.get(name) ?? 0;
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, [help, type]] of Object.entries(WORKER_METRICS) as [WorkerMetric, readonly [string, string]][]) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${this.get(name)}`);
    }
    return lines.join('\n') + '\n';
  }

  /** Serves GET /metrics (anything else 404). Resolves with the bound port. */
  async listen(port: number, host = '127.0.0.1'): Promise<{ server: Server; port: number }> {
    const server = createServer((req, res) => {
      if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(this.render());
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return { server, port: (server.address() as AddressInfo).port };
  }
}
