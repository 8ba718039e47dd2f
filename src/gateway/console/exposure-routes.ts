/**
 * /console/exposure: progress of the re-evaluations and the files whose verdict got worse, with
 * their downloaders; a POST (CSRF-checked) starts a run by hand. While a run goes on the page
 * asks the browser to reload it (a Refresh header: live progress without any script, so the
 * CSP keeps `script-src 'none'`).
 */
import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../context.js';
import type { ConsoleKit } from './kit.js';
import { exposurePage, type ExposedFile, type RunView } from './pages/exposure.js';
import { readForm } from './form.js';

const RUNS_SHOWN = 3;
const FILES_PAGE = 20;
const DOWNLOADS_SHOWN = 50;
export const EXPOSURE_REFRESH_S = 5;

/** Progress and notes of finished runs: they never change again, and counting a run reads one index entry per cached file. */
type Settled = Map<string, Omit<RunView, 'run'>>;
const SETTLED_KEPT = 50;

async function load(ctx: GatewayContext, settled: Settled, before: number | undefined): Promise<{ runs: RunView[]; files: ExposedFile[]; older: number | null }> {
  const [runs, exposures] = await Promise.all([ctx.store.listExposureRuns(RUNS_SHOWN), ctx.store.listExposures({ limit: FILES_PAGE + 1, ...(before !== undefined ? { before } : {}) })]);
  const runViews = await Promise.all(
    runs.map(async (run) => {
      const kept = settled.get(run.id);
      if (kept) return { run, ...kept };
      const [progress, notes] = await Promise.all([ctx.store.exposureProgress(run.id), ctx.store.exposureItemNotes(run.id, 20)]);
      if (run.finishedAt !== null) {
        if (settled.size >= SETTLED_KEPT) settled.delete(settled.keys().next().value!);
        settled.set(run.id, { progress, notes });
      }
      return { run, progress, notes };
    }),
  );
  const shown = exposures.slice(0, FILES_PAGE);
  const bySha = await ctx.store.servedDownloadsOf(
    shown.map((e) => e.sha256),
    DOWNLOADS_SHOWN,
  );
  const files = shown.map((exposure) => {
    const d = bySha.get(exposure.sha256)!;
    return { exposure, downloads: d.downloads, totalDownloads: d.total };
  });
  return { runs: runViews, files, older: exposures.length > FILES_PAGE ? (shown[shown.length - 1]?.id ?? null) : null };
}

function cursor(q: unknown): number | undefined {
  const raw = (q as Record<string, unknown>)['before'];
  return typeof raw === 'string' && /^\d{1,15}$/.test(raw) ? Number(raw) : undefined;
}

export function registerExposureConsole(app: FastifyInstance, ctx: GatewayContext, kit: ConsoleKit): void {
  const settled: Settled = new Map();
  app.get('/console/exposure', async (req, reply) => {
    const w = await kit.gate(req, reply, 'page');
    if (!w) return reply;
    const v = await load(ctx, settled, cursor(req.query));
    const live = v.runs.some((r) => r.run.finishedAt === null);
    if (live) reply.header('refresh', String(EXPOSURE_REFRESH_S));
    return kit.html(reply, 200, exposurePage({ ...kit.frame(w), ...v, refreshS: live ? EXPOSURE_REFRESH_S : 0 }));
  });

  app.get('/console/exposure.json', async (req, reply) => {
    if (!(await kit.gate(req, reply, 'data'))) return reply;
    const v = await load(ctx, settled, cursor(req.query));
    return kit.secureHeaders(reply).type('application/json; charset=utf-8').send(JSON.stringify(v));
  });

  app.post('/console/exposure/run', async (req, reply) => {
    const w = await kit.gate(req, reply, 'page');
    if (!w) return reply;
    const form = readForm(req);
    if (!kit.writeAllowed(req, w, typeof form === 'string' ? undefined : form.get('csrf')?.text)) return kit.forbidden(reply, 'refused: the form token is missing or does not match (reload the page)');
    const id = await ctx.exposure.request({ reason: 'manual', by: w.admin.name });
    ctx.log.info({ run: id, admin: w.admin.name }, 'exposure run started from the console');
    return kit.secureHeaders(reply).code(303).header('location', '/console/exposure').send();
  });
}
