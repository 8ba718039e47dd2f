/**
 * Parsing Hub URLs from the raw (undecoded) request path. Revisions arrive fully
 * percent-encoded (`refs%2Fpr%2F1`), so the path is split on literal markers before anything is
 * decoded; every part is then validated. Hostile paths are a 400 with a message, never a lookup.
 */

export type RepoType = 'model' | 'dataset';

export interface RepoRef {
  type: RepoType;
  /** `name` or `org/name`. */
  id: string;
}

export interface ResolveTarget extends RepoRef {
  revision: string;
  path: string;
}

export type ApiTarget =
  | ({ kind: 'info'; revision: string | null } & RepoRef)
  | ({ kind: 'tree'; revision: string; path: string } & RepoRef)
  | ({ kind: 'paths-info'; revision: string } & RepoRef)
  | ({ kind: 'refs' } & RepoRef)
  | ({ kind: 'commits'; revision: string } & RepoRef)
  | ({ kind: 'other'; rest: string } & RepoRef);

export class BadRequest extends Error {}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;

function decode(part: string, what: string): string {
  let s: string;
  try {
    s = decodeURIComponent(part);
  } catch {
    throw new BadRequest(`${what} is not valid percent-encoding`);
  }
  // Control characters (CR/LF, NUL...) have no business in a name and break headers and logs.
  if (/[\u0000-\u001f\u007f]/.test(s)) throw new BadRequest(`${what} contains control characters`);
  return s;
}

/**
 * Names the Hub keeps for its own routes: no organisation or repository has them, and no client
 * puts them first in a model's URL (models have no prefix). `/models/gpt2/resolve/...` would be
 * judged as repository `models/gpt2` (no deny entry for `gpt2` matches) while a hub that reads the
 * prefix serves `gpt2`.
 */
const RESERVED_FIRST = new Set(['models', 'datasets', 'spaces', 'api']);

export function parseRepoId(raw: string): string {
  const parts = raw.split('/');
  if (parts.length < 1 || parts.length > 2) throw new BadRequest('repository id must be "name" or "org/name"');
  if (RESERVED_FIRST.has(parts[0]!.toLowerCase())) throw new BadRequest(`"${parts[0]}" is reserved by the Hub: it names no organisation or repository`);
  for (const p of parts) {
    if (p.includes('%')) throw new BadRequest('repository id must not be percent-encoded');
    if (!SEGMENT.test(p) || p.includes('..') || p.endsWith('.git')) throw new BadRequest(`invalid repository id "${raw.slice(0, 100)}"`);
  }
  return parts.join('/');
}

export function parseRevision(raw: string): string {
  const rev = decode(raw, 'revision');
  if (rev.length === 0 || rev.length > 255) throw new BadRequest('revision must be 1-255 characters');
  if (rev.split('/').some((s) => s === '..' || s === '.' || s === '') || rev.includes('\\')) throw new BadRequest('invalid revision');
  return rev;
}

export function parseFilePath(raw: string): string {
  if (raw.length === 0) throw new BadRequest('file path is empty');
  if (raw.length > 4096) throw new BadRequest('file path is too long');
  const segs = raw.split('/').map((s) => decode(s, 'file path'));
  for (const s of segs) {
    if (s === '' || s === '.' || s === '..') throw new BadRequest('file path has empty, "." or ".." segments');
    if (s.includes('/') || s.includes('\\')) throw new BadRequest('file path has an encoded separator');
  }
  return segs.join('/');
}

function splitType(path: string): { type: RepoType; rest: string } {
  if (path.startsWith('/datasets/')) return { type: 'dataset', rest: path.slice('/datasets/'.length) };
  if (path.startsWith('/spaces/')) throw new BadRequest('spaces are not served by this gateway');
  return { type: 'model', rest: path.slice(1) };
}

