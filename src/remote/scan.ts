/**
 * Remote scans: a Hub repository (hf://), one URL, or the objects under an S3 prefix (s3://),
 * scanned file by file through a range source (HttpRangeSource, S3RangeSource) by the same
 * engine as a local scan, so verdicts and exit codes are the same; each FileReport says what
 * the scan cost in bytes and requests.
 */
import { formatsWhere } from '../formats/catalogue.js';
import { Engine, type ScanOptions } from '../scan/engine.js';
import { buildReport } from '../scan/scan.js';
import type { FileReport, RemoteFallback, ScanReport } from '../scan/report.js';
import { HttpRangeSource, displayUrl, type HttpRangeOptions } from '../source/http.js';
import { SourceError, type ByteSource } from '../source/types.js';
import type { PathSelector } from '../scan/select.js';
import { checkMlflowModel } from '../scan/mlflow.js';
import { remoteDirectory } from './model-directory.js';
import { HubClient, type HubError } from './hub.js';
import type { S3Access } from './s3.js';
import { parseEndpoint, parseTarget, type HubTarget, type RemoteTarget, type S3Target } from './target.js';

export { mergeReports, remoteTotals, renderRemoteSummary, type RemoteTotals } from './summary.js';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
export const REMOTE_CRC_VERIFY_BYTES = 64 * 1024;

/**
 * Formats whose analyzers must read from the first byte to the last (pickle streams, compressed
 * streams): ranges cannot skip anything there, so the read-ahead turns the scan into a
 * streamed download, which the report says.
 */
export const STREAM_FORMATS: ReadonlySet<string> = formatsWhere('stream');

export interface RemoteScanOptions extends ScanOptions {
  /** Hub endpoint; default: HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Hub token; default: HF_TOKEN. Sent only to the endpoint's host. */
  token?: string | null;
  /** Extra hosts redirects may lead to (`host`, `host:port`, `*.suffix`); huggingface.co's CDNs are allowed for it. */
  allowedHosts?: readonly string[];
  /** Files scanned at once. */
  concurrency?: number;
  /** Range-source tuning (read-ahead, cache, fallback download limit, retries, timeout). */
  http?: Omit<HttpRangeOptions, 'name' | 'expectedSize' | 'allowedHosts' | 'token' | 'tokenHost' | 'dispatcher'>;
  /** For s3:// targets: endpoint, region, profile (each defaulting the AWS way; see src/remote/s3.ts). */
  s3?: Omit<S3Access, 'env'>;
  onProgress?: (done: number, total: number | null, last: FileReport) => void;
  env?: NodeJS.ProcessEnv;
  /** Which repository files to scan (`--include` / `--exclude`, on paths in the repository). */
  select?: PathSelector;
}

export interface RemoteScanError {
  target: string;
  kind: HubError['kind'] | 'usage';
  message: string;
}

export type RemoteScanResult = { ok: true; report: ScanReport } | { ok: false; error: RemoteScanError };

/** What a remote file is read through: a range source over some transport. */
export interface OpenedSource extends ByteSource {
  requests(): number;
  fallback(): 'download' | null;
  close(): Promise<void>;
}

/** One remote file to scan. */
export interface Job {
  /** Report path. */
  name: string;
  /** Where the bytes come from, for the report (no query: signed URLs carry credentials there). */
  display: string;
  size: number | null;
  open(): Promise<OpenedSource>;
}

function unreadable(job: Job, err: SourceError, requests: number, bytes: number): FileReport {
  return {
    path: job.name,
    size: job.size,
    formats: ['unreadable'],
    findings: [{ rule: 'SCAN_UNREADABLE', severity: 'medium', message: `cannot read: ${err.message}`, location: { path: [job.name] }, evidence: { details: err.details }, references: [] }],
    facts: {},
    imports: [],
    members: [],
    complete: false,
    maxSeverity: 'medium',
    bytesRead: bytes,
    durationMs: 0,
    remote: { url: job.display, bytesFetched: bytes, requests },
  };
}

function hubName(t: HubTarget, path: string): string {
  const kind = t.repoKind === 'model' ? '' : `${t.repoKind}s/`;
  const rev = t.revision === 'main' ? '' : `@${encodeURIComponent(t.revision)}`;
  return `hf://${kind}${t.repo}${rev}/${path}`;
}

function hubFailure(t: HubTarget, e: HubError): RemoteScanResult {
  return { ok: false, error: { target: t.spec, kind: e.kind, message: e.message } };
}

