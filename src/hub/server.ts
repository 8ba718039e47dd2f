/**
 * A read-only Hugging Face Hub over a directory of repositories: the routes and headers the real
 * clients use (see docs/hub.md and ../shared/docs/hub-protocol.md), plus opt-in fault injection so
 * a gateway can be tested against a real server misbehaving in known ways.
 *
 * Routing is done here rather than by fastify's router: repo ids have one or two segments, paths
 * contain slashes, and revisions arrive percent-encoded, so the raw request path is split on its
 * literal markers before anything is decoded.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { cardData, configSummary, fileStatus, repoStatus, securityFile, type SecurityFile } from './card.js';
import { Faults, parseFaultRules, type FaultRule } from './faults.js';
import { checkRelativePath, parseRoute, printableForMessage, truthy, type ApiAction, type RepoRef, type Route, type UrlError } from './paths.js';
import { AccessList, type RepoAccess } from './access.js';
import { Pace } from './pace.js';
import { RepoStore, gitBlobSha1, lfsPointer, treeId, type HubFile, type RepoSnapshot } from './store.js';

export interface HubServerOptions {
  /** The directory of repositories (see docs/hub.md for the layout). */
  dir: string;
  /** Entries per page of tree listings and repo listings (the hub uses 1000); small values force pagination. */
  pageSize?: number;
  /** Delay before every answer, in milliseconds (benchmarks of a distant upstream). */
  latencyMs?: number;
  /** Serve file bodies at most this fast (bytes per second; a distant upstream's link). Unlimited by default. */
  bytesPerSecond?: number;
  /** Fault rules active from the start. */
  faults?: FaultRule[];
  /** Gated and private repositories and the bearer tokens that may read them (docs/hub.md, Access). */
  access?: RepoAccess[];
  /** Expose `/-/hub/faults` and `/-/hub/requests` so another process can steer faults and count requests. */
  control?: boolean;
  /**
   * Answer LFS files like huggingface.co does: a 302 carrying the file's metadata to a CDN URL,
   * `/-/cdn/<sha256>` on `base`; by default this server under its other loopback name
   * (127.0.0.1 <-> localhost), so clients see another host. Exercises a gateway's redirect handling.
   */
  lfsRedirect?: boolean | { base: string };
  /** Base URL for absolute links (pagination, redirects); by default taken from the Host header. */
  publicUrl?: string;
  /** Hash every repo in the background at startup so the first request does not wait. */
  warm?: boolean;
  logger?: FastifyServerOptions['logger'];
}

export interface RequestRecord {
  method: string;
  /** The request target as sent, query included. */
  url: string;
  range: string | null;
  /** The status answered; null while the answer is still being sent, or if the connection was cut. */
  status: number | null;
  at: string;
}

export interface HubControl {
  store: RepoStore;
  faults: Faults;
  /** Every request except control requests, oldest first (the last 10,000). */
  requests: RequestRecord[];
  clearRequests(): void;
}

export type HubServer = FastifyInstance & { hub: HubControl };

type ErrorCode = 'RepoNotFound' | 'RevisionNotFound' | 'EntryNotFound' | 'GatedRepo';

const MAX_RECORDS = 10_000;
const MAX_PATHS_INFO = 1000;
const JSON_TYPE = 'application/json; charset=utf-8';

interface Ctx {
  pathname: string;
  query: URLSearchParams;
  record: RequestRecord | null;
}

/** Header values must be latin1 without CR/LF; messages are made printable ASCII and bounded. */
function headerSafe(s: string): string {
  const clean = s.replace(/[^\u0020-\u007e]/g, '?');
  return clean.length > 500 ? clean.slice(0, 500) : clean;
}

function fail(reply: FastifyReply, status: number, message: string, code?: ErrorCode, extra: Record<string, string> = {}): FastifyReply {
  reply.code(status).header('x-error-message', headerSafe(message)).header('content-type', JSON_TYPE);
  if (code) reply.header('x-error-code', code);
  for (const [k, v] of Object.entries(extra)) reply.header(k, v);
  return reply.send(JSON.stringify({ error: message }));
}

function urlError(reply: FastifyReply, e: UrlError): FastifyReply {
  return fail(reply, e.status, e.message);
}

