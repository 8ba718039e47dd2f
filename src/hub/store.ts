/**
 * The repositories on disk: where a repo id lives, which files it holds, their hashes, and the
 * commit id derived from them. Every path that leaves this module has been resolved with
 * realpath and checked to lie inside the served directory, so a symlink can never expose a file
 * outside it.
 */
import { createHash } from 'node:crypto';
import { open, readdir, realpath, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join, sep } from 'node:path';
import { RESERVED_TOP, checkRelativePath, validName, type RepoKind, type RepoRef } from './paths.js';

/** The control file a repo may carry to simulate the upstream hub's verdicts; never served. */
export const SECURITY_FILE = '.hub-security.json';

/**
 * Git-LFS tracking as the hub's default `.gitattributes` does it: model and archive formats by
 * extension, and anything large.
 */
export const LFS_EXTENSIONS: readonly string[] = [
  '.bin', '.pt', '.pth', '.safetensors', '.gguf', '.h5', '.keras', '.onnx', '.msgpack', '.pkl', '.pickle',
  '.joblib', '.npy', '.npz', '.ckpt', '.zip', '.tar', '.gz', '.tgz', '.bz2', '.xz', '.zst', '.7z', '.tflite',
  '.pb', '.ot', '.model', '.mlmodel', '.nemo', '.arrow', '.parquet', '.wasm', '.lz4', '.rar', '.tfevents',
];
export const LFS_MIN_SIZE = 10 * 1024 * 1024;

export function isLfs(path: string, size: number): boolean {
  if (size >= LFS_MIN_SIZE) return true;
  const name = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  return LFS_EXTENSIONS.some((ext) => name.endsWith(ext));
}