/** `/{repo}/resolve/{rev}/{path}` and `/datasets/{repo}/resolve/...`; null if not a resolve URL. */
export function parseResolve(rawPath: string): ResolveTarget | null {
  const path = rawPath.split('?')[0]!;
  const at = path.indexOf('/resolve/');
  if (at < 0) return null;
  const { type, rest } = splitType(path.slice(0, at) + '/');
  const id = parseRepoId(rest.replace(/\/$/, ''));
  const after = path.slice(at + '/resolve/'.length);
  const slash = after.indexOf('/');
  if (slash <= 0) throw new BadRequest('resolve URL needs a revision and a file path');
  // `/org/resolve/resolve/main/f` is repository `org` at revision `resolve`, or repository
  // `org/resolve` at `main`; the Hub reads the second when that repository exists. Judging one
  // repository (its deny list, pins, licence) while upstream serves the other is refused.
  const segs = (type === 'dataset' ? path.slice('/datasets/'.length) : path.slice(1)).split('/');
  if (segs.length >= 5 && segs[1] === 'resolve' && segs[2] === 'resolve' && !id.includes('/')) {
    throw new BadRequest(`ambiguous URL: repository "${id}/resolve", or repository "${id}" at revision "resolve"; name the revision by its commit or use the API`);
  }
  return { type, id, revision: parseRevision(after.slice(0, slash)), path: parseFilePath(after.slice(slash + 1)) };
}

const API_MARKERS = ['/revision/', '/tree/', '/paths-info/', '/commits/', '/refs'] as const;

/** `/api/models/...` and `/api/datasets/...`; null if not such a URL. */
export function parseApi(rawPath: string): ApiTarget | null {
  const path = rawPath.split('?')[0]!;
  let type: RepoType;
  let rest: string;
  if (path.startsWith('/api/models/')) {
    type = 'model';
    rest = path.slice('/api/models/'.length);
  } else if (path.startsWith('/api/datasets/')) {
    type = 'dataset';
    rest = path.slice('/api/datasets/'.length);
  } else return null;
  let cut = -1;
  let marker: (typeof API_MARKERS)[number] | null = null;
  for (const m of API_MARKERS) {
    const i = rest.indexOf(m);
    if (i >= 0 && (cut < 0 || i < cut)) {
      cut = i;
      marker = m;
    }
  }
  const repoPart = cut < 0 ? rest.replace(/\/$/, '') : rest.slice(0, cut);
  const after = cut < 0 ? '' : rest.slice(cut + marker!.length);
  const repoSegments = repoPart.split('/');
  // Routes the gateway does not know (xet-read-token, discussions, ...): keep the tail for refusal.
  if (repoSegments.length > 2) {
    const id = parseRepoId(repoSegments.slice(0, 2).join('/'));
    return { kind: 'other', type, id, rest: repoSegments.slice(2).join('/') };
  }
  const id = parseRepoId(repoPart);
  switch (marker) {
    case null:
      return { kind: 'info', type, id, revision: null };
    case '/revision/':
      return { kind: 'info', type, id, revision: parseRevision(after) };
    case '/tree/': {
      const slash = after.indexOf('/');
      const rev = slash < 0 ? after : after.slice(0, slash);
      const sub = slash < 0 ? '' : after.slice(slash + 1).replace(/\/$/, '');
      return { kind: 'tree', type, id, revision: parseRevision(rev), path: sub ? parseFilePath(sub) : '' };
    }
    case '/paths-info/':
      return { kind: 'paths-info', type, id, revision: parseRevision(after) };
    case '/commits/':
      return { kind: 'commits', type, id, revision: parseRevision(after) };
    case '/refs':
      return after === '' || after === '/' ? { kind: 'refs', type, id } : { kind: 'other', type, id, rest: `refs${after}` };
  }
}

/** Encode a repo-relative file path for a URL (each segment, keeping the slashes). */
export { encodePath } from '../remote/target.js';

export function repoUrlPrefix(t: RepoRef): string {
  return t.type === 'dataset' ? `/datasets/${t.id}` : `/${t.id}`;
}

export function apiPrefix(t: RepoRef): string {
  return t.type === 'dataset' ? `/api/datasets/${t.id}` : `/api/models/${t.id}`;
}
