/**
 * Blob store whose durable, shared tier is an S3-compatible bucket, so that replicas on different
 * machines share downloaded blobs without a shared filesystem:
 *
 *   s3://<bucket>/<prefix>blobs/<sha256>   published blobs (content-addressed)
 *   <cache>/…                              a local FsBlobStore: read-through cache
 *
 * The local cache exists because scanning and ranged serving need a file on disk. Every blob is
 * verified against its sha256 when it enters the cache from S3, so a tampered or damaged object
 * is refused, never served. A blob counts as published only once it is in S3: if the upload
 * fails, commit fails and nothing is published locally either.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { GetObjectCommand, HeadBucketCommand, HeadObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { checkSha256, writeAll, type FsBlobStore } from './blobs-fs.js';
import { StoreError, isStoreError } from './errors.js';
import type { BlobStore, BlobWriter } from './types.js';

export interface S3BlobStoreOptions {
  bucket: string;
  /** Key prefix: '' or ending with '/'. */
  prefix: string;
  /** The local read-through cache (and where writers put their temporary files). */
  cache: FsBlobStore;
  /** For S3-compatible servers (MinIO, Ceph, …); unset: AWS. */
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  /**
   * Send x-amz-checksum-sha256 with uploads so the server verifies each part on arrival
   * (default true). Turn off for S3-compatible servers that reject checksum headers.
   */
  checksum?: boolean;
  /** Only for tests and embedding; the gateway leaves it unset so the SDK's own chain applies. */
  credentials?: S3ClientConfig['credentials'];
  /** Multipart part size (default 8 MiB, grown so a blob never needs more than 9,000 parts). */
  partSize?: number;
}

const MIN_PART = 5 << 20;
const DEFAULT_PART = 8 << 20;
/** S3 allows 10,000 parts; leave head-room. */
const MAX_PARTS = 9_000;

interface SdkError {
  name?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

function httpStatusOf(e: unknown): number | undefined {
  const s = typeof e === 'object' && e !== null ? (e as SdkError).$metadata?.httpStatusCode : undefined;
  return typeof s === 'number' ? s : undefined;
}

function isNotFound(e: unknown): boolean {
  const name = typeof e === 'object' && e !== null ? (e as SdkError).name : undefined;
  // A missing bucket is a configuration fault, not an absent blob: it must not read as "absent".
  if (name === 'NoSuchBucket') return false;
  return name === 'NotFound' || name === 'NoSuchKey' || httpStatusOf(e) === 404;
}

/**
 * Any failure to use the bucket is 'unavailable', whatever its cause (403, 5xx, a refused
 * connection, a timeout): the gateway then refuses with 503 instead of serving or caching on a
 * guess. The message carries the SDK's error name, status and text; credentials appear in none.
 */
function s3Error(e: unknown, op: string): StoreError {
  if (isStoreError(e)) return e;
  const status = httpStatusOf(e);
  const name = typeof e === 'object' && e !== null && typeof (e as SdkError).name === 'string' ? String((e as SdkError).name) : 'Error';
  const detail = e instanceof Error ? e.message : String(e);
  const message = `${op}: ${name}${status !== undefined ? ` (HTTP ${status})` : ''}${detail && detail !== name ? `: ${detail}` : ''}`;
  return new StoreError('unavailable', message, { cause: e });
}

class S3BlobWriter implements BlobWriter {
  readonly #inner: BlobWriter;
  readonly #store: S3BlobStore;
  #digest: string | null = null;
  /** 'spent' once a commit was tried: later calls go to the filesystem writer, which knows the outcome. */
  #state: 'open' | 'finished' | 'spent' = 'open';

  constructor(store: S3BlobStore, inner: BlobWriter) {
    this.#store = store;
    this.#inner = inner;
  }

  get tempPath(): string {
    return this.#inner.tempPath;
  }

  get written(): number {
    return this.#inner.written;
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.#inner.write(chunk);
  }

  async finish(): Promise<string> {
    this.#digest = await this.#inner.finish();
    if (this.#state === 'open') this.#state = 'finished';
    return this.#digest;
  }

  /**
   * Uploads from the temporary file before publishing it locally: a blob this replica serves
   * from its cache is then always one the others can find, and a failed upload leaves nothing
   * behind to remove (no window in which a local copy exists that S3 does not have).
   */
  async commit(sha256: string): Promise<void> {
    const want = checkSha256(sha256);
    if (this.#state !== 'finished' || want !== this.#digest) {
      if (this.#state === 'finished') this.#state = 'spent';
      // The filesystem writer refuses (wrong state), drops the content (hash mismatch) or, after
      // a successful commit of the same hash, does nothing.
      await this.#inner.commit(want);
      return;
    }
    this.#state = 'spent';
    try {
      await this.#store.upload(this.#inner.tempPath, want, this.#inner.written);
    } catch (e) {
      await this.#inner.abort();
      throw e;
    }
    await this.#inner.commit(want);
  }

  abort(): Promise<void> {
    return this.#inner.abort();
  }
}

export class S3BlobStore implements BlobStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly cache: FsBlobStore;
  readonly #client: S3Client;
  readonly #checksum: boolean;
  readonly #partSize: number;
  /** One download per blob at a time in this process; concurrent callers share it. */
  readonly #downloads = new Map<string, Promise<string | null>>();

  constructor(opts: S3BlobStoreOptions) {
    this.bucket = opts.bucket;
    this.prefix = opts.prefix;
    this.cache = opts.cache;
    this.#checksum = opts.checksum ?? true;
    this.#partSize = Math.max(MIN_PART, opts.partSize ?? DEFAULT_PART);
    this.#client = new S3Client({
      region: opts.region,
      forcePathStyle: opts.forcePathStyle,
      ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
      ...(opts.credentials !== undefined ? { credentials: opts.credentials } : {}),
      // The SDK's default CRC32 trailers (aws-chunked bodies) break many S3-compatible servers;
      // integrity is ours anyway: sha256 checksums on upload, the full sha256 checked on download.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Without these an unreachable endpoint holds a request until the verdict timeout.
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
    });
  }