/** The Git LFS pointer file git would store instead of the content. */
export function lfsPointer(sha256: string, size: number): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${size}\n`;
}

export function gitBlobSha1(content: Uint8Array | string): string {
  const bytes = typeof content === 'string' ? Buffer.from(content) : content;
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

export interface HubFile {
  /** Repo-relative, '/'-separated. */
  path: string;
  /** Real absolute path, inside the served directory. */
  abs: string;
  size: number;
  mtimeMs: number;
  ino: number;
  /** Git blob sha1 of the content (what git would store for a regular file). */
  blobSha1: string;
  sha256: string;
  lfs: boolean;
}

export interface RepoSnapshot {
  repo: RepoRef;
  dir: string;
  commit: string;
  files: HubFile[];
  byPath: Map<string, HubFile>;
  /** Every directory that holds at least one served file, repo-relative, root excluded. */
  dirs: Set<string>;
  lastModified: Date;
  createdAt: Date;
}

export interface RepoSummary {
  repo: RepoRef;
  dir: string;
  lastModified: Date;
  createdAt: Date;
}

export type StoreError =
  | { code: 'RepoNotFound'; message: string }
  | { code: 'TooLarge'; message: string }
  | { code: 'IoError'; message: string };

export type StoreResult<T> = { ok: true; value: T } | { ok: false; error: StoreError };

interface Listed {
  path: string;
  abs: string;
  st: Stats;
}

interface HashEntry {
  size: number;
  mtimeMs: number;
  ino: number;
  blobSha1: string;
  sha256: string;
}

export interface StoreLimits {
  maxFiles: number;
  maxDepth: number;
}

const DEFAULT_STORE_LIMITS: StoreLimits = { maxFiles: 200_000, maxDepth: 64 };

function ioMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class RepoStore {
  private rootReal: string | null = null;
  private readonly hashes = new Map<string, HashEntry>();
  private readonly inflight = new Map<string, Promise<HashEntry>>();
  private readonly snapshotsInflight = new Map<string, Promise<StoreResult<RepoSnapshot>>>();
  private readonly bySha256 = new Map<string, string>();
  private readonly limits: StoreLimits;

  constructor(
    readonly root: string,
    limits: Partial<StoreLimits> = {},
  ) {
    this.limits = { ...DEFAULT_STORE_LIMITS, ...limits };
  }

  /** The served directory, resolved once: every containment check compares against it. */
  async realRoot(): Promise<string> {
    this.rootReal ??= await realpath(this.root);
    return this.rootReal;
  }

  private async inside(p: string): Promise<string | null> {
    const root = await this.realRoot();
    let real: string;
    try {
      real = await realpath(p);
    } catch {
      return null;
    }
    return real === root || real.startsWith(root + sep) ? real : null;
  }

  private async realDir(p: string): Promise<string | null> {
    const real = await this.inside(p);
    if (real === null) return null;
    try {
      return (await stat(real)).isDirectory() ? real : null;
    } catch {
      return null;
    }
  }

  /**
   * A top-level directory that holds a visible regular file is a one-segment repo (`gpt2`);
   * otherwise it is an organisation whose subdirectories are repos. The rule keeps the two
   * readings of `DIR/x/y` from ever both being served.
   */
  private async isRepoLike(dir: string): Promise<boolean> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return false;
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const real = await this.inside(join(dir, name));
      if (real === null) continue;
      try {
        if ((await stat(real)).isFile()) return true;
      } catch {
        /* vanished or unreadable: not evidence of anything */
      }
    }
    return false;
  }

  private async base(kind: RepoKind): Promise<string | null> {
    const root = await this.realRoot();
    return kind === 'dataset' ? this.realDir(join(root, 'datasets')) : root;
  }

  /** The real directory of a repo, or null when there is no such repo. */
  async locate(repo: RepoRef): Promise<string | null> {
    const base = await this.base(repo.kind);
    if (base === null) return null;
    if (repo.segments.length === 1) {
      const [name] = repo.segments;
      if (repo.kind === 'model' && RESERVED_TOP.has(name)) return null;
      const dir = await this.realDir(join(base, name));
      return dir !== null && (await this.isRepoLike(dir)) ? dir : null;
    }
    const [org, name] = repo.segments;
    if (repo.kind === 'model' && RESERVED_TOP.has(org)) return null;
    const orgDir = await this.realDir(join(base, org));
    if (orgDir === null || (await this.isRepoLike(orgDir))) return null;
    return this.realDir(join(orgDir, name));
  }

  /** Every servable file of a repo directory, with symlinks resolved and contained. */
  private async list(repoDir: string): Promise<StoreResult<Listed[]>> {
    const root = await this.realRoot();
    const out: Listed[] = [];
    type Frame = { abs: string; rel: string; depth: number; ancestors: ReadonlySet<string> };
    const stack: Frame[] = [{ abs: repoDir, rel: '', depth: 0, ancestors: new Set([repoDir]) }];
    while (stack.length > 0) {
      const frame = stack.pop()!;
      if (frame.depth > this.limits.maxDepth) return { ok: false, error: { code: 'TooLarge', message: `directories nested deeper than ${this.limits.maxDepth}` } };
      let entries;
      try {
        entries = await readdir(frame.abs, { withFileTypes: true });
      } catch (e) {
        if (frame.depth === 0) return { ok: false, error: { code: 'IoError', message: ioMessage(e) } };
        continue;
      }
      for (const ent of entries) {
        if (ent.name === '.git') continue;
        if (frame.depth === 0 && ent.name === SECURITY_FILE) continue;
        const rel = frame.rel === '' ? ent.name : `${frame.rel}/${ent.name}`;
        // A name no client could ask for (backslash, control characters) is not served at all.
        if (!checkRelativePath(rel).ok) continue;
        let abs = join(frame.abs, ent.name);
        if (ent.isSymbolicLink()) {
          let real: string;
          try {
            real = await realpath(abs);
          } catch {
            continue;
          }
          if (!(real === root || real.startsWith(root + sep))) continue;
          abs = real;
        } else if (!ent.isFile() && !ent.isDirectory()) {
          continue;
        }
        let st: Stats;
        try {
          st = await stat(abs);
        } catch {
          continue;
        }
        if (st.isDirectory()) {
          if (frame.ancestors.has(abs)) continue;
          const ancestors = new Set(frame.ancestors);
          ancestors.add(abs);
          stack.push({ abs, rel, depth: frame.depth + 1, ancestors });
        } else if (st.isFile()) {
          out.push({ path: rel, abs, st });
          if (out.length > this.limits.maxFiles) return { ok: false, error: { code: 'TooLarge', message: `more than ${this.limits.maxFiles} files` } };
        }
      }
    }
    out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return { ok: true, value: out };
  }

  /**
   * Hashes are cached by (real path, size, mtime, inode): a file is read once however often it is
   * served, and concurrent first requests share one read.
   */
  async hash(abs: string, st: Pick<Stats, 'size' | 'mtimeMs' | 'ino'>): Promise<HashEntry> {
    const cached = this.hashes.get(abs);
    if (cached && cached.size === st.size && cached.mtimeMs === st.mtimeMs && cached.ino === st.ino) return cached;
    const key = `${abs}\0${st.size}\0${st.mtimeMs}\0${st.ino}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.computeHash(abs).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async computeHash(abs: string): Promise<HashEntry> {
    for (let attempt = 0; ; attempt++) {
      const fh = await open(abs, 'r');
      try {
        const before = await fh.stat();
        const sha1 = createHash('sha1').update(`blob ${before.size}\0`);
        const sha256 = createHash('sha256');
        let total = 0;
        for await (const chunk of fh.createReadStream({ highWaterMark: 1 << 20, autoClose: false, start: 0 }) as AsyncIterable<Buffer>) {
          sha1.update(chunk);
          sha256.update(chunk);
          total += chunk.length;
        }
        const after = await fh.stat();
        // A file rewritten while being read gives a hash of neither version: read it again.
        if ((total !== before.size || after.size !== before.size || after.mtimeMs !== before.mtimeMs) && attempt < 3) continue;
        const entry: HashEntry = { size: total, mtimeMs: after.mtimeMs, ino: after.ino, blobSha1: sha1.digest('hex'), sha256: sha256.digest('hex') };
        if (total !== before.size) throw new Error(`${abs} keeps changing while it is read`);
        this.hashes.set(abs, entry);
        this.bySha256.set(entry.sha256, abs);
        return entry;
      } finally {
        await fh.close();
      }
    }
  }

  /**
   * Concurrent requests for one repo share one walk: a burst of 50 HEADs costs one directory scan.
   * A request can therefore see the repo as it was when the shared walk began (milliseconds ago).
   */
  async snapshot(repo: RepoRef): Promise<StoreResult<RepoSnapshot>> {
    const key = `${repo.kind}:${repo.id}`;
    let p = this.snapshotsInflight.get(key);
    if (!p) {
      p = this.computeSnapshot(repo).finally(() => this.snapshotsInflight.delete(key));
      this.snapshotsInflight.set(key, p);
    }
    return p;
  }

  private async computeSnapshot(repo: RepoRef): Promise<StoreResult<RepoSnapshot>> {
    const dir = await this.locate(repo);
    if (dir === null) return { ok: false, error: { code: 'RepoNotFound', message: `Repository ${repo.id} not found` } };
    const listed = await this.list(dir);
    if (!listed.ok) return listed;
    const files: HubFile[] = [];
    try {
      for (const f of listed.value) {
        const h = await this.hash(f.abs, f.st);
        files.push({ path: f.path, abs: f.abs, size: h.size, mtimeMs: h.mtimeMs, ino: h.ino, blobSha1: h.blobSha1, sha256: h.sha256, lfs: isLfs(f.path, h.size) });
      }
    } catch (e) {
      return { ok: false, error: { code: 'IoError', message: ioMessage(e) } };
    }
    const byPath = new Map(files.map((f) => [f.path, f]));
    const dirs = new Set<string>();
    for (const f of files) {
      const parts = f.path.split('/');
      for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    }
    const times = await this.times(dir, listed.value);
    return { ok: true, value: { repo, dir, commit: commitId(files), files, byPath, dirs, ...times } };
  }

  private async times(dir: string, files: Listed[]): Promise<{ lastModified: Date; createdAt: Date }> {
    if (files.length === 0) {
      const st = await stat(dir);
      return { lastModified: new Date(Math.floor(st.mtimeMs)), createdAt: new Date(Math.floor(st.mtimeMs)) };
    }
    let min = Infinity;
    let max = -Infinity;
    for (const f of files) {
      min = Math.min(min, f.st.mtimeMs);
      max = Math.max(max, f.st.mtimeMs);
    }
    // Whole milliseconds: the dates round-trip through ISO strings unchanged.
    return { lastModified: new Date(Math.floor(max)), createdAt: new Date(Math.floor(min)) };
  }

  /** Every repo of a kind, with dates but without hashing (listing must stay cheap). */
  async listRepos(kind: RepoKind): Promise<RepoSummary[]> {
    const base = await this.base(kind);
    if (base === null) return [];
    const out: RepoSummary[] = [];
    const add = async (repo: RepoRef, dir: string): Promise<void> => {
      const listed = await this.list(dir);
      if (!listed.ok) return;
      out.push({ repo, dir, ...(await this.times(dir, listed.value)) });
    };
    let top: string[];
    try {
      top = await readdir(base);
    } catch {
      return [];
    }
    for (const name of top.sort()) {
      if (!validName(name) || (kind === 'model' && RESERVED_TOP.has(name))) continue;
      const dir = await this.realDir(join(base, name));
      if (dir === null) continue;
      if (await this.isRepoLike(dir)) {
        await add({ kind, id: name, segments: [name] }, dir);
        continue;
      }
      let inner: string[];
      try {
        inner = await readdir(dir);
      } catch {
        continue;
      }
      for (const sub of inner.sort()) {
        if (!validName(sub)) continue;
        const subDir = await this.realDir(join(dir, sub));
        if (subDir !== null) await add({ kind, id: `${name}/${sub}`, segments: [name, sub] }, subDir);
      }
    }
    return out;
  }

  /** The real path of a served file with this content, re-checked against the file as it is now. */
  async bySha(sha256: string): Promise<{ abs: string; size: number } | null> {
    const abs = this.bySha256.get(sha256);
    if (abs === undefined) return null;
    try {
      const st = await stat(abs);
      const h = await this.hash(abs, st);
      return h.sha256 === sha256 ? { abs, size: h.size } : null;
    } catch {
      return null;
    }
  }

  /** Hashes every repo in the background so the first client request does not wait for it. */
  async warm(): Promise<void> {
    for (const kind of ['model', 'dataset'] as const) {
      for (const r of await this.listRepos(kind)) await this.snapshot(r.repo);
    }
  }
}

/**
 * A deterministic stand-in for a git commit: the same files give the same id, any change to a
 * path, a size or a byte gives a new one.
 */
export function commitId(files: readonly Pick<HubFile, 'path' | 'size' | 'sha256'>[]): string {
  const h = createHash('sha1').update('modelgate-hub commit v1\n');
  for (const f of files) h.update(`${f.path}\0${f.size}\0${f.sha256}\n`);
  return h.digest('hex');
}

/** A stand-in for a git tree id: derived from the entries below the directory. */
export function treeId(snapshot: RepoSnapshot, dir: string): string {
  const prefix = dir === '' ? '' : dir + '/';
  const h = createHash('sha1').update(`modelgate-hub tree v1\n${dir}\n`);
  for (const f of snapshot.files) if (f.path.startsWith(prefix)) h.update(`${f.path}\0${f.blobSha1}\n`);
  return h.digest('hex');
}
