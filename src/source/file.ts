import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { SourceError, type ByteSource } from './types.js';

/**
 * Reads shorter than this are served from one block of this size read at their offset, kept
 * until a read falls outside it. Format readers ask for many small pieces (a header, a length,
 * a zip's local headers one by one): each a round trip through the thread pool, about a thousand
 * of them over the 168 files of bench/out/mixed-168, a sixth of that scan's CPU. One 64 KiB
 * read costs about what a 32-byte one does on a local disk.
 */
const BLOCK = 64 << 10;

export interface FileSourceOptions {
  /**
   * A file no larger than one read-ahead block is opened, read whole and closed at once, with
   * synchronous calls: four thread-pool round trips (open, stat, read, close) were most of what a
   * small file's scan cost the command line (bench/RESULTS.md). For callers that may block their
   * thread for one small read (the command line and scanPath; not the gateway's event loop). Any
   * failure on that path (a short read included) falls back to the asynchronous one, so errors
   * show where they always did.
   */
  smallSync?: boolean;
}

/**
 * A local file read by positioned reads; never loads the whole file (beyond one read-ahead
 * block). Callers must close() it (the engine does).
 */
export class FileSource implements ByteSource {
  private fetched = 0;
  /** The last read-ahead block (shorter at the end of the file) and its offset. */
  private block: Buffer | null = null;
  private blockAt = 0;
  private constructor(
    readonly name: string,
    readonly size: number,
    /** Null when the whole file was read at open (`block` holds it) and the file is closed. */
    private readonly fh: FileHandle | null,
  ) {}

  static async open(path: string, name = path, opts: FileSourceOptions = {}): Promise<FileSource> {
    if (opts.smallSync) {
      const whole = readSmall(path);
      if (whole !== null) {
        const src = new FileSource(name, whole.length, null);
        src.block = whole;
        return src;
      }
    }
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw new SourceError('io', `cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new SourceError('io', `${path} is not a regular file`);
      return new FileSource(name, st.size, fh);
    } catch (e) {
      await fh.close();
      throw e instanceof SourceError ? e : new SourceError('io', `cannot stat ${path}: ${String(e)}`);
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset >= this.size || length <= 0) return new Uint8Array(0);
    const buf = Buffer.allocUnsafe(Math.min(length, this.size - offset));
    const got = await this.readInto(offset, buf);
    return new Uint8Array(buf.buffer, buf.byteOffset, got);
  }

  async readInto(offset: number, into: Uint8Array): Promise<number> {
    if (offset >= this.size || into.length === 0) return 0;
    const want = Math.min(into.length, this.size - offset);
    if (this.fh === null) {
      // The whole file, read at open.
      into.set(this.block!.subarray(offset, offset + want));
      this.fetched += want;
      return want;
    }
    if (want < BLOCK) {
      let block = this.block;
      let at = this.blockAt;
      if (!block || offset < at || offset + want > at + block.length) {
        // A new buffer per fill: a read still in flight on the old block keeps its own bytes.
        const fill = Buffer.allocUnsafe(Math.min(BLOCK, this.size - offset));
        block = fill.subarray(0, await this.readFile(offset, fill));
        at = offset;
        this.block = block;
        this.blockAt = at;
      }
      const start = offset - at;
      const got = Math.max(0, Math.min(want, block.length - start));
      into.set(block.subarray(start, start + got));
      // What the readers asked for, as without the block (reports show it per file).
      this.fetched += got;
      return got;
    }
    const got = await this.readFile(offset, into.subarray(0, want));
    this.fetched += got;
    return got;
  }

  /** Fills `into` from `offset`; fewer bytes only at the end of the file. */
  private async readFile(offset: number, into: Uint8Array): Promise<number> {
    const fh = this.fh!;
    let got = 0;
    try {
      while (got < into.length) {
        const { bytesRead } = await fh.read(into, got, into.length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } catch (e) {
      throw new SourceError('io', `read failed at offset ${offset + got}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    return got;
  }

  /** Bytes handed to readers (the read-ahead block is not counted twice, nor beyond what was asked). */
  bytesRead(): number {
    return this.fetched;
  }

  async close(): Promise<void> {
    this.block = null;
    await this.fh?.close();
  }
}

/**
 * A regular file of at most BLOCK bytes, read whole with synchronous calls; null when it is
 * larger, is not a regular file, or anything fails or comes back short (the caller then opens it
 * the usual way, which reports the error as always).
 */
function readSmall(path: string): Buffer | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > BLOCK) return null;
    const buf = Buffer.allocUnsafe(st.size);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) return null;
      got += n;
    }
    return buf;
  } catch {
    return null;
  } finally {
    try {
      closeSync(fd);
    } catch {
      // Nothing was kept from a descriptor that will not close.
    }
  }
}
