/**
 * A remote file as a ByteSource, read by single-range GETs so that analyzers fetch only what
 * they look at: a zip's directory and pickles, a safetensors or GGUF header.
 *
 * Round trips are what a remote scan costs, so reads are widened (read-ahead past the end of a
 * read: `minReadAhead` for an isolated read, growing with a sequential run up to
 * `maxReadAhead`, which turns a pickle read from start to end into a streamed download), reads
 * issued in the same tick are merged into one request when they are close, and fetched blocks
 * stay in a small LRU cache. The minimum is one page, not 64 KiB: the engine already reads heads
 * and tails in 64 KiB windows, and the isolated reads left are structure (a zip local header
 * and the tensor head behind it) repeated per member, where 64 KiB each would put a checkpoint
 * of hundreds of tensors over 1 % of its size.
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
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, type Dispatcher } from 'undici';
import { FileSource } from './file.js';
import { SourceError, type ByteRange, type ByteSource } from './types.js';
import { BlockCache, type Interval } from './http/blocks.js';
import { Transient, displayUrl, getRange, httpError, type HostPolicy, type RangeAnswer } from './http/transport.js';

export { hostAllowed, displayUrl, faultOf, type HttpFault } from './http/transport.js';

export interface HttpRangeOptions {
  /** Display name (report path); the URL without its query by default. */
  name?: string;
  /** Size announced by a listing; when absent, learned from the first range answer. Another total later is a fault. */
  expectedSize?: number;
  /** Hosts a redirect may lead to besides the URL's own: `host`, `host:port`, `*.suffix`. */
  allowedHosts?: readonly string[];
  /** Bearer token, sent only to `tokenHost` (default: the URL's host), never to a CDN. */
  token?: string;
  tokenHost?: string;
  minReadAhead?: number;
  maxReadAhead?: number;
  cacheBytes?: number;
  /** Reads closer than this are fetched in one request (the bytes between are fetched too). */
  mergeGap?: number;
  /** Largest file downloaded whole when the upstream ignores Range. */
  maxFallbackBytes?: number;
  /** Where that download goes (default: the OS temp directory). */
  tempDir?: string;
  retries?: number;
  timeoutMs?: number;
  /** A shared connection pool; the source makes (and closes) its own when absent. */
  dispatcher?: Dispatcher;
}

export type HttpFallback = 'download';

const KiB = 1024;
const MiB = 1024 * KiB;
const DEFAULTS = {
  minReadAhead: 4 * KiB,
  maxReadAhead: 16 * MiB,
  cacheBytes: 64 * MiB,
  mergeGap: 64 * KiB,
  maxFallbackBytes: 1024 * MiB,
  retries: 2,
  timeoutMs: 30_000,
};

/** The first request when the size is unknown: what the engine's sniffing reads first, and a little more. */
const PROBE_BYTES = 64 * KiB + 4 * KiB;

interface Flight extends Interval {
  done: Promise<void>;
}

export class HttpRangeSource implements ByteSource {
  readonly name: string;
  readonly url: URL;
  private total: number | null;
  private readonly announced: number | null;
  private readonly opts: typeof DEFAULTS & { tempDir: string };
  private readonly policy: HostPolicy;
  private readonly dispatcher: Dispatcher;
  private readonly ownDispatcher: Agent | null;
  private readonly cache: BlockCache;
  private flights: Flight[] = [];
  private pending: Interval[] = [];
  private batch: Promise<void> | null = null;
  /** Redirect target of the last successful request (the CDN); reused until it stops answering. */
  private location: URL | null = null;
  private fetched = 0;
  private requestCount = 0;
  private partials = 0;
  private failure: SourceError | null = null;
  private download: Promise<FileSource> | null = null;
  private downloaded: FileSource | null = null;
  private tempPath: string | null = null;
  private runStart = 0;
  private lastEnd = -1;

