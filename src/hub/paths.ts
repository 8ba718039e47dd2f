/**
 * Parsing of Hub URLs. Everything that arrives in a URL is hostile until it has passed through
 * here: the result either names a syntactically valid repo, revision and repo-relative path, or
 * is an error carrying the status and message to answer with. Nothing here touches the disk.
 */

export type RepoKind = 'model' | 'dataset';

export interface RepoRef {
  kind: RepoKind;
  /** `name` or `org/name`, exactly as it will be looked up on disk. */
  id: string;
  segments: [string] | [string, string];
}

export interface UrlError {
  status: number;
  message: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: UrlError };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(message: string, status = 400): Parsed<T> => ({ ok: false, error: { status, message } });

/** Longest URL path we look at; anything longer is refused before any work is done. */
export const MAX_URL_PATH = 8192;
/** Longest repo-relative file path (the hub has no documented limit; Linux's PATH_MAX). */
export const MAX_FILE_PATH = 4096;
const MAX_PATH_SEGMENT = 255;

// The hub's own rule (huggingface_hub's validate_repo_id): word characters, '-' and '.', starting and
// ending with a word character, at most 96 characters, no '--' or '..'. It also excludes every
// separator, NUL and percent sign, so a valid name can be joined to a directory safely.
const NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?$/;

/** Names that cannot be repos or organisations at the top of the directory: they are routes. */
export const RESERVED_TOP = new Set(['api', 'datasets', 'spaces', 'models', '-']);

export function validName(s: string): boolean {
  return NAME.test(s) && !s.includes('--') && !s.includes('..');
}

function decode(raw: string): string | null {
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}

/** Repo segments come straight from the URL, undecoded: a `%2F` can never become a separator. */
export function parseRepo(kind: RepoKind, raw: string[]): Parsed<RepoRef> {
  if (raw.length < 1 || raw.length > 2) return bad('a repo id has one or two segments');
  const segments: string[] = [];
  for (const r of raw) {
    const s = decode(r);
    if (s === null) return bad('malformed percent-encoding in the repo id');
    if (!validName(s)) return bad(`invalid repo id segment '${printable(s)}'`);
    segments.push(s);
  }
  if (segments.length === 1 && RESERVED_TOP.has(segments[0]!)) return bad(`'${segments[0]}' is not a repo name`);
  return ok({ kind, id: segments.join('/'), segments: segments as [string] | [string, string] });
}

/**
 * Revisions arrive percent-encoded with no safe characters (`refs%2Fpr%2F1`). They never touch the
 * disk, but they end up in messages and headers, so control characters and absurd lengths are refused.
 */
export function parseRevision(raw: string): Parsed<string> {
  const s = decode(raw);
  if (s === null) return bad('malformed percent-encoding in the revision');
  if (s.length === 0) return bad('empty revision');
  if (s.length > 256) return bad('revision too long');
  if (/[\u0000-\u001f\u007f]/.test(s)) return bad('control character in the revision');
  return ok(s);
}

/**
 * A repo-relative path. Clients send it either with literal slashes (resolve URLs) or fully encoded
 * (`quote(path, safe="")` in tree URLs), so it is decoded as a whole and then split. Any segment that
 * is empty, `.` or `..`, and any NUL, backslash or control character, is refused: such a path can
 * only be an attempt to leave the repository.
 */
export function parseFilePath(raw: string, allowEmpty = false): Parsed<string> {
  if (raw.length > MAX_FILE_PATH * 3) return bad('path too long', 414);
  const s = decode(raw);
  if (s === null) return bad('malformed percent-encoding in the path');
  if (s.length === 0) return allowEmpty ? ok('') : bad('empty path');
  return checkRelativePath(s);
}

export function checkRelativePath(s: string): Parsed<string> {
  if (s.length > MAX_FILE_PATH) return bad('path too long', 414);
  if (/[\u0000-\u001f\u007f\\]/.test(s)) return bad('control character or backslash in the path');
  if (s.startsWith('/')) return bad('absolute path');
  for (const seg of s.split('/')) {
    if (seg === '') return bad('empty path segment');
    if (seg === '.' || seg === '..') return bad('relative path segment');
    if (Buffer.byteLength(seg) > MAX_PATH_SEGMENT) return bad('path segment too long', 414);
  }
  return ok(s);
}

function printable(s: string): string {
  const clean = s.replace(/[^\u0020-\u007e]/g, '?');
  return clean.length > 80 ? clean.slice(0, 80) + '…' : clean;
}

export { printable as printableForMessage };

// ---- routes ----

export type ApiAction =
  | { op: 'info'; rev: string | null }
  | { op: 'tree'; rev: string; path: string }
  | { op: 'paths-info'; rev: string }
  | { op: 'refs' }
  | { op: 'commits'; rev: string }
  | { op: 'token' };

export type Route =
  | { kind: 'resolve'; repo: RepoRef; rev: string; path: string; raw: boolean }
  | { kind: 'api'; repo: RepoRef; action: ApiAction }
  | { kind: 'list'; repoKind: RepoKind }
  | { kind: 'cdn'; sha256: string }
  | { kind: 'control'; what: 'faults' | 'requests' };

