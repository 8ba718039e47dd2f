/**
 * A remote file as a ByteSource, read by single-range GETs so that analyzers fetch only what
 * they look at: a zip's directory and pickles, a safetensors or GGUF header.
 *
 * Read-ahead, coalescing, the block cache, prefetch and retries are RangedSource's
 * (src/source/ranged.ts); this class says how one range is fetched over HTTP.
 *
 * An upstream that answers ranges wrongly never yields wrong bytes:
 *  - 206 whose Content-Range names other bytes, a total size other than announced, a body
 *    shorter or longer than the range: SourceError('io') with `details.fault`, and the source
 *    stays failed (every later read rejects at once; the upstream is not trusted for this file);
 *  - 200 with the whole file to the first range request (Range ignored): the whole file is
 *    streamed into a temporary file, up to `maxFallbackBytes`, and served from there
 *    (`fallback()` says so); larger files fail closed (`ignored-range-too-large`);
 *  - 200 after earlier 206 answers: fail closed (`ignored-range`), since the bytes already
 *    scanned and the new whole body would come from answers that disagree about Range;
 *  - a redirect to a host that is neither the URL's own nor allowed: fail closed (`redirect-host`).
 * Connection errors, cut bodies, 408/429/5xx are retried (`retries`, honouring Retry-After up
 * to 30 s) before the source fails.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Agent, type Dispatcher } from 'undici';
import { FileSource } from './file.js';
import { RangedSource, Transient, type RangedOptions } from './ranged.js';
import { SourceError, type ByteSource } from './types.js';
import { displayUrl, getRange, httpError, type HostPolicy, type RangeAnswer } from './http/transport.js';

export { hostAllowed, displayUrl, faultOf, type HttpFault } from './http/transport.js';

export interface HttpRangeOptions extends RangedOptions {
  /** Display name (report path); the URL without its query by default. */
  name?: string;
  /** Size announced by a listing; when absent, learned from the first range answer. Another total later is a fault. */
  expectedSize?: number;
  /** Hosts a redirect may lead to besides the URL's own: `host`, `host:port`, `*.suffix`. */
  allowedHosts?: readonly string[];
  /** Bearer token, sent only to `tokenHost` (default: the URL's host), never to a CDN. */
  token?: string;
  tokenHost?: string;
  /** Largest file downloaded whole when the upstream ignores Range. */
  maxFallbackBytes?: number;
  /** Where that download goes (default: the OS temp directory). */
  tempDir?: string;
  timeoutMs?: number;
  /** A shared connection pool; the source makes (and closes) its own when absent. */
  dispatcher?: Dispatcher;
}

export type HttpFallback = 'download';

const KiB = 1024;
const MiB = 1024 * KiB;
const DEFAULTS = {
  maxFallbackBytes: 1024 * MiB,
  timeoutMs: 30_000,
};

/** The first request when the size is unknown: what the engine's sniffing reads first, and a little more. */
const PROBE_BYTES = 64 * KiB + 4 * KiB;

export class HttpRangeSource extends RangedSource {
  readonly name: string;
  readonly url: URL;
  private readonly announced: number | null;
  private readonly opts: typeof DEFAULTS & { tempDir: string };
  private readonly policy: HostPolicy;
  private readonly dispatcher: Dispatcher;
  private readonly ownDispatcher: Agent | null;
  /** Redirect target of the last successful request (the CDN); reused until it stops answering. */
  private location: URL | null = null;
  private requestCount = 0;
  private partials = 0;
  private download: Promise<FileSource> | null = null;
  private downloaded: FileSource | null = null;
  private tempPath: string | null = null;

  private constructor(url: URL, opts: HttpRangeOptions) {
    super(opts, opts.expectedSize ?? null);
    this.url = url;
    this.name = opts.name ?? displayUrl(url);
    this.announced = opts.expectedSize ?? null;
    this.opts = {
      maxFallbackBytes: opts.maxFallbackBytes ?? DEFAULTS.maxFallbackBytes,
      timeoutMs: opts.timeoutMs ?? DEFAULTS.timeoutMs,
      tempDir: opts.tempDir ?? tmpdir(),
    };
    this.policy = { token: opts.token ?? null, tokenHost: opts.token ? (opts.tokenHost ?? url.host) : null, allowedHosts: opts.allowedHosts ?? [] };
    if (opts.dispatcher) {
      this.dispatcher = opts.dispatcher;
      this.ownDispatcher = null;
    } else {
      const t = this.opts.timeoutMs;
      this.ownDispatcher = new Agent({ headersTimeout: t, bodyTimeout: t, connectTimeout: Math.min(t, 10_000) });
      this.dispatcher = this.ownDispatcher;
    }
  }

