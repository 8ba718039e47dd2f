/**
 * Scanning a downloaded blob, for the pool and its workers. The gateway stores what a scan
 * says as the verdict on those bytes for good, so a scan that could not read its own local file
 * (removed underneath it, a disk error) must not produce a report: it fails, the request is
 * refused this once, and the next request scans again. Only reports about the bytes are kept.
 */
import type { Engine } from '../scan/engine.js';
import type { FileReport } from '../scan/report.js';
import { FileSource } from '../source/file.js';
import type { ByteSource } from '../source/types.js';

/** The blob file could not be read: a fault of this machine, not a property of the file. */
export class ScanIoError extends Error {
  override readonly name = 'ScanIoError';
  readonly kind = 'io' as const;
}

/** Passes reads through and remembers the first that failed (analyzers turn it into a finding). */
class WatchedSource implements ByteSource {
  failure: string | null = null;
  constructor(private readonly inner: FileSource) {}
  get name(): string {
    return this.inner.name;
  }
  get size(): number {
    return this.inner.size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    try {
      return await this.inner.read(offset, length);
    } catch (e) {
      this.failure ??= e instanceof Error ? e.message : String(e);
      throw e;
    }
  }
  bytesRead(): number {
    return this.inner.bytesRead();
  }
}

/** Messages reach clients and audit records: they name the file, never the server's temp path. */
function describe(e: unknown, path: string, displayName: string): string {
  return (e instanceof Error ? e.message : String(e)).split(path).join(displayName);
}

export async function scanBlobFile(engine: Engine, path: string, displayName: string): Promise<FileReport> {
  let file: FileSource;
  try {
    file = await FileSource.open(path, displayName);
  } catch (e) {
    throw new ScanIoError(`cannot read the downloaded file: ${describe(e, path, displayName)}`);
  }
  try {
    const watched = new WatchedSource(file);
    const report = await engine.scanSource(watched, displayName);
    if (watched.failure !== null) throw new ScanIoError(`reading the downloaded file failed: ${describe(watched.failure, path, displayName)}`);
    return report;
  } finally {
    await file.close().catch(() => undefined);
  }
}
