/**
 * One HTTP GET with a single byte range, as the range source needs it: redirects followed by
 * hand so that each hop's host is checked, credentials only for the host they belong to,
 * bodies never decompressed, and every way an upstream can answer classified into a value the
 * caller can act on (retry, fall back, or fail closed).
 */
import { request, type Dispatcher } from 'undici';
import { Transient } from '../ranged.js';
import { SourceError } from '../types.js';

export { Transient };

/** Why a remote read failed; carried in `SourceError.details.fault` so reports and tests can tell faults apart. */
export type HttpFault =
  | 'status'
  | 'unreachable'
  | 'timeout'
  | 'cut'
  | 'redirect-host'
  | 'redirect-loop'
  | 'wrong-range'
  | 'size-mismatch'
  | 'short-body'
  | 'long-body'
  | 'encoding'
  | 'no-size'
  | 'ignored-range'
  | 'ignored-range-too-large';

export function httpError(fault: HttpFault, message: string, details: Record<string, string | number> = {}): SourceError {
  return new SourceError('io', message, { fault, ...details });
}

export function faultOf(e: SourceError): HttpFault | null {
  const f = e.details['fault'];
  return typeof f === 'string' ? (f as HttpFault) : null;
}

export interface HostPolicy {
  /** Where credentials may go: `host[:port]` of the endpoint. */
  tokenHost: string | null;
  token: string | null;
  /** Besides the first URL's own host: `host`, `host:port` or `*.suffix`. */
  allowedHosts: readonly string[];
}

/**
 * Same host (and port) as the URL the user gave, or on the allow list. An https origin never
 * follows a redirect to plain http: the bytes could then be changed on the way.
 */
export function hostAllowed(next: URL, origin: URL, allowed: readonly string[]): boolean {
  if (next.protocol !== 'https:' && next.protocol !== 'http:') return false;
  if (origin.protocol === 'https:' && next.protocol !== 'https:') return false;
  if (next.host === origin.host) return true;
  const host = next.host.toLowerCase();
  const name = next.hostname.toLowerCase();
  for (const raw of allowed) {
    const a = raw.trim().toLowerCase();
    if (a.startsWith('*.')) {
      if (name.endsWith(a.slice(1))) return true;
    } else if (a === host || a === name) return true;
  }
  return false;
}

/** Strips query and fragment: signed CDN URLs carry credentials in their query. */
export function displayUrl(u: URL | string): string {
  const url = typeof u === 'string' ? new URL(u) : u;
  return `${url.origin}${url.pathname}`;
}

export type RangeAnswer =
  | { kind: 'partial'; start: number; end: number; total: number | null; body: Dispatcher.ResponseData['body']; url: URL }
  | { kind: 'whole'; length: number | null; body: Dispatcher.ResponseData['body']; url: URL }
  | { kind: 'unsatisfiable'; total: number | null; url: URL };

function header(h: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

export function parseContentRange(v: string | undefined): { start: number; end: number; total: number | null } | 'unsatisfied' | null {
  if (v === undefined) return null;
  const m = /^\s*bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)\s*$/i.exec(v);
  if (!m) return null;
  const total = m[3] === '*' ? null : Number(m[3]);
  if (m[1] === undefined) return 'unsatisfied';
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return null;
  if (total !== null && (!Number.isSafeInteger(total) || end >= total)) return null;
  return { start, end, total };
}

function retryAfterMs(h: Dispatcher.ResponseData['headers']): number | null {
  const v = header(h, 'retry-after');
  if (v === undefined) return null;
  const n = Number(v);
  if (Number.isFinite(n) && n >= 0) return n * 1000;
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - Date.now()) : null;
}

export interface GetRange {
  /** Display name, first in every message. */
  name: string;
  /** The URL to start from (a cached redirect target, or the original). */
  url: URL;
  /** The URL the user gave: its host is always allowed. */
  origin: URL;
  start: number;
  /** Inclusive, as in the Range header. */
  end: number;
  policy: HostPolicy;
  dispatcher: Dispatcher;
  /** Counts every HTTP request sent, redirect hops included. */
  onRequest: () => void;
  maxRedirects?: number;
}

