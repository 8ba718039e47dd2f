/**
 * /console/study: the crawl store's study report, built by src/study in this process (no extra
 * server) and kept for a few minutes, since a whole hub's study takes a while to compute. The
 * report page is the CLI's self-contained HTML, which styles itself inline: it gets its own CSP
 * (inline styles only, no script, nothing fetched) instead of the console's.
 */
import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { openStore, parseStoreLocation, redactStoreUrl } from '../../store/open.js';
import { SqlStore } from '../../store/sql.js';
import { buildStudy, renderStudy, type Study } from '../../study/index.js';
import type { GatewayContext } from '../context.js';
import type { ConsoleKit } from './kit.js';
import { studyPage } from './pages/study.js';

export const STUDY_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const KEEP_MS = 5 * 60_000;

type Built = { ok: true; study: Study; at: string } | { ok: false; error: string; at: string };

export function registerStudyConsole(app: FastifyInstance, ctx: GatewayContext, kit: ConsoleKit): void {
  const location = ctx.config.crawlStore ?? null;
  const shown = location === null ? null : redactStoreUrl(location);
  let store: SqlStore | null = null;
  let owned = false;
  let cached: { built: Built; until: number } | null = null;
  let building: Promise<Built> | null = null;

  const open = (): SqlStore => {
    if (store) return store;
    if (location === ctx.config.store && ctx.store instanceof SqlStore) {
      store = ctx.store;
      return store;
    }
    const loc = parseStoreLocation(location!);
    // Opening a SQLite path creates the file: a typo must not become an empty study.
    if (loc.kind === 'sqlite' && loc.path !== ':memory:' && !existsSync(loc.path)) throw new Error(`no such store: ${loc.path}`);
    store = openStore(location!);
    owned = true;
    return store;
  };

  const build = async (): Promise<Built> => {
    const at = new Date().toISOString();
    try {
      const r = await buildStudy(open());
      return r.ok ? { ok: true, study: r.study, at } : { ok: false, error: redactStoreUrl(location!, r.error.message), at };
    } catch (e) {
      return { ok: false, error: redactStoreUrl(location!, (e as Error).message), at };
    }
  };

  /** One build at a time, shared by every request that arrives meanwhile. */
  const study = async (fresh: boolean): Promise<Built> => {
    if (!fresh && cached && cached.until > Date.now()) return cached.built;
    building ??= build().finally(() => {
      building = null;
    });
    const built = await building;
    cached = { built, until: Date.now() + KEEP_MS };
    return built;
  };

  app.addHook('onClose', async () => {
    if (owned) await store?.close().catch(() => undefined);
  });

  app.get('/console/study', async (req, reply) => {
    const w = await kit.gate(req, reply, 'page');
    if (!w) return reply;
    if (location === null) return kit.html(reply, 200, studyPage({ ...kit.frame(w), store: null, study: null, error: null, builtAt: null }));
    const fresh = (req.query as Record<string, unknown>)['fresh'] === '1';
    const b = await study(fresh);
    return kit.html(reply, b.ok ? 200 : 503, studyPage({ ...kit.frame(w), store: shown, study: b.ok ? b.study : null, error: b.ok ? null : b.error, builtAt: b.at }));
  });

  for (const [suffix, format, type] of [
    ['', 'html', 'text/html; charset=utf-8'],
    ['.json', 'json', 'application/json; charset=utf-8'],
    ['.md', 'markdown', 'text/markdown; charset=utf-8'],
  ] as const) {
    app.get(`/console/study/report${suffix}`, async (req, reply) => {
      const w = await kit.gate(req, reply, format === 'html' ? 'page' : 'data');
      if (!w) return reply;
      if (location === null) return kit.secureHeaders(reply).code(404).type('text/plain; charset=utf-8').send('no crawl store is configured (crawlStore, MODELGATE_CRAWL_STORE)\n');
      const b = await study(false);
      if (!b.ok) return kit.secureHeaders(reply).code(503).type('text/plain; charset=utf-8').send(`the study report could not be built: ${b.error}\n`);
      kit.secureHeaders(reply).type(type);
      if (format === 'html') reply.header('content-security-policy', STUDY_CSP);
      return reply.send(renderStudy(b.study, format));
    });
  }
}
