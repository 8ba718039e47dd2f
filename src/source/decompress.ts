/**
 * Decompressing byte sources: a compressed ByteSource in, its decompressed bytes out, decoded
 * incrementally and never materialised whole.
 *
 * - Sequential forward reads are cheap: the decoder runs ahead only as far as the reader asks,
 *   and a bounded window of recent output (WINDOW_BYTES, or the last read if larger) is kept.
 *   A read before the window restarts decoding from the start (costly but rare: analyzers
 *   read forward).
 * - Output is capped by `maxBytes` (limits.maxDecompressedBytes), by the per-file budget
 *   (`charge` = ctx.chargeDecompressed; only bytes beyond the high-water mark are charged, so a
 *   restart does not double-count), and by a ratio check once RATIO_GRACE bytes exist
 *   (output / compressed size, the compressed size being the whole member's when known).
 *   Exceeding one rejects with SourceError('limit') whose details say which limit.
 * - Corrupt data rejects with SourceError('corrupt'). Bytes decoded before the error are still
 *   served: a read that straddles the error point returns short; the next read rejects.
 *   Errors are sticky for reads beyond that point (until a restart re-decodes).
 *
 * How each codec bounds memory is written at the top of its file in ./codecs/.
 */
import { SourceError, type ByteSource } from './types.js';
import { BufferedInput, type DecoderStream } from './codecs/input.js';
import { deflateFamily } from './codecs/zlib.js';
import { bzip2 } from './codecs/bzip2.js';
import { lzmaAuto, rawLzma, rawLzma2, zipLzma } from './codecs/lzma.js';
import { bcjX86, delta } from './codecs/filters.js';
import { zstd } from './codecs/zstd.js';
import { lz4Frames } from './codecs/lz4.js';

export type Codec = 'deflate-raw' | 'zlib' | 'gzip' | 'bzip2' | 'xz' | 'lzma-alone' | 'zip-lzma' | 'zstd' | 'lz4' | RawCodec;
/** Codecs without a header of their own: their properties come from the container (7z coders). */
export type RawCodec = 'lzma-raw' | 'lzma2-raw' | 'bcj-x86' | 'delta';

export const CODECS: readonly Codec[] = ['deflate-raw', 'zlib', 'gzip', 'bzip2', 'xz', 'lzma-alone', 'zip-lzma', 'zstd', 'lz4', 'lzma-raw', 'lzma2-raw', 'bcj-x86', 'delta'];

export const WINDOW_BYTES = 4 * 1024 * 1024;
export const RATIO_GRACE = 1024 * 1024;

export interface DecompressOptions {
  /** limits.maxDecompressedBytes: most output this one stream may produce. */
  maxBytes: number;
  /** limits.maxCompressionRatio. */
  maxRatio: number;
  /** Size of the compressed data for the ratio check; defaults to the input's size (or bytes consumed when unknown). */
  compressedSize?: number;
  /** Per-file budget (ctx.chargeDecompressed); returns false once exhausted. */
  charge?: (bytes: number) => boolean;
  /** Output below this is never a ratio bomb (tiny inputs have absurd but harmless ratios). */
  ratioGraceBytes?: number;
  /** Output kept behind the read position for cheap backward reads. */
  windowBytes?: number;
  /** zip-lzma and lzma-raw: uncompressed size from the container's directory, or null when an end marker is used. */
  declaredSize?: number | null;
  /** Raw codecs: the coder properties the container stores (LZMA: 5 bytes, LZMA2/Delta: 1, BCJ: 0 or 4). */
  props?: Uint8Array;
}

/** Counts the compressed bytes every decoder run fetches (for bytesRead and the ratio check). */
class CountingSource implements ByteSource {
  fetched = 0;
  constructor(private readonly inner: ByteSource) {}
  get name(): string {
    return this.inner.name;
  }
  get size(): number | null {
    return this.inner.size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    const b = await this.inner.read(offset, length);
    this.fetched += b.length;
    return b;
  }
  bytesRead(): number {
    return this.fetched;
  }
}

