/**
 * The crawler's client for a Hugging Face–compatible upstream: every request waits for the
 * shared limiter, 429/503 with Retry-After pause every worker, other transient failures are
 * retried here with exponential backoff before the job itself is failed and retried by BullMQ.
 * Redirects are followed by hand, like the gateway's upstream client (src/gateway/upstream.ts):
 * only to hosts we expect, and credentials never leave the upstream's own origin.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { sleep, type Limiter } from './limiter.js';
import { encodePath } from '../remote/target.js';
import { LimitedDispatcher } from './limited-dispatcher.js';
import { CrawlError, type RepoType } from './types.js';

export interface HubClientOptions {
  endpoint: string;
  /** Sent as a bearer token to the endpoint's origin only. Never logged. */
  token?: string | undefined;
  limiter: Limiter;
  /** Per request: connect, headers and each body read. */
  timeoutMs?: number;
  /** Extra hosts a resolve may redirect to (a CDN); see allowedHosts for the defaults. */
  redirectHosts?: readonly string[];
  /** Tries per request for network errors and 5xx (429/503 with Retry-After have their own budget). */
  maxAttempts?: number;
  /** Longest Retry-After honoured; a longer one is clamped (a hostile value must not park the fleet). */
  maxRetryAfterMs?: number;
  /** Base delay of the per-request exponential backoff. */
  backoffMs?: number;
  events?: HubClientEvents;
}

export interface HubClientEvents {
  request?(): void;
  status?(status: number): void;
  bytes?(n: number): void;
  pause?(ms: number, status: number): void;
}

export interface TreeEntry {
  type: 'file' | 'directory';
  path: string;
  size: number;
  /** Git blob id (of the LFS pointer for LFS files). */
  oid: string;
  lfs?: { oid: string; size: number };
}

export interface RepoInfo {
  sha: string;
  securityRepoStatus: unknown;
  license: string | null;
  needsRemoteCode: boolean;
}

const HEX40 = /^[0-9a-f]{40}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const MAX_JSON_BYTES = 64 << 20;
const MAX_PAGES = 10_000;



function header(h: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Retry-After as seconds or an HTTP date; null when absent or unusable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | null {
  if (value === undefined) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return null;
  return Math.max(0, t - now);
}

/** `<url>; rel="next"` from a Link header. */
export function nextLink(link: string | undefined): string | null {
  if (!link) return null;
  for (const part of link.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m && /\brel\s*=\s*"?next"?/i.test(m[2]!)) return m[1]!;
  }
  return null;
}

export { encodePath };

function apiPrefix(type: RepoType): string {
  return type === 'dataset' ? '/api/datasets' : '/api/models';
}

function loopbackAlias(host: string): string | null {
  const [name, port] = host.split(/:(?=\d+$)/);
  const alias = name === '127.0.0.1' ? 'localhost' : name === 'localhost' ? '127.0.0.1' : null;
  return alias === null ? null : port ? `${alias}:${port}` : alias;
}

/** What HttpRangeSource.open needs to reach this upstream the way the client does. */
export interface RangeAccess {
  dispatcher: Dispatcher;
  allowedHosts: string[];
  token?: string;
  tokenHost?: string;
}

type Response = { status: number; headers: Dispatcher.ResponseData['headers']; body: Dispatcher.ResponseData['body']; url: URL };

export class HubClient {
  readonly endpoint: URL;
  private readonly agent: Agent;
  private readonly limited: LimitedDispatcher;
  private readonly hosts: Set<string>;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly maxRetryAfterMs: number;
  private readonly backoffMs: number;