  private constructor(url: URL, opts: HttpRangeOptions) {
    this.url = url;
    this.name = opts.name ?? displayUrl(url);
    this.announced = opts.expectedSize ?? null;
    this.total = this.announced;
    this.opts = {
      minReadAhead: opts.minReadAhead ?? DEFAULTS.minReadAhead,
      maxReadAhead: Math.max(opts.maxReadAhead ?? DEFAULTS.maxReadAhead, opts.minReadAhead ?? DEFAULTS.minReadAhead),
      cacheBytes: opts.cacheBytes ?? DEFAULTS.cacheBytes,
      mergeGap: opts.mergeGap ?? DEFAULTS.mergeGap,
      maxFallbackBytes: opts.maxFallbackBytes ?? DEFAULTS.maxFallbackBytes,
      retries: opts.retries ?? DEFAULTS.retries,
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
    this.cache = new BlockCache(this.opts.cacheBytes);
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

  get size(): number {
    // Known after open(): announced, or learned from the probe.
    return this.total ?? 0;
  }

  bytesRead(): number {
    return this.fetched;
  }

  /** HTTP requests sent so far, redirect hops included. */
  requests(): number {
    return this.requestCount;
  }

  /** Set when the upstream ignored Range and the file was downloaded whole. */
  fallback(): HttpFallback | null {
    return this.downloaded !== null || this.download !== null ? 'download' : null;
  }

  /** The fault that stopped this source, if any. */
  error(): SourceError | null {
    return this.failure;
  }

  async close(): Promise<void> {
    await this.download?.catch(() => undefined);
    await this.downloaded?.close().catch(() => undefined);
    if (this.tempPath) await rm(this.tempPath, { recursive: true, force: true }).catch(() => undefined);
    await this.ownDispatcher?.close().catch(() => undefined);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (this.failure) throw this.failure;
    const size = this.size;
    if (offset >= size || length <= 0 || offset < 0) return new Uint8Array(0);
    const end = Math.min(size, offset + length);
    if (this.download) return (await this.fromDownload()).read(offset, end - offset);
    const ahead = this.track(offset, end);
    // A read bigger than a quarter of the cache would evict what it is made of: fetch it straight.
    if (end - offset > this.opts.cacheBytes / 4) return this.direct(offset, end);
    for (let attempt = 0; attempt < 4; attempt++) {
      const hit = this.cache.get(offset, end);
      if (hit) return hit;
      const gaps = this.cache.gaps(offset, end, this.flights);
      if (gaps.length) {
        const last = gaps[gaps.length - 1]!;
        // Past the end of the read, not of the gap: a read that mostly hits the cache fetches only its tail.
        const want = Math.min(size, last.end + ahead);
        const stop = this.cache.nextCovered(last.end, this.flights);
        last.end = stop !== null && stop < want ? stop : want;
        await this.enqueue(gaps);
      }
      const waiting = this.flights.filter((f) => f.end > offset && f.start < end);
      if (waiting.length) await Promise.all(waiting.map((f) => f.done));
      if (this.failure) throw this.failure;
      if (this.download) return (await this.fromDownload()).read(offset, end - offset);
    }
    return this.direct(offset, end);
  }

  /**
   * Fetches the ranges (each with the read-ahead a read of it would get) in one batch of
   * concurrent requests, merged where close, within half the cache so they are still there when
   * read. A zip's members are known up front from its central directory: this turns one round
   * trip per member into one per batch.
   */
  prefetch(ranges: readonly ByteRange[]): void {
    if (this.failure || this.download) return;
    const gaps: Interval[] = [];
    let budget = this.opts.cacheBytes / 2;
    for (const r of ranges) {
      const start = Math.max(0, r.offset);
      const end = Math.min(this.size, r.offset + r.length + this.opts.minReadAhead);
      if (end <= start) continue;
      budget -= end - start;
      if (budget < 0) break;
      gaps.push(...this.cache.gaps(start, end, this.flights));
    }
    if (gaps.length) this.enqueue(gaps).catch(() => undefined);
  }

  /**
   * Follows sequential runs and returns how far to read ahead: as much as the run had read
   * before this read (so a stream's requests double in size), within the bounds.
   */
  private track(offset: number, end: number): number {
    const continues = offset >= this.runStart && offset <= this.lastEnd;
    if (!continues) this.runStart = offset;
    const before = continues ? this.lastEnd - this.runStart : 0;
    this.lastEnd = continues ? Math.max(this.lastEnd, end) : end;
    return Math.max(this.opts.minReadAhead, Math.min(this.opts.maxReadAhead, before));
  }

  /** Gaps asked for in the same tick go out together, merged when they are close. */
  private enqueue(gaps: Interval[]): Promise<void> {
    this.pending.push(...gaps.map((g) => ({ ...g })));
    if (!this.batch) {
      this.batch = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
        const list = mergeIntervals(this.pending, this.opts.mergeGap);
        this.pending = [];
        this.batch = null;
        const started: Promise<void>[] = [];
        for (const r of list) {
          // Another read may have started a fetch for part of it meanwhile.
          for (const g of this.cache.gaps(r.start, r.end, this.flights)) started.push(this.startFlight(g.start, g.end));
        }
        await Promise.all(started);
      });
    }
    return this.batch;
  }

