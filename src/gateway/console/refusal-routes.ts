/**
 * /console/refusal/<secret>: the page a refusal message links to, opened by the user it refused
 * without any login (the unguessable secret is the credential, and it opens that one decision),
 * and the waiver request posted from it. The form is protected like the login form: a
 * double-submit cookie plus the same-origin check, so another site cannot file requests even
 * if it learnt a link.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditRecord } from '../../store/types.js';
import type { GatewayContext } from '../context.js';
import { TICKET_LIFETIME_MS, TICKET_RE, ticketHash } from '../refusal-link.js';
import { formFields, secureHeaders, text, type ConsoleKit } from './kit.js';
import { askableRules, invalidLinkPage, refusalPage, type RefusalView } from './pages/refusal.js';
import { requestState } from './pages/waivers.js';
import { cookie, parseCookies, randomId, sameSecret } from './session.js';
import { fileRequest, MAX_PENDING_PER_REQUESTER, parseText } from './waiver-actions.js';

export const REQUEST_COOKIE = 'mg_console_req';
/** Requests one refusal may have waiting at once (a link is not a licence to flood the queue). */
export const MAX_PENDING_PER_REFUSAL = 3;

export function registerRefusal(app: FastifyInstance, ctx: GatewayContext, kit: ConsoleKit): void {
  const decisionOf = async (secret: string): Promise<AuditRecord | null> => {
    if (!TICKET_RE.test(secret)) return null;
    const rec = await ctx.store.findAuditByTicket(ticketHash(secret));
    if (!rec || Date.now() - Date.parse(rec.time) > TICKET_LIFETIME_MS) return null;
    return rec;
  };

  const render = async (req: FastifyRequest, reply: FastifyReply, status: number, rec: AuditRecord, secret: string, extra: Partial<RefusalView>): Promise<FastifyReply> => {
    const [scan, requests] = await Promise.all([rec.scanId ? ctx.store.getScanById(rec.scanId) : null, ctx.store.listWaiverRequests({ auditId: rec.id!, limit: 50 })]);
    const waivers = await Promise.all(requests.map((r) => (r.waiverId ? ctx.store.getWaiver(r.waiverId) : null)));
    const now = Date.now();
    const rows = requests.map((r, i) => ({ request: r, state: requestState(r, waivers[i] ?? null, now), expiresAt: waivers[i]?.expiresAt ?? null }));
    const csrf = randomId();
    reply.header('set-cookie', cookie(REQUEST_COOKIE, csrf, { maxAgeS: 3600, secure: kit.secure(req) }));
    const view: RefusalView = {
      rec,
      scan,
      requests: rows,
      csrf,
      action: `/console/refusal/${secret}`,
      form: { scope: '', rule: '', justification: '' },
      canAsk: rows.filter((r) => r.state === 'pending').length < MAX_PENDING_PER_REFUSAL,
      ...extra,
    };
    return kit.html(reply, status, refusalPage(view));
  };

  app.get<{ Params: { secret: string } }>('/console/refusal/:secret', async (req, reply) => {
    const rec = await decisionOf(req.params.secret);
    if (!rec) return kit.html(reply, 404, invalidLinkPage());
    return render(req, reply, 200, rec, req.params.secret, (req.query as Record<string, unknown>)['sent'] === '1' ? { sent: true } : {});
  });

  app.post<{ Params: { secret: string } }>('/console/refusal/:secret', async (req, reply) => {
    const f = formFields(req.body);
    if (!kit.sameOrigin(req) || !f['csrf'] || !sameSecret(parseCookies(req.headers.cookie)[REQUEST_COOKIE], f['csrf'])) {
      return text(reply, 403, 'refused: the form token is missing or does not match (reload the page)');
    }
    const rec = await decisionOf(req.params.secret);
    if (!rec) return kit.html(reply, 404, invalidLinkPage());
    const form = { scope: f['scope'] ?? '', rule: f['rule'] ?? '', justification: f['justification'] ?? '' };
    const fail = (error: string) => render(req, reply, 400, rec, req.params.secret, { form, error });
    if (form.scope !== 'file' && form.scope !== 'repo') return fail('choose what the waiver should cover');
    if (form.scope === 'file' && !rec.sha256) return fail("this file's sha256 is unknown: ask for the repository");
    if (form.rule !== '' && !askableRules(rec).includes(form.rule)) return fail('choose one of the rules that refused this file');
    const why = parseText(form.justification, 'the justification');
    if (!why.ok) return fail(why.error);
    const waiting = (await ctx.store.listWaiverRequests({ auditId: rec.id!, status: 'pending', limit: 50 })).length;
    if (waiting >= MAX_PENDING_PER_REFUSAL) return fail('your earlier requests for this refusal are still waiting for an answer');
    // Every refusal brings a new link: without a cap per requester, anyone (anonymous@<address>
    // included) could fill the admins' queue by fetching blocked files and asking from each link.
    const mine = (await ctx.store.listWaiverRequests({ requester: rec.client, status: 'pending', limit: MAX_PENDING_PER_REQUESTER })).length;
    if (mine >= MAX_PENDING_PER_REQUESTER) return fail(`${rec.client} has ${MAX_PENDING_PER_REQUESTER} waiver requests waiting already; wait for an answer`);
    const repo = rec.repoType === 'dataset' ? `datasets/${rec.repo}` : rec.repo;
    await fileRequest(ctx, req, {
      by: { name: rec.client, group: rec.group },
      via: 'link',
      auditId: rec.id!,
      repoType: rec.repoType,
      scope: { repo, sha256: form.scope === 'file' ? rec.sha256 : null, rule: form.rule === '' ? null : form.rule },
      justification: why.value,
    });
    return secureHeaders(reply).code(303).header('location', `/console/refusal/${req.params.secret}?sent=1#requests`).send();
  });
}
