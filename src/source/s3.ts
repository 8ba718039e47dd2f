/**
 * An S3 object as a ByteSource: GetObject with a single `Range` per request, behind the same
 * read-ahead, coalescing, cache and prefetch as the HTTP range source (src/source/ranged.ts),
 * so an analyzer reads a safetensors header or a zip's directory and nothing else.
 *
 * The listing gave the object's size and ETag; every answer must agree with both, so the
 * bytes scanned are those of the version that was listed:
 *  - `If-Match: <etag>` on each request (S3 answers 412 when the object was replaced), and the
 *    answer's ETag compared as well, for S3-compatible servers that ignore If-Match;
 *  - `Content-Range` must name exactly the bytes asked for and the listed total;
 *  - the body must be exactly that long.
 * Any disagreement is a SourceError('io') with `details.fault` and the source stays failed.
 * Unlike HTTP there is no whole-file fallback: a server that ignores Range on S3's own API is
 * refused (`ignored-range`), since S3 clients depend on ranged GETs.
 *
 * The client is built with `maxAttempts: 1`: retries (5xx, SlowDown, cut connections) are the
 * range source's, so `requests()` counts every request sent, as the HTTP source does.
 */
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { parseContentRange } from './http/transport.js';
import { RangedSource, Transient, type RangedOptions } from './ranged.js';
import { SourceError } from './types.js';

export type S3Fault = 'status' | 'auth' | 'unreachable' | 'timeout' | 'cut' | 'changed' | 'wrong-range' | 'size-mismatch' | 'short-body' | 'long-body' | 'ignored-range';

export interface S3RangeOptions extends RangedOptions {
  client: S3Client;
  bucket: string;
  key: string;
  /** From the listing: every answer's total must agree. */
  size: number;
  /** From the listing, quoted as S3 gives it; null when the server gave none. */
  etag: string | null;
  /** Display name; `s3://bucket/key` by default. */
  name?: string;
  /** Awaited before each request: a rate limiter shared with other workers. */
  beforeRequest?: () => Promise<void>;
  /** Per request, headers and body together. */
  timeoutMs?: number;
}

interface SdkError {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $retryable?: unknown;
}

/** What an AWS SDK error says, without anything secret (the SDK's messages carry no credentials). */
export function s3ErrorInfo(e: unknown): { name: string; status: number | null; message: string } {
  const x = (typeof e === 'object' && e !== null ? e : {}) as SdkError;
  const status = typeof x.$metadata?.httpStatusCode === 'number' ? x.$metadata.httpStatusCode : null;
  const name = typeof x.name === 'string' && x.name !== 'Error' ? x.name : typeof x.code === 'string' ? x.code : 'Error';
  // One line: SDK messages sometimes span several.
  const message = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').trim().slice(0, 300);
  return { name, status, message };
}

/** Connection-level failures (no HTTP answer): retried, and named by their code. */
function networkCode(e: unknown): string | null {
  const x = (typeof e === 'object' && e !== null ? e : {}) as SdkError;
  if (typeof x.$metadata?.httpStatusCode === 'number') return null;
  const code = typeof x.code === 'string' ? x.code : typeof x.name === 'string' ? x.name : null;
  if (code === null) return null;
  return /^(E[A-Z]+|TimeoutError|RequestTimeout|NetworkingError|AbortError)$/.test(code) ? code : null;
}

export function s3SourceError(fault: S3Fault, message: string, details: Record<string, string | number> = {}): SourceError {
  return new SourceError('io', message, { fault, ...details });
}

export class S3RangeSource extends RangedSource {
  readonly name: string;
  readonly bucket: string;
  readonly key: string;
  private readonly client: S3Client;
  private readonly etag: string | null;
  private readonly beforeRequest: (() => Promise<void>) | null;
  private readonly timeoutMs: number;
  private requestCount = 0;

