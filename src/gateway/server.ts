/**
 * `modelgate serve`: wires the store, blob cache, upstream client, scan pool and policy into a
 * fastify server speaking the Hub protocol. Routes parse raw URLs themselves (revisions arrive
 * percent-encoded and must be split before decoding), so one catch-all dispatches.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { loadPolicy } from '../policy/load.js';
import type { Policy } from '../policy/types.js';
import { openBlobStore, SHARED_SWEEP_MIN_AGE_MS } from '../store/blobs-open.js';
import { StoreError } from '../store/errors.js';
import { openStore } from '../store/open.js';
import type { BlobStore, Store } from '../store/types.js';
import { hashSecret } from './auth.js';
import { AuditSink } from './audit-sink.js';
import { publicBase, type GatewayConfig } from './config.js';
import type { GatewayContext } from './context.js';
import { Gatekeeper } from './decide.js';
import { FileService, LocalFlight, type Flight } from './files.js';
import { RedisFlight } from './flight-redis.js';
import { refuse } from './http.js';
import { Metrics } from './metrics.js';
import { BadRequest, parseApi, parseResolve } from './paths.js';
import { registerAdmin } from './routes/admin.js';
import { handleApi } from './routes/api.js';
import { handleReport } from './routes/reports.js';
import { handleResolve } from './routes/resolve.js';
import { ScanPool } from './scan-pool.js';
import { Upstream } from './upstream.js';
import { registerConsole } from './console/routes.js';

export interface GatewayDeps {
  store?: Store;
  blobs?: BlobStore;
  policy?: Policy;
  flight?: Flight;
}

export interface Gateway {
  app: FastifyInstance;
  ctx: GatewayContext;
  /** Listen on the configured host/port; resolves to the public base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** What a cache key must change with: scanner, analyzers and rules. */
export function engineKeyOf(info: { version: string; rulesVersion: string; analyzers: Record<string, string> }): string {
  const h = createHash('sha256').update(JSON.stringify([info.version, info.rulesVersion, Object.entries(info.analyzers).sort()])).digest('hex');
  return `${info.version}+${h.slice(0, 12)}`;
}

/** Start-up failures of the blob store name the blob store, not the database. */
export class BlobStoreStartError extends Error {
  override readonly name = 'BlobStoreStartError';
  constructor(
    readonly location: string,
    override readonly cause: StoreError,
  ) {
    super(`blob store ${location}: ${cause.message}`);
  }
}

function blobStoreError(config: GatewayConfig): (e: unknown) => never {
  return (e) => {
    if (e instanceof StoreError) throw new BlobStoreStartError(config.blobStore ?? join(config.dataDir, 'cache'), e);
    throw e;
  };
}

