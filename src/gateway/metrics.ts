/** A small Prometheus registry: counters and one histogram family, rendered as text format 0.0.4. */

type Labels = Record<string, string>;

const HELP: Record<string, [string, 'counter' | 'histogram' | 'gauge']> = {
  modelgate_requests_total: ['HTTP requests by route and status', 'counter'],
  modelgate_verdicts_total: ['Decisions on file downloads by verdict', 'counter'],
  modelgate_cache_hits_total: ['Requests answered from cache, by kind (metadata, verdict, blob)', 'counter'],
  modelgate_upstream_errors_total: ['Upstream failures by kind', 'counter'],
  modelgate_upstream_downloads_total: ['Files downloaded from upstream', 'counter'],
  modelgate_scan_duration_seconds: ['Time to scan a file', 'histogram'],
  modelgate_download_duration_seconds: ['Time to download, hash and write a file from upstream (until its bytes are on disk)', 'histogram'],
  modelgate_publish_duration_seconds: ['Time to publish a verified, scanned file to the blob store', 'histogram'],
  modelgate_scans_pending: ['Scans queued or running', 'gauge'],
};

/**
 * The `route` label of modelgate_requests_total. Labels come from this fixed set, never from the
 * request: one label per unknown path would let anyone grow /metrics (and memory) without bound.
 */
export const ROUTES = ['resolve', 'api', 'reports', 'admin', 'healthz', 'readyz', 'metrics', 'root', 'other'] as const;
export type RouteLabel = (typeof ROUTES)[number];

export function routeLabel(url: string, isResolve: (url: string) => boolean): RouteLabel {
  const path = url.split('?')[0]!;
  try {
    if (isResolve(path)) return 'resolve';
  } catch {
    // A malformed resolve path (answered 400) is still counted, under 'other'.
  }
  if (path.startsWith('/api/')) return 'api';
  const first = path.split('/')[1] ?? '';
  if (first === '') return 'root';
  return NAMED.has(first) ? (first as RouteLabel) : 'other';
}

const NAMED: ReadonlySet<string> = new Set<RouteLabel>(['reports', 'admin', 'healthz', 'readyz', 'metrics']);

/** HTTP statuses as labels: the three-digit codes a server sends, anything else 'other'. */
export function statusLabel(code: number): string {
  return Number.isInteger(code) && code >= 100 && code <= 599 ? String(code) : 'other';
}

const BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300];

function key(name: string, labels: Labels): string {
  const parts = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`);
  return parts.length ? `${name}{${parts.join(',')}}` : name;
}

export class Metrics {
  private counters = new Map<string, number>();
  private hist = new Map<string, { buckets: number[]; sum: number; count: number }>();
  private gauges = new Map<string, () => number>();

  inc(name: string, labels: Labels, by = 1): void {
    const k = key(name, labels);
    this.counters.set(k, (this.counters.get(k) ?? 0) + by);
  }

  observe(name: string, value: number): void {
    let h = this.hist.get(name);
    if (!h) {
      h = { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.hist.set(name, h);
    }
    BUCKETS.forEach((b, i) => {
      if (value <= b) h!.buckets[i]!++;
    });
    h.sum += value;
    h.count++;
  }

  gauge(name: string, read: () => number): void {
    this.gauges.set(name, read);
  }

  /** For tests and the admin API. */
  counter(name: string, labels: Labels): number {
    return this.counters.get(key(name, labels)) ?? 0;
  }

  render(): string {
    const out: string[] = [];
    const families = new Set([...[...this.counters.keys()].map((k) => k.split('{')[0]!), ...this.hist.keys(), ...this.gauges.keys()]);
    for (const fam of [...families].sort()) {
      const [help, type] = HELP[fam] ?? ['', 'counter'];
      out.push(`# HELP ${fam} ${help}`, `# TYPE ${fam} ${type}`);
      for (const [k, v] of this.counters) if (k.split('{')[0] === fam) out.push(`${k} ${v}`);
      const h = this.hist.get(fam);
      if (h) {
        BUCKETS.forEach((b, i) => out.push(`${fam}_bucket{le="${b}"} ${h.buckets[i]}`));
        out.push(`${fam}_bucket{le="+Inf"} ${h.count}`, `${fam}_sum ${h.sum}`, `${fam}_count ${h.count}`);
      }
      const g = this.gauges.get(fam);
      if (g) out.push(`${fam} ${g()}`);
    }
    return out.join('\n') + '\n';
  }
}
