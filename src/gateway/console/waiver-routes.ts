/**
 * /console/waivers: the admins' pages and forms of the waiver workflow (approve with an expiry,
 * reject, revoke; each a CSRF-checked POST that answers with a redirect), and
 * /console/waiver-requests: the API a holder of any gateway token uses to ask for a waiver and
 * follow their own requests (bearer token only, so no cookie can be borrowed by another site).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Waiver, WaiverRequest } from '../../store/types.js';
import { identify } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { refuse } from '../http.js';
import { formFields, secureHeaders, text, type ConsoleKit, type Who } from './kit.js';
import { requestPage, requestState, waiversPage, type RequestView } from './pages/waivers.js';
import { approve, DEFAULT_DAYS, fileRequest, MAX_PENDING_PER_REQUESTER, MAX_TEXT, parseExpiry, parseNote, parseScope, parseText, reject, revoke } from './waiver-actions.js';

const ID = /^[0-9a-f]{16}$/;

const RequestInput = z
  .object({
    repo: z.string().max(200).optional(),
    sha256: z.string().max(64).optional(),
    rule: z.string().max(100).optional(),
    justification: z.string().max(MAX_TEXT),
  })
  .strict();

function dayAfter(days: number): string {
  return new Date(Date.now() + days * 86400_000).toISOString().slice(0, 10);
}

/** What a requester may see of their request. */
function publicRequest(r: WaiverRequest, w: Waiver | null): Record<string, unknown> {
  return { id: r.id, createdAt: r.createdAt, repoType: r.repoType, repo: r.repo, sha256: r.sha256, rule: r.rule, justification: r.justification, state: requestState(r, w, Date.now()), decidedAt: r.decidedAt, note: r.note, expiresAt: w?.expiresAt ?? null };
}