  constructor(private readonly opts: HubClientOptions) {
    try {
      this.endpoint = new URL(opts.endpoint.replace(/\/+$/, '') + '/');
    } catch {
      throw new CrawlError('invalid', `--endpoint: not a URL: ${opts.endpoint}`);
    }
    if (this.endpoint.protocol !== 'http:' && this.endpoint.protocol !== 'https:') throw new CrawlError('invalid', `--endpoint must be http(s), got ${this.endpoint.protocol}`);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 4);
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 15 * 60_000;
    this.backoffMs = opts.backoffMs ?? 500;
    this.agent = new Agent({ headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs, connectTimeout: Math.min(this.timeoutMs, 10_000), connections: 32 });
    this.hosts = new Set([this.endpoint.host, ...(opts.redirectHosts ?? [])]);
    const alias = loopbackAlias(this.endpoint.host);
    if (alias) this.hosts.add(alias);
    // Same pool as the API calls; only the limiter and the status accounting are added.
    this.limited = new LimitedDispatcher(this.agent, opts.limiter, {
      request: () => this.opts.events?.request?.(),
      status: (status, retryAfter) => {
        this.opts.events?.status?.(status);
        if (status !== 429 && status !== 503) return;
        const ms = this.pauseFor(status, parseRetryAfter(retryAfter), 1);
        if (ms === null) return;
        this.opts.events?.pause?.(ms, status);
        // The range source retries on its own; the pause only has to be in place before its next take().
        void this.opts.limiter.pause(ms).catch(() => undefined);
      },
    });
  }

  /**
   * For remote scans by range requests: a dispatcher that charges every request (redirect hops
   * included) to the shared limiter, the hosts redirects may lead to, and the token for the
   * endpoint's own host only.
   */
  rangeAccess(): RangeAccess {
    const base = this.endpoint.hostname;
    const cdn = base === 'huggingface.co' || base === 'hf.co' ? ['hf.co', '*.hf.co', '*.huggingface.co'] : [];
    return {
      dispatcher: this.limited,
      allowedHosts: [...this.hosts, ...cdn],
      ...(this.opts.token ? { token: this.opts.token, tokenHost: this.endpoint.host } : {}),
    };
  }

  /** How long a 429/503 stops every worker; null when it should not (a 503 without Retry-After is an ordinary 5xx). */
  private pauseFor(status: number, retryAfterMs: number | null, pauses: number): number | null {
    if (retryAfterMs === null && status !== 429) return null;
    return Math.min(this.maxRetryAfterMs, retryAfterMs ?? this.backoff(pauses));
  }

  /** huggingface.co serves LFS files from its CDNs under hf.co / huggingface.co subdomains. */
  private allowedHost(host: string): boolean {
    if (this.hosts.has(host)) return true;
    const base = this.endpoint.hostname;
    if (base === 'huggingface.co' || base === 'hf.co') return /(^|\.)(hf\.co|huggingface\.co)$/.test(host.replace(/:\d+$/, ''));
    return false;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** Body bytes read by a caller that streams a response itself (downloads). */
  countBytes(n: number): void {
    if (n > 0) this.opts.events?.bytes?.(n);
  }

  /**
   * One GET with the limiter, retries and pauses. Follows redirects when `follow` (to allowed
   * hosts); returns the final non-redirect response with its body unread.
   */
  async get(pathOrUrl: string | URL, opts: { signal?: AbortSignal | undefined; follow?: boolean; accept?: string } = {}): Promise<Response> {
    let url = typeof pathOrUrl === 'string' ? new URL(pathOrUrl.replace(/^\/+/, ''), this.endpoint) : pathOrUrl;
    let failures = 0;
    let pauses = 0;
    for (let hop = 0; hop < 10; ) {
      await this.opts.limiter.take(opts.signal);
      this.opts.events?.request?.();
      let res: Dispatcher.ResponseData;
      try {
        const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': 'modelgate-crawler' };
        if (opts.accept) headers['accept'] = opts.accept;
        if (this.opts.token && url.origin === this.endpoint.origin) headers['authorization'] = `Bearer ${this.opts.token}`;
        res = await request(url, { method: 'GET', headers, dispatcher: this.agent, ...(opts.signal ? { signal: opts.signal } : {}) });
      } catch (e) {
        if (opts.signal?.aborted) throw e;
        failures++;
        const code = (e as { code?: string }).code ?? (e as Error).message;
        if (failures >= this.maxAttempts) throw new CrawlError('transient', `upstream unreachable (${url.host}: ${code}) after ${failures} tries`, null, { cause: e });
        await sleep(this.backoff(failures), opts.signal);
        continue;
      }
      this.opts.events?.status?.(res.statusCode);
      const status = res.statusCode;
      if (status >= 300 && status < 400 && opts.follow !== false) {
        const loc = header(res.headers, 'location');
        await res.body.dump();
        if (!loc) throw new CrawlError('protocol', `upstream answered ${status} without a Location`, status);
        const next = new URL(loc, url);
        if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new CrawlError('protocol', `upstream redirected to a ${next.protocol} URL`, status);
        if (!this.allowedHost(next.host)) throw new CrawlError('protocol', `upstream redirected to unexpected host ${next.host} (allow it with --redirect-host)`, status);
        url = next;
        hop++;
        continue;
      }
      if (status === 429 || status === 503) {
        const retryAfter = parseRetryAfter(header(res.headers, 'retry-after'));
        await res.body.dump();
        pauses++;
        if (pauses > 20) throw new CrawlError('transient', `upstream kept answering ${status} (${pauses} times)`, status);
        const ms = this.pauseFor(status, retryAfter, pauses);
        if (ms !== null) {
          // Everyone stops, not just this request: the limit is the upstream's, not ours.
          this.opts.events?.pause?.(ms, status);
          await this.opts.limiter.pause(ms);
          continue;
        }
      }
      if (status >= 500 || status === 408 || status === 429) {
        await res.body.dump();
        failures++;
        if (failures >= this.maxAttempts) throw new CrawlError('transient', `upstream answered ${status} for ${url.pathname} after ${failures} tries`, status);
        await sleep(this.backoff(failures), opts.signal);
        continue;
      }
      return { status, headers: res.headers, body: res.body, url };
    }
    throw new CrawlError('protocol', 'too many upstream redirects');
  }

  private backoff(n: number): number {
    const base = this.backoffMs * 2 ** Math.min(n - 1, 10);
    return Math.round(base / 2 + Math.random() * base);
  }

  private async readJson(res: Response): Promise<unknown> {
    const chunks: Buffer[] = [];
    let n = 0;
    try {
      for await (const c of res.body) {
        n += (c as Buffer).length;
        if (n > MAX_JSON_BYTES) {
          res.body.destroy();
          throw new CrawlError('protocol', `upstream JSON larger than ${MAX_JSON_BYTES} bytes (${res.url.pathname})`);
        }
        chunks.push(c as Buffer);
      }
    } catch (e) {
      if (e instanceof CrawlError) throw e;
      throw new CrawlError('transient', `upstream response cut (${res.url.pathname}): ${(e as Error).message}`, null, { cause: e });
    }
    this.opts.events?.bytes?.(n);
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      throw new CrawlError('protocol', `upstream sent invalid JSON for ${res.url.pathname}`, res.status, { cause: e });
    }
  }

  private async failOn(res: Response, what: string): Promise<never> {
    await res.body.dump();
    const code = header(res.headers, 'x-error-code');
    const msg = header(res.headers, 'x-error-message');
    const detail = `${what}: upstream answered ${res.status}${code ? ` ${code}` : ''}${msg ? ` (${msg.slice(0, 200)})` : ''}`;
    if (res.status === 404 || res.status === 401 || res.status === 403 || res.status === 410 || res.status === 451) throw new CrawlError('not-found', detail, res.status);
    throw new CrawlError('protocol', detail, res.status);
  }

  async getJson(path: string | URL, what: string, signal?: AbortSignal): Promise<{ body: unknown; headers: Dispatcher.ResponseData['headers'] }> {
    const res = await this.get(path, { signal, accept: 'application/json' });
    if (res.status !== 200) return this.failOn(res, what);
    return { body: await this.readJson(res), headers: res.headers };
  }

  /** `/api/models/{repo}/revision/{rev}?securityStatus=true`: the commit and the hub's own verdicts. */
  async repoInfo(type: RepoType, repo: string, revision: string, signal?: AbortSignal): Promise<RepoInfo> {
    const path = `${apiPrefix(type)}/${repo}/revision/${encodeURIComponent(revision)}?securityStatus=true`;
    const { body } = await this.getJson(path, `${type} ${repo}@${revision}`, signal);
    if (typeof body !== 'object' || body === null) throw new CrawlError('protocol', `repo info for ${repo} is not an object`);
    const b = body as Record<string, unknown>;
    const sha = b['sha'];
    if (typeof sha !== 'string' || !HEX40.test(sha)) throw new CrawlError('protocol', `repo info for ${repo} has no valid commit sha`);
    const tags = Array.isArray(b['tags']) ? (b['tags'] as unknown[]).filter((t): t is string => typeof t === 'string') : [];
    const card = typeof b['cardData'] === 'object' && b['cardData'] !== null ? (b['cardData'] as Record<string, unknown>) : {};
    const config = typeof b['config'] === 'object' && b['config'] !== null ? (b['config'] as Record<string, unknown>) : {};
    const licTag = tags.find((t) => t.startsWith('license:'));
    const license = typeof card['license'] === 'string' ? card['license'] : licTag ? licTag.slice('license:'.length) : null;
    // The hub tags repos whose config maps classes to code in the repo (auto_map) as custom_code.
    const needsRemoteCode = tags.includes('custom_code') || (typeof config['auto_map'] === 'object' && config['auto_map'] !== null);
    return { sha, securityRepoStatus: b['securityRepoStatus'] ?? null, license, needsRemoteCode };
  }

  /** Every file of a commit: recursive tree listing, following Link pagination on the same origin. */
  async listFiles(type: RepoType, repo: string, commit: string, opts: { signal?: AbortSignal; maxFiles: number }): Promise<TreeEntry[]> {
    let next: URL | null = new URL(`${apiPrefix(type)}/${repo}/tree/${encodeURIComponent(commit)}?recursive=true`.replace(/^\/+/, ''), this.endpoint);
    const out: TreeEntry[] = [];
    for (let page = 0; next !== null; page++) {
      if (page >= MAX_PAGES) throw new CrawlError('protocol', `tree of ${repo} has more than ${MAX_PAGES} pages`);
      const { body, headers } = await this.getJson(next, `tree of ${type} ${repo}@${commit}`, opts.signal);
      if (!Array.isArray(body)) throw new CrawlError('protocol', `tree of ${repo} is not a list`);
      for (const e of body as unknown[]) {
        const entry = parseTreeEntry(e);
        if (entry === null) throw new CrawlError('protocol', `tree of ${repo} has a malformed entry: ${JSON.stringify(e).slice(0, 200)}`);
        if (entry.type === 'file') out.push(entry);
        if (out.length > opts.maxFiles) throw new CrawlError('too-large', `${repo} has more than ${opts.maxFiles} files`);
      }
      const link = nextLink(header(headers, 'link'));
      if (link === null) next = null;
      else {
        const u = new URL(link, this.endpoint);
        if (u.origin !== this.endpoint.origin) throw new CrawlError('protocol', `tree pagination of ${repo} points to another origin (${u.origin})`);
        next = u;
      }
    }
    return out;
  }

  resolveUrl(type: RepoType, repo: string, commit: string, path: string): URL {
    return new URL(`${type === 'dataset' ? 'datasets/' : ''}${repo}/resolve/${encodeURIComponent(commit)}/${encodePath(path)}`, this.endpoint);
  }

  /** The repo listing (`/api/models?author=&search=`), page by page, with the commit when the upstream gives it. */
  async *listRepos(type: RepoType, q: { author?: string; search?: string; limit?: number }, signal?: AbortSignal): AsyncGenerator<{ id: string; sha: string | null }> {
    const params = new URLSearchParams();
    if (q.author) params.set('author', q.author);
    if (q.search) params.set('search', q.search);
    // full=true makes both the hub and our local hub include `sha`, so jobs can be keyed by commit.
    params.set('full', 'true');
    params.set('limit', String(q.limit ?? 1000));
    let next: URL | null = new URL(`${apiPrefix(type).slice(1)}?${params.toString()}`, this.endpoint);
    for (let page = 0; next !== null; page++) {
      if (page >= MAX_PAGES) throw new CrawlError('protocol', `repo listing has more than ${MAX_PAGES} pages`);
      const { body, headers } = await this.getJson(next, `${type} listing`, signal);
      if (!Array.isArray(body)) throw new CrawlError('protocol', 'repo listing is not a list');
      for (const item of body as unknown[]) {
        if (typeof item !== 'object' || item === null) continue;
        const id = (item as { id?: unknown }).id;
        const sha = (item as { sha?: unknown }).sha;
        if (typeof id !== 'string') continue;
        yield { id, sha: typeof sha === 'string' && HEX40.test(sha) ? sha : null };
      }
      const link = nextLink(header(headers, 'link'));
      if (link === null) next = null;
      else {
        const u = new URL(link, this.endpoint);
        if (u.origin !== this.endpoint.origin) throw new CrawlError('protocol', `listing pagination points to another origin (${u.origin})`);
        next = u;
      }
    }
  }
}

function parseTreeEntry(e: unknown): TreeEntry | null {
  if (typeof e !== 'object' || e === null) return null;
  const o = e as Record<string, unknown>;
  const type = o['type'];
  const path = o['path'];
  const size = o['size'];
  const oid = o['oid'];
  if ((type !== 'file' && type !== 'directory') || typeof path !== 'string' || path === '' || typeof oid !== 'string') return null;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return null;
  const out: TreeEntry = { type, path, size, oid };
  const lfs = o['lfs'];
  if (type === 'file' && typeof lfs === 'object' && lfs !== null) {
    const l = lfs as Record<string, unknown>;
    if (typeof l['oid'] !== 'string' || !HEX64.test(l['oid']) || typeof l['size'] !== 'number') return null;
    out.lfs = { oid: l['oid'], size: l['size'] };
  }
  return out;
}
