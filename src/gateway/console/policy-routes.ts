/**
 * /console/policy: the running policy, its history, and the dry run (POST, CSRF-checked). The
 * candidate is parsed by the same parser as the running policy, and any error is shown as that
 * parser words it (one line naming the key). A valid candidate starts a background run
 * (dry-run-job.ts) and the browser is sent to its page, which reloads itself (a Refresh header,
 * no script) until the result is there.
 */
import type { FastifyInstance } from 'fastify';
import { CompiledPolicy } from '../../policy/evaluate.js';
import { parsePolicy } from '../../policy/load.js';
import { PolicyError } from '../../policy/schema.js';
import type { RuleSet } from '../../policy/schema.js';
import type { GatewayContext } from '../context.js';
import { DRY_RUN_MAX_DAYS } from '../dry-run.js';
import { MAX_POLICY_BYTES } from '../policy-reload.js';
import type { ConsoleKit } from './kit.js';
import { readForm } from './form.js';
import { policyPage, policyVersionPage, type DryRunView, type RunningPolicy } from './pages/policy.js';

const HISTORY_PAGE = 20;
/** Seconds between reloads of a run's page while it goes on. */
export const DRY_RUN_REFRESH_S = 2;

async function runningPolicy(ctx: GatewayContext): Promise<RunningPolicy> {
  const p = ctx.gatekeeper.policy;
  const known = await ctx.store.getPolicyText({ version: p.version });
  const loads = await ctx.store.listPolicyLoads({ limit: 1 });
  const groups: Array<[string, RuleSet]> | null = p instanceof CompiledPolicy ? [['default', p.rulesFor('default')], ...p.groups.map((g): [string, RuleSet] => [g, p.rulesFor(g)])] : null;
  return {
    version: p.version,
    source: loads[0]?.version === p.version ? loads[0].source : (ctx.config.policy ?? null),
    sha256: known?.sha256 ?? null,
    text: known?.text ?? null,
    groups,
  };
}

export function registerPolicyConsole(app: FastifyInstance, ctx: GatewayContext, kit: ConsoleKit): void {
  const jobs = ctx.dryRuns;
  // Before the store closes: a run stops at its next pause.
  app.addHook('onClose', async () => jobs.close());
  const view = async (before: number | undefined) => {
    const [running, loads] = await Promise.all([runningPolicy(ctx), ctx.store.listPolicyLoads({ limit: HISTORY_PAGE + 1, ...(before !== undefined ? { before } : {}) })]);
    const history = loads.slice(0, HISTORY_PAGE);
    return { running, history, older: loads.length > HISTORY_PAGE ? (history[history.length - 1]?.id ?? null) : null };
  };

  app.get('/console/policy', async (req, reply) => {
    const w = await kit.gate(req, reply, 'page');
    if (!w) return reply;
    const raw = (req.query as Record<string, unknown>)['before'];
    const before = typeof raw === 'string' && /^\d{1,15}$/.test(raw) ? Number(raw) : undefined;
    return kit.html(reply, 200, policyPage({ ...kit.frame(w), ...(await view(before)) }));
  });

  app.post('/console/policy/dry-run', async (req, reply) => {
    const w = await kit.gate(req, reply, 'page');
    if (!w) return reply;
    const form = readForm(req);
    if (!kit.writeAllowed(req, w, typeof form === 'string' ? undefined : form.get('csrf')?.text)) return kit.forbidden(reply, 'refused: the form token is missing or does not match (reload the page)');
    const base = await view(undefined);
    const show = (status: number, dry: DryRunView) => kit.html(reply, status, policyPage({ ...kit.frame(w), ...base, dry }));
    if (typeof form === 'string') return show(400, { text: '', days: 7, error: `The form could not be read: ${form}.` });
    const daysText = form.get('days')?.text.trim() ?? '';
    const days = daysText === '' ? 7 : Number(daysText);
    const file = form.get('file');
    const upload = file && file.filename !== undefined && file.text.length > 0 ? file : null;
    const text = upload ? upload.text : (form.get('policy')?.text ?? '');
    const dry: DryRunView = { text, days: Number.isSafeInteger(days) ? days : 7 };
    if (!Number.isSafeInteger(days) || days < 1 || days > DRY_RUN_MAX_DAYS) return show(400, { ...dry, error: `Days must be a whole number from 1 to ${DRY_RUN_MAX_DAYS}.` });
    if (Buffer.byteLength(text) > MAX_POLICY_BYTES) return show(400, { ...dry, text: '', error: `The candidate policy is larger than ${MAX_POLICY_BYTES} bytes.` });
    if (text.trim() === '') return show(400, { ...dry, error: 'Paste a candidate policy or choose a policy file.' });
    let candidate;
    try {
      candidate = parsePolicy(text, upload ? `candidate ${upload.filename || 'file'}` : 'candidate policy');
    } catch (e) {
      if (e instanceof PolicyError) return show(400, { ...dry, error: e.message });
      throw e;
    }
    const started = jobs.start(candidate, text, days, w.admin.name);
    if ('busy' in started) return show(409, { ...dry, busy: started.busy, error: `Another dry run is going on (started by ${started.busy.by}); one runs at a time. Try again when it is finished.` });
    ctx.log.info({ run: started.job.id, admin: w.admin.name, candidate: candidate.version, days }, 'policy dry run started from the console');
    return kit.secureHeaders(reply).code(303).header('location', `/console/policy/dry-run/${started.job.id}`).send();
  });

  app.get<{ Params: { id: string } }>('/console/policy/dry-run/:id', async (req, reply) => {
    const w = await kit.gate(req, reply, 'page');
    if (!w) return reply;
    const job = /^[A-Za-z0-9_-]{16}$/.test(req.params.id) ? jobs.get(req.params.id) : null;
    const base = await view(undefined);
    if (!job) return kit.html(reply, 404, policyPage({ ...kit.frame(w), ...base, dry: { text: '', days: 7, error: 'No such dry run: its result is kept for a while and then dropped, and a restarted gateway (or another replica) does not know it. Run it again.' } }));
    // The URL named without the form's #dry-h: a refresh to the same URL with a fragment is only
    // a scroll in Chromium, never a reload.
    if (job.state === 'running') reply.header('refresh', `${DRY_RUN_REFRESH_S}; url=/console/policy/dry-run/${job.id}`);
    return kit.html(reply, 200, policyPage({ ...kit.frame(w), ...base, dry: { text: job.text, days: job.days, job, refreshS: job.state === 'running' ? DRY_RUN_REFRESH_S : 0 } }));
  });

  app.get<{ Params: { sha256: string } }>('/console/policy/versions/:sha256', async (req, reply) => {
    const w = await kit.gate(req, reply, 'page');
    if (!w) return reply;
    const sha256 = req.params.sha256;
    const t = /^[0-9a-f]{64}$/.test(sha256) ? await ctx.store.getPolicyText({ sha256 }) : null;
    return kit.html(reply, t ? 200 : 404, policyVersionPage({ ...kit.frame(w), sha256, version: t?.version ?? null, text: t?.text ?? null, found: t !== null }));
  });
}
