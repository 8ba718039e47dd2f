/**
 * Reading the Hub API's answers: headers, revision info and tree entries. Kept apart from the
 * client so that what an answer must contain is in one place, and testable without a server.
 */

/** A file of a tree listing (directories hold nothing to fetch and are not listed). */
export interface TreeEntry {
  /** Repo-relative path. */
  path: string;
  size: number;
  /** Git blob id (of the LFS pointer for LFS files). */
  oid: string;
  /** sha256 and size of the content, for files in LFS. */
  lfs?: { oid: string; size: number };
}

export interface RepoInfo {
  sha: string;
  securityRepoStatus: unknown;
  license: string | null;
  needsRemoteCode: boolean;
}

/** One repository of a listing; `sha` when the upstream gives a commit. */
export interface ListedRepo {
  id: string;
  sha: string | null;
}

const HEX40 = /^[0-9a-f]{40}$/;
const HEX64 = /^[0-9a-f]{64}$/;

/** Retry-After as seconds or an HTTP date, in ms; null when absent or unusable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | null {
  if (value === undefined) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return null;
  return Math.max(0, t - now);
}

/** The `rel="next"` target of a Link header, or null. */
export function nextLink(link: string | undefined): string | null {
  if (!link) return null;
  for (const part of link.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m && /\brel\s*=\s*"?next"?/i.test(m[2]!)) return m[1]!;
  }
  return null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function isSize(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** `/api/{kind}s/{repo}/revision/{rev}`: null without a commit sha, the one thing every caller needs. */
export function parseRepoInfo(body: unknown): RepoInfo | null {
  if (!isObject(body)) return null;
  const sha = body['sha'];
  if (typeof sha !== 'string' || !HEX40.test(sha)) return null;
  const tags = Array.isArray(body['tags']) ? body['tags'].filter((t): t is string => typeof t === 'string') : [];
  const card = isObject(body['cardData']) ? body['cardData'] : {};
  const config = isObject(body['config']) ? body['config'] : {};
  const licTag = tags.find((t) => t.startsWith('license:'));
  const license = typeof card['license'] === 'string' ? card['license'] : licTag ? licTag.slice('license:'.length) : null;
  // The hub tags repos whose config maps classes to code in the repo (auto_map) as custom_code.
  const needsRemoteCode = tags.includes('custom_code') || isObject(config['auto_map']);
  return { sha, securityRepoStatus: body['securityRepoStatus'] ?? null, license, needsRemoteCode };
}

/** An item of `/api/{kind}s?…` without an id is skipped: there is nothing to crawl by. */
export function parseListedRepo(item: unknown): ListedRepo | null {
  if (!isObject(item) || typeof item['id'] !== 'string') return null;
  const sha = item['sha'];
  return { id: item['id'], sha: typeof sha === 'string' && HEX40.test(sha) ? sha : null };
}

/**
 * One entry of a tree listing: the file, null for another kind of entry (directories, and
 * whatever a newer hub adds), 'malformed' when a file is not described well enough to fetch and
 * check it.
 */
export function parseTreeFile(e: unknown): TreeEntry | null | 'malformed' {
  if (!isObject(e)) return 'malformed';
  if (e['type'] !== 'file') return null;
  const { path, size, oid, lfs } = e;
  if (typeof path !== 'string' || path === '' || typeof oid !== 'string' || !isSize(size)) return 'malformed';
  const out: TreeEntry = { path, size, oid };
  if (lfs !== undefined && lfs !== null) {
    if (!isObject(lfs) || typeof lfs['oid'] !== 'string' || !isSize(lfs['size'])) return 'malformed';
    // Also with the algorithm prefix that LFS pointer files write (`oid sha256:…`).
    const sha256 = lfs['oid'].replace(/^sha256:/, '');
    if (!HEX64.test(sha256)) return 'malformed';
    out.lfs = { oid: sha256, size: lfs['size'] };
  }
  return out;
}
