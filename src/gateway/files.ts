/**
 * Files as the gateway knows them: metadata resolved from upstream (branch names with a short
 * TTL, commits forever), and bytes fetched once, verified against the upstream's hash, scanned,
 * and only then published to the blob store. Concurrent requests for the same file share one
 * download and one scan (single flight).
 */
import { createHash, randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { BlobStore, FileMeta, Store, StoredScan } from '../store/types.js';
import { DownloadSlots } from './download-slots.js';
import type { Metrics } from './metrics.js';
import type { ScanPool } from './scan-pool.js';
import type { ResolveTarget } from './paths.js';
import { SinkError, Upstream, UpstreamError } from './upstream.js';

const HEX40 = /^[0-9a-f]{40}$/;
const HEX64 = /^[0-9a-f]{64}$/;
/** Branch names remembered at once (repository, revision), oldest dropped first. */
export const BRANCHES_MAX = 50_000;

export type FileErrorKind = 'hash-mismatch' | 'scan-failed' | 'store-unavailable';

export class FileError extends Error {
  constructor(
    readonly kind: FileErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'FileError';
  }
}

export interface ScannedFile {
  meta: FileMeta;
  sha256: string;
  blobPath: string;
  /** The size of the blob on disk: what is served, whatever upstream announced. */
  size: number;
  scan: StoredScan;
  /** True when served from cache without an upstream download. */
  cached: boolean;
}

/** Single flight in one process; a distributed implementation (issue 5) plugs in here. */
export interface Flight {
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

export class LocalFlight implements Flight {
  private inflight = new Map<string, Promise<unknown>>();
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const existing = this.inflight.get(key);
    if (existing) return existing as Promise<T>;
    const p = fn().finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }
}

export function gitBlobSha1Hasher(size: number): ReturnType<typeof createHash> {
  const h = createHash('sha1');
  h.update(`blob ${size}\0`);
  return h;
}

export class FileService {
  private branches = new Map<string, { commit: string; expires: number }>();
  /** Recent verdicts in memory: a hot file's HEADs and GETs then cost no database round trip. */
  private hot = new Map<string, { scan: StoredScan; blobPath: string; size: number }>();
  private metaFlight = new LocalFlight();
  private judgedFlight = new LocalFlight();
  /** File metadata by (repo, commit, path): immutable for a commit, so safe to keep in memory. */
  private metas = new Map<string, FileMeta>();
  /** (user, repository) pairs upstream recently confirmed, until when. */
  private access = new Map<string, number>();

  private metaKey(type: string, repo: string, commit: string, path: string): string {
    return `${type}:${repo}@${commit}:${path}`;
  }

  private rememberMeta(m: FileMeta): void {
    if (this.metas.size >= 50_000) this.metas.delete(this.metas.keys().next().value!);
    this.metas.set(this.metaKey(m.repoType, m.repo, m.commit, m.path), m);
  }

  constructor(
    private readonly store: Store,
    private readonly blobs: BlobStore,
    private readonly upstream: Upstream,
    private readonly pool: ScanPool,
    readonly engineKey: string,
    private readonly metrics: Metrics,
    private readonly branchTtlMs: number,
    private readonly flight: Flight = new LocalFlight(),
    /** True when each user's own Hub token goes upstream (upstreamAuth: pass). */
    private readonly perUserAccess = false,
    /** Bounds the downloads running and waiting in this process (maxDownloads, downloadQueueMax). */
    readonly slots: DownloadSlots = new DownloadSlots(16, 256),
  ) {}

  /**
   * Bounded like the other caches: any client may name any public repository's branches, tags
   * and pull-request refs, and expired entries are only ever overwritten, never looked at again.
   */
  private rememberBranch(t: ResolveTarget, commit: string): void {
    const key = this.branchKey(t);
    this.branches.delete(key);
    if (this.branches.size >= BRANCHES_MAX) this.branches.delete(this.branches.keys().next().value!);
    this.branches.set(key, { commit, expires: Date.now() + this.branchTtlMs });
  }

  private branchKey(t: ResolveTarget): string {
    return `${t.type}:${t.id}:${t.revision}`;
  }

  /** The commit a revision names, when known without asking upstream. */
  knownCommit(t: ResolveTarget): string | null {
    if (HEX40.test(t.revision)) return t.revision;
    const b = this.branches.get(this.branchKey(t));
    return b && b.expires > Date.now() ? b.commit : null;
  }

  /** File metadata at the revision: from the store when the commit is known, else from upstream (once for concurrent asks). */
  metadata(t: ResolveTarget, auth: Record<string, string>): Promise<FileMeta> {
    // Keyed by credentials too: one user's answer (a gated repo) must not become another's.
    const who = auth['authorization'] ? createHash('sha256').update(auth['authorization']).digest('hex').slice(0, 16) : '-';
    // Unambiguous: revisions and paths may both contain ':' and '@', and two requests sharing a
    // key share one answer (revision `main:x` + path `y` must not get `main` + `x:y`).
    return this.metaFlight.run(JSON.stringify([who, t.type, t.id, t.revision, t.path]), () => this.lookupMetadata(t, auth, `${who}|${t.type}:${t.id}`));
  }

  private async lookupMetadata(t: ResolveTarget, auth: Record<string, string>, accessKey: string): Promise<FileMeta> {
    const commit = this.knownCommit(t);
    if (commit) {
      const m = this.metas.get(this.metaKey(t.type, t.id, commit, t.path)) ?? (await this.store.getFileMeta(t.type, t.id, commit, t.path));
      if (m) {
        // What another user's request cached must not reach a user the upstream would refuse.
        if (this.perUserAccess) await this.confirmAccess({ ...t, revision: commit }, auth, accessKey);
        this.metrics.inc('modelgate_cache_hits_total', { kind: 'metadata' });
        if (m.sha256) this.rememberMeta(m);
        return m;
      }
    }
    const up = await this.upstream.fileMetadata(commit ? { ...t, revision: commit } : t, auth);
    if (this.perUserAccess) this.granted(accessKey);
    if (!HEX40.test(t.revision)) this.rememberBranch(t, up.commit);
    const meta: FileMeta = {
      repoType: t.type,
      repo: t.id,
      commit: up.commit,
      path: t.path,
      size: up.size,
      etag: up.etag,
      sha256: up.linkedEtag,
      lfs: up.lfs,
      fetchedAt: new Date().toISOString(),
    };
    // A regular file's sha256 may already be known from an earlier download at this commit.
    const prior = await this.store.getFileMeta(t.type, t.id, up.commit, t.path);
    if (prior && prior.etag === meta.etag && prior.size === meta.size) meta.sha256 ??= prior.sha256;
    await this.store.putFileMeta(meta);
    if (meta.sha256) this.rememberMeta(meta);
    return meta;
  }

  /**
   * With users' own Hub tokens passed upstream, asks upstream (a HEAD, with the user's
   * credentials) whether this user may read the repository, at most once per user and repository
   * per branch TTL; upstream's refusal (401/403/404, GatedRepo…) propagates to the client as is.
   */
  private async confirmAccess(t: ResolveTarget, auth: Record<string, string>, accessKey: string): Promise<void> {
    if ((this.access.get(accessKey) ?? 0) > Date.now()) return;
    await this.upstream.fileMetadata(t, auth);
    this.granted(accessKey);
  }

  private granted(accessKey: string): void {
    if (this.access.size >= 50_000) this.access.delete(this.access.keys().next().value!);
    this.access.set(accessKey, Date.now() + this.branchTtlMs);
  }

  /** Bytes on disk, verified and scanned under the current engine; downloads at most once. */
  async ensure(t: ResolveTarget, meta: FileMeta, auth: Record<string, string>): Promise<ScannedFile> {
    // A file already judged needs no coordination: it is served even while the flight's backend
    // (Redis) is down; only new work waits for it, and fails closed without it.
    if (meta.sha256 && this.unverifiable(meta) === null) {
      const sha256 = meta.sha256;
      // In-process single flight: a storm on a blob held only by a shared store fetches it once here.
      const hit = await this.judgedFlight.run(sha256, () => this.judged(sha256)).catch(() => null);
      if (hit) {
        this.metrics.inc('modelgate_cache_hits_total', { kind: 'verdict' });
        return this.fromCache(meta, meta.sha256, hit);
      }
    }
    const key = meta.sha256 ?? `${meta.repoType}:${meta.repo}@${meta.commit}:${meta.path}`;
    return this.flight.run(key, () => this.fetchAndScan(t, meta, auth));
  }

  private remember(sha256: string, scan: StoredScan, blobPath: string, size: number): void {
    if (this.hot.size >= 10_000) this.hot.delete(this.hot.keys().next().value!);
    this.hot.set(sha256, { scan, blobPath, size });
  }

  /** A published blob and its verdict under the current engine, without new work; null when either is missing. */
  private async judged(sha256: string): Promise<{ scan: StoredScan; blobPath: string; size: number } | null> {
    // Blobs are immutable and published only after their scan: a remembered pair stays valid.
    const hot = this.hot.get(sha256);
    if (hot && hot.scan.engineKey === this.engineKey) return hot;
    const blobPath = await this.blobs.localPath(sha256);
    if (!blobPath) return null;
    const scan = await this.store.getScan(sha256, this.engineKey);
    if (!scan) return null;
    const { size } = await stat(blobPath);
    this.remember(sha256, scan, blobPath, size);
    return { scan, blobPath, size };
  }

  private async cachedScan(sha256: string, displayName: string): Promise<{ scan: StoredScan; blobPath: string; size: number; rescanned: boolean } | null> {
    const hit = await this.judged(sha256);
    if (hit) return { ...hit, rescanned: false };
    const blobPath = await this.blobs.localPath(sha256);
    if (!blobPath) return null;
    // The blob is here but was scanned by another engine or rules version: rescan lazily.
    const scan = await this.scanBlob(blobPath, sha256, displayName);
    const { size } = await stat(blobPath);
    this.remember(sha256, scan, blobPath, size);
    return { scan, blobPath, size, rescanned: true };
  }

  /**
   * A cached blob answers for this file only if it is what upstream announced, size included: an
   * upstream that names a cached blob's sha256 with another size would otherwise get that size
   * sent as Content-Length over a longer body, and the surplus read as the next response.
   */
  private fromCache(meta: FileMeta, sha256: string, hit: { scan: StoredScan; blobPath: string; size: number }): ScannedFile {
    if (hit.size !== meta.size) {
      throw new FileError(
        'hash-mismatch',
        `upstream announced ${meta.size} bytes for ${meta.path} with sha256 ${sha256.slice(0, 16)}..., but the verified copy of that sha256 has ${hit.size} bytes; nothing was served`,
      );
    }
    return { meta, sha256, blobPath: hit.blobPath, size: hit.size, scan: hit.scan, cached: true };
  }

  /** Why a regular file's bytes could not be checked against what upstream announced, or null. */
  private unverifiable(meta: FileMeta): string | null {
    if (meta.lfs || HEX40.test(meta.etag) || HEX64.test(meta.etag)) return null;
    return `upstream gave ${meta.path} no hash to verify its bytes against (its ETag is neither a git blob id nor a sha256, and it has no X-Linked-Etag); refused`;
  }

  private async scanBlob(path: string, sha256: string, displayName: string): Promise<StoredScan> {
    const t0 = performance.now();
    let report;
    try {
      report = await this.pool.scan(path, displayName);
    } catch (e) {
      throw new FileError('scan-failed', (e as Error).message);
    }
    this.metrics.observe('modelgate_scan_duration_seconds', (performance.now() - t0) / 1000);
    const scan: StoredScan = {
      id: randomBytes(9).toString('base64url'),
      sha256,
      engineKey: this.engineKey,
      report,
      maxSeverity: report.maxSeverity,
      complete: report.complete,
      createdAt: new Date().toISOString(),
    };
    await this.store.putScan(scan);
    return scan;
  }

  private async fetchAndScan(t: ResolveTarget, meta: FileMeta, auth: Record<string, string>): Promise<ScannedFile> {
    const displayName = meta.path;
    const why = this.unverifiable(meta);
    if (why) throw new FileError('hash-mismatch', why);
    if (!meta.sha256) {
      // Another replica (or an earlier request) may have downloaded it and learned its sha256.
      const stored = await this.store.getFileMeta(meta.repoType, meta.repo, meta.commit, meta.path);
      if (stored?.sha256 && stored.etag === meta.etag) meta = { ...meta, sha256: stored.sha256 };
    }
    if (meta.sha256) {
      const hit = await this.cachedScan(meta.sha256, displayName);
      if (hit) {
        this.metrics.inc('modelgate_cache_hits_total', { kind: hit.rescanned ? 'blob' : 'verdict' });
        return this.fromCache(meta, meta.sha256, hit);
      }
    }
    const release = await this.slots.acquire();
    try {
      return await this.download(t, meta, auth, displayName);
    } finally {
      release();
    }
  }

  private async download(t: ResolveTarget, meta: FileMeta, auth: Record<string, string>, displayName: string): Promise<ScannedFile> {
    // The CDN location is short-lived: ask for it now, by commit.
    const fresh = await this.upstream.fileMetadata({ ...t, revision: meta.commit }, auth);
    if (fresh.size !== meta.size || fresh.etag !== meta.etag) {
      throw new FileError('hash-mismatch', `upstream changed ${meta.path} at commit ${meta.commit.slice(0, 12)} between requests`);
    }
    const writer = await this.blobs.create();
    const tDownload = performance.now();
    try {
      // LFS files are verified by their sha256; the git blob id is needed only for regular files.
      const sha1 = meta.lfs ? null : gitBlobSha1Hasher(meta.size);
      this.metrics.inc('modelgate_upstream_downloads_total', {});
      await this.upstream.download(fresh.location, auth, meta.size, async (chunk) => {
        sha1?.update(chunk);
        // undici hands each chunk over for good (a fresh buffer per read), as the writer needs:
        // it gathers chunks into large writes and bounds what it holds.
        await writer.write(chunk);
      });
      const sha256 = await writer.finish();
      this.metrics.observe('modelgate_download_duration_seconds', (performance.now() - tDownload) / 1000);
      // The bytes scanned are the bytes served, and they must be the bytes upstream announced.
      if (meta.sha256 && sha256 !== meta.sha256) {
        throw new FileError('hash-mismatch', `downloaded bytes of ${meta.path} have sha256 ${sha256.slice(0, 16)}…, upstream announced ${meta.sha256.slice(0, 16)}…`);
      }
      if (sha1 && HEX40.test(meta.etag)) {
        const got = sha1.digest('hex');
        if (got !== meta.etag) throw new FileError('hash-mismatch', `downloaded bytes of ${meta.path} have git blob id ${got.slice(0, 12)}…, upstream announced ${meta.etag.slice(0, 12)}…`);
      } else if (!meta.lfs && HEX64.test(meta.etag) && sha256 !== meta.etag) {
        throw new FileError('hash-mismatch', `downloaded bytes of ${meta.path} have sha256 ${sha256.slice(0, 16)}…, upstream announced ${meta.etag.slice(0, 16)}…`);
      }
      const scan = (await this.store.getScan(sha256, this.engineKey)) ?? (await this.scanBlob(writer.tempPath, sha256, displayName));
      const tPublish = performance.now();
      await writer.commit(sha256);
      this.metrics.observe('modelgate_publish_duration_seconds', (performance.now() - tPublish) / 1000);
      const blobPath = await this.blobs.localPath(sha256);
      if (!blobPath) throw new FileError('store-unavailable', 'blob vanished after commit');
      this.remember(sha256, scan, blobPath, meta.size);
      if (meta.sha256 !== sha256) {
        meta.sha256 = sha256;
        await this.store.putFileMeta(meta);
      }
      this.rememberMeta(meta);
      return { meta, sha256, blobPath, size: meta.size, scan, cached: false };
    } catch (e) {
      await writer.abort().catch(() => undefined);
      if (e instanceof UpstreamError) this.metrics.inc('modelgate_upstream_errors_total', { kind: e.kind });
      // The cache disk failing (full, read-only) is the gateway's fault, not the upstream's.
      if (e instanceof SinkError) throw new FileError('store-unavailable', `the gateway's cache disk could not take the download (${diskReason(e.cause)})`);
      if (DISK_CODES.has((e as NodeJS.ErrnoException)?.code ?? '')) throw new FileError('store-unavailable', `the gateway's cache disk could not take the download (${diskReason(e)})`);
      throw e;
    }
  }
}

const DISK_CODES = new Set(['ENOSPC', 'EROFS', 'EDQUOT', 'EIO']);

function diskReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC') return 'ENOSPC: the cache disk is full';
  if (code === 'EROFS') return 'EROFS: the cache disk is read-only';
  if (code === 'EDQUOT') return 'EDQUOT: disk quota exceeded';
  return code ?? 'write failed';
}