export function registerWaivers(app: FastifyInstance, ctx: GatewayContext, kit: ConsoleKit): void {
  const actor = (w: Who) => ({ name: w.admin.name, group: w.admin.group });

  const requestView = async (w: Who, id: string, form?: Partial<RequestView['form']>, error?: string): Promise<RequestView> => {
    const r = ID.test(id) ? await ctx.store.getWaiverRequest(id) : null;
    const [decision, waiver] = await Promise.all([
      r?.auditId ? ctx.store.queryAudit({ before: r.auditId + 1, limit: 1 }).then((x) => (x[0]?.id === r.auditId ? x[0] : null)) : null,
      r?.waiverId ? ctx.store.getWaiver(r.waiverId) : null,
    ]);
    return {
      ...kit.frame(w),
      request: r,
      decision: decision ?? null,
      waiver,
      state: r ? requestState(r, waiver, Date.now()) : 'pending',
      form: { repo: r?.repo ?? '', sha256: r?.sha256 ?? '', rule: r?.rule ?? '', expires: dayAfter(DEFAULT_DAYS), note: '', ...form },
      ...(error ? { error } : {}),
    };
  };

  app.get('/console/waivers', async (req, reply) => {
    const w = await kit.gate(req, reply, 'page');
    if (!w) return reply;
    const now = Date.now();
    const [pending, recent, all] = await Promise.all([ctx.store.listWaiverRequests({ status: 'pending', limit: 500 }), ctx.store.listWaiverRequests({ limit: 100 }), ctx.store.listWaivers()]);
    const byId = new Map(all.map((x) => [x.id, x]));
    const decided = recent.filter((r) => r.status !== 'pending').slice(0, 50).map((r) => ({ request: r, state: requestState(r, r.waiverId ? (byId.get(r.waiverId) ?? null) : null, now) }));
    const live = (x: Waiver) => x.revokedAt === null && Date.parse(x.expiresAt) > now;
    const active = all.filter(live).sort((a, b) => a.expiresAt.localeCompare(b.expiresAt));
    const ended = all.filter((x) => !live(x)).sort((a, b) => (b.revokedAt ?? b.expiresAt).localeCompare(a.revokedAt ?? a.expiresAt)).slice(0, 50);
    const q = req.query as Record<string, unknown>;
    const notice = typeof q['done'] === 'string' ? { approved: 'Approved: the waiver is in force.', rejected: 'Rejected.', revoked: 'Revoked: the next download is judged without it.' }[q['done']] : undefined;
    return kit.html(reply, 200, waiversPage({ ...kit.frame(w), pending: [...pending].reverse(), decided, active, ended, ...(notice ? { notice } : {}) }));
  });

  app.get<{ Params: { id: string } }>('/console/waivers/requests/:id', async (req, reply) => {
    const w = await kit.gate(req, reply, 'page');
    if (!w) return reply;
    const v = await requestView(w, req.params.id);
    return kit.html(reply, v.request ? 200 : 404, requestPage(v));
  });

  app.post<{ Params: { id: string } }>('/console/waivers/requests/:id/approve', async (req, reply) => {
    const f = formFields(req.body);
    const w = await kit.adminWrite(req, reply, f);
    if (!w) return reply;
    const r = ID.test(req.params.id) ? await ctx.store.getWaiverRequest(req.params.id) : null;
    if (!r) return text(reply, 404, `no waiver request ${req.params.id}`);
    const echo = { repo: f['repo'] ?? '', sha256: f['sha256'] ?? '', rule: f['rule'] ?? '', expires: f['expires'] ?? '', note: f['note'] ?? '' };
    const scope = parseScope(f);
    const expires = parseExpiry(f['expires'], new Date());
    const note = parseNote(f['note']);
    const error = !scope.ok ? scope.error : !expires.ok ? expires.error : !note.ok ? note.error : null;
    if (error || !scope.ok || !expires.ok || !note.ok) return kit.html(reply, 400, requestPage(await requestView(w, r.id, echo, error ?? 'invalid')));
    const made = await approve(ctx, req, actor(w), r, scope.value, expires.value, note.value);
    if (!made) return kit.html(reply, 409, requestPage(await requestView(w, r.id, echo, 'This request was answered already.')));
    return done(reply, 'approved');
  });

  app.post<{ Params: { id: string } }>('/console/waivers/requests/:id/reject', async (req, reply) => {
    const f = formFields(req.body);
    const w = await kit.adminWrite(req, reply, f);
    if (!w) return reply;
    const r = ID.test(req.params.id) ? await ctx.store.getWaiverRequest(req.params.id) : null;
    if (!r) return text(reply, 404, `no waiver request ${req.params.id}`);
    const note = parseNote(f['note']);
    if (!note.ok) return kit.html(reply, 400, requestPage(await requestView(w, r.id, {}, note.error)));
    if (!(await reject(ctx, req, actor(w), r, note.value))) return kit.html(reply, 409, requestPage(await requestView(w, r.id, {}, 'This request was answered already.')));
    return done(reply, 'rejected');
  });

  app.post<{ Params: { id: string } }>('/console/waivers/:id/revoke', async (req, reply) => {
    const f = formFields(req.body);
    const w = await kit.adminWrite(req, reply, f);
    if (!w) return reply;
    const waiver = /^[A-Za-z0-9_-]{1,64}$/.test(req.params.id) ? await ctx.store.getWaiver(req.params.id) : null;
    if (!waiver) return text(reply, 404, `no waiver ${req.params.id}`);
    if (!(await revoke(ctx, req, actor(w), waiver))) return text(reply, 409, `waiver ${waiver.id} was revoked already`);
    return done(reply, 'revoked');
  });

  // The token API: any unrevoked gateway token (client or admin) asks in its own name.
  const tokenHolder = async (req: FastifyRequest, reply: FastifyReply) => {
    const id = req.headers.authorization?.match(/^Bearer\s+mg_/i) ? await identify(req, ctx.store, ctx.config, ctx.throttle) : null;
    if (id && !id.ok && id.status === 429) {
      await refuse(reply, 429, id.message, { retryAfter: id.retryAfter });
      return null;
    }
    if (!id?.ok || !id.token) {
      await refuse(reply, 401, 'a modelgate token is required (Authorization: Bearer mg_...)');
      return null;
    }
    return id.token;
  };

  app.post('/console/waiver-requests', async (req, reply) => {
    const token = await tokenHolder(req, reply);
    if (!token) return reply;
    let body: unknown = req.body;
    if (Buffer.isBuffer(body)) {
      try {
        body = JSON.parse(body.toString('utf8'));
      } catch {
        return refuse(reply, 400, 'invalid waiver request: the body is not JSON');
      }
    }
    const parsed = RequestInput.safeParse(body);
    if (!parsed.success) return refuse(reply, 400, `invalid waiver request: ${parsed.error.issues[0]!.path.join('.') || 'body'}: ${parsed.error.issues[0]!.message}`);
    const scope = parseScope(parsed.data);
    if (!scope.ok) return refuse(reply, 400, `invalid waiver request: ${scope.error}`);
    const why = parseText(parsed.data.justification, 'justification');
    if (!why.ok) return refuse(reply, 400, `invalid waiver request: ${why.error}`);
    const pending = await ctx.store.listWaiverRequests({ requester: token.name, status: 'pending', limit: MAX_PENDING_PER_REQUESTER });
    if (pending.length >= MAX_PENDING_PER_REQUESTER) return refuse(reply, 429, `${token.name} has ${MAX_PENDING_PER_REQUESTER} waiver requests waiting already; wait for an answer`);
    const r = await fileRequest(ctx, req, { by: { name: token.name, group: token.group }, via: 'token', auditId: null, repoType: scope.value.repo?.startsWith('datasets/') ? 'dataset' : 'model', scope: scope.value, justification: why.value });
    return secureHeaders(reply).code(201).send(publicRequest(r, null));
  });

  app.get('/console/waiver-requests', async (req, reply) => {
    const token = await tokenHolder(req, reply);
    if (!token) return reply;
    const mine = await ctx.store.listWaiverRequests({ requester: token.name, limit: 100 });
    const waivers = await Promise.all(mine.map((r) => (r.waiverId ? ctx.store.getWaiver(r.waiverId) : null)));
    return secureHeaders(reply).send({ requests: mine.map((r, i) => publicRequest(r, waivers[i] ?? null)) });
  });
}

function done(reply: FastifyReply, what: 'approved' | 'rejected' | 'revoked'): FastifyReply {
  return secureHeaders(reply).code(303).header('location', `/console/waivers?done=${what}`).send();
}