  /**
   * With `expectedSize` no request is made until the first read. Without it, the first block is
   * fetched now and its Content-Range gives the size (one round trip instead of HEAD + GET).
   * Rejects with a SourceError when that fails; call close() in every other case.
   */
  static async open(url: string | URL, opts: HttpRangeOptions = {}): Promise<HttpRangeSource> {
    let u: URL;
    try {
      u = typeof url === 'string' ? new URL(url) : url;
    } catch {
      throw new SourceError('io', `not a URL: ${String(url)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new SourceError('io', `not an http(s) URL: ${displayUrl(u)}`);
    const src = new HttpRangeSource(u, opts);
    if (src.total === null) {
      try {
        await src.fetchBlock(0, PROBE_BYTES);
      } catch (e) {
        await src.close();
        throw e;
      }
    }
    return src;
  }

  /** HTTP requests sent so far, redirect hops included. */
  requests(): number {
    return this.requestCount;
  }

  /** Set when the upstream ignored Range and the file was downloaded whole. */
  fallback(): HttpFallback | null {
    return this.downloaded !== null || this.download !== null ? 'download' : null;
  }

  async close(): Promise<void> {
    await this.download?.catch(() => undefined);
    await this.downloaded?.close().catch(() => undefined);
    if (this.tempPath) await rm(this.tempPath, { recursive: true, force: true }).catch(() => undefined);
    await this.ownDispatcher?.close().catch(() => undefined);
  }

  protected override diverted(): Promise<ByteSource> | null {
    return this.download;
  }

  protected async fetchOnce(start: number, length: number): Promise<Uint8Array | null> {
    const known = this.total;
    const last = (known === null ? start + length : Math.min(known, start + length)) - 1;
    let answer: RangeAnswer;
    const from = this.location ?? this.url;
    try {
      answer = await getRange({ name: this.name, url: from, origin: this.url, start, end: last, policy: this.policy, dispatcher: this.dispatcher, onRequest: () => this.requestCount++ });
    } catch (e) {
      // A cached CDN location may have expired (signed URLs do): go back to the original once.
      if (this.location !== null && e instanceof SourceError && e.details['fault'] === 'status') {
        this.location = null;
        throw new Transient(e, 0);
      }
      throw e;
    }
    if (answer.url.href !== this.url.href) this.location = answer.url;
    switch (answer.kind) {
      case 'unsatisfiable':
        if (known === null && start === 0 && answer.total === 0) {
          this.total = 0;
          return new Uint8Array(0);
        }
        throw httpError('status', `${this.name}: upstream answered 416 to bytes ${start}-${last}${answer.total !== null ? ` of a ${answer.total}-byte file` : ''}`, { status: 416 });
      case 'partial': {
        if (answer.total !== null && known !== null && answer.total !== known) {
          await answer.body.dump().catch(() => undefined);
          const what = this.announced !== null ? 'announced' : 'learned from an earlier answer';
          throw httpError('size-mismatch', `${this.name}: upstream says the file has ${answer.total} bytes, ${known} were ${what}`, { announced: known, answered: answer.total });
        }
        const total = known ?? answer.total;
        if (total === null) {
          await answer.body.dump().catch(() => undefined);
          throw httpError('no-size', `${this.name}: upstream does not say how large the file is (Content-Range total '*')`);
        }
        const expectEnd = Math.min(last, total - 1);
        if (answer.start !== start || answer.end !== expectEnd) {
          await answer.body.dump().catch(() => undefined);
          throw httpError('wrong-range', `${this.name}: asked for bytes ${start}-${expectEnd}, upstream answered bytes ${answer.start}-${answer.end}`, {
            asked: `${start}-${expectEnd}`,
            answered: `${answer.start}-${answer.end}`,
          });
        }
        const body = await this.collect(answer.body, expectEnd - start + 1, `bytes ${start}-${expectEnd}`);
        this.total = total;
        this.partials++;
        return body;
      }
      case 'whole':
        return this.whole(answer, start, last);
    }
  }

  /** Reads exactly `n` bytes of a body; fewer or more is a fault, a cut connection is retried. */
  private async collect(body: Dispatcher.ResponseData['body'], n: number, what: string): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let got = 0;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (got + chunk.length > n) {
          body.destroy();
          throw httpError('long-body', `${this.name}: upstream sent more than the ${n} bytes of ${what}`);
        }
        out.set(chunk, got);
        got += chunk.length;
        this.fetched += chunk.length;
      }
    } catch (e) {
      if (e instanceof SourceError) throw e;
      throw new Transient(httpError('cut', `${this.name}: connection cut after ${got} of the ${n} bytes of ${what}`, { received: got, expected: n }));
    }
    if (got < n) throw new Transient(httpError('short-body', `${this.name}: upstream sent ${got} of the ${n} bytes of ${what}`, { received: got, expected: n }));
    return out;
  }

  /** A 200 to a Range request. */
  private async whole(answer: Extract<RangeAnswer, { kind: 'whole' }>, start: number, last: number): Promise<Uint8Array | null> {
    const known = this.total;
    const length = answer.length;
    if (known !== null && length !== null && length !== known) {
      await answer.body.dump().catch(() => undefined);
      const what = this.announced !== null ? 'announced' : 'learned from an earlier answer';
      throw httpError('size-mismatch', `${this.name}: upstream sent a ${length}-byte file, ${known} bytes were ${what}`, { announced: known, answered: length });
    }
    const size = known ?? length;
    // Asked for everything there is: a 200 is the right answer, not a fault.
    if (start === 0 && size !== null && last + 1 >= size) {
      const b = await this.collect(answer.body, size, 'the whole file');
      this.total = size;
      return b;
    }
    if (this.partials > 0) {
      await answer.body.dump().catch(() => undefined);
      throw httpError('ignored-range', `${this.name}: upstream ignored a Range request after honouring earlier ones; the file is not scanned from answers that disagree`);
    }
    if (size !== null && size > this.opts.maxFallbackBytes) {
      answer.body.destroy();
      throw httpError('ignored-range-too-large', `${this.name}: upstream ignores Range requests and the file (${size} bytes) is larger than the ${this.opts.maxFallbackBytes}-byte download limit; not scanned`, {
        size,
        limit: this.opts.maxFallbackBytes,
      });
    }
    if (this.download) answer.body.destroy();
    else this.download = this.saveWhole(answer.body, size);
    await this.download;
    return null;
  }

  private async saveWhole(body: Dispatcher.ResponseData['body'], size: number | null): Promise<FileSource> {
    const dir = await mkdtemp(join(this.opts.tempDir, 'mg-remote-'));
    this.tempPath = dir;
    const path = join(dir, 'body');
    const out = createWriteStream(path);
    let got = 0;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        got += chunk.length;
        this.fetched += chunk.length;
        if (got > (size ?? this.opts.maxFallbackBytes)) {
          body.destroy();
          throw size === null
            ? httpError('ignored-range-too-large', `${this.name}: upstream ignores Range requests and the file is larger than the ${this.opts.maxFallbackBytes}-byte download limit; not scanned`, { limit: this.opts.maxFallbackBytes })
            : httpError('long-body', `${this.name}: upstream sent more than the ${size} bytes it announced`);
        }
        if (!out.write(chunk)) await once(out, 'drain');
      }
    } catch (e) {
      out.destroy();
      if (e instanceof SourceError) throw e;
      throw httpError('cut', `${this.name}: download cut after ${got} bytes`, { received: got });
    }
    out.end();
    await once(out, 'finish');
    if (size !== null && got !== size) throw httpError('short-body', `${this.name}: download ended after ${got} of ${size} bytes`, { received: got, expected: size });
    this.total = got;
    const f = await FileSource.open(path, this.name);
    this.downloaded = f;
    return f;
  }
}
