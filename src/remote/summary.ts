/**
 * What a remote scan adds to a report, once it is done: totals, the console's summary line, and
 * the merge with a local report. Apart from scan.ts so the CLI renders a local scan without
 * loading the HTTP client.
 */
import { SEVERITY_RANK } from '../core/findings.js';
import type { ScanReport } from '../scan/report.js';

function human(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export interface RemoteTotals {
  files: number;
  bytes: number;
  bytesFetched: number;
  requests: number;
  sequential: number;
  downloaded: number;
}

export function remoteTotals(report: ScanReport): RemoteTotals | null {
  const remote = report.files.filter((f) => f.remote !== undefined);
  if (remote.length === 0) return null;
  const t: RemoteTotals = { files: remote.length, bytes: 0, bytesFetched: 0, requests: 0, sequential: 0, downloaded: 0 };
  for (const f of remote) {
    t.bytes += f.size ?? 0;
    t.bytesFetched += f.remote!.bytesFetched;
    t.requests += f.remote!.requests;
    if (f.remote!.fallback === 'sequential') t.sequential++;
    if (f.remote!.fallback === 'download') t.downloaded++;
  }
  return t;
}

/** The console's line about what the remote scan transferred. */
export function renderRemoteSummary(report: ScanReport): string | null {
  const t = remoteTotals(report);
  if (t === null) return null;
  const pct = t.bytes > 0 ? ` (${((100 * t.bytesFetched) / t.bytes).toFixed(t.bytesFetched * 1000 < t.bytes ? 4 : 2)}%)` : '';
  const notes: string[] = [];
  if (t.sequential) notes.push(`${t.sequential} read from start to end (pickle or compressed stream)`);
  if (t.downloaded) notes.push(`${t.downloaded} downloaded whole (the upstream ignored Range requests)`);
  return `remote: fetched ${human(t.bytesFetched)} of ${human(t.bytes)}${pct} in ${t.requests} requests over ${t.files} file${t.files === 1 ? '' : 's'}${notes.length ? `; ${notes.join('; ')}` : ''}\n`;
}

/** Local and remote results of one command, as one report (same engine, so the same versions). */
export function mergeReports(local: ScanReport, remote: ScanReport): ScanReport {
  const files = [...local.files, ...remote.files];
  const findings = { ...local.summary.findings };
  for (const [k, v] of Object.entries(remote.summary.findings)) findings[k as keyof typeof findings] += v;
  const worst = [local.summary.maxSeverity, remote.summary.maxSeverity].filter((s): s is NonNullable<typeof s> => s !== null);
  const maxSeverity = worst.length === 0 ? null : worst.reduce((a, b) => (SEVERITY_RANK[a] >= SEVERITY_RANK[b] ? a : b));
  return {
    ...local,
    durationMs: Date.now() - Date.parse(local.startedAt),
    files,
    summary: {
      files: files.length,
      findings,
      maxSeverity,
      incomplete: local.summary.incomplete + remote.summary.incomplete,
      bytesRead: local.summary.bytesRead + remote.summary.bytesRead,
      ...(local.summary.excluded !== undefined || remote.summary.excluded !== undefined ? { excluded: (local.summary.excluded ?? 0) + (remote.summary.excluded ?? 0) } : {}),
    },
  };
}
