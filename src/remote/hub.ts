/**
 * The one client for a Hugging Face–compatible Hub API, shared by remote scans (`scan hf://…`)
 * and the crawler, so both read the same answers the same way. Every request waits for the
 * limiter (the crawler's is shared through Redis, a scan's is its own): a 429, or a 503 with
 * Retry-After, pauses everyone behind it, and other transient failures are retried here with
 * exponential backoff. Redirects are followed by hand, only to hosts downloads may use too, and
 * the token never leaves the endpoint's origin. Failures are values with a kind: what one means
 * is the caller's to say (a usage error for the CLI, a retried or failed job for the crawler).
 */
import { Agent, request, type Dispatcher } from 'undici';
import { hostAllowed } from '../source/http.js';
import { nextLink, parseListedRepo, parseRepoInfo, parseRetryAfter, parseTreeFile, type ListedRepo, type RepoInfo, type TreeEntry } from './hub-answers.js';
import { LimitedDispatcher } from './limited-dispatcher.js';
import { LocalLimiter, sleep, type Limiter } from './limiter.js';
import { apiPrefix, encodePath, loopbackAlias, resolvePrefix, type RepoKind } from './target.js';

export type { ListedRepo, RepoInfo, TreeEntry };

export type HubErrorKind =
  /** Unreachable, timed out, or the answer was cut: a later try may work. */
  | 'network'
  /** 5xx, 408 or 429 that outlived the retries: a later try may work. */
  | 'unavailable'
  /** 404, 410, 451. */
  | 'not-found'
  /** 401, 403: gated or private for this token. */
  | 'auth'
  /** Any other status the call does not expect. */
  | 'status'
  /** An answer that breaks the API: not JSON, no commit, a redirect or next page to an untrusted place. */
  | 'protocol'
  /** More files than the caller allows. */
  | 'limit';

export interface HubError {
  kind: HubErrorKind;
  message: string;
  /** The HTTP status behind the error, if any. */
  status: number | null;
}

export type HubResult<T> = { ok: true; value: T } | { ok: false; error: HubError };

export interface HubClientOptions {
  /** The API root, from parseEndpoint. */
  endpoint: URL;
  /** Sent as a bearer token to the endpoint's origin only. Never logged. */
  token?: string | null | undefined;
  /** Taken before every request, range requests through rangeAccess() included; default: one of this client's own. */
  limiter?: Limiter | undefined;
  /** Per request: connect, headers and each body read. */
  timeoutMs?: number | undefined;
  /** Hosts besides the endpoint's that redirects may lead to (`host`, `host:port`, `*.suffix`); huggingface.co's CDNs are added for it. */
  redirectHosts?: readonly string[] | undefined;
  /** Treat 127.0.0.1 and localhost as one host: the local hub's CDN redirects use the other name. */
  loopbackAlias?: boolean | undefined;
  /** Tries per request for network errors and 5xx (429/503 with Retry-After have their own budget). */
  maxAttempts?: number | undefined;
  /** Longest Retry-After honoured; a longer one is clamped (a hostile value must not park the caller). */
  maxRetryAfterMs?: number | undefined;
  /** Base delay of the per-request exponential backoff. */
  backoffMs?: number | undefined;
  events?: HubClientEvents | undefined;
}

export interface HubClientEvents {
  request?(): void;
  status?(status: number): void;
  bytes?(n: number): void;
  pause?(ms: number, status: number): void;
}

/** What HttpRangeSource.open needs to reach this upstream the way the client does. */
export interface RangeAccess {
  dispatcher: Dispatcher;
  allowedHosts: string[];
  token?: string;
  tokenHost?: string;
}

/** Where huggingface.co sends LFS and Xet downloads. */
const HF_CDN_HOSTS = ['*.huggingface.co', '*.hf.co', 'hf.co'];
const MAX_JSON_BYTES = 64 << 20;
const MAX_PAGES = 10_000;
const MAX_REDIRECTS = 10;
const MAX_PAUSES = 20;
/** A listing is held in memory. */
const MAX_FILES = 200_000;

type Answer = { status: number; headers: Dispatcher.ResponseData['headers']; body: Dispatcher.ResponseData['body']; url: URL };

function fail(kind: HubErrorKind, message: string, status: number | null = null): { ok: false; error: HubError } {
  return { ok: false, error: { kind, message, status } };
}

