/**
 * /console: the operators' web console, served by the gateway process itself. Server-rendered
 * HTML with one stylesheet of ours and no script, behind an admin login: an admin token is
 * exchanged for a session cookie (or sent as `Authorization: Bearer` by scripts). Every write
 * (login, logout) carries a CSRF token; every page is sent with a strict CSP that allows
 * nothing but our own stylesheet, and may not be framed.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { packageRoot } from '../../core/package.js';
import type { AuditRecord } from '../../store/types.js';
import { checkAdmin, hashSecret, throttledMessage } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { CONSOLE_CSS, FAVICON_SVG } from './assets.js';
import { POLICY_CSS } from './assets-policy.js';
import { DayCache, Kept } from './day-cache.js';
import { CSV_COLUMNS, csvRow, exportRecords } from './export.js';
import { parseFilters } from './filters.js';
import { activityPage } from './pages/activity.js';
import { filePage, RULE_ID } from './pages/file.js';
import { loginPage } from './pages/login.js';
import { lastDays, overviewPage, type HealthRow } from './pages/overview.js';
import { esc, escBlock, page, studyNavOff } from './html.js';
import { formFields, sendHtml, secureHeaders, text, type ConsoleKit, type Who } from './kit.js';
import { registerInventory } from './inventory-routes.js';
import { registerRefusal } from './refusal-routes.js';
import { cookie, LOGIN_COOKIE, parseCookies, randomId, sameSecret, SESSION_COOKIE, Sessions } from './session.js';
import { registerWaivers } from './waiver-routes.js';

export { CSP } from './kit.js';
import { registerExposureConsole } from './exposure-routes.js';
import { registerPolicyConsole } from './policy-routes.js';
import { registerStudyConsole } from './study-routes.js';

/** What the readiness probe computes, shared with the overview's health table. */
export interface Health {
  ready: boolean;
  store: boolean;
  /** null when the part is not configured. */
  redis: boolean | null;
  blobs: boolean | null;
  /** Free space in the data directory, and the upstream answering, when the probe checks them. */
  disk?: boolean;
  upstream?: boolean;
}

const OVERVIEW_DAYS = 14;
const RECENT = 10;
const TOP = 10;