/** Scans hf:// and http(s):// targets; a repository that cannot be listed is an error value, a file that cannot be read is a finding. */
export async function scanRemote(specs: readonly string[], opts: RemoteScanOptions = {}): Promise<RemoteScanResult> {
  const started = new Date();
  const env = opts.env ?? process.env;
  const rawEndpoint = opts.endpoint ?? env['HF_ENDPOINT'] ?? DEFAULT_ENDPOINT;
  const endpoint = parseEndpoint(rawEndpoint);
  if (!endpoint.ok) return { ok: false, error: { target: rawEndpoint, kind: 'usage', message: endpoint.message } };
  const targets: RemoteTarget[] = [];
  for (const s of specs) {
    const t = parseTarget(s);
    if (!t.ok) return { ok: false, error: { target: s, kind: 'usage', message: t.message } };
    targets.push(t.value);
  }
  const token = opts.token !== undefined ? opts.token : (env['HF_TOKEN'] ?? env['HUGGING_FACE_HUB_TOKEN'] ?? null);
  const s3Targets = targets.filter((t): t is S3Target => t.kind === 's3');
  // CRC checks of members read only at their head would download them whole (see Limits.crcVerifyBytes).
  const engine = new Engine({ ...opts, limits: { crcVerifyBytes: REMOTE_CRC_VERIFY_BYTES, ...opts.limits } });
  const hub = new HubClient({
    endpoint: endpoint.value,
    token,
    redirectHosts: opts.allowedHosts,
    timeoutMs: opts.http?.timeoutMs,
    // As long as the range source waits for a Retry-After (src/source/http.ts): someone is watching.
    maxRetryAfterMs: 30_000,
  });
  let closeS3: (() => void) | null = null;
  try {
    const http: HttpRangeOptions = { ...opts.http, ...hub.rangeAccess() };
    const urlJob = (url: URL, name: string, size: number | null): Job => ({
      name,
      display: displayUrl(url),
      size,
      open: () => HttpRangeSource.open(url, { ...http, name, ...(size !== null ? { expectedSize: size } : {}) }),
    });
    const jobs: Job[] = [];
    // Every listed file, scanned or excluded: the directory an MLmodel is read with.
    const listed: Job[] = [];
    let excluded = 0;
    for (const t of targets) {
      if (t.kind === 's3') continue;
      if (t.kind === 'url') {
        jobs.push(urlJob(t.url, displayUrl(t.url), null));
        continue;
      }
      const info = await hub.repoInfo(t.repoKind, t.repo, t.revision);
      if (!info.ok) return hubFailure(t, info.error);
      const commit = info.value.sha;
      const files = await hub.listFiles(t.repoKind, t.repo, commit, { path: t.path });
      if (!files.ok) return hubFailure(t, files.error);
      for (const f of files.value) {
        const job = urlJob(hub.resolveUrl(t.repoKind, t.repo, commit, f.path), hubName(t, f.path), f.lfs?.size ?? f.size);
        listed.push(job);
        if (opts.select && !opts.select.selects(f.path)) {
          excluded++;
          continue;
        }
        jobs.push(job);
      }
    }
    if (s3Targets.length) {
      // Loaded only now: the AWS SDK is large, and most scans never need it.
      const { s3Jobs } = await import('./s3-scan.js');
      const r = await s3Jobs(s3Targets, { ...opts.s3, env, timeoutMs: opts.s3?.timeoutMs ?? opts.http?.timeoutMs }, opts.http ?? {}, opts.select);
      if (!r.ok) return { ok: false, error: r.error };
      closeS3 = r.close;
      excluded += r.excluded.length;
      jobs.push(...r.jobs);
      listed.push(...r.jobs, ...r.excluded);
    }
    const results: FileReport[] = [];
    const running = new Set<Promise<void>>();
    const concurrency = Math.max(1, opts.concurrency ?? 4);
    let done = 0;
    for (const job of jobs) {
      const p: Promise<void> = scanOne(engine, job)
        .then((r) => {
          results.push(r);
          opts.onProgress?.(++done, jobs.length, r);
        })
        .finally(() => running.delete(p));
      running.add(p);
      if (running.size >= concurrency) await Promise.race(running);
    }
    await Promise.all(running);
    for (const r of results) if (r.formats.includes('mlflow-model')) await withModelDirectory(r, listed);
    results.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const report = buildReport(engine, results, started);
    if (opts.select) report.summary.excluded = excluded;
    return { ok: true, report };
  } finally {
    closeS3?.();
    await hub.close().catch(() => undefined);
  }
}

/** An MLmodel is read with the listed files around it, as on disk (src/scan/mlflow.ts); reading them is part of its cost. */
async function withModelDirectory(report: FileReport, listed: readonly Job[]): Promise<void> {
  const slash = report.path.lastIndexOf('/');
  if (slash < 0) return;
  const dir = remoteDirectory(listed, report.path.slice(0, slash));
  await checkMlflowModel(dir, report);
  const cost = dir.cost();
  if (report.remote) {
    report.remote.bytesFetched += cost.bytes;
    report.remote.requests += cost.requests;
  }
}

async function scanOne(engine: Engine, job: Job): Promise<FileReport> {
  let src: OpenedSource;
  const started = Date.now();
  try {
    src = await job.open();
  } catch (e) {
    const err = e instanceof SourceError ? e : new SourceError('io', String(e));
    const r = unreadable(job, err, 0, 0);
    r.durationMs = Date.now() - started;
    return r;
  }
  try {
    const report = await engine.scanSource(src, job.name);
    let fallback: RemoteFallback | null = src.fallback();
    if (fallback === null && report.formats.some((f) => STREAM_FORMATS.has(f))) fallback = 'sequential';
    report.remote = { url: job.display, bytesFetched: src.bytesRead(), requests: src.requests(), ...(fallback ? { fallback } : {}) };
    return report;
  } finally {
    await src.close();
  }
}