  constructor(opts: S3RangeOptions) {
    super(opts, opts.size);
    this.client = opts.client;
    this.bucket = opts.bucket;
    this.key = opts.key;
    this.etag = opts.etag;
    this.name = opts.name ?? `s3://${opts.bucket}/${opts.key}`;
    this.beforeRequest = opts.beforeRequest ?? null;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** GetObject requests sent so far, retries included. */
  requests(): number {
    return this.requestCount;
  }

  /** S3 sources never fall back to a download (see the file comment). */
  fallback(): null {
    return null;
  }

  async close(): Promise<void> {
    // The client belongs to the caller (one per scan, shared by every object).
  }

  protected async fetchOnce(start: number, length: number): Promise<Uint8Array | null> {
    const total = this.size;
    const last = Math.min(total, start + length) - 1;
    if (last < start) return new Uint8Array(0);
    await this.beforeRequest?.();
    this.requestCount++;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.timeoutMs);
    try {
      let out;
      try {
        out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key, Range: `bytes=${start}-${last}`, ...(this.etag !== null ? { IfMatch: this.etag } : {}) }), {
          abortSignal: abort.signal,
        });
      } catch (e) {
        throw this.classify(e, abort.signal.aborted);
      }
      const body = out.Body as (Readable & AsyncIterable<Uint8Array>) | undefined;
      const drop = (): void => {
        body?.destroy();
      };
      if (this.etag !== null && out.ETag !== undefined && out.ETag !== this.etag) {
        drop();
        throw s3SourceError('changed', `${this.name}: the object changed after it was listed (ETag ${out.ETag}, listed ${this.etag}); not scanned from two versions`, { listed: this.etag, answered: out.ETag });
      }
      if (out.ContentRange === undefined) {
        // Only right when the range asked for was the whole object.
        if (!(start === 0 && last + 1 === total && out.ContentLength === total)) {
          drop();
          throw s3SourceError('ignored-range', `${this.name}: the server ignored the Range request (bytes ${start}-${last}) and sent the whole object`);
        }
      } else {
        const cr = parseContentRange(out.ContentRange);
        if (cr === null || cr === 'unsatisfied') {
          drop();
          throw s3SourceError('wrong-range', `${this.name}: the server answered without a valid Content-Range (${out.ContentRange.slice(0, 80)})`);
        }
        if (cr.total !== null && cr.total !== total) {
          drop();
          throw s3SourceError('size-mismatch', `${this.name}: the server says the object has ${cr.total} bytes, the listing said ${total}`, { announced: total, answered: cr.total });
        }
        if (cr.start !== start || cr.end !== last) {
          drop();
          throw s3SourceError('wrong-range', `${this.name}: asked for bytes ${start}-${last}, the server answered bytes ${cr.start}-${cr.end}`, { asked: `${start}-${last}`, answered: `${cr.start}-${cr.end}` });
        }
      }
      if (body === undefined) throw s3SourceError('short-body', `${this.name}: the server sent no body for bytes ${start}-${last}`);
      return await this.collect(body, last - start + 1, `bytes ${start}-${last}`, abort.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  private async collect(body: Readable & AsyncIterable<Uint8Array>, n: number, what: string, signal: AbortSignal): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let got = 0;
    const onAbort = (): void => {
      body.destroy();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const chunk of body) {
        if (got + chunk.length > n) {
          body.destroy();
          throw s3SourceError('long-body', `${this.name}: the server sent more than the ${n} bytes of ${what}`);
        }
        out.set(chunk, got);
        got += chunk.length;
        this.fetched += chunk.length;
      }
    } catch (e) {
      if (e instanceof SourceError) throw e;
      const fault = signal.aborted ? 'timeout' : 'cut';
      throw new Transient(s3SourceError(fault, `${this.name}: ${signal.aborted ? 'timed out' : 'connection cut'} after ${got} of the ${n} bytes of ${what}`, { received: got, expected: n }));
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    if (got < n) throw new Transient(s3SourceError('short-body', `${this.name}: the server sent ${got} of the ${n} bytes of ${what}`, { received: got, expected: n }));
    return out;
  }

  /** An SDK failure as a fault: retried when it may pass, final otherwise. */
  private classify(e: unknown, timedOut: boolean): SourceError | Transient {
    if (timedOut) return new Transient(s3SourceError('timeout', `${this.name}: timed out after ${this.timeoutMs} ms`));
    const info = s3ErrorInfo(e);
    const net = networkCode(e);
    if (net !== null) return new Transient(s3SourceError('unreachable', `${this.name}: cannot reach the S3 endpoint (${net}): ${info.message}`));
    const status = info.status;
    const what = `${info.name}${status !== null ? `, HTTP ${status}` : ''}`;
    if (status === 412 || info.name === 'PreconditionFailed') {
      return s3SourceError('changed', `${this.name}: the object changed after it was listed (${what}); not scanned from two versions`, { status: status ?? 412 });
    }
    if (status === null) {
      // No answer and no network code: the credential chain or the SDK itself refused.
      return s3SourceError('auth', `${this.name}: ${info.name}: ${info.message}`);
    }
    if (status === 403 || status === 401) {
      const why = info.name === 'InvalidObjectState' ? 'the object is archived (Glacier / Deep Archive): restore it to scan it' : 'access denied';
      return s3SourceError('auth', `${this.name}: ${why} (${what})`, { status });
    }
    if (status === 404) return s3SourceError('status', `${this.name}: the object is gone (${what}); deleted after it was listed?`, { status });
    const err = s3SourceError('status', `${this.name}: ${info.message || info.name} (${what})`, { status });
    if (status >= 500 || status === 429 || status === 408) return new Transient(err);
    return err;
  }
}
