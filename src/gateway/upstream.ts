/**
 * The upstream hub client. Metadata comes from a HEAD that follows only same-host (relative)
 * redirects: the Hub puts X-Repo-Commit / X-Linked-Etag / X-Linked-Size on the 302 to its CDN,
 * which we read and then follow ourselves — the client never sees the CDN URL. Downloads follow
 * redirects only to expected hosts. Bodies are never decompressed (Accept-Encoding: identity).
 */
import { Agent, request, type Dispatcher } from 'undici';
import { encodePath, repoUrlPrefix, type ResolveTarget } from './paths.js';

export type UpstreamErrorKind = 'unreachable' | 'timeout' | 'status' | 'redirect' | 'protocol' | 'cut';

export class UpstreamError extends Error {
  constructor(
    readonly kind: UpstreamErrorKind,
    message: string,
    readonly status: number | null = null,
    readonly headers: Record<string, string> = {},
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
  redirectHosts: string[];
  timeoutMs: number;
}

export class Upstream {
  readonly base: URL;
  private readonly agent: Agent;
  private readonly allowed: Set<string>;

  constructor(opts: UpstreamOptions) {
    this.base = new URL(opts.base);
    this.agent = new Agent({ headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs, connectTimeout: Math.min(opts.timeoutMs, 10_000) });
    this.allowed = new Set([this.base.host, ...opts.redirectHosts]);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async call(url: URL, method: 'GET' | 'HEAD' | 'POST', headers: Record<string, string>, body?: string | Buffer): Promise<Dispatcher.ResponseData> {
    try {
      return await request(url, { method, headers: { 'accept-encoding': 'identity', 'user-agent': 'modelgate', ...headers }, ...(body !== undefined ? { body } : {}), dispatcher: this.agent });
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      if (code.includes('TIMEOUT')) throw new UpstreamError('timeout', `upstream timed out (${url.host})`);
      throw new UpstreamError('unreachable', `upstream unreachable (${url.host}: ${code || (e as Error).message})`);
    }
  }

  /** HEAD /{repo}/resolve/{rev}/{path}, following same-host redirects only. */
  async fileMetadata(t: ResolveTarget, auth: Record<string, string>): Promise<FileMetadata> {
    let url = new URL(`${repoUrlPrefix(t)}/resolve/${encodeURIComponent(t.revision)}/${encodePath(t.path)}`, this.base);
    for (let hop = 0; hop < 5; hop++) {
      const res = await this.call(url, 'HEAD', auth);
      await res.body.dump();
      const h = res.headers;
      const loc = header(h, 'location');
      const commit = header(h, 'x-repo-commit');
      const linked = unquote(header(h, 'x-linked-etag'));
      if (res.statusCode >= 300 && res.statusCode < 400 && loc) {
        const next = new URL(loc, url);
        // A cross-host redirect is the CDN: the metadata is on this response.
        if (next.host !== url.host) {
          if (!this.allowed.has(next.host)) throw new UpstreamError('redirect', `upstream redirected to unexpected host ${next.host}`);
          return this.metadataFrom(h, commit, linked, next, res.statusCode);
        }
        url = next;
        continue;
      }
      if (res.statusCode >= 400) throw new UpstreamError('status', `upstream answered ${res.statusCode}`, res.statusCode, pickErrorHeaders(h));
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

  /** Stream a file's bytes to `sink`; follows redirects to allowed hosts only. */
  async download(location: string, auth: Record<string, string>, expectedSize: number, sink: (chunk: Uint8Array) => Promise<void>): Promise<number> {
    let url = new URL(location);
    for (let hop = 0; hop < 5; hop++) {
      // Credentials go only to the upstream itself, never to a CDN.
      const res = await this.call(url, 'GET', url.host === this.base.host ? auth : {});
      const loc = header(res.headers, 'location');
      if (res.statusCode >= 300 && res.statusCode < 400 && loc) {
        await res.body.dump();
        const next = new URL(loc, url);
        if (!this.allowed.has(next.host)) throw new UpstreamError('redirect', `upstream redirected the download to unexpected host ${next.host}`);
        url = next;
        continue;
      }
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new UpstreamError('status', `upstream answered ${res.statusCode} to the download`, res.statusCode);
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
          await sink(chunk as Buffer);
        }
      } catch (e) {
        if (e instanceof UpstreamError) throw e;
        throw new UpstreamError('cut', `upstream download was cut after ${n} bytes: ${(e as Error).message}`);
      }
      if (n !== expectedSize) throw new UpstreamError('cut', `upstream download ended after ${n} of ${expectedSize} bytes`);
      return n;
    }
    throw new UpstreamError('redirect', 'too many redirects on download');
  }

  /** An API call passed through (JSON). */
  async api(method: 'GET' | 'POST', pathAndQuery: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    let url = new URL(pathAndQuery, this.base);
    for (let hop = 0; hop < 5; hop++) {
      const res = await this.call(url, method, headers, body);
      const loc = header(res.headers, 'location');
      if (res.statusCode >= 300 && res.statusCode < 400 && loc) {
        await res.body.dump();
        const next = new URL(loc, url);
        if (next.host !== this.base.host) throw new UpstreamError('redirect', `upstream API redirected to ${next.host}`);
        url = next;
        continue;
      }
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
      let buf: Buffer;
      try {
        buf = Buffer.from(await res.body.arrayBuffer());
      } catch (e) {
        throw new UpstreamError('cut', `upstream API response was cut: ${(e as Error).message}`);
      }
      return { status: res.statusCode, headers: out, body: buf };
    }
    throw new UpstreamError('redirect', 'too many upstream API redirects');
  }
}

function pickErrorHeaders(h: Dispatcher.ResponseData['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['x-error-code', 'x-error-message']) {
    const v = header(h, k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}
