/**
 * The few Hub API calls a remote scan needs: a revision resolved to its commit, and the files
 * at that commit (tree listing, followed through its `Link: rel="next"` pages). API redirects
 * are followed on the endpoint's own host only, and the token goes nowhere else.
 */
import { request, type Dispatcher } from 'undici';
import { apiPrefix, encodePath, resolvePrefix, type HubTarget } from './target.js';

export type HubErrorKind = 'not-found' | 'auth' | 'status' | 'network' | 'protocol' | 'limit';

export interface HubError {
  kind: HubErrorKind;
  message: string;
}

export type HubResult<T> = { ok: true; value: T } | { ok: false; error: HubError };

export interface RemoteFile {
  /** Repo-relative path. */
  path: string;
  size: number;
  /** sha256 of LFS files, else null. */
  lfsSha256: string | null;
}

export interface HubClientOptions {
  endpoint: URL;
  token: string | null;
  dispatcher: Dispatcher;
  /** Upper bound on files listed (a listing is held in memory). */
  maxFiles?: number;
  /** Counts API requests, for the report's totals. */
  onRequest?: () => void;
}

const HEX40 = /^[0-9a-f]{40}$/;

function header(h: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
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

export class HubClient {
  private readonly maxFiles: number;

  constructor(private readonly opts: HubClientOptions) {
    this.maxFiles = opts.maxFiles ?? 200_000;
  }

  /** Base URL for a repo's files at a commit: `{endpoint}/{prefix}{repo}/resolve/{commit}/`. */
  resolveUrl(t: HubTarget, commit: string, path: string): URL {
    return new URL(`${this.base()}${resolvePrefix(t.repoKind)}${t.repo}/resolve/${commit}/${encodePath(path)}`);
  }

  private base(): string {
    return this.opts.endpoint.href.replace(/\/+$/, '');
  }

  private async getJson(url: URL, what: string): Promise<HubResult<{ body: unknown; link: string | undefined }>> {
    for (let hop = 0; hop < 5; hop++) {
      const headers: Record<string, string> = { accept: 'application/json', 'accept-encoding': 'identity', 'user-agent': 'modelgate' };
      if (this.opts.token !== null && url.host === this.opts.endpoint.host) headers['authorization'] = `Bearer ${this.opts.token}`;
      let res: Dispatcher.ResponseData;
      this.opts.onRequest?.();
      try {
        res = await request(url, { method: 'GET', headers, dispatcher: this.opts.dispatcher });
      } catch (e) {
        const code = (e as { code?: string }).code ?? '';
        return { ok: false, error: { kind: 'network', message: `cannot reach ${url.host} for ${what}: ${code || (e as Error).message}` } };
      }
      const status = res.statusCode;
      if (status >= 300 && status < 400) {
        await res.body.dump().catch(() => undefined);
        const loc = header(res.headers, 'location');
        const next = loc ? new URL(loc, url) : null;
        if (!next || next.host !== this.opts.endpoint.host || next.protocol !== this.opts.endpoint.protocol) {
          return { ok: false, error: { kind: 'protocol', message: `${what}: the API redirected to ${next ? next.host : 'nowhere'}; only ${this.opts.endpoint.host} is trusted` } };
        }
        url = next;
        continue;
      }
      let text: string;
      try {
        text = await res.body.text();
      } catch (e) {
        return { ok: false, error: { kind: 'network', message: `${what}: response cut (${(e as Error).message})` } };
      }
      if (status !== 200) {
        const msg = header(res.headers, 'x-error-message') ?? '';
        const kind: HubErrorKind = status === 404 ? 'not-found' : status === 401 || status === 403 ? 'auth' : 'status';
        return { ok: false, error: { kind, message: `${what}: ${status}${msg ? ` ${msg.slice(0, 200)}` : ''}` } };
      }
      try {
        return { ok: true, value: { body: JSON.parse(text) as unknown, link: header(res.headers, 'link') } };
      } catch {
        return { ok: false, error: { kind: 'protocol', message: `${what}: the answer is not JSON` } };
      }
    }
    return { ok: false, error: { kind: 'protocol', message: `${what}: too many redirects` } };
  }

  /** The commit a revision names; a 40-hex revision is still asked, so that it is known to exist. */
  async resolveRevision(t: HubTarget): Promise<HubResult<string>> {
    const url = new URL(`${this.base()}${apiPrefix(t.repoKind)}${t.repo}/revision/${encodeURIComponent(t.revision)}`);
    const r = await this.getJson(url, `${t.repoKind} ${t.repo}@${t.revision}`);
    if (!r.ok) return r;
    const sha = (r.value.body as { sha?: unknown } | null)?.sha;
    if (typeof sha !== 'string' || !HEX40.test(sha)) return { ok: false, error: { kind: 'protocol', message: `${t.repo}@${t.revision}: the API gave no commit sha` } };
    return { ok: true, value: sha };
  }

  /** Every file at the commit (under `t.path` when set), in listing order. */
  async listFiles(t: HubTarget, commit: string): Promise<HubResult<RemoteFile[]>> {
    const sub = t.path === '' ? '' : `/${encodePath(t.path)}`;
    let url: URL | null = new URL(`${this.base()}${apiPrefix(t.repoKind)}${t.repo}/tree/${commit}${sub}?recursive=true`);
    const files: RemoteFile[] = [];
    const seenPages = new Set<string>();
    while (url !== null) {
      if (seenPages.has(url.href)) return { ok: false, error: { kind: 'protocol', message: `${t.repo}: the listing's next link points back to a page already read` } };
      seenPages.add(url.href);
      const r = await this.getJson(url, `listing ${t.repo}@${commit.slice(0, 12)}${t.path ? `/${t.path}` : ''}`);
      if (!r.ok) {
        // A path that names a file, not a directory: the tree API answers 404 for it.
        if (r.error.kind === 'not-found' && t.path !== '' && files.length === 0) return this.singleFile(t, commit);
        return r;
      }
      const body = r.value.body;
      if (!Array.isArray(body)) return { ok: false, error: { kind: 'protocol', message: `${t.repo}: the listing is not an array` } };
      for (const item of body as unknown[]) {
        const e = item as { type?: unknown; path?: unknown; size?: unknown; lfs?: { oid?: unknown; size?: unknown } | null };
        if (e.type !== 'file' || typeof e.path !== 'string') continue;
        const size = typeof e.lfs?.size === 'number' ? e.lfs.size : e.size;
        if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return { ok: false, error: { kind: 'protocol', message: `${t.repo}: no valid size for ${e.path}` } };
        const oid = e.lfs?.oid;
        files.push({ path: e.path, size, lfsSha256: typeof oid === 'string' ? oid.replace(/^sha256:/, '') : null });
        if (files.length > this.maxFiles) return { ok: false, error: { kind: 'limit', message: `${t.repo} lists more than ${this.maxFiles} files` } };
      }
      const next = nextLink(r.value.link);
      if (next === null) url = null;
      else {
        const u: URL = new URL(next, url);
        if (u.host !== this.opts.endpoint.host) return { ok: false, error: { kind: 'protocol', message: `${t.repo}: the listing's next page is on ${u.host}; only ${this.opts.endpoint.host} is trusted` } };
        url = u;
      }
    }
    return { ok: true, value: files };
  }

  private async singleFile(t: HubTarget, commit: string): Promise<HubResult<RemoteFile[]>> {
    const slash = t.path.lastIndexOf('/');
    const dir = slash < 0 ? '' : t.path.slice(0, slash);
    const parent: HubTarget = { ...t, path: dir };
    const r = await this.listFiles(parent, commit);
    if (!r.ok) return r;
    const f = r.value.find((x) => x.path === t.path);
    return f ? { ok: true, value: [f] } : { ok: false, error: { kind: 'not-found', message: `${t.repo}@${commit.slice(0, 12)}: no file or directory ${t.path}` } };
  }
}
