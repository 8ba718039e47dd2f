/**
 * `modelgate serve`: wires the store, blob cache, upstream client, scan pool and policy into a
 * fastify server speaking the Hub protocol. Routes parse raw URLs themselves (revisions arrive
 * percent-encoded and must be split before decoding), so one catch-all dispatches.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Policy } from '../policy/types.js';
import { engineKeyOf } from '../scan/engine-key.js';
import { openBlobStore, SHARED_SWEEP_MIN_AGE_MS } from '../store/blobs-open.js';
import { StoreError } from '../store/errors.js';
import { openStore } from '../store/open.js';
import type { BlobStore, Store } from '../store/types.js';
import { hashSecret } from './auth.js';
import { AuditSink } from './audit-sink.js';
import { publicBase, type GatewayConfig } from './config.js';
import type { GatewayContext } from './context.js';
import { Gatekeeper } from './decide.js';
import { DownloadSlots } from './download-slots.js';
import { FileService, LocalFlight, type Flight } from './files.js';
import { RedisFlight } from './flight-redis.js';
import { refuse } from './http.js';
import { Metrics, routeLabel, statusLabel } from './metrics.js';
import { BadRequest, parseApi, parseResolve } from './paths.js';
import { logSafeUrl } from './refusal-link.js';
import { BUILTIN_POLICY_SOURCE, loadGatewayPolicySource, recordPolicyLoad } from './policy-reload.js';
import { ExposureJob } from './exposure/job.js';
import { DryRunJobs } from './dry-run-job.js';
import { WaiverWatch } from './exposure/waiver-watch.js';
import { registerAdmin } from './routes/admin.js';
import { handleApi } from './routes/api.js';
import { handleReport } from './routes/reports.js';
import { handleResolve } from './routes/resolve.js';
import { ScanPool } from './scan-pool.js';
import { LoginThrottle } from './throttle.js';
import { Upstream } from './upstream.js';
import { resolveUpstream, unresolvedMessage } from './upstream-check.js';
import { registerConsole } from './console/routes.js';

export interface GatewayDeps {
  store?: Store;
  blobs?: BlobStore;
  policy?: Policy;
  flight?: Flight;
  /**
   * Test hooks: the scan pool and its engine key (both or neither), e.g. to stand in for an
   * older scanner whose verdicts a rules change then re-evaluates.
   */
  pool?: ScanPool;
  engineKey?: string;
}

