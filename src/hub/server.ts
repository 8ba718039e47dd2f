/**
 * A read-only Hugging Face Hub over a directory of repositories: the routes and headers the real
 * clients use (see docs/hub.md and ../shared/docs/hub-protocol.md), plus opt-in fault injection so
 * a gateway can be tested against a real server misbehaving in known ways.
 *
 * Routing is done here rather than by fastify's router: repo ids have one or two segments, paths
 * contain slashes, and revisions arrive percent-encoded, so the raw request path is split on its
 * literal markers before anything is decoded.
 */
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { AccessList } from './access.js';
import { handleApi, handleList, type HubApi, type Snap } from './api-routes.js';
import { pointerOf } from './entries.js';
import { Faults, parseFaultRules, type FaultRule } from './faults.js';
import type { HubControl, HubServer, HubServerOptions, RequestRecord } from './options.js';
import { parseRoute, printableForMessage, type RepoRef, type Route } from './paths.js';
import { fail, sendJson, urlError, type RequestCtx } from './reply.js';
import { resolveHeaders, sendBuffer, serveFile, type ByteServing } from './serve-bytes.js';
import { RepoStore, type HubFile } from './store.js';

export type { HubControl, HubServer, HubServerOptions, RequestRecord } from './options.js';
export { parseRange } from './serve-bytes.js';

const MAX_RECORDS = 10_000;

export function createHubServer(options: HubServerOptions): HubServer {
  const pageSize = options.pageSize ?? 1000;
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError(`pageSize must be a positive integer, got ${pageSize}`);
  const store = new RepoStore(options.dir);
  const faults = new Faults(options.faults ?? []);
  const access = new AccessList(options.access ?? []);
  const requests: RequestRecord[] = [];
  const ctxOf = new WeakMap<FastifyRequest, RequestCtx>();

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

  function nextLink(req: FastifyRequest, ctx: RequestCtx, cursor: string, limit: number | null): string {
    const q = new URLSearchParams(ctx.query);
    q.set('cursor', cursor);
    if (limit !== null) q.set('limit', String(limit));
    return `<${baseUrl(req)}${ctx.pathname}?${q.toString()}>; rel="next"`;
  }

  app.addHook('onRequest', async (req, reply) => {
    const raw = req.raw.url ?? '/';
    const q = raw.indexOf('?');
    const pathname = q < 0 ? raw : raw.slice(0, q);
    const ctx: RequestCtx = { pathname, query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)), record: null };
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
          return handleList(api, req, reply, ctx, route.repoKind);
        case 'api':
          return handleApi(api, req, reply, ctx, route.repo, route.action);
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
    const served = await serveFile(bytes, req, reply, f, headers, rule);
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
    const served = await serveFile(bytes, req, reply, f, headers, rule);
    return served === 'changed' ? fail(reply, 404, 'no such object') : served;
  }

  const api: HubApi = { store, access, pageSize, snapshotAt, nextLink };
  const bytes: ByteServing = { bytesPerSecond: options.bytesPerSecond, recordOf: (req) => ctxOf.get(req)?.record ?? null };

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