  private startFlight(start: number, end: number): Promise<void> {
    const flight: Flight = { start, end, done: Promise.resolve() };
    flight.done = this.fetchBlock(start, end - start).finally(() => {
      this.flights = this.flights.filter((f) => f !== flight);
    });
    this.flights.push(flight);
    return flight.done;
  }

  private async direct(offset: number, end: number): Promise<Uint8Array> {
    const out = new Uint8Array(end - offset);
    for (let at = offset; at < end; ) {
      const n = Math.min(end - at, this.opts.maxReadAhead);
      const b = await this.withRetries(() => this.fetchOnce(at, n));
      if (b === 'download') return (await this.fromDownload()).read(offset, end - offset);
      out.set(b, at - offset);
      at += n;
    }
    return out;
  }

  /** Fetches [start, start+length) into the cache; failures poison the source. */
  private async fetchBlock(start: number, length: number): Promise<void> {
    try {
      const b = await this.withRetries(() => this.fetchOnce(start, length));
      if (b !== 'download') this.cache.insert(start, b);
    } catch (e) {
      throw this.fail(e);
    }
  }

  private fail(e: unknown): SourceError {
    const err = e instanceof SourceError ? e : httpError('cut', `reading ${this.name} failed: ${e instanceof Error ? e.message : String(e)}`);
    this.failure ??= err;
    return this.failure;
  }

  private async withRetries<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.failure) throw this.failure;
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof Transient)) throw this.fail(e);
        if (attempt >= this.opts.retries) throw this.fail(e.error);
        await sleep(Math.min(30_000, e.retryAfterMs ?? 200 * 2 ** attempt));
      }
    }
  }

  private async fetchOnce(start: number, length: number): Promise<Uint8Array | 'download'> {
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
  private async whole(answer: Extract<RangeAnswer, { kind: 'whole' }>, start: number, last: number): Promise<Uint8Array | 'download'> {
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
    return 'download';
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

  private async fromDownload(): Promise<FileSource> {
    try {
      return await this.download!;
    } catch (e) {
      throw this.fail(e);
    }
  }
}

function mergeIntervals(list: readonly Interval[], gap: number): Interval[] {
  const sorted = [...list].sort((a, b) => a.start - b.start);
  const out: Interval[] = [];
  for (const r of sorted) {
    const prev = out[out.length - 1];
    if (prev && r.start <= prev.end + gap) prev.end = Math.max(prev.end, r.end);
    else out.push({ ...r });
  }
  return out;
}