/**
 * A request path may be readable in more than one way (`/api/models/a/refs` is repo `a`'s refs or
 * repo `a/refs`'s info). Every reading that parses is returned, two-segment repo ids first; the
 * caller takes the first whose repo exists.
 */
export type RouteCandidates = Parsed<Route[]>;

const API_MARKERS = new Set(['revision', 'tree', 'paths-info', 'refs', 'commits', 'xet-read-token', 'xet-write-token']);

export function parseRoute(pathname: string): RouteCandidates {
  if (pathname.length > MAX_URL_PATH) return bad('URL too long', 414);
  if (!pathname.startsWith('/')) return bad('bad request target');
  const parts = pathname.slice(1).split('/');

  if (parts[0] === '-') {
    if (parts[1] === 'hub' && (parts[2] === 'faults' || parts[2] === 'requests') && parts.length === 3)
      return ok([{ kind: 'control', what: parts[2] }]);
    if (parts[1] === 'cdn' && parts.length === 3 && /^[0-9a-f]{64}$/.test(parts[2] ?? '')) return ok([{ kind: 'cdn', sha256: parts[2]! }]);
    return bad('not found', 404);
  }

  if (parts[0] === 'api') {
    const kindWord = parts[1];
    const repoKind: RepoKind | null = kindWord === 'models' ? 'model' : kindWord === 'datasets' ? 'dataset' : null;
    if (repoKind === null) return bad('not found', 404);
    const rest = parts.slice(2);
    if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) return ok([{ kind: 'list', repoKind }]);
    return apiCandidates(repoKind, rest);
  }

  let kind: RepoKind = 'model';
  let rest = parts;
  if (parts[0] === 'datasets') {
    kind = 'dataset';
    rest = parts.slice(1);
  } else if (parts[0] === 'spaces') {
    return bad('Spaces are not served by this hub', 404);
  }
  return resolveCandidates(kind, rest);
}

function resolveCandidates(kind: RepoKind, parts: string[]): RouteCandidates {
  const out: Route[] = [];
  let firstError: UrlError | null = null;
  for (const n of [2, 1] as const) {
    const marker = parts[n];
    if (marker !== 'resolve' && marker !== 'raw') continue;
    const repo = parseRepo(kind, parts.slice(0, n));
    if (!repo.ok) {
      firstError ??= repo.error;
      continue;
    }
    const revRaw = parts[n + 1];
    if (revRaw === undefined) {
      firstError ??= { status: 400, message: 'missing revision' };
      continue;
    }
    const rev = parseRevision(revRaw);
    if (!rev.ok) {
      firstError ??= rev.error;
      continue;
    }
    const path = parseFilePath(parts.slice(n + 2).join('/'));
    if (!path.ok) {
      firstError ??= path.error;
      continue;
    }
    out.push({ kind: 'resolve', repo: repo.value, rev: rev.value, path: path.value, raw: marker === 'raw' });
  }
  if (out.length > 0) return ok(out);
  return { ok: false, error: firstError ?? { status: 404, message: 'not found' } };
}

function apiCandidates(kind: RepoKind, parts: string[]): RouteCandidates {
  const out: Route[] = [];
  let firstError: UrlError | null = null;
  for (const n of [2, 1] as const) {
    if (parts.length < n) continue;
    const tail = parts.slice(n);
    const action = parseAction(tail);
    if (!action.ok) {
      firstError ??= action.error;
      continue;
    }
    const repo = parseRepo(kind, parts.slice(0, n));
    if (!repo.ok) {
      firstError ??= repo.error;
      continue;
    }
    out.push({ kind: 'api', repo: repo.value, action: action.value });
  }
  if (out.length > 0) return ok(out);
  return { ok: false, error: firstError ?? { status: 404, message: 'not found' } };
}

function parseAction(tail: string[]): Parsed<ApiAction> {
  if (tail.length === 0) return ok({ op: 'info', rev: null });
  const [marker, revRaw, ...more] = tail;
  if (marker === 'refs') return tail.length === 1 ? ok({ op: 'refs' }) : bad('not found', 404);
  if (marker === 'xet-read-token' || marker === 'xet-write-token') return ok({ op: 'token' });
  if (!API_MARKERS.has(marker!)) return bad('not found', 404);
  if (revRaw === undefined || revRaw === '') return bad('missing revision');
  const rev = parseRevision(revRaw);
  if (!rev.ok) return rev;
  switch (marker) {
    case 'revision':
      return more.length === 0 ? ok({ op: 'info', rev: rev.value }) : bad('not found', 404);
    case 'paths-info':
      return more.length === 0 ? ok({ op: 'paths-info', rev: rev.value }) : bad('not found', 404);
    case 'commits':
      return more.length === 0 ? ok({ op: 'commits', rev: rev.value }) : bad('not found', 404);
    case 'tree': {
      const path = parseFilePath(more.join('/'), true);
      if (!path.ok) return path;
      return ok({ op: 'tree', rev: rev.value, path: path.value });
    }
    default:
      return bad('not found', 404);
  }
}

/** `true`/`True`/`1` from httpx, requests (0.x) and hand-written URLs alike. */
export function truthy(v: string | null | undefined): boolean {
  if (v === null || v === undefined) return false;
  const s = v.toLowerCase();
  return s === 'true' || s === '1' || s === 'yes';
}
