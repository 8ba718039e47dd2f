/**
 * Content-addressed blob store on a local (or shared POSIX) filesystem:
 *
 *   <root>/blobs/ab/cd/<sha256>   published blobs, complete and verified
 *   <root>/tmp/<host>~<pid>~<random>.partial   blobs being written, named after their writer
 *
 * Naming the writing process lets sweep() tell a crashed process's leftovers from another live
 * process's download in progress (a second gateway started on the same data directory).
 *
 * tmp/ sits under the same root so that publishing is a rename within one filesystem, which is
 * atomic: a reader sees either no blob or the whole verified blob, never a prefix.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { StoreError, toStoreError } from './errors.js';
import type { BlobStore, BlobWriter } from './types.js';

export interface FsBlobStoreOptions {
  /**
   * sweep() removes a temporary file whose writer it cannot check (written on another host, or
   * named the old way) only once it is older than this. 0 (default) suits one host owning the
   * directory; when replicas on several hosts share it, set it above the longest download so a
   * starting replica does not delete another's work in progress. Files of processes on this
   * host are judged by their writer instead: kept while it lives, removed once it is gone.
   */
  sweepMinAgeMs?: number;
  /** Mode of blob files (default 0o600: gated models stay private to the service user). */
  fileMode?: number;
  /**
   * Flush written data to disk in the background every this many bytes (default 64 MiB; 0 = only
   * at finish()). Without it the disk starts on a large blob only at the final fsync, after the
   * download; flushing as it is written overlaps the two (bench/RESULTS.md, gateway).
   */
  syncEveryBytes?: number;
}

const SHA256_RE = /^[0-9a-f]{64}$/;
const TEMP_SUFFIX = '.partial';
/**
 * A temp file of a live process untouched for this long is abandoned (a writer that lost it, or
 * a reused pid): writers touch theirs with every chunk.
 */
export const STALE_TEMP_MS = 6 * 3600_000;
const HOST = hostname().replace(/[^A-Za-z0-9.-]/g, '_').slice(0, 64) || 'host';
const TEMP_NAME = /^([A-Za-z0-9._-]{1,64})~(\d{1,10})~[0-9a-f]+\.partial$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Lower-cases and validates, so an upstream header can never become a path like `../x`. */
export function checkSha256(sha256: string): string {
  const s = sha256.toLowerCase();
  if (!SHA256_RE.test(s)) throw new StoreError('invalid', `not a sha256 (64 hex digits): ${JSON.stringify(sha256.slice(0, 80))}`);
  return s;
}

function isNotFound(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'ENOENT';
}

async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
}

/** Makes a rename durable: the directory entry, not just the file data, must reach the disk. */
async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, fsc.O_RDONLY);
    await fh.sync();
  } catch {
    // Some platforms and filesystems cannot open or fsync a directory; the rename still happened.
  } finally {
    await fh?.close().catch(() => {});
  }
}

const BATCH_BYTES = 4 << 20;
const STAGING = 3;

type WriterState = 'open' | 'finished' | 'committed' | 'aborted' | 'failed';

class FsBlobWriter implements BlobWriter {
  readonly tempPath: string;
  #store: FsBlobStore;
  #fh: FileHandle | null;
  #hash: Hash = createHash('sha256');
  #written = 0;
  #state: WriterState = 'open';
  #digest: string | null = null;
  #error: unknown = null;
  /** Writes run one after another even if the caller does not await each one. */
  #tail: Promise<void> = Promise.resolve();
  /** Chunks are taken one after another, in call order. */
  #intake: Promise<void> = Promise.resolve();
  /** The staging buffer being filled, spare ones, and takers waiting for one to come back. */
  #cur: Buffer | null = null;
  #curLen = 0;
  #free: Buffer[] = [];
  #allocated = 0;
  #waiting: ((b: Buffer) => void)[] = [];
  /** A background fdatasync, at most one at a time, running alongside later writes. */
  #syncing: Promise<void> | null = null;
  #unsynced = 0;

  constructor(store: FsBlobStore, tempPath: string, fh: FileHandle) {
    this.#store = store;
    this.tempPath = tempPath;
    this.#fh = fh;
  }

  get written(): number {
    return this.#written;
  }

