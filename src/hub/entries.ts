/**
 * How the local hub describes files and directories in its JSON: git object ids (the LFS
 * pointer's blob for LFS files), LFS metadata, the repository's database id, and the opaque
 * cursors of paginated listings.
 */
import { createHash } from 'node:crypto';
import { fileStatus, type SecurityFile } from './card.js';
import type { RepoRef } from './paths.js';
import { gitBlobSha1, lfsPointer, treeId, type HubFile, type RepoSnapshot } from './store.js';

const POINTER_SIZE_CACHE = new WeakMap<HubFile, { text: string; sha1: string }>();

export function pointerOf(f: HubFile): { text: string; sha1: string } {
  let p = POINTER_SIZE_CACHE.get(f);
  if (!p) {
    const text = lfsPointer(f.sha256, f.size);
    p = { text, sha1: gitBlobSha1(text) };
    POINTER_SIZE_CACHE.set(f, p);
  }
  return p;
}

/** The git object id the hub reports for a file: the pointer's blob for LFS files. */
export function gitOid(f: HubFile): string {
  return f.lfs ? pointerOf(f).sha1 : f.blobSha1;
}

export function lfsInfo(f: HubFile): { oid: string; size: number; pointerSize: number } {
  return { oid: f.sha256, size: f.size, pointerSize: Buffer.byteLength(pointerOf(f).text) };
}

/** The hub's database id (24 hex, which the JS client reads as `id`); here stable per repo. */
export function objectId(repo: RepoRef): string {
  return createHash('sha1').update(`${repo.kind}/${repo.id}`).digest('hex').slice(0, 24);
}

export function encodeCursor(offset: number, commit: string | null): string {
  return Buffer.from(JSON.stringify({ o: offset, c: commit })).toString('base64url');
}

export function decodeCursor(s: string | null): { offset: number; commit: string | null } | 'invalid' {
  if (s === null) return { offset: 0, commit: null };
  try {
    const v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null) return 'invalid';
    const { o, c } = v as { o?: unknown; c?: unknown };
    if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0) return 'invalid';
    if (c !== null && (typeof c !== 'string' || !/^[0-9a-f]{40}$/.test(c))) return 'invalid';
    return { offset: o, commit: c };
  } catch {
    return 'invalid';
  }
}


export function fileEntry(f: HubFile, snap: RepoSnapshot, expand: boolean, sec: SecurityFile | null): Record<string, unknown> {
  const e: Record<string, unknown> = { type: 'file', oid: gitOid(f), size: f.size, path: f.path };
  if (f.lfs) e['lfs'] = lfsInfo(f);
  if (expand) {
    e['lastCommit'] = lastCommit(snap);
    const status = fileStatus(sec, f.path);
    if (status) e['securityFileStatus'] = status;
  }
  return e;
}

export function dirEntry(path: string, snap: RepoSnapshot, expand: boolean): Record<string, unknown> {
  const e: Record<string, unknown> = { type: 'directory', oid: treeId(snap, path), size: 0, path };
  if (expand) e['lastCommit'] = lastCommit(snap);
  return e;
}

export function lastCommit(snap: RepoSnapshot): { id: string; title: string; date: string } {
  return { id: snap.commit, title: 'Snapshot of the served directory', date: snap.lastModified.toISOString() };
}