export interface Gateway {
  app: FastifyInstance;
  ctx: GatewayContext;
  /** Listen on the configured host/port; resolves to the public base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** The address is taken (or not ours to take): `serve` says so in one line and exits 2. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  constructor(
    readonly address: string,
    readonly code: string,
  ) {
    super(`cannot listen on ${address}: ${code === 'EADDRINUSE' ? 'address already in use (is another modelgate running?)' : code === 'EACCES' ? 'permission denied' : code === 'EADDRNOTAVAIL' ? 'no such local address' : code}`);
  }
}

/** How often temporary files left by crashed writers are looked for (besides start-up). */
const SWEEP_EVERY_MS = 10 * 60_000;
/** How often ended waivers are looked for (their exposure runs start within this). */
const WAIVER_CHECK_EVERY_MS = 60_000;

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

/** Room for at least one more download's buffers and the database's journal. */
const MIN_FREE_BYTES = 64 << 20;

async function diskWritable(dir: string): Promise<boolean> {
  try {
    const st = await statfs(dir);
    return st.bavail * st.bsize >= MIN_FREE_BYTES;
  } catch {
    return false;
  }
}

export async function createGateway(config: GatewayConfig, deps: GatewayDeps = {}): Promise<Gateway> {
  mkdirSync(config.dataDir, { recursive: true });
  const store = deps.store ?? (await openStore(config.store!));
  await store.migrate();
  // Replicas share the data directory: start-up must not sweep another replica's live download.
  const blobs = deps.blobs ?? (await openBlobStore(config.blobStore, config.dataDir, config.redis ? { sweepMinAgeMs: SHARED_SWEEP_MIN_AGE_MS } : {}).catch(blobStoreError(config)));
  await blobs.sweep().catch(blobStoreError(config));
  const loaded = deps.policy ? null : loadGatewayPolicySource(config.policy);
  const policy = deps.policy ?? loaded!.policy;
  // The policy history (console): which text each recorded policy version stands for.
  await recordPolicyLoad(store, { version: policy.version, text: loaded?.text ?? null, source: loaded?.source ?? (deps.policy ? '(supplied by the embedding program)' : BUILTIN_POLICY_SOURCE) }, 'start', 'start-up');
  const metrics = new Metrics();
  const upstream = new Upstream({
    base: config.upstream,
    redirectHosts: config.upstreamRedirectHosts,
    timeoutMs: config.upstreamTimeoutMs,
    downloadTimeoutMs: config.downloadTimeoutMs,
    apiMaxBytes: config.upstreamApiMaxBytes,
  });
  if ((deps.pool === undefined) !== (deps.engineKey === undefined)) throw new Error('createGateway: deps.pool and deps.engineKey go together');
  const pool = deps.pool ?? new ScanPool(config.scanWorkers, config.limits);
  const engineKey = deps.engineKey ?? engineKeyOf(ScanPool.engineInfo(config.limits));
  const redisFlight = !deps.flight && config.redis ? new RedisFlight({ url: config.redis, leaseMs: config.flightLeaseMs }) : null;
  const files = new FileService(store, blobs, upstream, pool, engineKey, metrics, config.branchTtlMs, deps.flight ?? redisFlight ?? new LocalFlight(), config.upstreamAuth === 'pass', new DownloadSlots(config.maxDownloads, config.downloadQueueMax));
  const gatekeeper = new Gatekeeper(store, files, upstream, policy, { factsTimeoutMs: config.factsTimeoutMs, configJsonMaxBytes: config.configJsonMaxBytes });
  const audit = new AuditSink(store, config.auditWebhook, config.auditSyslog);
  const exposure = new ExposureJob({
    store,
    blobs,
    scan: (path, name) => pool.scan(path, name),
    engineKey,
    policy: () => gatekeeper.policy,
    audit,
    log: { info: (o, m) => app.log.info(o, m), warn: (o, m) => app.log.warn(o, m) },
    concurrency: config.exposureConcurrency,
  });
  metrics.gauge('modelgate_scans_pending', () => pool.pending);
  metrics.gauge('modelgate_downloads_running', () => files.slots.running);
  metrics.gauge('modelgate_downloads_waiting', () => files.slots.queued);

  if (config.adminToken) {
    const hash = hashSecret(config.adminToken);
    if (!(await store.findToken(hash))) {
      await store.addToken({ id: randomBytes(8).toString('hex'), name: 'bootstrap-admin', role: 'admin', group: 'default', createdAt: new Date().toISOString(), revokedAt: null }, hash);
    }
  }

  const app = Fastify({
    logger:
      config.logLevel === 'silent'
        ? false
        : {
            level: config.logLevel,
            redact: ['req.headers.authorization', 'req.headers.cookie'],
            // Fastify's own request fields, with a refusal link's secret kept out of the log.
            serializers: {
              req: (req: FastifyRequest) => ({ method: req.method, url: logSafeUrl(req.url), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort }),
            },
          },
    genReqId: () => randomBytes(8).toString('hex'),
    bodyLimit: 1 << 20,
  });
  let base = '';
  const ctx: GatewayContext = { config, store, blobs, upstream, files, gatekeeper, metrics, pool, audit, exposure, dryRuns: new DryRunJobs(store), log: app.log, throttle: new LoginThrottle(), base: () => base };

  // paths-info arrives as a form body from the Python client and as JSON from the JS client.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.addHook('onResponse', async (req, reply) => {
    const route = routeLabel(req.raw.url ?? '/', (u) => parseResolve(u) !== null);
    metrics.inc('modelgate_requests_total', { route, status: statusLabel(reply.statusCode) });
  });
  // A client's mistake (bad JSON, a malformed path) is logged at info without a stack: only
  // failures of the gateway itself are errors worth a stack trace.
  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status < 500) {
      req.log.info({ status, reason: err.message }, 'client error');
      return refuse(reply, status, `bad request: ${err.message}`);
    }
    req.log.error({ err }, 'request failed');
    return refuse(reply, status, 'internal error');
  });
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', String(req.id));
  });

  let ready = false;
  const waiverWatch = new WaiverWatch({ store, request: (t) => exposure.request(t) });
  let waiverTimer: NodeJS.Timeout | null = null;
  // Downloads orphaned by a crash of this or another process are removed while the gateway runs.
  const sweeper = setInterval(() => {
    blobs.sweep().catch((e: unknown) => app.log.warn({ err: e }, 'sweeping temporary blob files failed'));
  }, SWEEP_EVERY_MS);
  sweeper.unref();
  app.get('/healthz', async () => ({ status: 'ok' }));
  // One set of checks for /readyz and the console's health table.
  const readiness = async () => {
    const storeOk = await store.ping().catch(() => false);
    const redisOk = redisFlight ? await redisFlight.ping() : null;
    const blobsOk = blobs.ping ? await blobs.ping() : null;
    // A full or read-only cache disk refuses every new download: not ready.
    const diskOk = await diskWritable(config.dataDir);
    const probe = await upstream.probe();
    const ok = ready && storeOk && redisOk !== false && blobsOk !== false && diskOk && probe.ok;
    return { ok, ready, store: storeOk, redis: redisOk, blobs: blobsOk, disk: diskOk, upstream: probe.ok, upstreamError: probe.error };
  };
  app.get('/readyz', async (_req, reply) => {
    const r = await readiness();
    return reply.code(r.ok ? 200 : 503).send({
      status: r.ok ? 'ready' : 'not ready',
      store: r.store,
      ...(r.redis !== null ? { redis: r.redis } : {}),
      ...(r.blobs !== null ? { blobs: r.blobs } : {}),
      disk: r.disk,
      upstream: r.upstream,
      // Why the upstream does not answer: an offline machine reads `cannot resolve ...` here.
      ...(r.upstreamError !== null ? { upstreamError: r.upstreamError } : {}),
    });
  });
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4').send(metrics.render()));
  app.get<{ Params: { id: string } }>('/reports/:id', (req, reply) => handleReport(ctx, req, reply));
  registerAdmin(app, ctx);
  registerConsole(app, ctx, readiness);

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

  const gateway: Gateway = {
    app,
    ctx,
    async listen() {
      try {
        await app.listen({ host: config.host, port: config.port });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
          throw new ListenError(config.host.includes(':') ? `[${config.host}]:${config.port}` : `${config.host}:${config.port}`, code);
        }
        throw e;
      }
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : config.port;
      base = publicBase(config, port);
      ready = true;
      // Once, at start-up: an upstream whose name does not resolve (no internet access, a typo)
      // would otherwise show only as 502s, one request at a time.
      void resolveUpstream(upstream.base).then((r) => {
        if (!r.ok) app.log.warn({ upstream: upstream.base.origin, code: r.code }, unresolvedMessage(upstream.base, r));
      });
      // In the background: resume unfinished exposure runs, and start one if the engine changed.
      exposure.startUp().catch((e: unknown) => app.log.warn({ err: (e as Error).message }, 'exposure start-up check failed'));
      // A waiver that expired or was revoked: the files it let through are judged again.
      const checkWaivers = () => void waiverWatch.check().catch((e: unknown) => app.log.warn({ err: (e as Error).message }, 'waiver expiry check failed'));
      checkWaivers();
      waiverTimer = setInterval(checkWaivers, WAIVER_CHECK_EVERY_MS);
      waiverTimer.unref();
      return base;
    },
    async close() {
      ready = false;
      clearInterval(sweeper);
      if (waiverTimer) clearInterval(waiverTimer);
      await app.close();
      // Files being re-evaluated are given back first; closing the pool ends their scans.
      const exposed = exposure.close();
      await pool.close();
      await exposed;
      audit.close();
      await redisFlight?.close();
      await upstream.close();
      await store.close();
      if (!deps.blobs) await blobs.close?.();
    },
  };
  // The scan workers warmed up while the rest started; listen only once they are ready, so the
  // first request does not pay for their start-up. A worker that cannot start stops the gateway.
  try {
    await pool.ready();
  } catch (e) {
    await gateway.close().catch(() => undefined);
    throw e;
  }
  return gateway;
}