function sendJson(reply: FastifyReply, body: unknown, status = 200): FastifyReply {
  return reply.code(status).header('content-type', JSON_TYPE).send(JSON.stringify(body));
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n`; null for anything else (which is then ignored, per RFC 9110). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (header === undefined) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return null;
  const [, a, b] = m;
  if (a === '' && b === '') return null;
  if (a === '') {
    const n = Number(b);
    if (n === 0) return 'unsatisfiable';
    return size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (!Number.isSafeInteger(start) || start >= size) return 'unsatisfiable';
  if (b !== '' && Number(b) < start) return null;
  return { start, end };
}

function contentDisposition(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const ascii = name.replace(/[^\u0020-\u007e]|["\\]/g, '_');
  return `inline; filename*=UTF-8''${encodeURIComponent(name)}; filename="${ascii}";`;
}

const POINTER_SIZE_CACHE = new WeakMap<HubFile, { text: string; sha1: string }>();

function pointerOf(f: HubFile): { text: string; sha1: string } {
  let p = POINTER_SIZE_CACHE.get(f);
  if (!p) {
    const text = lfsPointer(f.sha256, f.size);
    p = { text, sha1: gitBlobSha1(text) };
    POINTER_SIZE_CACHE.set(f, p);
  }
  return p;
}

/** The git object id the hub reports for a file: the pointer's blob for LFS files. */
function gitOid(f: HubFile): string {
  return f.lfs ? pointerOf(f).sha1 : f.blobSha1;
}

function lfsInfo(f: HubFile): { oid: string; size: number; pointerSize: number } {
  return { oid: f.sha256, size: f.size, pointerSize: Buffer.byteLength(pointerOf(f).text) };
}

function resolveHeaders(snap: RepoSnapshot, f: HubFile): Record<string, string> {
  const h: Record<string, string> = {
    'x-repo-commit': snap.commit,
    'accept-ranges': 'bytes',
    'content-type': 'application/octet-stream',
    'content-disposition': contentDisposition(f.path),
  };
  if (f.lfs) {
    h['etag'] = `"${f.sha256}"`;
    h['x-linked-etag'] = `"${f.sha256}"`;
    h['x-linked-size'] = String(f.size);
  } else {
    h['etag'] = `"${f.blobSha1}"`;
  }
  return h;
}

/** The hub's database id (24 hex, which the JS client reads as `id`); here stable per repo. */
function objectId(repo: RepoRef): string {
  return createHash('sha1').update(`${repo.kind}/${repo.id}`).digest('hex').slice(0, 24);
}

function encodeCursor(offset: number, commit: string | null): string {
  return Buffer.from(JSON.stringify({ o: offset, c: commit })).toString('base64url');
}

function decodeCursor(s: string | null): { offset: number; commit: string | null } | 'invalid' {
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

/** Flips the byte at an absolute file offset: same length, other content. */
class Corrupt extends Transform {
  private pos: number;
  private done = false;
  constructor(
    start: number,
    private readonly target: number,
  ) {
    super();
    this.pos = start;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!this.done && this.target < this.pos + chunk.length) {
      const copy = Buffer.from(chunk);
      const i = Math.max(0, this.target - this.pos);
      copy[i] = copy[i]! ^ 0xff;
      this.done = true;
      this.pos += chunk.length;
      cb(null, copy);
      return;
    }
    this.pos += chunk.length;
    cb(null, chunk);
  }
}

function writeChunk(res: import('node:http').ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    res.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}

export function createHubServer(options: HubServerOptions): HubServer {
  const pageSize = options.pageSize ?? 1000;
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError(`pageSize must be a positive integer, got ${pageSize}`);
  const store = new RepoStore(options.dir);
  const faults = new Faults(options.faults ?? []);
  const access = new AccessList(options.access ?? []);
  const requests: RequestRecord[] = [];
  const ctxOf = new WeakMap<FastifyRequest, Ctx>();

  const app = Fastify({
    logger: options.logger ?? false,
    // A stalled fault stream would otherwise keep close() waiting forever.
    forceCloseConnections: true,
    bodyLimit: 1 << 20,
    genReqId: () => randomBytes(8).toString('hex'),
    requestIdHeader: false,
    routerOptions: { maxParamLength: 16_384 },
    frameworkErrors: (error, _req, reply) => {
      void fail(reply, 400, `bad request: ${error.message}`);
    },
  });

  const control: HubControl = {
    store,
    faults,
    requests,
    clearRequests: () => {
      requests.length = 0;
    },
  };
  app.decorate('hub', control);

  app.addContentTypeParser(['application/x-www-form-urlencoded', 'text/plain'], { parseAs: 'string' }, (_req, body, done) => done(null, body));

  function baseUrl(req: FastifyRequest): string {
    if (options.publicUrl) return options.publicUrl.replace(/\/+$/, '');
    const host = req.headers.host;
    if (host && /^[A-Za-z0-9.-]+(?::\d+)?$|^\[[0-9A-Fa-f:.]+\](?::\d+)?$/.test(host)) return `${req.protocol}://${host}`;
    const addr = app.server.address() as AddressInfo | null;
    return addr ? `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` : 'http://localhost';
  }

  /**
   * The hub's CDN is another host, and clients treat it differently (Python follows same-host
   * redirects on HEAD but stops at another host's). On loopback the other name of the same
   * server plays the CDN: 127.0.0.1 <-> localhost.
   */
  function cdnBase(base: string): string {
    const u = new URL(base);
    if (u.hostname === '127.0.0.1') u.hostname = 'localhost';
    else if (u.hostname === 'localhost') u.hostname = '127.0.0.1';
    return u.origin;
  }

  function nextLink(req: FastifyRequest, ctx: Ctx, cursor: string, limit: number | null): string {
    const q = new URLSearchParams(ctx.query);
    q.set('cursor', cursor);
    if (limit !== null) q.set('limit', String(limit));
    return `<${baseUrl(req)}${ctx.pathname}?${q.toString()}>; rel="next"`;
  }

  app.addHook('onRequest', async (req, reply) => {
    const raw = req.raw.url ?? '/';
    const q = raw.indexOf('?');
    const pathname = q < 0 ? raw : raw.slice(0, q);
    const ctx: Ctx = { pathname, query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)), record: null };
    ctxOf.set(req, ctx);
    reply.header('x-request-id', req.id);
    const isControl = pathname.startsWith('/-/hub/');
    if (!isControl) {
      ctx.record = { method: req.method, url: raw, range: req.headers.range ?? null, status: null, at: new Date().toISOString() };
      requests.push(ctx.record);
      if (requests.length > MAX_RECORDS) requests.splice(0, requests.length - MAX_RECORDS);
    }
    // Writes are refused before any body is read: this hub is read-only.
    const method = req.method;
    if (method === 'GET' || method === 'HEAD') return;
    if (isControl && options.control) return;
    if (method === 'POST' && /^\/api\/(models|datasets)\/.+\/paths-info\/[^/]+$/.test(pathname)) return;
    reply.header('allow', 'GET, HEAD');
    return fail(reply, 405, 'This hub is read-only: uploads, commits and every other write are refused.');
  });

  app.addHook('onResponse', async (req, reply) => {
    const ctx = ctxOf.get(req);
    if (ctx?.record && ctx.record.status === null) ctx.record.status = reply.statusCode;
  });

  app.route({
    method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
    url: '/*',
    exposeHeadRoute: false,
    handler: async (req, reply) => {
      const ctx = ctxOf.get(req)!;
      const parsed = parseRoute(ctx.pathname);
      if (!parsed.ok) return urlError(reply, parsed.error);
      const first = parsed.value[0]!;
      if (first.kind === 'control') {
        if (!options.control) return fail(reply, 404, 'not found');
        return handleControl(req, reply, first.what);
      }

      const rule = faults.take(req.method, ctx.pathname);
      const delay = (options.latencyMs ?? 0) + (rule?.latencyMs ?? 0);
      if (delay > 0) await sleep(delay);
      if (rule?.action.kind === 'status') {
        const extra: Record<string, string> = {};
        if (rule.action.retryAfter !== undefined) extra['retry-after'] = String(rule.action.retryAfter);
        return fail(reply, rule.action.status, rule.action.message ?? `injected fault: ${rule.action.status}`, undefined, extra);
      }
      // Resolve redirects carry the file's metadata, like the hub's; any other route just moves.
      if (rule?.action.kind === 'redirect' && first.kind !== 'resolve') {
        return reply.code(rule.action.status ?? 302).header('location', rule.action.location.replace('{path}', req.raw.url ?? '/')).header('content-length', '0').send();
      }

      // The first reading whose repo exists wins; if none exists, the first reading answers.
      let route: Route = first;
      for (const candidate of parsed.value.length > 1 ? parsed.value : []) {
        if (candidate.kind === 'resolve' || candidate.kind === 'api') {
          if ((await store.locate(candidate.repo)) !== null) {
            route = candidate;
            break;
          }
        }
      }

      if (route.kind === 'resolve' || route.kind === 'api') {
        const denied = access.check(route.repo, req.headers.authorization);
        if (denied) return fail(reply, denied.status, denied.message, denied.code);
      }
      switch (route.kind) {
        case 'resolve':
          return handleResolve(req, reply, route.repo, route.rev, route.path, route.raw, rule);
        case 'cdn':
          return handleCdn(req, reply, route.sha256, rule);
        case 'list':
          return handleList(req, reply, ctx, route.repoKind);
        case 'api':
          return handleApi(req, reply, ctx, route.repo, route.action);
        default:
          return fail(reply, 404, 'not found');
      }
    },
  });

  async function handleControl(req: FastifyRequest, reply: FastifyReply, what: 'faults' | 'requests'): Promise<FastifyReply> {
    if (what === 'requests') {
      if (req.method === 'GET') return sendJson(reply, requests);
      if (req.method === 'DELETE') {
        control.clearRequests();
        return reply.code(204).send();
      }
      reply.header('allow', 'GET, DELETE');
      return fail(reply, 405, 'GET or DELETE');
    }
    switch (req.method) {
      case 'GET':
        return sendJson(reply, faults.list());
      case 'DELETE':
        faults.clear();
        return reply.code(204).send();
      case 'PUT':
      case 'POST': {
        const rules = parseFaultRules(req.body);
        if (!rules.ok) return fail(reply, 400, `invalid fault rules: ${rules.message}`);
        if (req.method === 'PUT') faults.set(rules.value);
        else for (const r of rules.value) faults.add(r);
        return sendJson(reply, faults.list());
      }
      default:
        reply.header('allow', 'GET, PUT, POST, DELETE');
        return fail(reply, 405, 'GET, PUT, POST or DELETE');
    }
  }

  type Snap = { ok: true; snap: RepoSnapshot } | { ok: false; sent: FastifyReply };

  async function snapshotAt(reply: FastifyReply, repo: RepoRef, rev: string): Promise<Snap> {
    const r = await store.snapshot(repo);
    if (!r.ok) {
      if (r.error.code === 'RepoNotFound') return { ok: false, sent: fail(reply, 404, `Repository Not Found for url: ${repo.kind === 'dataset' ? 'datasets/' : ''}${repo.id}.`, 'RepoNotFound') };
      return { ok: false, sent: fail(reply, 500, `cannot read repository ${repo.id}: ${r.error.message}`) };
    }
    const snap = r.value;
    // `HEAD` is what the JS client asks for by default; the hub treats it as the default branch.
    if (rev !== 'main' && rev !== 'refs/heads/main' && rev !== 'HEAD' && rev !== snap.commit) {
      return { ok: false, sent: fail(reply, 404, `Invalid rev id: ${printableForMessage(rev)}`, 'RevisionNotFound') };
    }
    return { ok: true, snap };
  }

  async function handleResolve(req: FastifyRequest, reply: FastifyReply, repo: RepoRef, rev: string, path: string, raw: boolean, rule: FaultRule | null, attempt = 0): Promise<FastifyReply> {
    const s = await snapshotAt(reply, repo, rev);
    if (!s.ok) return s.sent;
    const { snap } = s;
    const f = snap.byPath.get(path);
    if (!f) {
      // Like the hub: a missing file at a known commit names that commit (clients cache the absence).
      return fail(reply, 404, `Entry not found`, 'EntryNotFound', { 'x-repo-commit': snap.commit });
    }
    if (raw && f.lfs) {
      // `/raw/` shows what git stores: the LFS pointer, not the content.
      const p = pointerOf(f);
      const body = Buffer.from(p.text);
      const headers = { 'x-repo-commit': snap.commit, etag: `"${p.sha1}"`, 'accept-ranges': 'bytes', 'content-type': 'text/plain; charset=utf-8' };
      return sendBuffer(req, reply, body, headers, rule);
    }
    const headers = resolveHeaders(snap, f);
    if (rule?.action.kind === 'redirect') {
      return reply.code(rule.action.status ?? 302).headers(headers).header('location', rule.action.location.replace('{path}', req.raw.url ?? '/')).header('content-length', '0').send();
    }
    const redirect = options.lfsRedirect;
    if (redirect && f.lfs && !raw) {
      const base = typeof redirect === 'object' ? redirect.base.replace(/\/+$/, '') : cdnBase(baseUrl(req));
      const location = `${base}/-/cdn/${f.sha256}?filename=${encodeURIComponent(f.path.slice(f.path.lastIndexOf('/') + 1))}`;
      return reply.code(302).headers(headers).header('location', location).header('content-length', '0').send();
    }
    const served = await serveFile(req, reply, f, headers, rule);
    // The file changed between listing and opening: answer from a fresh snapshot (a pinned
    // commit that no longer exists then correctly gets RevisionNotFound).
    if (served === 'changed') {
      if (attempt >= 2) return fail(reply, 503, 'repository is changing; retry', undefined, { 'retry-after': '1' });
      return handleResolve(req, reply, repo, rev, path, raw, rule, attempt + 1);
    }
    return served;
  }

  async function handleCdn(req: FastifyRequest, reply: FastifyReply, sha256: string, rule: FaultRule | null): Promise<FastifyReply> {
    const hit = await store.bySha(sha256);
    if (!hit) return fail(reply, 404, 'no such object');
    let st;
    try {
      st = await stat(hit.abs);
    } catch {
      return fail(reply, 404, 'no such object');
    }
    const f: HubFile = { path: sha256, abs: hit.abs, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, blobSha1: '', sha256, lfs: true };
    const headers = { etag: `"${sha256}"`, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
    const served = await serveFile(req, reply, f, headers, rule);
    return served === 'changed' ? fail(reply, 404, 'no such object') : served;
  }

  function rangeFor(req: FastifyRequest, size: number, rule: FaultRule | null): ReturnType<typeof parseRange> {
    if (req.method === 'HEAD' || rule?.action.kind === 'ignoreRange') return null;
    const h = req.headers.range;
    // Several ranges: answered with the whole file, which RFC 9110 allows.
    if (h !== undefined && h.includes(',')) return null;
    return parseRange(h, size);
  }

  function rangeHeaders(reply: FastifyReply, range: { start: number; end: number } | null, size: number, rule: FaultRule | null): void {
    if (range === null) {
      reply.code(200).header('content-length', String(size));
      return;
    }
    let { start, end } = range;
    if (rule?.action.kind === 'wrongContentRange') {
      const shift = start > 0 ? -start : 1;
      start += shift;
      end += shift;
    }
    reply.code(206).header('content-length', String(range.end - range.start + 1)).header('content-range', `bytes ${start}-${end}/${size}`);
  }

  async function serveFile(req: FastifyRequest, reply: FastifyReply, f: HubFile, headers: Record<string, string>, rule: FaultRule | null): Promise<FastifyReply | 'changed'> {
    let fh;
    try {
      fh = await open(f.abs, 'r');
    } catch {
      return 'changed';
    }
    let st;
    try {
      st = await fh.stat();
    } catch {
      await fh.close();
      return 'changed';
    }
    if (st.size !== f.size || st.mtimeMs !== f.mtimeMs || st.ino !== f.ino) {
      await fh.close();
      return 'changed';
    }
    const range = rangeFor(req, f.size, rule);
    reply.headers(headers);
    if (range === 'unsatisfiable') {
      await fh.close();
      return fail(reply, 416, 'Range Not Satisfiable', undefined, { 'content-range': `bytes */${f.size}` });
    }
    rangeHeaders(reply, range, f.size, rule);
    if (req.method === 'HEAD') {
      await fh.close();
      return reply.send();
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? f.size - 1;
    if (f.size === 0) {
      await fh.close();
      return reply.send(Buffer.alloc(0));
    }
    const action = rule?.action;
    if (action?.kind === 'truncate' || action?.kind === 'stall') {
      return cutStream(req, reply, fh, start, end, action.kind, action.afterBytes);
    }
    const stream = fh.createReadStream({ start, end, highWaterMark: 1 << 20 });
    if (action?.kind === 'corrupt') {
      // Outside the bytes asked for, the first byte sent is flipped: the corruption is always visible.
      const at = action.offset !== undefined && action.offset >= start && action.offset <= end ? action.offset : start;
      return reply.send(stream.pipe(new Corrupt(start, at)));
    }
    if (options.bytesPerSecond) return reply.send(stream.pipe(new Pace(options.bytesPerSecond)));
    return reply.send(stream);
  }

  /**
   * Sends the status line, the real headers and `afterBytes` of the body, then either cuts the
   * connection or goes silent. Fastify's reply is bypassed: it would finish the response properly.
   */
  async function cutStream(req: FastifyRequest, reply: FastifyReply, fh: import('node:fs/promises').FileHandle, start: number, end: number, mode: 'truncate' | 'stall', afterBytes: number): Promise<FastifyReply> {
    reply.hijack();
    const res = reply.raw;
    const ctx = ctxOf.get(req);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) headers[k] = String(v);
    res.writeHead(reply.statusCode, headers);
    if (ctx?.record) ctx.record.status = reply.statusCode;
    const last = Math.min(end, start + afterBytes - 1);
    try {
      if (last >= start) {
        for await (const chunk of fh.createReadStream({ start, end: last, highWaterMark: 1 << 16, autoClose: false }) as AsyncIterable<Buffer>) {
          if (res.destroyed) break;
          await writeChunk(res, chunk);
        }
      } else {
        res.flushHeaders();
      }
    } catch {
      /* the client went away first */
    } finally {
      await fh.close();
    }
    if (mode === 'truncate') {
      req.raw.socket.destroy();
    } else {
      // Stalled: hold the connection open until the client (or close()) ends it.
      await new Promise<void>((resolve) => {
        if (req.raw.socket.destroyed) resolve();
        else req.raw.socket.once('close', () => resolve());
      });
    }
    return reply;
  }

  function sendBuffer(req: FastifyRequest, reply: FastifyReply, body: Buffer, headers: Record<string, string>, rule: FaultRule | null): FastifyReply {
    const range = rangeFor(req, body.length, rule);
    reply.headers(headers);
    if (range === 'unsatisfiable') return fail(reply, 416, 'Range Not Satisfiable', undefined, { 'content-range': `bytes */${body.length}` });
    rangeHeaders(reply, range, body.length, rule);
    if (req.method === 'HEAD') return reply.send();
    const slice = range === null ? body : body.subarray(range.start, range.end + 1);
    return reply.send(Readable.from([slice]));
  }

  // ---- JSON API ----

  function fileEntry(f: HubFile, snap: RepoSnapshot, expand: boolean, sec: SecurityFile | null): Record<string, unknown> {
    const e: Record<string, unknown> = { type: 'file', oid: gitOid(f), size: f.size, path: f.path };
    if (f.lfs) e['lfs'] = lfsInfo(f);
    if (expand) {
      e['lastCommit'] = lastCommit(snap);
      const status = fileStatus(sec, f.path);
      if (status) e['securityFileStatus'] = status;
    }
    return e;
  }

  function dirEntry(path: string, snap: RepoSnapshot, expand: boolean): Record<string, unknown> {
    const e: Record<string, unknown> = { type: 'directory', oid: treeId(snap, path), size: 0, path };
    if (expand) e['lastCommit'] = lastCommit(snap);
    return e;
  }

  function lastCommit(snap: RepoSnapshot): { id: string; title: string; date: string } {
    return { id: snap.commit, title: 'Snapshot of the served directory', date: snap.lastModified.toISOString() };
  }

  async function loadSecurity(reply: FastifyReply, snap: RepoSnapshot): Promise<{ ok: true; sec: SecurityFile | null } | { ok: false; sent: FastifyReply }> {
    const r = await securityFile(snap);
    if (!r.ok) return { ok: false, sent: fail(reply, 500, r.message) };
    return { ok: true, sec: r.value };
  }

  async function handleApi(req: FastifyRequest, reply: FastifyReply, ctx: Ctx, repo: RepoRef, action: ApiAction): Promise<FastifyReply> {
    if (action.op === 'token') return fail(reply, 403, 'Xet is not offered by this hub; files are served over plain HTTP.');
    const rev = action.op === 'refs' ? 'main' : (action.rev ?? 'main');
    const s = await snapshotAt(reply, repo, rev);
    if (!s.ok) return s.sent;
    const { snap } = s;
    switch (action.op) {
      case 'info':
        return repoInfo(reply, ctx, snap);
      case 'tree':
        return tree(req, reply, ctx, snap, action.path);
      case 'paths-info':
        return pathsInfo(req, reply, snap);
      case 'refs':
        return sendJson(reply, {
          branches: [{ name: 'main', ref: 'refs/heads/main', targetCommit: snap.commit }],
          converts: [],
          tags: [],
          pullRequests: [],
        });
      case 'commits':
        return sendJson(reply, [
          {
            id: snap.commit,
            title: 'Snapshot of the served directory',
            message: '',
            authors: [{ user: 'modelgate-hub' }],
            date: snap.lastModified.toISOString(),
          },
        ]);
    }
  }

  async function repoInfo(reply: FastifyReply, ctx: Ctx, snap: RepoSnapshot): Promise<FastifyReply> {
    const { repo } = snap;
    const expand = ctx.query.getAll('expand').concat(ctx.query.getAll('expand[]'));
    const wantSecurity = truthy(ctx.query.get('securityStatus')) || expand.includes('securityRepoStatus');
    const blobs = truthy(ctx.query.get('blobs'));
    const card = await cardData(snap);
    const tags: string[] = [];
    if (card) {
      const t = card['tags'];
      if (Array.isArray(t)) for (const x of t) if (typeof x === 'string') tags.push(x);
      const lic = card['license'];
      if (typeof lic === 'string') tags.push(`license:${lic}`);
    }
    const body: Record<string, unknown> = {
      _id: objectId(repo),
      id: repo.id,
      ...(repo.kind === 'model' ? { modelId: repo.id } : {}),
      author: repo.segments.length === 2 ? repo.segments[0] : null,
      sha: snap.commit,
      lastModified: snap.lastModified.toISOString(),
      createdAt: snap.createdAt.toISOString(),
      ...access.flags(repo),
      disabled: false,
      downloads: 0,
      likes: 0,
      tags,
      usedStorage: snap.files.reduce((n, f) => n + f.size, 0),
      siblings: snap.files.map((f) =>
        blobs ? { rfilename: f.path, blobId: gitOid(f), size: f.size, ...(f.lfs ? { lfs: { sha256: f.sha256, size: f.size, pointerSize: lfsInfo(f).pointerSize } } : {}) } : { rfilename: f.path },
      ),
    };
    if (card) {
      body['cardData'] = card;
      for (const k of ['library_name', 'pipeline_tag'] as const) if (typeof card[k] === 'string') body[k] = card[k];
    }
    if (repo.kind === 'model') {
      const config = await configSummary(snap);
      if (config) body['config'] = config;
      body['spaces'] = [];
    }
    if (wantSecurity) {
      const sec = await loadSecurity(reply, snap);
      if (!sec.ok) return sec.sent;
      body['securityRepoStatus'] = repoStatus(sec.sec, snap);
    }
    return sendJson(reply, body);
  }

  async function tree(req: FastifyRequest, reply: FastifyReply, ctx: Ctx, snap: RepoSnapshot, path: string): Promise<FastifyReply> {
    if (path !== '' && !snap.dirs.has(path)) {
      // A file, or nothing: either way there is no tree here.
      return fail(reply, 404, `Entry not found`, 'EntryNotFound');
    }
    const recursive = truthy(ctx.query.get('recursive'));
    const expand = truthy(ctx.query.get('expand'));
    const cursor = decodeCursor(ctx.query.get('cursor'));
    if (cursor === 'invalid') return fail(reply, 400, 'invalid cursor');
    if (cursor.commit !== null && cursor.commit !== snap.commit) {
      return fail(reply, 409, 'the repository changed while it was being listed; list it again from the start');
    }
    const limit = pageLimit(ctx.query.get('limit'));
    if (limit === 'invalid') return fail(reply, 400, 'invalid limit');
    const prefix = path === '' ? '' : path + '/';
    const depth = prefix.split('/').length - 1;
    type Item = { path: string; file: HubFile | null };
    const items: Item[] = [];
    for (const d of snap.dirs) {
      if (!d.startsWith(prefix)) continue;
      if (!recursive && d.split('/').length - 1 !== depth) continue;
      items.push({ path: d, file: null });
    }
    for (const f of snap.files) {
      if (!f.path.startsWith(prefix)) continue;
      if (!recursive && f.path.split('/').length - 1 !== depth) continue;
      items.push({ path: f.path, file: f });
    }
    items.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const page = items.slice(cursor.offset, cursor.offset + limit);
    let sec: SecurityFile | null = null;
    if (expand) {
      const r = await loadSecurity(reply, snap);
      if (!r.ok) return r.sent;
      sec = r.sec;
    }
    const next = cursor.offset + limit;
    if (next < items.length) reply.header('link', nextLink(req, ctx, encodeCursor(next, snap.commit), null));
    return sendJson(reply, page.map((it) => (it.file ? fileEntry(it.file, snap, expand, sec) : dirEntry(it.path, snap, expand))));
  }

  function pageLimit(raw: string | null): number | 'invalid' {
    if (raw === null) return pageSize;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) return 'invalid';
    return Math.min(n, pageSize);
  }

  async function pathsInfo(req: FastifyRequest, reply: FastifyReply, snap: RepoSnapshot): Promise<FastifyReply> {
    let paths: string[];
    let expand: boolean;
    const body = req.body;
    if (typeof body === 'string') {
      const form = new URLSearchParams(body);
      paths = form.getAll('paths');
      expand = truthy(form.get('expand'));
    } else if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
      const b = body as { paths?: unknown; expand?: unknown };
      const p = b.paths;
      if (typeof p === 'string') paths = [p];
      else if (Array.isArray(p) && p.every((x): x is string => typeof x === 'string')) paths = p;
      else return fail(reply, 400, '"paths" must be a string or a list of strings');
      expand = b.expand === true || (typeof b.expand === 'string' && truthy(b.expand));
    } else {
      return fail(reply, 400, 'expected a form body with "paths" or a JSON body {"paths": [...]}');
    }
    if (paths.length > MAX_PATHS_INFO) return fail(reply, 400, `at most ${MAX_PATHS_INFO} paths per request`);
    let sec: SecurityFile | null = null;
    if (expand) {
      const r = await loadSecurity(reply, snap);
      if (!r.ok) return r.sent;
      sec = r.sec;
    }
    const out: Record<string, unknown>[] = [];
    const seen = new Set<string>();
    for (const raw of paths) {
      const p = raw.replace(/\/+$/, '');
      if (seen.has(p)) continue;
      seen.add(p);
      if (!checkRelativePath(p).ok) continue;
      const f = snap.byPath.get(p);
      if (f) out.push(fileEntry(f, snap, expand, sec));
      else if (snap.dirs.has(p)) out.push(dirEntry(p, snap, expand));
    }
    return sendJson(reply, out);
  }

  async function handleList(req: FastifyRequest, reply: FastifyReply, ctx: Ctx, kind: 'model' | 'dataset'): Promise<FastifyReply> {
    const q = ctx.query;
    const author = q.get('author');
    const searches = q.getAll('search').map((s) => s.toLowerCase());
    const cursor = decodeCursor(q.get('cursor'));
    if (cursor === 'invalid') return fail(reply, 400, 'invalid cursor');
    const limit = pageLimit(q.get('limit'));
    if (limit === 'invalid') return fail(reply, 400, 'invalid limit');
    const sort = q.get('sort');
    const descending = q.get('direction') !== '1' && sort !== null && sort !== 'id';
    const full = truthy(q.get('full'));
    let repos = await store.listRepos(kind);
    repos = repos.filter((r) => (author === null || (r.repo.segments.length === 2 && r.repo.segments[0] === author)) && searches.every((s) => r.repo.id.toLowerCase().includes(s)));
    const key = sort === 'lastModified' ? (r: (typeof repos)[number]) => r.lastModified.getTime() : sort === 'createdAt' ? (r: (typeof repos)[number]) => r.createdAt.getTime() : null;
    repos.sort((a, b) => {
      const d = key ? key(a) - key(b) : 0;
      const byId = a.repo.id < b.repo.id ? -1 : a.repo.id > b.repo.id ? 1 : 0;
      return (d !== 0 ? d : byId) * (descending ? -1 : 1);
    });
    const page = repos.slice(cursor.offset, cursor.offset + limit);
    const out: Record<string, unknown>[] = [];
    for (const r of page) {
      const item: Record<string, unknown> = {
        _id: objectId(r.repo),
        id: r.repo.id,
        ...(kind === 'model' ? { modelId: r.repo.id } : {}),
        author: r.repo.segments.length === 2 ? r.repo.segments[0] : null,
        lastModified: r.lastModified.toISOString(),
        createdAt: r.createdAt.toISOString(),
        ...access.flags(r.repo),
        disabled: false,
        downloads: 0,
        likes: 0,
        tags: [],
      };
      if (full) {
        const s = await store.snapshot(r.repo);
        if (s.ok) {
          item['sha'] = s.value.commit;
          item['siblings'] = s.value.files.map((f) => ({ rfilename: f.path }));
        }
      }
      out.push(item);
    }
    const next = cursor.offset + limit;
    if (next < repos.length) reply.header('link', nextLink(req, ctx, encodeCursor(next, null), null));
    return sendJson(reply, out);
  }

  if (options.warm) {
    app.addHook('onReady', async () => {
      void store.warm().catch(() => undefined);
    });
  }

  return app as unknown as HubServer;
}

/** Listens and returns the base URL clients use (`HF_ENDPOINT`). */
export async function listenHub(app: HubServer, opts: { port?: number; host?: string } = {}): Promise<string> {
  const host = opts.host ?? '127.0.0.1';
  await app.listen({ port: opts.port ?? 0, host });
  const addr = app.server.address() as AddressInfo;
  const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return `http://${h}:${addr.port}`;
}

/** createHubServer + listenHub, for tests: `const hub = await startHub({dir}); ... await hub.close()`. */
export async function startHub(options: HubServerOptions & { port?: number; host?: string }): Promise<{ app: HubServer; url: string; close: () => Promise<void> }> {
  const app = createHubServer(options);
  const url = await listenHub(app, { port: options.port, host: options.host });
  return { app, url, close: () => app.close() };
}
