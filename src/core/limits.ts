/**
 * Every limit the scanner enforces, in one place. Hostile input is the normal case: each bound
 * turns "could take forever / could eat all memory" into a finding with a verdict.
 * All are configurable through ScanOptions.limits (and CLI flags where useful).
 */
export interface Limits {
  /** Maximum container nesting (zip in tar in gzip ...). */
  maxDepth: number;
  /** Maximum members read from one archive. */
  maxMembers: number;
  /** Maximum bytes produced by decompressing one stream or member. */
  maxDecompressedBytes: number;
  /** Maximum total decompressed bytes for one top-level file (all members together). */
  maxTotalDecompressedBytes: number;
  /** Decompressed/compressed ratio above which a member is treated as a bomb. */
  maxCompressionRatio: number;
  /** Longest string/bytes argument kept in memory from a pickle (the rest is skipped, its length recorded). */
  maxPickleStringBytes: number;
  /** Declared pickle argument lengths above this are an anomaly (e.g. 2^62). */
  maxPickleArgumentBytes: number;
  /** Maximum opcodes executed in one file's pickles before giving up (incomplete scan). */
  maxPickleOps: number;
  /** Maximum memo entries tracked in one pickle. */
  maxMemoEntries: number;
  /** Maximum stack depth of the pickle machine (values plus marks). */
  maxStackDepth: number;
  /** Maximum number of pickles read back-to-back from one stream. */
  maxPicklesPerStream: number;
  /** Wall-clock budget per top-level file, milliseconds. */
  timeoutMs: number;
  /**
   * A zip member the scan stopped reading early is read to its end for its CRC only when at most
   * this many bytes remain. Remote scans lower it: every extra byte is a download.
   */
  crcVerifyBytes: number;
  /**
   * Largest Parquet footer (FileMetaData, with the base64 Arrow schema pyarrow stores in it) read
   * into memory. Real footers are KiBs to a few MiB; the footer is the only part of a Parquet file
   * a scan reads, so this also bounds what a remote scan of one downloads.
   */
  maxParquetFooterBytes: number;
  /**
   * Largest Arrow IPC schema read into memory: an IPC stream's first message (the Schema) or an
   * IPC file's footer (the schema plus one 24-byte block per record batch). Real ones are KiBs;
   * nothing else of an Arrow file is read, so this also bounds what a remote scan of one downloads.
   */
  maxArrowSchemaBytes: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxDepth: 8,
  maxMembers: 100_000,
  maxDecompressedBytes: 4 * 1024 ** 3,
  maxTotalDecompressedBytes: 16 * 1024 ** 3,
  maxCompressionRatio: 1_000,
  maxPickleStringBytes: 4096,
  maxPickleArgumentBytes: 2 ** 40,
  maxPickleOps: 500_000_000,
  maxMemoEntries: 1_000_000,
  maxStackDepth: 1_000_000,
  maxPicklesPerStream: 1_000,
  timeoutMs: 120_000,
  crcVerifyBytes: 16 * 1024 * 1024,
  maxParquetFooterBytes: 64 * 1024 * 1024,
  maxArrowSchemaBytes: 64 * 1024 * 1024,
});

export function resolveLimits(overrides?: Partial<Limits>): Limits {
  const merged = { ...DEFAULT_LIMITS, ...(overrides ?? {}) };
  for (const [k, v] of Object.entries(merged)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new RangeError(`limit ${k} must be a positive number, got ${String(v)}`);
    }
  }
  return merged;
}