  keyFor(sha256: string): string {
    return `${this.prefix}blobs/${checkSha256(sha256)}`;
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.size(sha256)) !== null;
  }

  async size(sha256: string): Promise<number | null> {
    const local = await this.cache.size(sha256);
    if (local !== null) return local;
    return this.#headSize(this.keyFor(sha256));
  }

  localPath(sha256: string): Promise<string | null> {
    let s: string;
    try {
      s = checkSha256(sha256);
    } catch (e) {
      return Promise.reject(e);
    }
    const running = this.#downloads.get(s);
    if (running) return running;
    const p = this.#cachedOrDownload(s).finally(() => this.#downloads.delete(s));
    this.#downloads.set(s, p);
    return p;
  }

  async create(): Promise<BlobWriter> {
    return new S3BlobWriter(this, await this.cache.create());
  }

  /** Only the local cache has temporary files; S3 multipart leftovers are aborted on failure. */
  sweep(): Promise<number> {
    return this.cache.sweep();
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }

  /** @internal called by writers: puts the verified file at `path` under its key, once. */
  async upload(path: string, sha256: string, size: number): Promise<void> {
    const key = this.keyFor(sha256);
    // Content-addressed: an object of this size that names this sha256 holds these bytes already
    // (every download from the bucket checks it anyway). Anything else under the key, a damaged
    // or replaced object, is overwritten with the verified bytes.
    const existing = await this.#head(key);
    if (existing !== null && existing.size === size && existing.sha256 === sha256) return;
    const partSize = Math.max(this.#partSize, Math.ceil(size / MAX_PARTS));
    const body = createReadStream(path, { highWaterMark: 1 << 20 });
    const upload = new Upload({
      client: this.#client,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentType: 'application/octet-stream',
        Metadata: { sha256 },
        ...(this.#checksum ? { ChecksumAlgorithm: 'SHA256' as const } : {}),
      },
      partSize,
      queueSize: 4,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (e) {
      throw s3Error(e, `upload blob to ${this.#where(key)}`);
    } finally {
      // A failed upload may stop reading midway; the file descriptor must not stay open.
      body.destroy();
    }
  }

  async #cachedOrDownload(sha256: string): Promise<string | null> {
    const local = await this.cache.localPath(sha256);
    if (local !== null) return local;
    return this.#download(sha256);
  }

  async #download(sha256: string): Promise<string | null> {
    const key = this.keyFor(sha256);
    let body: unknown;
    try {
      body = (await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }))).Body;
    } catch (e) {
      if (isNotFound(e)) return null;
      throw s3Error(e, `download ${this.#where(key)}`);
    }
    if (!(body instanceof Readable)) throw new StoreError('internal', `download ${this.#where(key)}: the S3 client returned no Node stream`);
    let writer: BlobWriter;
    try {
      writer = await this.cache.create();
    } catch (e) {
      body.destroy(); // else the connection stays busy with an unread body
      throw e;
    }
    try {
      try {
        await writeAll(writer, body);
      } catch (e) {
        throw isStoreError(e) ? e : s3Error(e, `download ${this.#where(key)}`);
      }
      const got = await writer.finish();
      if (got !== sha256) {
        throw new StoreError('corrupt', `blob ${this.#where(key)} has sha256 ${got}, not the ${sha256} its key names: refused`);
      }
      await writer.commit(sha256);
    } catch (e) {
      body.destroy();
      await writer.abort();
      throw e;
    }
    return this.cache.pathFor(sha256);
  }

  async #headSize(key: string): Promise<number | null> {
    return (await this.#head(key))?.size ?? null;
  }

  async #head(key: string): Promise<{ size: number; sha256: string | undefined } | null> {
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: head.ContentLength ?? 0, sha256: head.Metadata?.['sha256'] };
    } catch (e) {
      if (isNotFound(e)) return null;
      throw s3Error(e, `look up ${this.#where(key)}`);
    }
  }

  /** Readiness: the bucket answers with these credentials. */
  async ping(): Promise<boolean> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return true;
    } catch {
      return false;
    }
  }

  #where(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }
}
