/**
 * The upstream hub client. Metadata comes from a HEAD that follows only same-origin (relative)
 * redirects: the Hub puts X-Repo-Commit / X-Linked-Etag / X-Linked-Size on the 302 to its CDN,
 * which we read and then follow ourselves — the client never sees the CDN URL. Downloads follow
 * redirects only to expected hosts. Bodies are never decompressed (Accept-Encoding: identity).
 */
import { Agent, request, type Dispatcher } from 'undici';
import { BadRequest, apiPrefix, encodePath, parseApi, parseResolve, repoUrlPrefix, type RepoRef, type ResolveTarget } from './paths.js';
import { probeFailure } from './upstream-check.js';

/** 'moved': upstream answered with a redirect to another repository (a rename); `location` says where. */
export type UpstreamErrorKind = 'unreachable' | 'timeout' | 'status' | 'redirect' | 'protocol' | 'cut' | 'moved';

export class UpstreamError extends Error {
  constructor(
    readonly kind: UpstreamErrorKind,
    message: string,
    readonly status: number | null = null,
    readonly headers: Record<string, string> = {},
    /** For 'moved': the path and query (same origin) of the repository's current name. */
    readonly location: string | null = null,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

export interface FileMetadata {
  commit: string;
  /** Git blob sha1 (regular files) or the hub's ETag, quotes stripped. */
  etag: string;
  /** sha256 for LFS files (X-Linked-Etag), else null. */
  linkedEtag: string | null;
  size: number;
  /** Where to GET the bytes (absolute; may be a CDN). */
  location: string;
  lfs: boolean;
}

const HEX40 = /^[0-9a-f]{40}$/;
const HEX64 = /^[0-9a-f]{64}$/;

function header(h: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

function unquote(s: string | undefined): string | null {
  if (s === undefined) return null;
  return s.replace(/^W\//, '').replace(/^"|"$/g, '');
}

export interface UpstreamOptions {
  base: string;
  /** Hosts downloads may be redirected to: `host` exactly, or `.domain` / `*.domain` for any host under it. */
  redirectHosts: string[];
  /** Per read (headers, each body chunk). */
  timeoutMs: number;
  /** Overall bound on one download, however steadily it trickles. */
  downloadTimeoutMs?: number;
  /** Largest API answer (JSON) read into memory. */
  apiMaxBytes?: number;
}

/** The setting operators change to let downloads follow redirects to another host. */
export const REDIRECT_SETTING = 'upstreamRedirectHosts (MODELGATE_UPSTREAM_REDIRECT_HOSTS)';

/** Whether `host` (hostname[:port]) is the upstream or matches one of the allowed patterns. */
export function hostAllowed(host: string, upstreamHost: string, patterns: readonly string[]): boolean {
  if (host === upstreamHost) return true;
  const name = host.replace(/:\d+$/, '').toLowerCase();
  return patterns.some((p) => {
    const pat = p.toLowerCase();
    if (pat.startsWith('*.') || pat.startsWith('.')) {
      const suffix = pat.slice(pat.indexOf('.'));
      return name.endsWith(suffix) && name.length > suffix.length;
    }
    return pat === host.toLowerCase() || pat === name;
  });
}

/**
 * Where a redirect leads. One that leaves TLS (an https answer pointing at http) or HTTP itself
 * is refused: the next request may carry the user's Hub token, and even without one the bytes
 * and the file asked for would cross the network in clear.
 */
export function redirectTarget(from: URL, location: string): URL {
  const next = new URL(location, from);
  if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new UpstreamError('redirect', `upstream redirected to a ${next.protocol} URL; refused`);
  if (from.protocol === 'https:' && next.protocol !== 'https:') throw new UpstreamError('redirect', `upstream redirected from https to http (${next.host}); refused`);
  return next;
}

function repoLabel(r: RepoRef): string {
  return r.type === 'dataset' ? `datasets/${r.id}` : r.id;
}

/**
 * The repository a same-origin redirect of a file's metadata leads to, when it names one other
 * than the file's (the Hub answers a renamed or transferred repository's old name with a 307 to
 * the new one, and its small files with `/api/resolve-cache/{models|datasets}/{repo}/...`); null
 * when it names the same repository or none. Repository ids compare without case, as the Hub's do.
 */
export function redirectedRepo(t: RepoRef, next: URL): string | null {
  const path = next.pathname;
  const cache = /^\/api\/resolve-cache\/(models|datasets)\/(.*)$/.exec(path);
  if (cache) {
    const type = cache[1] === 'datasets' ? 'dataset' : 'model';
    const rest = cache[2]!.toLowerCase();
    if (type === t.type && rest.startsWith(`${t.id.toLowerCase()}/`)) return null;
    return `${cache[1]}/${cache[2]!.split('/').slice(0, 2).join('/')}`;
  }
  let other;
  try {
    other = parseResolve(path);
  } catch (e) {
    if (e instanceof BadRequest) return path.slice(0, 200);
    throw e;
  }
  if (other === null || sameRepo(other, t)) return null;
  return repoLabel(other);
}

/** Repository ids compare without case, as the Hub's do. */
function sameRepo(a: RepoRef, b: RepoRef): boolean {
  return a.type === b.type && a.id.toLowerCase() === b.id.toLowerCase();
}

/** Whether a URL stays in a repository's own API (`/api/models/{id}` and below; ids compare without case). */
export function withinRepoApi(repo: RepoRef, next: URL): boolean {
  const prefix = apiPrefix(repo).toLowerCase();
  let path: string;
  try {
    path = decodeURIComponent(next.pathname).toLowerCase();
  } catch {
    return false;
  }
  return path === prefix || path.startsWith(`${prefix}/`);
}

/** A redirect to the same file path under another repository's resolve URL (what a rename gives). */
function isResolveOfOther(t: ResolveTarget, next: URL): boolean {
  let other: ResolveTarget | null;
  try {
    other = parseResolve(next.pathname);
  } catch {
    return false;
  }
  return other !== null && other.path === t.path && !sameRepo(other, t);
}

/** The repository an API URL names (`/api/models/{id}[/revision|tree|...]`), or null when it names none the gateway serves. */
function apiRepoOf(next: URL): RepoRef | null {
  let api;
  try {
    api = parseApi(next.pathname);
  } catch {
    return null;
  }
  return api === null || api.kind === 'other' ? null : { type: api.type, id: api.id };
}

function printable(s: string): string {
  const clean = s.replace(/[^\u0020-\u007e]/g, '?');
  return clean.length > 200 ? `${clean.slice(0, 200)}...` : clean;
}

/** Credentials go to the upstream's own origin only: same scheme, host and port, never a CDN. */
export function credentialsFor(url: URL, base: URL, auth: Record<string, string>): Record<string, string> {
  return url.origin === base.origin ? auth : {};
}

/** A failure of the place the downloaded bytes go (the cache disk), not of the upstream. */
export class SinkError extends Error {
  constructor(override readonly cause: unknown) {
    super((cause as Error)?.message ?? String(cause));
    this.name = 'SinkError';
  }
}

export class Upstream {
  readonly base: URL;
  private readonly agent: Agent;
  private readonly redirectHosts: string[];
  private readonly downloadTimeoutMs: number;
  private readonly apiMaxBytes: number;
  private readonly apiTimeoutMs: number;

  constructor(opts: UpstreamOptions) {
    this.base = new URL(opts.base);
    this.agent = new Agent({ headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs, connectTimeout: Math.min(opts.timeoutMs, 10_000) });
    this.redirectHosts = [...opts.redirectHosts];
    this.downloadTimeoutMs = opts.downloadTimeoutMs ?? 60 * 60_000;
    this.apiMaxBytes = opts.apiMaxBytes ?? 32 << 20;
    this.apiTimeoutMs = opts.timeoutMs;
  }

  private allowed(host: string): boolean {
    return hostAllowed(host, this.base.host, this.redirectHosts);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private reachable: { ok: boolean; error: string | null; at: number } | null = null;

  /** Whether the upstream answers HTTP at all (any status), remembered for 10 s: readiness probes are frequent. */
  async ping(): Promise<boolean> {
    return (await this.probe()).ok;
  }

  /** As ping(), with why it failed (`cannot resolve huggingface.co (ENOTFOUND)`). */
  async probe(): Promise<{ ok: boolean; error: string | null }> {
    if (this.reachable && Date.now() - this.reachable.at < 10_000) return this.reachable;
    let ok = false;
    let error: string | null = null;
    try {
      const res = await request(this.base, { method: 'HEAD', dispatcher: this.agent, signal: AbortSignal.timeout(5000) });
      await res.body.dump();
      ok = true;
    } catch (e) {
      error = probeFailure(e, this.base);
    }
    this.reachable = { ok, error, at: Date.now() };
    return this.reachable;
  }

  private async call(url: URL, method: 'GET' | 'HEAD' | 'POST', headers: Record<string, string>, body?: string | Buffer, signal?: AbortSignal): Promise<Dispatcher.ResponseData> {
    try {
      return await request(url, { method, headers: { 'accept-encoding': 'identity', 'user-agent': 'modelgate', ...headers }, ...(body !== undefined ? { body } : {}), ...(signal ? { signal } : {}), dispatcher: this.agent });
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      if (code.includes('TIMEOUT') || signal?.aborted) throw new UpstreamError('timeout', `upstream timed out (${url.host})`);
      throw new UpstreamError('unreachable', `upstream unreachable (${url.host}: ${code || (e as Error).message})`);
    }
  }

  /** HEAD /{repo}/resolve/{rev}/{path}, following same-origin redirects only. */
  async fileMetadata(t: ResolveTarget, auth: Record<string, string>): Promise<FileMetadata> {
    let url = new URL(`${repoUrlPrefix(t)}/resolve/${encodeURIComponent(t.revision)}/${encodePath(t.path)}`, this.base);
    for (let hop = 0; hop < 5; hop++) {
      const res = await this.call(url, 'HEAD', credentialsFor(url, this.base, auth));
      await res.body.dump();
      const h = res.headers;
      const loc = header(h, 'location');
      const commit = header(h, 'x-repo-commit');
      const linked = unquote(header(h, 'x-linked-etag'));
      if (res.statusCode >= 300 && res.statusCode < 400 && loc) {
        const next = redirectTarget(url, loc);
        // A redirect to another origin is the CDN: the metadata is on this response.
        if (next.origin !== url.origin) {
          if (!this.allowed(next.host)) throw new UpstreamError('redirect', `upstream redirected to unexpected host ${next.host}; allow it with ${REDIRECT_SETTING}`);
          return this.metadataFrom(h, commit, linked, next, res.statusCode);
        }
        // Judging one repository (deny lists, pins, licence) while serving another's bytes is refused.
        const moved = redirectedRepo(t, next);
        if (moved !== null) {
          // The Hub's answer for a renamed repository's old name: the client is sent to the
          // current name, where the gateway judges it afresh. Anything else is refused.
          if (isResolveOfOther(t, next)) throw new UpstreamError('moved', `upstream says ${repoLabel(t)} is now ${moved}`, res.statusCode, {}, next.pathname + next.search);
          throw new UpstreamError('redirect', `upstream redirected ${repoLabel(t)} to ${moved} (a renamed or moved repository); request it by its current name, so that the policy judges the repository whose bytes are served`);
        }
        url = next;
        continue;
      }
      if (res.statusCode >= 400) throw new UpstreamError('status', `upstream answered ${res.statusCode}`, res.statusCode, pickErrorHeaders(h));
      // 204, 206, 304, a redirect without a location...: not an answer about the file.
      if (res.statusCode !== 200) throw new UpstreamError('protocol', `upstream answered ${res.statusCode} to the metadata request (expected 200 or a redirect)`, res.statusCode);
      return this.metadataFrom(h, commit, linked, url, res.statusCode);
    }
    throw new UpstreamError('redirect', 'too many upstream redirects');
  }

  private metadataFrom(h: Dispatcher.ResponseData['headers'], commit: string | undefined, linked: string | null, location: URL, status: number): FileMetadata {
    if (!commit || !HEX40.test(commit)) throw new UpstreamError('protocol', `upstream response (${status}) lacks a valid X-Repo-Commit`);
    const etag = unquote(header(h, 'etag'));
    const sizeText = header(h, 'x-linked-size') ?? header(h, 'content-length');
    const size = sizeText === undefined ? NaN : Number(sizeText);
    if (!Number.isSafeInteger(size) || size < 0) throw new UpstreamError('protocol', 'upstream response lacks a valid size');
    const lfs = linked !== null;
    if (lfs && !HEX64.test(linked)) throw new UpstreamError('protocol', 'upstream X-Linked-Etag is not a sha256');
    if (!etag && !lfs) throw new UpstreamError('protocol', 'upstream response lacks an ETag');
    return { commit, etag: etag ?? linked!, linkedEtag: linked, size, location: location.toString(), lfs };
  }

  /**
   * Stream a file's bytes to `sink`; follows redirects to allowed hosts only. Bounded overall by
   * the download deadline, not only per read: a body that drips a byte before each read timeout
   * would otherwise hold the file (and every request waiting for it) forever.
   */
  async download(location: string, auth: Record<string, string>, expectedSize: number, sink: (chunk: Uint8Array) => Promise<void>): Promise<number> {
    const signal = AbortSignal.timeout(this.downloadTimeoutMs);
    let url = new URL(location);
    for (let hop = 0; hop < 5; hop++) {
      // Credentials go only to the upstream itself, never to a CDN.
      const res = await this.call(url, 'GET', credentialsFor(url, this.base, auth), undefined, signal);
      const loc = header(res.headers, 'location');
      if (res.statusCode >= 300 && res.statusCode < 400 && loc) {
        await res.body.dump();
        const next = redirectTarget(url, loc);
        if (!this.allowed(next.host)) throw new UpstreamError('redirect', `upstream redirected the download to unexpected host ${next.host}; allow it with ${REDIRECT_SETTING}`);
        url = next;
        continue;
      }
      if (res.statusCode !== 200) {
        await res.body.dump().catch(() => undefined);
        throw new UpstreamError('status', `upstream answered ${res.statusCode} to the download (expected 200)`, res.statusCode, pickErrorHeaders(res.headers));
      }
      const enc = header(res.headers, 'content-encoding');
      if (enc && enc !== 'identity') {
        await res.body.dump();
        throw new UpstreamError('protocol', `upstream sent content-encoding ${enc}`);
      }
      let n = 0;
      try {
        for await (const chunk of res.body) {
          n += (chunk as Buffer).length;
          if (n > expectedSize) throw new UpstreamError('protocol', `upstream sent more than the announced ${expectedSize} bytes`);
          try {
            await sink(chunk as Buffer);
          } catch (e) {
            throw new SinkError(e);
          }
        }
      } catch (e) {
        if (e instanceof UpstreamError || e instanceof SinkError) {
          res.body.destroy();
          throw e;
        }
        if (signal.aborted) throw new UpstreamError('timeout', `upstream download exceeded the overall deadline of ${this.downloadTimeoutMs} ms after ${n} of ${expectedSize} bytes (downloadTimeoutMs)`);
        throw new UpstreamError('cut', `upstream download was cut after ${n} bytes: ${(e as Error).message}`);
      }
      if (n !== expectedSize) throw new UpstreamError('cut', `upstream download ended after ${n} of ${expectedSize} bytes`);
      return n;
    }
    throw new UpstreamError('redirect', 'too many redirects on download');
  }

  /**
   * An API call passed through (JSON). With `repo`, a same-origin redirect out of that
   * repository's API (a renamed or transferred repository) is refused, as for files: its licence
   * and the Hub's verdict would be another repository's, judged under the name asked for.
   */
  async api(method: 'GET' | 'POST', pathAndQuery: string, headers: Record<string, string>, body?: Buffer, repo?: RepoRef): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    // An answer is small: the per-read timeout bounds the whole of it, so a drip cannot hold it.
    const signal = AbortSignal.timeout(this.apiTimeoutMs);
    let url = new URL(pathAndQuery, this.base);
    for (let hop = 0; hop < 5; hop++) {
      const res = await this.call(url, method, headers, body, signal);
      const loc = header(res.headers, 'location');
      if (res.statusCode >= 300 && res.statusCode < 400 && loc) {
        await res.body.dump();
        const next = redirectTarget(url, loc);
        if (next.origin !== this.base.origin) throw new UpstreamError('redirect', `upstream API redirected to ${next.origin}`);
        if (repo && !withinRepoApi(repo, next)) {
          const other = apiRepoOf(next);
          if (other !== null) throw new UpstreamError('moved', `upstream says ${repoLabel(repo)} is now ${repoLabel(other)}`, res.statusCode, {}, next.pathname + next.search);
          throw new UpstreamError('redirect', `upstream redirected ${repoLabel(repo)} to ${printable(next.pathname)}; refused`);
        }
        url = next;
        continue;
      }
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
      // Bounded: a hostile or broken upstream must not fill the gateway's memory with one answer.
      const declared = Number(out['content-length']);
      if (Number.isFinite(declared) && declared > this.apiMaxBytes) {
        res.body.destroy();
        throw new UpstreamError('protocol', `upstream API answer of ${declared} bytes exceeds the ${this.apiMaxBytes}-byte limit (upstreamApiMaxBytes)`);
      }
      const chunks: Buffer[] = [];
      let n = 0;
      try {
        for await (const c of res.body) {
          n += (c as Buffer).length;
          if (n > this.apiMaxBytes) {
            res.body.destroy();
            throw new UpstreamError('protocol', `upstream API answer exceeds the ${this.apiMaxBytes}-byte limit (upstreamApiMaxBytes)`);
          }
          chunks.push(c as Buffer);
        }
      } catch (e) {
        if (e instanceof UpstreamError) throw e;
        if (signal.aborted) throw new UpstreamError('timeout', `upstream API answer took longer than ${this.apiTimeoutMs} ms (upstreamTimeoutMs)`);
        throw new UpstreamError('cut', `upstream API response was cut: ${(e as Error).message}`);
      }
      return { status: res.statusCode, headers: out, body: Buffer.concat(chunks) };
    }
    throw new UpstreamError('redirect', 'too many upstream API redirects');
  }
}

function pickErrorHeaders(h: Dispatcher.ResponseData['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['x-error-code', 'x-error-message', 'retry-after']) {
    const v = header(h, k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}
