/**
 * What every remote byte source shares, whatever carries its requests (HTTP range GETs,
 * S3 GetObject with a Range): read-ahead, coalescing of reads issued together, a small LRU
 * cache of fetched blocks, prefetch hints from analyzers, retries of transient failures, and a
 * source that stays failed after a fault. A subclass says only how to fetch one range.
 *
 * Round trips are what a remote scan costs, so reads are widened (read-ahead past the end of a
 * read: `minReadAhead` for an isolated read, growing with a sequential run up to
 * `maxReadAhead`, which turns a pickle read from start to end into a streamed download), reads
 * issued in the same tick are merged into one request when they are close, and fetched blocks
 * stay in the cache. The minimum is one page, not 64 KiB: the engine already reads heads and
 * tails in 64 KiB windows, and the isolated reads left are structure (a zip local header and the
 * tensor head behind it) repeated per member, where 64 KiB each would put a checkpoint of
 * hundreds of tensors over 1 % of its size.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BlockCache, type Interval } from './http/blocks.js';
import { SourceError, type ByteRange, type ByteSource } from './types.js';

export interface RangedOptions {
  minReadAhead?: number;
  maxReadAhead?: number;
  cacheBytes?: number;
  /** Reads closer than this are fetched in one request (the bytes between are fetched too). */
  mergeGap?: number;
  retries?: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;
export const RANGED_DEFAULTS: Required<RangedOptions> = {
  minReadAhead: 4 * KiB,
  maxReadAhead: 16 * MiB,
  cacheBytes: 64 * MiB,
  mergeGap: 64 * KiB,
  retries: 2,
};

/** A failure worth another attempt (connection trouble, 5xx, 429); anything else fails at once. */
export class Transient extends Error {
  constructor(
    readonly error: SourceError,
    readonly retryAfterMs: number | null = null,
  ) {
    super(error.message);
  }
}

interface Flight extends Interval {
  done: Promise<void>;
}

export abstract class RangedSource implements ByteSource {
  abstract readonly name: string;
  /** Known size: announced by a listing, or learned from the first answer. */
  protected total: number | null;
  /** Body bytes received so far. */
  protected fetched = 0;
  protected failure: SourceError | null = null;
  protected readonly ranged: Required<RangedOptions>;
  private readonly cache: BlockCache;
  private flights: Flight[] = [];
  private pending: Interval[] = [];
  private batch: Promise<void> | null = null;
  private runStart = 0;
  private lastEnd = -1;

  protected constructor(opts: RangedOptions, total: number | null) {
    this.total = total;
    const minReadAhead = opts.minReadAhead ?? RANGED_DEFAULTS.minReadAhead;
    this.ranged = {
      minReadAhead,
      maxReadAhead: Math.max(opts.maxReadAhead ?? RANGED_DEFAULTS.maxReadAhead, minReadAhead),
      cacheBytes: opts.cacheBytes ?? RANGED_DEFAULTS.cacheBytes,
      mergeGap: opts.mergeGap ?? RANGED_DEFAULTS.mergeGap,
      retries: opts.retries ?? RANGED_DEFAULTS.retries,
    };
    this.cache = new BlockCache(this.ranged.cacheBytes);
  }

  /**
   * Fetches exactly [start, start+length) clipped to the known size, or resolves null when the
   * bytes now come from elsewhere (`diverted()`). Throws SourceError to fail, Transient to retry.
   */
  protected abstract fetchOnce(start: number, length: number): Promise<Uint8Array | null>;

  /** Where reads go instead, once the transport gave up on ranges (HTTP: a downloaded copy). */
  protected diverted(): Promise<ByteSource> | null {
    return null;
  }

  get size(): number {
    // Known after open(): announced, or learned from the probe.
    return this.total ?? 0;
  }

  bytesRead(): number {
    return this.fetched;
  }

  /** The fault that stopped this source, if any. */
  error(): SourceError | null {
    return this.failure;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (this.failure) throw this.failure;
    const size = this.size;
    if (offset >= size || length <= 0 || offset < 0) return new Uint8Array(0);
    const end = Math.min(size, offset + length);
    let elsewhere = this.diverted();
    if (elsewhere) return (await this.divertedOrFail(elsewhere)).read(offset, end - offset);
    const ahead = this.track(offset, end);
    // A read bigger than a quarter of the cache would evict what it is made of: fetch it straight.
    if (end - offset > this.ranged.cacheBytes / 4) return this.direct(offset, end);
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
      elsewhere = this.diverted();
      if (elsewhere) return (await this.divertedOrFail(elsewhere)).read(offset, end - offset);
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
    if (this.failure || this.diverted()) return;
    const gaps: Interval[] = [];
    let budget = this.ranged.cacheBytes / 2;
    for (const r of ranges) {
      const start = Math.max(0, r.offset);
      const end = Math.min(this.size, r.offset + r.length + this.ranged.minReadAhead);
      if (end <= start) continue;
      budget -= end - start;
      if (budget < 0) break;
      gaps.push(...this.cache.gaps(start, end, this.flights));
    }
    if (gaps.length) this.enqueue(gaps).catch(() => undefined);
  }

  /** Fetches [start, start+length) into the cache; failures poison the source. */
  protected async fetchBlock(start: number, length: number): Promise<void> {
    try {
      const b = await this.withRetries(() => this.fetchOnce(start, length));
      if (b !== null) this.cache.insert(start, b);
    } catch (e) {
      throw this.fail(e);
    }
  }

  protected fail(e: unknown): SourceError {
    const err = e instanceof SourceError ? e : new SourceError('io', `reading ${this.name} failed: ${e instanceof Error ? e.message : String(e)}`, { fault: 'cut' });
    this.failure ??= err;
    return this.failure;
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
    return Math.max(this.ranged.minReadAhead, Math.min(this.ranged.maxReadAhead, before));
  }

  /** Gaps asked for in the same tick go out together, merged when they are close. */
  private enqueue(gaps: Interval[]): Promise<void> {
    this.pending.push(...gaps.map((g) => ({ ...g })));
    if (!this.batch) {
      this.batch = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
        const list = mergeIntervals(this.pending, this.ranged.mergeGap);
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
      const n = Math.min(end - at, this.ranged.maxReadAhead);
      const b = await this.withRetries(() => this.fetchOnce(at, n));
      if (b === null) return (await this.divertedOrFail(this.diverted())).read(offset, end - offset);
      out.set(b, at - offset);
      at += n;
    }
    return out;
  }

  private async withRetries<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.failure) throw this.failure;
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof Transient)) throw this.fail(e);
        if (attempt >= this.ranged.retries) throw this.fail(e.error);
        await sleep(Math.min(30_000, e.retryAfterMs ?? 200 * 2 ** attempt));
      }
    }
  }

  private async divertedOrFail(p: Promise<ByteSource> | null): Promise<ByteSource> {
    if (p === null) throw this.fail(new SourceError('io', `${this.name}: the transport gave up on ranges but has no copy to read from`));
    try {
      return await p;
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
