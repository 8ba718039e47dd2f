/**
 * A byte source is the only way an analyzer sees bytes. File, buffer, archive member
 * (stored or decompressing) and HTTP range sources all implement it, so one analyzer scans a
 * local file, a member of a zip inside a tar, or a remote file.
 */
export interface ByteSource {
  /** Display name of this level (file path, or member name inside its container). */
  readonly name: string;
  /**
   * Size in bytes when known up front. Decompressing sources do not know it until they have
   * read to the end; they report null and `read` returns short at the end of data.
   */
  readonly size: number | null;
  /**
   * Read up to `length` bytes at `offset`. Returns fewer bytes only at the end of data.
   * Sequential forward reads must be cheap on every source; random access may cost more on
   * streaming sources (a decompressor restarts).
   * Rejects with a SourceError when the bytes cannot be had.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Optional: `read(offset, into.length)` into the caller's buffer, for readers that refill one
   * buffer again and again (the pickle reader) instead of receiving a new one per read. Returns
   * the bytes read, fewer only at the end of data. Same errors as `read`.
   */
  readInto?(offset: number, into: Uint8Array): Promise<number>;
  /** Bytes actually fetched from the underlying medium so far (for reports and benchmarks). */
  bytesRead(): number;
  /**
   * A hint that these ranges will be read soon. A remote source fetches them together instead
   * of one round trip per later read; local sources leave it out. Never fails: a fetch that
   * goes wrong shows up at the read.
   */
  prefetch?(ranges: readonly ByteRange[]): void;
}

export interface ByteRange {
  offset: number;
  length: number;
}

export type SourceErrorKind = 'io' | 'limit' | 'corrupt' | 'unsupported' | 'encrypted';

/** Errors are values with a kind: analyzers turn them into findings. */
export class SourceError extends Error {
  constructor(
    readonly kind: SourceErrorKind,
    message: string,
    readonly details: Record<string, string | number> = {},
  ) {
    super(message);
    this.name = 'SourceError';
  }
}