/**
 * Sends `Range: bytes=start-end` and follows redirects to allowed hosts. The body is returned
 * unread for 206 and 200; every other outcome is a thrown SourceError (or Transient).
 */
export async function getRange(g: GetRange): Promise<RangeAnswer> {
  let url = g.url;
  const hops = g.maxRedirects ?? 5;
  for (let hop = 0; hop <= hops; hop++) {
    const headers: Record<string, string> = {
      range: `bytes=${g.start}-${g.end}`,
      'accept-encoding': 'identity',
      'user-agent': 'modelgate',
    };
    if (g.policy.token !== null && g.policy.tokenHost !== null && url.host === g.policy.tokenHost) headers['authorization'] = `Bearer ${g.policy.token}`;
    let res: Dispatcher.ResponseData;
    g.onRequest();
    try {
      res = await request(url, { method: 'GET', headers, dispatcher: g.dispatcher });
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      const where = displayUrl(url);
      if (code.includes('TIMEOUT')) throw new Transient(httpError('timeout', `${g.name}: timed out waiting for ${where}`));
      throw new Transient(httpError('unreachable', `${g.name}: cannot reach ${url.host}: ${code || (e as Error).message}`));
    }
    const h = res.headers;
    const status = res.statusCode;
    if (status >= 300 && status < 400) {
      await res.body.dump().catch(() => undefined);
      const loc = header(h, 'location');
      if (loc === undefined) throw httpError('status', `${g.name}: ${displayUrl(url)} answered ${status} without a Location`, { status });
      let next: URL;
      try {
        next = new URL(loc, url);
      } catch {
        throw httpError('redirect-host', `${g.name}: ${displayUrl(url)} redirected to an invalid location`, { status });
      }
      if (!hostAllowed(next, g.origin, g.policy.allowedHosts)) {
        throw httpError('redirect-host', `${g.name}: redirected to unexpected host ${next.host} (allowed: ${[g.origin.host, ...g.policy.allowedHosts].join(', ')})`, { status, host: next.host });
      }
      url = next;
      continue;
    }
    const enc = header(h, 'content-encoding');
    if ((status === 200 || status === 206) && enc !== undefined && enc.toLowerCase() !== 'identity') {
      await res.body.dump().catch(() => undefined);
      throw httpError('encoding', `${g.name}: ${displayUrl(url)} sent content-encoding ${enc} although identity was asked for`);
    }
    if (status === 206) {
      const cr = parseContentRange(header(h, 'content-range'));
      if (cr === null || cr === 'unsatisfied') {
        await res.body.dump().catch(() => undefined);
        throw httpError('wrong-range', `${g.name}: ${displayUrl(url)} answered 206 without a valid Content-Range (${header(h, 'content-range') ?? 'none'})`);
      }
      return { kind: 'partial', ...cr, body: res.body, url };
    }
    if (status === 200) {
      const cl = header(h, 'content-length');
      const length = cl === undefined ? null : Number(cl);
      return { kind: 'whole', length: length !== null && Number.isSafeInteger(length) && length >= 0 ? length : null, body: res.body, url };
    }
    await res.body.dump().catch(() => undefined);
    if (status === 416) {
      return { kind: 'unsatisfiable', total: totalOf(header(h, 'content-range')), url };
    }
    const msg = header(h, 'x-error-message');
    const err = httpError('status', `${g.name}: ${displayUrl(url)} answered ${status}${msg ? `: ${msg.slice(0, 200)}` : ''}`, { status });
    if (status === 408 || status === 429 || status >= 500) throw new Transient(err, retryAfterMs(h));
    throw err;
  }
  throw httpError('redirect-loop', `${g.name}: more than ${hops} redirects from ${displayUrl(g.origin)}`);
}

function totalOf(v: string | undefined): number | null {
  const m = v === undefined ? null : /\/(\d+)\s*$/.exec(v);
  return m ? Number(m[1]) : null;
}