function header(h: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The kind of an unexpected status, for API answers and downloads alike. */
export function statusKind(status: number): HubErrorKind {
  if (status === 404 || status === 410 || status === 451) return 'not-found';
  if (status === 401 || status === 403) return 'auth';
  if (status >= 500 || status === 408 || status === 429) return 'unavailable';
  return 'status';
}

export class HubClient {
  readonly endpoint: URL;
  private readonly token: string | null;
  private readonly limiter: Limiter;
  private readonly agent: Agent;
  private readonly limited: LimitedDispatcher;
  private readonly redirectHosts: string[];
  private readonly maxAttempts: number;
  private readonly maxRetryAfterMs: number;
  private readonly backoffMs: number;
  private readonly events: HubClientEvents;

  constructor(opts: HubClientOptions) {
    this.endpoint = new URL(opts.endpoint.href.replace(/\/*$/, '/'));
    this.token = opts.token || null;
    this.limiter = opts.limiter ?? new LocalLimiter();
    this.events = opts.events ?? {};
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 4);
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 15 * 60_000;
    this.backoffMs = opts.backoffMs ?? 500;
    const timeoutMs = opts.timeoutMs ?? 30_000;
    this.agent = new Agent({ headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connectTimeout: Math.min(timeoutMs, 10_000), connections: 32 });
    const cdn = /(^|\.)(huggingface\.co|hf\.co)$/.test(this.endpoint.hostname) ? HF_CDN_HOSTS : [];
    const alias = opts.loopbackAlias ? loopbackAlias(this.endpoint.host) : null;
    this.redirectHosts = [...cdn, ...(alias !== null ? [alias] : []), ...(opts.redirectHosts ?? [])];
    // Same pool as the API calls; only the limiter and the status accounting are added.
    this.limited = new LimitedDispatcher(this.agent, this.limiter, {
      request: () => this.events.request?.(),
      status: (status, retryAfter) => {
        this.events.status?.(status);
        if (status !== 429 && status !== 503) return;
        const ms = this.pauseFor(status, parseRetryAfter(retryAfter), 1);
        if (ms === null) return;
        this.events.pause?.(ms, status);
        // The range source retries on its own; the pause only has to be in place before its next take().
        void this.limiter.pause(ms).catch(() => undefined);
      },
    });
  }

  /** For scans by range requests: every request charged to the limiter, the same redirect hosts, the token for the endpoint's host only. */
  rangeAccess(): RangeAccess {
    return {
      dispatcher: this.limited,
      allowedHosts: [...this.redirectHosts],
      ...(this.token !== null ? { token: this.token, tokenHost: this.endpoint.host } : {}),
    };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** Body bytes read by a caller that streams a response itself (downloads). */
  countBytes(n: number): void {
    if (n > 0) this.events.bytes?.(n);
  }

  resolveUrl(kind: RepoKind, repo: string, commit: string, path: string): URL {
    return this.api(`${resolvePrefix(kind)}${repo}/resolve/${encodeURIComponent(commit)}/${encodePath(path)}`);
  }

  /** The commit a revision names (a 40-hex revision is asked too, so that it is known to exist); with `securityStatus`, the hub's own verdicts. */
  async repoInfo(kind: RepoKind, repo: string, revision: string, opts: { securityStatus?: boolean; signal?: AbortSignal | undefined } = {}): Promise<HubResult<RepoInfo>> {
    const what = `${kind} ${repo}@${revision}`;
    const r = await this.getJson(this.api(`${apiPrefix(kind)}${repo}/revision/${encodeURIComponent(revision)}${opts.securityStatus ? '?securityStatus=true' : ''}`), what, opts.signal);
    if (!r.ok) return r;
    const info = parseRepoInfo(r.value.body);
    return info === null ? fail('protocol', `${what}: the API gave no commit sha`) : { ok: true, value: info };
  }

  /** Every file at a commit, in listing order; under `path` when given, which may also name one file. */
  async listFiles(kind: RepoKind, repo: string, commit: string, opts: { path?: string; maxFiles?: number; signal?: AbortSignal | undefined } = {}): Promise<HubResult<TreeEntry[]>> {
    const path = opts.path ?? '';
    const maxFiles = opts.maxFiles ?? MAX_FILES;
    const what = `listing ${kind} ${repo}@${commit.slice(0, 12)}${path ? `/${path}` : ''}`;
    const sub = path === '' ? '' : `/${encodePath(path)}`;
    const files: TreeEntry[] = [];
    for await (const page of this.pages(this.api(`${apiPrefix(kind)}${repo}/tree/${encodeURIComponent(commit)}${sub}?recursive=true`), what, opts.signal)) {
      if (!page.ok) {
        // The tree API answers 404 for a path that names a file rather than a directory.
        if (page.error.kind === 'not-found' && path !== '' && files.length === 0) return this.singleFile(kind, repo, commit, path, opts);
        return page;
      }
      for (const e of page.value) {
        const f = parseTreeFile(e);
        if (f === 'malformed') return fail('protocol', `${what}: malformed entry ${JSON.stringify(e).slice(0, 200)}`);
        if (f === null) continue;
        files.push(f);
        if (files.length > maxFiles) return fail('limit', `${what}: more than ${maxFiles} files`);
      }
    }
    return { ok: true, value: files };
  }

  private async singleFile(kind: RepoKind, repo: string, commit: string, path: string, opts: { maxFiles?: number; signal?: AbortSignal | undefined }): Promise<HubResult<TreeEntry[]>> {
    const slash = path.lastIndexOf('/');
    const r = await this.listFiles(kind, repo, commit, { ...opts, path: slash < 0 ? '' : path.slice(0, slash) });
    if (!r.ok) return r;
    const f = r.value.find((x) => x.path === path);
    return f ? { ok: true, value: [f] } : fail('not-found', `${repo}@${commit.slice(0, 12)}: no file or directory ${path}`);
  }

  /** The repo listing (`/api/models?author=&search=`) with the commit when the upstream gives it; an error ends it. */
  async *listRepos(kind: RepoKind, q: { author?: string; search?: string; limit?: number }, signal?: AbortSignal): AsyncGenerator<HubResult<ListedRepo>> {
    const params = new URLSearchParams();
    if (q.author) params.set('author', q.author);
    if (q.search) params.set('search', q.search);
    // full=true makes both the hub and our local hub include `sha`, so jobs can be keyed by commit.
    params.set('full', 'true');
    params.set('limit', String(q.limit ?? 1000));
    for await (const page of this.pages(this.api(`${apiPrefix(kind).slice(0, -1)}?${params.toString()}`), `${kind} listing`, signal)) {
      if (!page.ok) {
        yield page;
        return;
      }
      for (const item of page.value) {
        const repo = parseListedRepo(item);
        if (repo !== null) yield { ok: true, value: repo };
      }
    }
  }

  private api(path: string): URL {
    return new URL(path.replace(/^\/+/, ''), this.endpoint);
  }

  /** The pages of a listing, following `Link: rel="next"` within the endpoint's origin; an error ends them. */
  private async *pages(first: URL, what: string, signal: AbortSignal | undefined): AsyncGenerator<HubResult<unknown[]>> {
    const seen = new Set<string>();
    let url: URL | null = first;
    while (url !== null) {
      seen.add(url.href);
      const r = await this.page(url, what, signal);
      if (!r.ok) {
        yield r;
        return;
      }
      yield { ok: true, value: r.value.items };
      url = r.value.next;
      // A listing that goes round, or on without end, would hold its caller forever.
      const stuck = url === null ? null : seen.has(url.href) ? 'the next link points back to a page already read' : seen.size >= MAX_PAGES ? `more than ${MAX_PAGES} pages` : null;
      if (stuck !== null) {
        yield fail('protocol', `${what}: ${stuck}`);
        return;
      }
    }
  }

  private async page(url: URL, what: string, signal: AbortSignal | undefined): Promise<HubResult<{ items: unknown[]; next: URL | null }>> {
    const r = await this.getJson(url, what, signal);
    if (!r.ok) return r;
    const { body, link } = r.value;
    if (!Array.isArray(body)) return fail('protocol', `${what}: the answer is not a list`);
    if (link === null) return { ok: true, value: { items: body as unknown[], next: null } };
    let next: URL;
    try {
      next = new URL(link, url);
    } catch {
      return fail('protocol', `${what}: the next link is not a URL`);
    }
    if (next.origin !== this.endpoint.origin) return fail('protocol', `${what}: the next page is on ${next.origin}; only ${this.endpoint.origin} is trusted`);
    return { ok: true, value: { items: body as unknown[], next } };
  }

  private async getJson(url: URL, what: string, signal: AbortSignal | undefined): Promise<HubResult<{ body: unknown; link: string | null }>> {
    const r = await this.get(url, what, signal);
    if (!r.ok) return r;
    const res = r.value;
    if (res.status !== 200) {
      await res.body.dump().catch(() => undefined);
      const code = header(res.headers, 'x-error-code');
      const msg = header(res.headers, 'x-error-message');
      return fail(statusKind(res.status), `${what}: ${res.status}${code ? ` ${code}` : ''}${msg ? ` (${msg.slice(0, 200)})` : ''}`, res.status);
    }
    const chunks: Buffer[] = [];
    let n = 0;
    try {
      for await (const c of res.body as AsyncIterable<Buffer>) {
        n += c.length;
        if (n > MAX_JSON_BYTES) {
          res.body.destroy();
          return fail('protocol', `${what}: the answer is larger than ${MAX_JSON_BYTES} bytes`);
        }
        chunks.push(c);
      }
    } catch (e) {
      if (signal?.aborted) throw e;
      return fail('network', `${what}: the answer was cut (${(e as Error).message})`);
    }
    this.events.bytes?.(n);
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return fail('protocol', `${what}: the answer is not JSON`, res.status);
    }
    return { ok: true, value: { body, link: nextLink(header(res.headers, 'link')) } };
  }

  /**
   * One GET with the limiter, retries, pauses and redirects; the final answer has its body
   * unread. Rejects only when `signal` aborts or the limiter fails.
   */
  private async get(first: URL, what: string, signal: AbortSignal | undefined): Promise<HubResult<Answer>> {
    let url = first;
    let failures = 0;
    let pauses = 0;
    for (let hop = 0; hop <= MAX_REDIRECTS; ) {
      await this.limiter.take(signal);
      this.events.request?.();
      const headers: Record<string, string> = { accept: 'application/json', 'accept-encoding': 'identity', 'user-agent': 'modelgate' };
      if (this.token !== null && url.origin === this.endpoint.origin) headers['authorization'] = `Bearer ${this.token}`;
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, { method: 'GET', headers, dispatcher: this.agent, ...(signal ? { signal } : {}) });
      } catch (e) {
        if (signal?.aborted) throw e;
        failures++;
        const code = (e as { code?: string }).code ?? (e as Error).message;
        if (failures >= this.maxAttempts) return fail('network', `${what}: cannot reach ${url.host} (${code}) after ${failures} tries`);
        await sleep(this.backoff(failures), signal);
        continue;
      }
      const status = res.statusCode;
      this.events.status?.(status);
      if (status >= 300 && status < 400) {
        await res.body.dump().catch(() => undefined);
        const loc = header(res.headers, 'location');
        if (!loc) return fail('protocol', `${what}: ${status} without a Location`, status);
        let next: URL;
        try {
          next = new URL(loc, url);
        } catch {
          return fail('protocol', `${what}: redirected to an invalid location`, status);
        }
        if (!hostAllowed(next, this.endpoint, this.redirectHosts)) {
          return fail('protocol', `${what}: redirected to unexpected host ${next.host} (allowed: ${[this.endpoint.host, ...this.redirectHosts].join(', ')})`, status);
        }
        url = next;
        hop++;
        continue;
      }
      if (status === 429 || status === 503) {
        const retryAfter = parseRetryAfter(header(res.headers, 'retry-after'));
        await res.body.dump().catch(() => undefined);
        pauses++;
        if (pauses > MAX_PAUSES) return fail('unavailable', `${what}: ${url.host} kept answering ${status} (${pauses} times)`, status);
        const ms = this.pauseFor(status, retryAfter, pauses);
        if (ms !== null) {
          // Everyone behind the limiter stops, not just this request: the limit is the upstream's.
          this.events.pause?.(ms, status);
          await this.limiter.pause(ms);
          continue;
        }
      }
      if (status >= 500 || status === 408 || status === 429) {
        await res.body.dump().catch(() => undefined);
        failures++;
        if (failures >= this.maxAttempts) return fail('unavailable', `${what}: ${status} from ${url.host} after ${failures} tries`, status);
        await sleep(this.backoff(failures), signal);
        continue;
      }
      return { ok: true, value: { status, headers: res.headers, body: res.body, url } };
    }
    return fail('protocol', `${what}: more than ${MAX_REDIRECTS} redirects`);
  }

  /** How long a 429/503 stops everyone; null when it should not (a 503 without Retry-After is an ordinary 5xx). */
  private pauseFor(status: number, retryAfterMs: number | null, pauses: number): number | null {
    if (retryAfterMs === null && status !== 429) return null;
    return Math.min(this.maxRetryAfterMs, retryAfterMs ?? this.backoff(pauses));
  }

  private backoff(n: number): number {
    const base = this.backoffMs * 2 ** Math.min(n - 1, 10);
    return Math.round(base / 2 + Math.random() * base);
  }
}