function startDecoder(codec: Codec, src: ByteSource, declaredSize: number | null, props: Uint8Array): DecoderStream {
  switch (codec) {
    case 'deflate-raw':
    case 'zlib':
    case 'gzip':
      return deflateFamily(src, codec);
    case 'bzip2':
      return bzip2(new BufferedInput(src));
    case 'xz':
    case 'lzma-alone':
      return lzmaAuto(new BufferedInput(src), codec);
    case 'zip-lzma':
      return zipLzma(new BufferedInput(src), declaredSize);
    case 'zstd':
      return zstd(new BufferedInput(src));
    case 'lz4':
      return lz4Frames(new BufferedInput(src));
    case 'lzma-raw':
      return rawLzma(new BufferedInput(src), props, declaredSize);
    case 'lzma2-raw':
      return rawLzma2(new BufferedInput(src), props);
    case 'bcj-x86':
      return bcjX86(new BufferedInput(src), props);
    case 'delta':
      return delta(new BufferedInput(src), props);
  }
}

function asSourceError(e: unknown, codec: Codec): SourceError {
  if (e instanceof SourceError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  // Decoders throw plain errors only on malformed input (range errors from hostile sizes included).
  return new SourceError('corrupt', `${codec} data is corrupt: ${msg}`);
}

interface Chunk {
  start: number;
  data: Uint8Array;
}

export class DecompressingSource implements ByteSource {
  readonly size: number | null = null;
  private readonly input: CountingSource;
  private decoder: DecoderStream | null = null;
  /** Output offset of the decoder's next byte. */
  private produced = 0;
  private chunks: Chunk[] = [];
  private ended = false;
  private failure_: SourceError | null = null;
  private highWater = 0;
  private restarts = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly window: number;
  private readonly grace: number;

  constructor(
    readonly name: string,
    input: ByteSource,
    readonly codec: Codec,
    private readonly opts: DecompressOptions,
  ) {
    this.input = new CountingSource(input);
    this.window = opts.windowBytes ?? WINDOW_BYTES;
    this.grace = opts.ratioGraceBytes ?? RATIO_GRACE;
  }

  bytesRead(): number {
    return this.input.fetched;
  }

  /** Total decompressed size once the end has been reached, else null. */
  knownSize(): number | null {
    return this.ended ? this.produced : null;
  }

  /** Highest output offset decoded so far. */
  decodedBytes(): number {
    return this.highWater;
  }

  /** The error decoding stopped at (corrupt data or a limit), if any. */
  failure(): SourceError | null {
    return this.failure_;
  }

  restartCount(): number {
    return this.restarts;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    // Reads are serialised: the decoder is a single sequential state.
    const p = this.queue.then(() => this.readNow(offset, length));
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Decodes to the end (or the first error) without keeping output; returns the size. */
  /** Decode on to the end (or to `upTo` bytes of output), so size and ratio limits get checked. */
  async drain(upTo = Number.POSITIVE_INFINITY): Promise<number> {
    let at = this.produced;
    while (at < upTo) {
      const b = await this.read(at, 1024 * 1024);
      if (b.length === 0) return at;
      at += b.length;
    }
    return at;
  }

  async close(): Promise<void> {
    await this.queue;
    await this.stop();
  }

  private async stop(): Promise<void> {
    const d = this.decoder;
    this.decoder = null;
    if (d) {
      try {
        await d.return(undefined);
      } catch {
        /* a decoder failing while being stopped has nothing more to tell */
      }
    }
  }

  private async readNow(offset: number, length: number): Promise<Uint8Array> {
    if (length <= 0 || offset < 0 || !Number.isFinite(offset)) return new Uint8Array(0);
    const windowStart = this.chunks.length ? this.chunks[0]!.start : this.produced;
    if (offset < windowStart) {
      await this.stop();
      this.produced = 0;
      this.chunks = [];
      this.ended = false;
      this.failure_ = null;
      this.restarts++;
    }
    const want = offset + length;
    while (!this.ended && this.produced < want) {
      if (this.failure_) break;
      if (!this.decoder) this.decoder = startDecoder(this.codec, this.input, this.opts.declaredSize ?? null, this.opts.props ?? new Uint8Array(0));
      let r: IteratorResult<Uint8Array, void>;
      try {
        r = await this.decoder.next();
      } catch (e) {
        this.failure_ = asSourceError(e, this.codec);
        this.decoder = null;
        break;
      }
      if (r.done) {
        this.ended = true;
        this.decoder = null;
        break;
      }
      const chunk = r.value;
      if (chunk.length === 0) continue;
      const limitError = this.account(chunk.length);
      if (limitError) {
        this.failure_ = limitError;
        await this.stop();
        break;
      }
      this.chunks.push({ start: this.produced, data: chunk });
      this.produced += chunk.length;
      this.trim(offset);
    }
    const end = Math.min(want, this.produced);
    if (offset >= end) {
      if (this.failure_) throw this.failure_;
      return new Uint8Array(0);
    }
    return this.slice(offset, end);
  }

  private account(n: number): SourceError | null {
    const next = this.produced + n;
    if (next > this.opts.maxBytes) {
      return new SourceError('limit', `${this.codec} output exceeds ${this.opts.maxBytes} bytes`, {
        limit: 'maxDecompressedBytes',
        max: this.opts.maxBytes,
        produced: next,
        consumed: this.input.fetched,
      });
    }
    const compressed = this.opts.compressedSize ?? this.input.size ?? this.input.fetched;
    if (next > this.grace && compressed > 0 && next / compressed > this.opts.maxRatio) {
      return new SourceError('limit', `${this.codec} expands more than ${this.opts.maxRatio}:1`, {
        limit: 'maxCompressionRatio',
        max: this.opts.maxRatio,
        produced: next,
        compressed,
        ratio: Math.round(next / compressed),
      });
    }
    if (next > this.highWater) {
      const delta = next - this.highWater;
      this.highWater = next;
      if (this.opts.charge && !this.opts.charge(delta)) {
        return new SourceError('limit', 'decompressed bytes exceed the per-file budget', {
          limit: 'maxTotalDecompressedBytes',
          produced: next,
        });
      }
    }
    return null;
  }

  /** Drops chunks wholly before both the read offset and the retained window. */
  private trim(offset: number): void {
    while (this.chunks.length > 1) {
      const c = this.chunks[0]!;
      const cEnd = c.start + c.data.length;
      if (cEnd <= offset && cEnd <= this.produced - this.window) this.chunks.shift();
      else break;
    }
  }

  private slice(from: number, to: number): Uint8Array {
    let i = 0;
    while (i < this.chunks.length && this.chunks[i]!.start + this.chunks[i]!.data.length <= from) i++;
    const first = this.chunks[i]!;
    if (first.start <= from && first.start + first.data.length >= to) return first.data.subarray(from - first.start, to - first.start);
    const out = new Uint8Array(to - from);
    let o = 0;
    for (; i < this.chunks.length && o < out.length; i++) {
      const c = this.chunks[i]!;
      const s = Math.max(from, c.start) - c.start;
      const e = Math.min(to, c.start + c.data.length) - c.start;
      out.set(c.data.subarray(s, e), o);
      o += e - s;
    }
    return out;
  }
}

/** Convenience: a decompressing view of `input`, named like a member (`<gzip>`, `archive/data.pkl`). */
export function decompress(input: ByteSource, codec: Codec, name: string, opts: DecompressOptions): DecompressingSource {
  return new DecompressingSource(name, input, codec, opts);
}

/** True when a SourceError means "a limit was hit" (the caller emits ARCHIVE_BOMB). */
export function isLimitError(e: unknown): e is SourceError {
  return e instanceof SourceError && e.kind === 'limit';
}
