/**
 * The size of a source that does not know it (a decompressing stream), for formats read from the
 * end (Parquet and Arrow IPC footers): read to the end once.
 */
import type { AnalysisContext } from './types.js';
import type { ByteSource } from '../source/types.js';

const MEASURE_CHUNK = 1 << 20;

/** Null when the time budget ran out first (the scan is then marked incomplete, naming `what`). */
export async function measureSize(source: ByteSource, ctx: AnalysisContext, what: string): Promise<number | null> {
  let at = 0;
  for (;;) {
    const b = await source.read(at, MEASURE_CHUNK);
    at += b.length;
    if (b.length < MEASURE_CHUNK) return at;
    if (ctx.expired()) {
      ctx.incomplete(`time budget exhausted looking for the end of a ${what} (${at} bytes read)`);
      return null;
    }
  }
}