  /**
   * Takes a chunk; once the promise resolves the caller may reuse it. Network chunks are small
   * (~64 KiB): they are copied into 4 MiB staging buffers, each written out with one call while
   * the next fills, so the download goes on while the disk catches up. The staging buffers are
   * few (STAGING: 12 MiB however large the blob) and reused, which spares the
   * garbage collector a gigabyte of fresh buffers per gigabyte written. Calls are taken in order
   * even when the caller does not await each one.
   */
  write(chunk: Uint8Array): Promise<void> {
    if (this.#state !== 'open') return Promise.reject(new StoreError('invalid', `blob write after ${this.#state}`));
    const step = this.#intake.then(() => this.#take(chunk));
    this.#intake = step.catch(() => undefined);
    return step;
  }

  async #take(chunk: Uint8Array): Promise<void> {
    if (this.#error !== null) throw this.#error;
    // Hashed on arrival, in order: the digest never depends on how the disk writes go.
    this.#hash.update(chunk);
    this.#written += chunk.byteLength;
    let off = 0;
    while (off < chunk.byteLength) {
      if (this.#cur === null) {
        this.#cur = this.#free.pop() ?? (this.#allocated < STAGING ? (this.#allocated++, Buffer.allocUnsafe(BATCH_BYTES)) : await this.#nextFree());
        this.#curLen = 0;
      }
      const n = Math.min(chunk.byteLength - off, BATCH_BYTES - this.#curLen);
      this.#cur.set(chunk.subarray(off, off + n), this.#curLen);
      this.#curLen += n;
      off += n;
      if (this.#curLen === BATCH_BYTES) this.#queueCurrent();
    }
  }

  #nextFree(): Promise<Buffer> {
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(buf: Buffer): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter(buf);
    else this.#free.push(buf);
  }

  /** Queues the current staging buffer's bytes as one write behind the earlier ones. */
  #queueCurrent(): void {
    const buf = this.#cur;
    const len = this.#curLen;
    this.#cur = null;
    this.#curLen = 0;
    if (buf === null) return;
    if (len === 0) return this.#release(buf);
    const step = this.#tail.then(async () => {
      try {
        if (this.#error !== null) throw this.#error;
        const fh = this.#fh;
        if (fh === null) throw new StoreError('invalid', 'blob writer is closed');
        let off = 0;
        while (off < len) off += (await fh.write(buf, off, len - off)).bytesWritten;
        this.#unsynced += len;
        const every = this.#store.syncEveryBytes;
        if (every > 0 && this.#unsynced >= every && this.#syncing === null) {
          this.#unsynced = 0;
          // Not awaited: the next writes go on while the kernel flushes; finish() waits for it.
          // A failure is kept and reported by finish(), since the bytes may not be on disk.
          this.#syncing = fh
            .datasync()
            .catch((e: unknown) => {
              this.#error ??= toStoreError(e, `flush ${this.tempPath}`);
            })
            .finally(() => {
              this.#syncing = null;
            });
        }
      } finally {
        this.#release(buf);
      }
    });
    this.#tail = step.catch((e: unknown) => {
      // The hash already covers bytes that may not be in the file: this writer is done for.
      this.#error ??= toStoreError(e, `write ${this.tempPath}`);
    });
  }

  async finish(): Promise<string> {
    if (this.#digest !== null) return this.#digest;
    if (this.#state !== 'open') throw new StoreError('invalid', `blob finish after ${this.#state}`);
    await this.#intake;
    this.#queueCurrent();
    await this.#tail;
    await this.#syncing;
    this.#free = [];
    if (this.#error !== null) throw this.#error;
    const fh = this.#fh;
    if (fh === null) throw new StoreError('invalid', 'blob writer is closed');
    try {
      // Data reaches the disk before the rename can publish it; otherwise a crash could leave
      // a visible blob whose content is not what its name promises.
      await fh.sync();
      await fh.close();
    } catch (e) {
      this.#error = toStoreError(e, `finish ${this.tempPath}`);
      throw this.#error;
    } finally {
      this.#fh = null;
    }
    this.#digest = this.#hash.digest('hex');
    this.#state = 'finished';
    return this.#digest;
  }

  async commit(sha256: string): Promise<void> {
    const want = checkSha256(sha256);
    if (this.#state === 'committed' && want === this.#digest) return;
    if (this.#state !== 'finished' || this.#digest === null) {
      throw new StoreError('invalid', `blob commit requires finish() first (state: ${this.#state})`);
    }
    if (want !== this.#digest) {
      // Refused content is dropped at once: nothing of it may ever be served.
      this.#state = 'failed';
      await this.#drop();
      throw new StoreError('corrupt', `blob content has sha256 ${this.#digest}, expected ${want}`);
    }
    const dest = this.#store.pathFor(want);
    try {
      await mkdir(dirname(dest), { recursive: true });
      const existing = await stat(dest).catch((e: unknown) => (isNotFound(e) ? null : Promise.reject(e)));
      if (existing !== null && existing.size === this.#written) {
        // Another writer published the same verified content first; ours is redundant.
        await unlinkIfPresent(this.tempPath);
      } else {
        // Atomic replace: a concurrent publisher of the same hash wrote identical bytes.
        await rename(this.tempPath, dest);
        await fsyncDir(dirname(dest));
      }
    } catch (e) {
      this.#state = 'failed';
      await this.#drop();
      throw toStoreError(e, `commit blob ${want}`);
    }
    this.#state = 'committed';
    this.#store.forget(this.tempPath);
  }

  async abort(): Promise<void> {
    if (this.#state === 'committed' || this.#state === 'aborted') return;
    await this.#intake;
    await this.#tail;
    if (this.#state !== 'failed') this.#state = 'aborted';
    await this.#drop();
  }

  async #drop(): Promise<void> {
    await this.#syncing;
    const fh = this.#fh;
    this.#fh = null;
    await fh?.close().catch(() => {});
    try {
      await unlinkIfPresent(this.tempPath);
    } finally {
      this.#store.forget(this.tempPath);
    }
  }
}

export class FsBlobStore implements BlobStore {
  readonly root: string;
  readonly blobDir: string;
  readonly tmpDir: string;
  readonly #opts: Required<FsBlobStoreOptions>;
  /** Temp files of this process's live writers: sweep() must never delete them. */
  readonly #live = new Set<string>();

  /** Use openFsBlobStore(), which creates the directories. */
  constructor(root: string, opts: FsBlobStoreOptions = {}) {
    this.root = root;
    this.blobDir = join(root, 'blobs');
    this.tmpDir = join(root, 'tmp');
    this.#opts = { sweepMinAgeMs: opts.sweepMinAgeMs ?? 0, fileMode: opts.fileMode ?? 0o600, syncEveryBytes: opts.syncEveryBytes ?? 64 << 20 };
  }

  get syncEveryBytes(): number {
    return this.#opts.syncEveryBytes;
  }

  /** Where a blob lives (whether or not it exists). Two levels of fan-out keep directories small. */
  pathFor(sha256: string): string {
    const s = checkSha256(sha256);
    return join(this.blobDir, s.slice(0, 2), s.slice(2, 4), s);
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.size(sha256)) !== null;
  }

  async localPath(sha256: string): Promise<string | null> {
    const p = this.pathFor(sha256);
    return (await this.#statOrNull(p)) === null ? null : p;
  }

  async size(sha256: string): Promise<number | null> {
    const st = await this.#statOrNull(this.pathFor(sha256));
    return st === null ? null : st.size;
  }

  async create(): Promise<BlobWriter> {
    const tempPath = join(this.tmpDir, `${HOST}~${process.pid}~${randomBytes(12).toString('hex')}${TEMP_SUFFIX}`);
    try {
      const fh = await open(tempPath, 'wx', this.#opts.fileMode);
      this.#live.add(tempPath);
      return new FsBlobWriter(this, tempPath, fh);
    } catch (e) {
      throw toStoreError(e, 'create blob temp file');
    }
  }

  /**
   * Removes temporary files no live writer owns: this process's own leftovers, those of dead
   * processes on this host, files a live process has not touched for STALE_TEMP_MS, and files
   * of unknown writers older than sweepMinAgeMs. Run at start-up and periodically.
   */
  async sweep(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.tmpDir);
    } catch (e) {
      if (isNotFound(e)) return 0;
      throw toStoreError(e, 'sweep blob temp files');
    }
    const now = Date.now();
    let removed = 0;
    for (const name of names) {
      const p = join(this.tmpDir, name);
      if (this.#live.has(p)) continue;
      try {
        const owner = TEMP_NAME.exec(name);
        const pid = owner && owner[1] === HOST ? Number(owner[2]) : null;
        if (pid !== null && pid !== process.pid && processAlive(pid)) {
          if ((await stat(p)).mtimeMs > now - STALE_TEMP_MS) continue;
        } else if (pid === null && this.#opts.sweepMinAgeMs > 0) {
          if ((await stat(p)).mtimeMs > now - this.#opts.sweepMinAgeMs) continue;
        }
        await unlink(p);
        removed++;
      } catch (e) {
        if (!isNotFound(e)) throw toStoreError(e, `sweep ${p}`);
      }
    }
    return removed;
  }

  /** @internal called by writers when their temp file is gone or published. */
  forget(tempPath: string): void {
    this.#live.delete(tempPath);
  }

  async #statOrNull(p: string): Promise<{ size: number } | null> {
    try {
      const st = await stat(p);
      return st.isFile() ? st : null;
    } catch (e) {
      if (isNotFound(e)) return null;
      throw toStoreError(e, `stat ${p}`);
    }
  }
}

export async function openFsBlobStore(root: string, opts: FsBlobStoreOptions = {}): Promise<FsBlobStore> {
  const store = new FsBlobStore(root, opts);
  try {
    await mkdir(store.blobDir, { recursive: true });
    await mkdir(store.tmpDir, { recursive: true });
  } catch (e) {
    throw toStoreError(e, `open blob store ${root}`);
  }
  return store;
}

/** Pumps a stream (an undici body, a file stream) into a writer with backpressure. */
export async function writeAll(writer: BlobWriter, source: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const chunk of source) await writer.write(chunk);
}