export async function createGateway(config: GatewayConfig, deps: GatewayDeps = {}): Promise<Gateway> {
  mkdirSync(config.dataDir, { recursive: true });
  const store = deps.store ?? (await openStore(config.store!));
  await store.migrate();
  // Replicas share the data directory: start-up must not sweep another replica's live download.
  const blobs = deps.blobs ?? (await openBlobStore(config.blobStore, config.dataDir, config.redis ? { sweepMinAgeMs: SHARED_SWEEP_MIN_AGE_MS } : {}).catch(blobStoreError(config)));
  await blobs.sweep().catch(blobStoreError(config));
  const policy = deps.policy ?? loadPolicy(config.policy);
  const metrics = new Metrics();
  const upstream = new Upstream({ base: config.upstream, redirectHosts: config.upstreamRedirectHosts, timeoutMs: config.upstreamTimeoutMs });
  const pool = new ScanPool(config.scanWorkers, config.limits);
  const engineKey = engineKeyOf(ScanPool.engineInfo(config.limits));
  const redisFlight = !deps.flight && config.redis ? new RedisFlight({ url: config.redis, leaseMs: config.flightLeaseMs }) : null;
  const files = new FileService(store, blobs, upstream, pool, engineKey, metrics, config.branchTtlMs, deps.flight ?? redisFlight ?? new LocalFlight(), config.upstreamAuth === 'pass');
  const gatekeeper = new Gatekeeper(store, files, upstream, policy);
  const audit = new AuditSink(store, config.auditWebhook, config.auditSyslog);
  metrics.gauge('modelgate_scans_pending', () => pool.pending);

  if (config.adminToken) {
    const hash = hashSecret(config.adminToken);
    if (!(await store.findToken(hash))) {
      await store.addToken({ id: randomBytes(8).toString('hex'), name: 'bootstrap-admin', role: 'admin', group: 'default', createdAt: new Date().toISOString(), revokedAt: null }, hash);
    }
  }

  const app = Fastify({
    logger: config.logLevel === 'silent' ? false : { level: config.logLevel, redact: ['req.headers.authorization', 'req.headers.cookie'] },
    genReqId: () => randomBytes(8).toString('hex'),
    bodyLimit: 1 << 20,
  });
  let base = '';
  const ctx: GatewayContext = { config, store, blobs, upstream, files, gatekeeper, metrics, pool, audit, log: app.log, base: () => base };

  // paths-info arrives as a form body from the Python client and as JSON from the JS client.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.addHook('onResponse', async (req, reply) => {
    const route = parseResolve(req.raw.url ?? '') ? 'resolve' : (req.raw.url ?? '').startsWith('/api/') ? 'api' : (req.raw.url ?? '').split('/')[1] || 'root';
    metrics.inc('modelgate_requests_total', { route, status: String(reply.statusCode) });
  });
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', String(req.id));
  });

  let ready = false;
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const storeOk = await store.ping().catch(() => false);
    const redisOk = redisFlight ? await redisFlight.ping() : null;
    const blobsOk = blobs.ping ? await blobs.ping() : null;
    const ok = ready && storeOk && redisOk !== false && blobsOk !== false;
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', store: storeOk, ...(redisOk !== null ? { redis: redisOk } : {}), ...(blobsOk !== null ? { blobs: blobsOk } : {}) });
  });
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4').send(metrics.render()));
  app.get<{ Params: { id: string } }>('/reports/:id', (req, reply) => handleReport(ctx, req, reply));
  registerAdmin(app, ctx);
  // The same checks as /readyz, for the console's health table.
  registerConsole(app, ctx, async () => ({ ready, store: await store.ping().catch(() => false), redis: redisFlight ? await redisFlight.ping() : null, blobs: blobs.ping ? await blobs.ping() : null }));

  app.all('/*', async (req, reply) => {
    const url = req.raw.url ?? '/';
    try {
      const resolveTarget = parseResolve(url);
      if (resolveTarget) {
        if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(reply, 405, 'modelgate is read-only');
        return await handleResolve(ctx, req, reply, resolveTarget);
      }
      const apiTarget = parseApi(url);
      if (apiTarget) {
        if (req.method === 'POST' && apiTarget.kind === 'paths-info' && req.body && !Buffer.isBuffer(req.body)) req.body = Buffer.from(JSON.stringify(req.body));
        return await handleApi(ctx, req, reply, apiTarget);
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(reply, 403, 'modelgate is read-only: writes are refused');
      return refuse(reply, 404, `modelgate does not serve ${url.split('?')[0]!.slice(0, 200)}`, { code: 'EntryNotFound' });
    } catch (e) {
      if (e instanceof BadRequest) return refuse(reply, 400, `bad request: ${e.message}`);
      throw e;
    }
  });

  return {
    app,
    ctx,
    async listen() {
      await app.listen({ host: config.host, port: config.port });
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : config.port;
      base = publicBase(config, port);
      ready = true;
      return base;
    },
    async close() {
      ready = false;
      await app.close();
      await pool.close();
      audit.close();
      await redisFlight?.close();
      await upstream.close();
      await store.close();
      if (!deps.blobs) await blobs.close?.();
    },
  };
}
