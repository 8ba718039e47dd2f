import { open, type FileHandle } from 'node:fs/promises';
import { SourceError, type ByteSource } from './types.js';

/**
 * A local file read by positioned reads; never loads the whole file.
 * Callers must close() it (the engine does).
 */
export class FileSource implements ByteSource {
  private fetched = 0;
  private constructor(
    readonly name: string,
    readonly size: number,
    private readonly fh: FileHandle,
  ) {}

  static async open(path: string, name = path): Promise<FileSource> {
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
    let got = 0;
    try {
      while (got < want) {
        const { bytesRead } = await this.fh.read(into, got, want - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } catch (e) {
      throw new SourceError('io', `read failed at offset ${offset + got}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    this.fetched += got;
    return got;
  }

  bytesRead(): number {
    return this.fetched;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