export function registerConsole(app: FastifyInstance, ctx: GatewayContext, health: () => Promise<Health>): void {
  const sessions = new Sessions();
  const dayCache = new DayCache(ctx.store);
  const overviewWindow = () => {
    const days = lastDays(new Date(), OVERVIEW_DAYS);
    return { days, since: `${days[0]}T00:00:00.000Z`, todayStart: `${days[days.length - 1]}T00:00:00.000Z` };
  };
  // The top lists change only with a new refusal or warning: keyed by the newest of each (two
  // index lookups), they are recomputed only when one arrived.
  const topKey = async (since: string) => {
    const [block, warn] = await Promise.all([ctx.store.queryAudit({ verdict: 'block', limit: 1 }), ctx.store.queryAudit({ verdict: 'warn', limit: 1 })]);
    return JSON.stringify([since, block[0]?.id ?? 0, warn[0]?.id ?? 0]);
  };
  const topCache = new Kept((key) => ctx.store.auditTop((JSON.parse(key) as [string])[0], TOP));
  // Counted in the background from start-up on, so no page view pays for the past days or the
  // top lists.
  app.addHook('onReady', async () => {
    dayCache.start(overviewWindow);
    topCache.start(() => topKey(overviewWindow().since));
  });
  app.addHook('onClose', async () => {
    await dayCache.stop();
    await topCache.stop();
  });
  // One count per address for the login form and bearer tokens alike (the admin API shares it).
  const throttle = ctx.throttle;
  const html = (reply: FastifyReply, status: number, body: string) => sendHtml(reply, status, ctx.config.crawlStore ? body : studyNavOff(body));
  const secure = (req: FastifyRequest) => req.protocol === 'https' || ctx.base().startsWith('https:');

  /** Requests whose bearer token was not checked because their address guessed too often: seconds to wait. */
  const throttled = new WeakMap<FastifyRequest, number>();
  /** Answers a throttled request (429) and returns true, or returns false. */
  const refuseThrottled = (req: FastifyRequest, reply: FastifyReply): boolean => {
    const wait = throttled.get(req);
    if (wait === undefined) return false;
    secureHeaders(reply).code(429).header('retry-after', String(wait)).type('text/plain; charset=utf-8').send(`${throttledMessage(wait)}\n`);
    return true;
  };

  /** A bearer admin token, or a live session whose token is still an unrevoked admin. */
  const who = async (req: FastifyRequest): Promise<Who | null> => {
    if (req.headers.authorization) {
      const admin = await checkAdmin(req, ctx.store, throttle);
      if (!admin.ok && admin.status === 429) throttled.set(req, admin.retryAfter);
      return admin.ok ? { admin: admin.token, session: null } : null;
    }
    const s = sessions.get(parseCookies(req.headers.cookie)[SESSION_COOKIE]);
    if (!s) return null;
    const token = await ctx.store.findToken(s.secretHash);
    if (!token || token.revokedAt || token.role !== 'admin') {
      sessions.destroy(s.id);
      return null;
    }
    return { admin: token, session: s };
  };

  /** Pages send a browser to the login form; exports and bad bearer tokens get a plain 401. */
  const gate = async (req: FastifyRequest, reply: FastifyReply, kind: 'page' | 'data'): Promise<Who | null> => {
    const w = await who(req);
    if (w) return w;
    if (refuseThrottled(req, reply)) return null;
    if (kind === 'page' && !req.headers.authorization) secureHeaders(reply).code(303).header('location', '/console/login').send();
    else secureHeaders(reply).code(401).type('text/plain; charset=utf-8').send('admin token or console session required\n');
    return null;
  };

  /** Cross-site writes: a foreign Origin is refused outright, then the form must echo the token. */
  const sameOrigin = (req: FastifyRequest): boolean => {
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
    // Browsers send Origin on form posts (`null` under a no-referrer policy, hence same-origin above).
    const origin = req.headers.origin;
    if (!origin) return true;
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      return false;
    }
    const pub = ctx.base() ? new URL(ctx.base()).host : '';
    return host === req.headers.host || host === pub;
  };

  const forbidden = (reply: FastifyReply, why: string) => text(reply, 403, why);
  const frame = (w: Who) => ({ who: w.admin.name, ...(w.session ? { csrf: w.session.csrf } : {}) });

  const adminWrite = async (req: FastifyRequest, reply: FastifyReply, fields: Record<string, string>): Promise<Who | null> => {
    const w = await who(req);
    if (!w) {
      if (refuseThrottled(req, reply)) return null;
      text(reply, 401, 'admin token or console session required');
      return null;
    }
    if (w.session && (!sameOrigin(req) || !sameSecret(fields['csrf'], w.session.csrf))) {
      forbidden(reply, 'refused: the form token is missing or does not match (reload the page)');
      return null;
    }
    return w;
  };
  const kit: ConsoleKit = {
    who,
    gate,
    adminWrite,
    sameOrigin,
    secure,
    frame,
    html,
    secureHeaders,
    forbidden,
    writeAllowed: (req, w, csrf) => (w.session ? sameOrigin(req) && sameSecret(csrf, w.session.csrf) : true),
  };
  registerWaivers(app, ctx, kit);
  registerRefusal(app, ctx, kit);
  registerInventory(app, ctx, kit);
  registerPolicyConsole(app, ctx, kit);
  registerExposureConsole(app, ctx, kit);
  registerStudyConsole(app, ctx, kit);

  app.get('/console/assets/console.css', async (_req, reply) => secureHeaders(reply).header('cache-control', 'max-age=300').type('text/css; charset=utf-8').send(CONSOLE_CSS + POLICY_CSS));

  app.get('/console/assets/favicon.svg', async (_req, reply) => secureHeaders(reply).header('cache-control', 'max-age=300').type('image/svg+xml').send(FAVICON_SVG));

  app.get('/console/', async (_req, reply) => secureHeaders(reply).code(308).header('location', '/console').send());

  app.get('/console/login', async (req, reply) => {
    if (await who(req)) return secureHeaders(reply).code(303).header('location', '/console').send();
    const csrf = randomId();
    reply.header('set-cookie', cookie(LOGIN_COOKIE, csrf, { maxAgeS: 900, secure: secure(req) }));
    return html(reply, 200, loginPage(csrf));
  });

  app.post('/console/login', async (req, reply) => {
    const f = formFields(req.body);
    if (!sameOrigin(req) || !sameSecret(parseCookies(req.headers.cookie)[LOGIN_COOKIE], f['csrf'] ?? '') || !f['csrf']) {
      return forbidden(reply, 'login refused: the form token is missing or does not match (reload the login page)');
    }
    const wait = throttle.blockedFor(req.ip);
    if (wait > 0) return secureHeaders(reply).code(429).header('retry-after', String(wait)).type('text/plain; charset=utf-8').send(`${throttledMessage(wait)}\n`);
    const secret = (f['token'] ?? '').trim();
    const hash = hashSecret(secret);
    const token = secret ? await ctx.store.findToken(hash) : null;
    if (!token || token.revokedAt || token.role !== 'admin') {
      throttle.fail(req.ip);
      ctx.log.warn({ ip: req.ip }, 'console login refused');
      const csrf = randomId();
      reply.header('set-cookie', cookie(LOGIN_COOKIE, csrf, { maxAgeS: 900, secure: secure(req) }));
      return html(reply, 401, loginPage(csrf, 'That is not a valid admin token.'));
    }
    throttle.succeed(req.ip);
    const s = sessions.create(token, hash);
    ctx.log.info({ admin: token.name }, 'console login');
    reply.header('set-cookie', [cookie(SESSION_COOKIE, s.id, { maxAgeS: Math.floor((s.expiresAt - Date.now()) / 1000), secure: secure(req) }), cookie(LOGIN_COOKIE, '', { maxAgeS: 0, secure: secure(req) })]);
    return secureHeaders(reply).code(303).header('location', '/console').send();
  });

  app.post('/console/logout', async (req, reply) => {
    const w = await who(req);
    if (!w?.session) return forbidden(reply, 'no console session');
    if (!sameOrigin(req) || !sameSecret(formFields(req.body)['csrf'], w.session.csrf)) return forbidden(reply, 'refused: the form token is missing or does not match');
    sessions.destroy(w.session.id);
    reply.header('set-cookie', cookie(SESSION_COOKIE, '', { maxAgeS: 0, secure: secure(req) }));
    return secureHeaders(reply).code(303).header('location', '/console/login').send();
  });

  app.get('/console', async (req, reply) => {
    const w = await gate(req, reply, 'page');
    if (!w) return reply;
    const { days, since, todayStart } = overviewWindow();
    const [counts, top, recent, h] = await Promise.all([dayCache.days(since, todayStart), topKey(since).then((k) => topCache.get(k)), ctx.store.queryAudit({ limit: RECENT }), health()]);
    const rows: HealthRow[] = [
      { part: 'gateway', ok: h.ready, detail: h.ready ? 'listening' : 'not ready' },
      { part: 'store', ok: h.store, detail: /^postgres(ql)?:/i.test(ctx.config.store ?? '') ? 'PostgreSQL' : 'SQLite' },
      { part: 'blob store', ok: h.blobs, detail: h.blobs === null ? 'local files (no remote tier to probe)' : 'S3-compatible remote tier' },
      { part: 'scan workers', ok: true, detail: `${ctx.config.scanWorkers} worker${ctx.config.scanWorkers === 1 ? '' : 's'}, ${ctx.pool.pending} scan${ctx.pool.pending === 1 ? '' : 's'} waiting` },
      { part: 'upstream', ok: h.upstream ?? null, detail: `${new URL(ctx.config.upstream).origin}${h.upstream === undefined ? ' (the readiness probe does not call it)' : ''}` },
      ...(h.disk !== undefined ? [{ part: 'cache disk', ok: h.disk, detail: 'room for new downloads in the data directory' }] : []),
      ...(h.redis !== null ? [{ part: 'Redis', ok: h.redis, detail: 'download coordination between replicas' }] : []),
      { part: 'policy', ok: true, detail: `version ${ctx.gatekeeper.policy.version}` },
    ];
    return html(reply, 200, overviewPage({ ...frame(w), days, counts, top, statsSince: since, recent, health: rows }));
  });

  app.get('/console/activity', async (req, reply) => {
    const w = await gate(req, reply, 'page');
    if (!w) return reply;
    const p = parseFilters(req.query as Record<string, unknown>);
    if (!p.ok) return html(reply, 400, activityPage({ ...frame(w), echo: p.echo, records: [], older: null, newer: null, limit: 50, error: p.error }));
    // One record more than the page tells whether there is a further page in that direction.
    let records: AuditRecord[];
    let older: number | null;
    let newer: number | null;
    if (p.after !== undefined) {
      const got = await ctx.store.queryAudit({ ...p.query, limit: p.limit + 1, after: p.after });
      records = got.length > p.limit ? got.slice(1) : got;
      newer = got.length > p.limit ? (records[0]?.id ?? null) : null;
      older = records[records.length - 1]?.id ?? p.after + 1;
    } else {
      const got = await ctx.store.queryAudit({ ...p.query, limit: p.limit + 1, ...(p.before !== undefined ? { before: p.before } : {}) });
      records = got.slice(0, p.limit);
      older = got.length > p.limit ? (records[records.length - 1]?.id ?? null) : null;
      newer = p.before !== undefined ? (records[0]?.id ?? p.before - 1) : null;
    }
    return html(reply, 200, activityPage({ ...frame(w), echo: p.echo, records, older, newer, limit: p.limit }));
  });

  for (const format of ['jsonl', 'csv'] as const) {
    app.get(`/console/activity.${format}`, async (req, reply) => {
      if (!(await gate(req, reply, 'data'))) return reply;
      const p = parseFilters(req.query as Record<string, unknown>);
      if (!p.ok) return secureHeaders(reply).code(400).type('text/plain; charset=utf-8').send(`${p.error}\n`);
      const { records, truncated } = await exportRecords(ctx.store, p.query);
      secureHeaders(reply)
        .header('content-disposition', `attachment; filename="modelgate-audit.${format}"`)
        .header('x-modelgate-export-truncated', truncated ? 'true' : 'false');
      const body = async function* (): AsyncGenerator<string> {
        if (format === 'csv') yield `${CSV_COLUMNS.join(',')}\r\n`;
        for await (const page of records) yield format === 'jsonl' ? page.map((r) => `${JSON.stringify(r)}\n`).join('') : page.map((r) => `${csvRow(r)}\r\n`).join('');
      };
      return reply.type(format === 'jsonl' ? 'application/x-ndjson; charset=utf-8' : 'text/csv; charset=utf-8').send(Readable.from(body(), { highWaterMark: 1 }));
    });
  }

  app.get<{ Params: { id: string } }>('/console/audit/:id', async (req, reply) => {
    const w = await gate(req, reply, 'page');
    if (!w) return reply;
    const id = Number(req.params.id);
    const rec = Number.isSafeInteger(id) && id > 0 ? (await ctx.store.queryAudit({ before: id + 1, limit: 1 }))[0] : undefined;
    if (!rec || rec.id !== id) return html(reply, 404, filePage({ ...frame(w), rec: null, scan: null, downloads: [] }));
    const [scan, downloads, requests] = await Promise.all([rec.scanId ? ctx.store.getScanById(rec.scanId) : null, rec.sha256 ? ctx.store.queryAudit({ sha256: rec.sha256, limit: 100 }) : [], ctx.store.listWaiverRequests({ auditId: id, limit: 50 })]);
    return html(reply, 200, filePage({ ...frame(w), rec, scan, downloads, requests }));
  });

  // Rule pages are the package's own documentation, readable without a login: the page a
  // refusal links to (for a user who is no admin) links to them.
  app.get<{ Params: { id: string } }>('/console/rules/:id', async (req, reply) => {
    const w = await who(req);
    const fr = w ? frame(w) : {};
    const id = req.params.id;
    const doc = RULE_ID.test(id) ? await readFile(join(packageRoot(), 'docs', 'rules', `${id}.md`), 'utf8').catch(() => null) : null;
    if (doc === null) return html(reply, 404, page({ title: 'No such rule', nav: 'file', ...fr }, `<h1>No page for rule <code>${esc(id)}</code></h1>`));
    return html(reply, 200, page({ title: id, nav: 'file', ...fr }, `<h1>Rule <code>${esc(id)}</code></h1><pre class="doc">${escBlock(doc)}</pre>`));
  });
}
