/**
 * The admin API (bearer admin token): audit queries and JSONL export, waivers, tokens.
 * Every change is itself audited. Secrets are shown once, at creation, and stored hashed.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AuditQuery, AuditVerdict } from '../../store/types.js';
import { checkAdmin, hashSecret, throttledMessage } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { refuse } from '../http.js';
import { reloadPolicy } from '../policy-reload.js';

const WaiverInput = z.object({
  repo: z.string().min(1).max(200).optional(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  rule: z.string().min(1).max(100).optional(),
  reason: z.string().min(3).max(1000),
  expiresAt: z.string().datetime(),
}).strict().refine((w) => w.repo !== undefined || w.sha256 !== undefined || w.rule !== undefined, { message: 'a waiver needs at least one of repo, sha256, rule' });

const TokenInput = z.object({ name: z.string().min(1).max(100), role: z.enum(['admin', 'client']).default('client'), group: z.string().min(1).max(100).default('default') }).strict();

export function newSecret(): string {
  return `mg_${randomBytes(32).toString('base64url')}`;
}

function auditQuery(q: Record<string, string | undefined>): AuditQuery | string {
  const out: AuditQuery = {};
  if (q['repo']) out.repo = q['repo'];
  if (q['client']) out.client = q['client'];
  if (q['sha256']) out.sha256 = q['sha256'];
  if (q['verdict']) {
    if (!['allow', 'warn', 'block', 'error'].includes(q['verdict'])) return `verdict must be allow, warn, block or error`;
    out.verdict = q['verdict'] as AuditVerdict;
  }
  for (const k of ['since', 'until'] as const) {
    const v = q[k];
    if (v) {
      if (Number.isNaN(Date.parse(v))) return `${k} must be an ISO-8601 time`;
      out[k] = new Date(v).toISOString();
    }
  }
  if (q['before']) {
    const n = Number(q['before']);
    if (!Number.isSafeInteger(n) || n <= 0) return 'before must be a positive integer (an audit id)';
    out.before = n;
  }
  if (q['limit']) {
    const n = Number(q['limit']);
    if (!Number.isSafeInteger(n) || n <= 0 || n > 1000) return 'limit must be between 1 and 1000';
    out.limit = n;
  }
  return out;
}

export function registerAdmin(app: FastifyInstance, ctx: GatewayContext): void {
  const guard = async (req: FastifyRequest, reply: FastifyReply) => {
    const admin = await checkAdmin(req, ctx.store, ctx.throttle);
    if (!admin.ok) {
      if (admin.status === 429) await refuse(reply, 429, throttledMessage(admin.retryAfter), { retryAfter: admin.retryAfter });
      else await refuse(reply, 401, 'admin token required (Authorization: Bearer mg_...)');
      return null;
    }
    return admin.token;
  };

  app.get('/admin/audit', async (req, reply) => {
    if (!(await guard(req, reply))) return reply;
    const q = auditQuery(req.query as Record<string, string>);
    if (typeof q === 'string') return refuse(reply, 400, q);
    const records = await ctx.store.queryAudit({ limit: 100, ...q });
    const last = records[records.length - 1];
    const next = records.length === (q.limit ?? 100) && last?.id !== undefined ? last.id : null;
    return reply.send({ records, next });
  });

  app.get('/admin/audit.jsonl', async (req, reply) => {
    if (!(await guard(req, reply))) return reply;
    const q = auditQuery(req.query as Record<string, string>);
    if (typeof q === 'string') return refuse(reply, 400, q);
    reply.type('application/x-ndjson');
    const lines: string[] = [];
    let before = q.before;
    for (;;) {
      const page = await ctx.store.queryAudit({ ...q, limit: 1000, ...(before !== undefined ? { before } : {}) });
      for (const r of page) lines.push(JSON.stringify(r));
      if (page.length < 1000) break;
      before = page[page.length - 1]!.id;
      if (lines.length >= 1_000_000) break;
    }
    return reply.send(lines.join('\n') + (lines.length ? '\n' : ''));
  });

  app.get('/admin/waivers', async (req, reply) => {
    if (!(await guard(req, reply))) return reply;
    return reply.send({ waivers: await ctx.store.listWaivers() });
  });

  app.post('/admin/waivers', async (req, reply) => {
    const admin = await guard(req, reply);
    if (!admin) return reply;
    const parsed = WaiverInput.safeParse(req.body);
    if (!parsed.success) return refuse(reply, 400, `invalid waiver: ${parsed.error.issues[0]!.path.join('.') || 'body'}: ${parsed.error.issues[0]!.message}`);
    if (Date.parse(parsed.data.expiresAt) <= Date.now()) return refuse(reply, 400, 'invalid waiver: expiresAt is in the past');
    const w = { id: randomBytes(8).toString('hex'), repo: parsed.data.repo ?? null, sha256: parsed.data.sha256 ?? null, rule: parsed.data.rule ?? null, reason: parsed.data.reason, author: admin.name, createdAt: new Date().toISOString(), expiresAt: new Date(parsed.data.expiresAt).toISOString(), revokedAt: null };
    // The waiver and its audit record commit together (one transaction): never one without the other.
    const rec = { time: w.createdAt, requestId: String(req.id), client: admin.name, group: admin.group, method: 'POST', repoType: 'model' as const, repo: w.repo ?? '*', revision: '', commit: null, path: null, sha256: w.sha256, verdict: 'allow' as const, rules: [], findings: [], waivers: [w.id], upstreamStatus: null, scanId: null, policyVersion: ctx.gatekeeper.policy.version, message: `waiver ${w.id} added by ${admin.name}: ${w.reason}` };
    ctx.audit.forward(rec, await ctx.store.addWaiverAudited(w, rec));
    return reply.code(201).send(w);
  });

  app.delete<{ Params: { id: string } }>('/admin/waivers/:id', async (req, reply) => {
    const admin = await guard(req, reply);
    if (!admin) return reply;
    const rec = { time: new Date().toISOString(), requestId: String(req.id), client: admin.name, group: admin.group, method: 'DELETE', repoType: 'model' as const, repo: '*', revision: '', commit: null, path: null, sha256: null, verdict: 'allow' as const, rules: [], findings: [], waivers: [req.params.id], upstreamStatus: null, scanId: null, policyVersion: ctx.gatekeeper.policy.version, message: `waiver ${req.params.id} revoked by ${admin.name}` };
    const id = await ctx.store.revokeWaiverAudited(req.params.id, rec.time, rec);
    if (id === null) return refuse(reply, 404, `no active waiver ${req.params.id}`);
    ctx.audit.forward(rec, id);
    return reply.send({ revoked: req.params.id });
  });

  app.get('/admin/policy', async (req, reply) => {
    if (!(await guard(req, reply))) return reply;
    return reply.send({ version: ctx.gatekeeper.policy.version, source: ctx.config.policy ?? null });
  });

  app.post('/admin/policy/reload', async (req, reply) => {
    const admin = await guard(req, reply);
    if (!admin) return reply;
    const r = await reloadPolicy(ctx, { name: admin.name, group: admin.group, requestId: String(req.id) });
    if (!r.ok) return refuse(reply, 400, `policy not reloaded (version ${r.version} stays in force): ${r.error}`);
    return reply.send(r);
  });

  app.get('/admin/tokens', async (req, reply) => {
    if (!(await guard(req, reply))) return reply;
    return reply.send({ tokens: await ctx.store.listTokens() });
  });

  app.post('/admin/tokens', async (req, reply) => {
    if (!(await guard(req, reply))) return reply;
    const parsed = TokenInput.safeParse(req.body ?? {});
    if (!parsed.success) return refuse(reply, 400, `invalid token request: ${parsed.error.issues[0]!.path.join('.') || 'body'}: ${parsed.error.issues[0]!.message}`);
    const secret = newSecret();
    const rec = { id: randomBytes(8).toString('hex'), name: parsed.data.name, role: parsed.data.role, group: parsed.data.group, createdAt: new Date().toISOString(), revokedAt: null };
    await ctx.store.addToken(rec, hashSecret(secret));
    return reply.code(201).send({ ...rec, secret });
  });

  app.delete<{ Params: { id: string } }>('/admin/tokens/:id', async (req, reply) => {
    if (!(await guard(req, reply))) return reply;
    const ok = await ctx.store.revokeToken(req.params.id, new Date().toISOString());
    return ok ? reply.send({ revoked: req.params.id }) : refuse(reply, 404, `no active token ${req.params.id}`);
  });
}
