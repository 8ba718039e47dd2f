/**
 * The waiver workflow's actions, shared by the console's forms and the token API: read and check
 * the input, build the change and its audit record, and have the store commit both at once. The
 * copies for syslog and the webhook follow the commit. The gateway reads active waivers on every
 * decision, so the next download follows an approval or a revocation at once.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { AuditRecord, Waiver, WaiverRequest } from '../../store/types.js';
import type { GatewayContext } from '../context.js';

export interface Scope {
  repo: string | null;
  sha256: string | null;
  rule: string | null;
}

export interface Actor {
  name: string;
  group: string;
}

export const MAX_REPO = 200;
export const MAX_RULE = 100;
export const MIN_TEXT = 3;
export const MAX_TEXT = 1000;
/**
 * Requests one requester may have waiting at once, however they ask (token API or refusal
 * links): the admins' queue shows the newest 500, so one requester must not be able to bury
 * everyone else's requests under their own.
 */
export const MAX_PENDING_PER_REQUESTER = 20;
/** An approval's default lifetime, offered in the form. */
export const DEFAULT_DAYS = 30;

const SHA256 = /^[0-9a-f]{64}$/;
/** Repository globs as the policy matches them: no spaces or control characters. */
const REPO_GLOB = /^[^\s\u0000-\u001f\u007f]+$/;
const RULE = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;

export function newId(): string {
  return randomBytes(8).toString('hex');
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const bad = (error: string): { ok: false; error: string } => ({ ok: false, error });

/** Scope from form or JSON fields; empty strings are absent. */
export function parseScope(f: { repo?: string | undefined; sha256?: string | undefined; rule?: string | undefined }): Parsed<Scope> {
  const v = (x: string | undefined): string | null => (x === undefined || x.trim() === '' ? null : x.trim());
  const s: Scope = { repo: v(f.repo), sha256: v(f.sha256)?.toLowerCase() ?? null, rule: v(f.rule) };
  if (s.repo === null && s.sha256 === null && s.rule === null) return bad('a waiver needs at least one of repository, sha256, rule');
  if (s.repo !== null && (s.repo.length > MAX_REPO || !REPO_GLOB.test(s.repo))) return bad(`repository must be a repository id or glob of at most ${MAX_REPO} characters, without spaces`);
  if (s.sha256 !== null && !SHA256.test(s.sha256)) return bad('sha256 must be 64 hex digits');
  if (s.rule !== null && (s.rule.length > MAX_RULE || !RULE.test(s.rule))) return bad('rule must be a policy rule or finding rule id');
  return { ok: true, value: s };
}

export function parseText(v: string | undefined, what: string): Parsed<string> {
  const t = (v ?? '').trim();
  if (t.length < MIN_TEXT || t.length > MAX_TEXT) return bad(`${what} must be ${MIN_TEXT} to ${MAX_TEXT} characters`);
  return { ok: true, value: t };
}

/** An optional note: empty is none. */
export function parseNote(v: string | undefined): Parsed<string | null> {
  const t = (v ?? '').trim();
  if (t.length > MAX_TEXT) return bad(`the note must be at most ${MAX_TEXT} characters`);
  return { ok: true, value: t === '' ? null : t };
}

/**
 * An expiry: a bare day (what a date input sends) means the waiver holds through that UTC day;
 * a full ISO time is exact. It must lie in the future.
 */
export function parseExpiry(v: string | undefined, now: Date): Parsed<string> {
  const t = (v ?? '').trim();
  let d: Date;
  if (/^\d{4}-\d{2}-\d{2}$/.test(t)) {
    d = new Date(`${t}T00:00:00.000Z`);
    d.setUTCDate(d.getUTCDate() + 1);
  } else {
    d = new Date(t);
  }
  if (!t || Number.isNaN(d.getTime())) return bad('expiry must be a date (YYYY-MM-DD) or an ISO-8601 time');
  if (d.getTime() <= now.getTime()) return bad('expiry must be in the future');
  return { ok: true, value: d.toISOString() };
}

export function scopeText(s: Scope): string {
  const parts = [s.repo !== null ? `repository ${s.repo}` : '', s.sha256 !== null ? `sha256 ${s.sha256}` : '', s.rule !== null ? `rule ${s.rule}` : ''].filter(Boolean);
  return parts.join(', ');
}

function auditOf(req: FastifyRequest, ctx: GatewayContext, by: Actor, s: Scope & { repoType?: 'model' | 'dataset' }, waivers: string[], message: string): AuditRecord {
  return {
    time: new Date().toISOString(),
    requestId: String(req.id),
    client: by.name,
    group: by.group,
    method: 'POST',
    repoType: s.repoType ?? 'model',
    repo: s.repo ?? '*',
    revision: '',
    commit: null,
    path: null,
    sha256: s.sha256,
    verdict: 'allow',
    rules: [],
    findings: [],
    waivers,
    upstreamStatus: null,
    scanId: null,
    policyVersion: ctx.gatekeeper.policy.version,
    message,
  };
}

export async function fileRequest(
  ctx: GatewayContext,
  req: FastifyRequest,
  r: { by: Actor; via: WaiverRequest['via']; auditId: number | null; repoType: WaiverRequest['repoType']; scope: Scope; justification: string },
): Promise<WaiverRequest> {
  const w: WaiverRequest = {
    id: newId(),
    createdAt: new Date().toISOString(),
    requester: r.by.name,
    requesterGroup: r.by.group,
    via: r.via,
    auditId: r.auditId,
    repoType: r.repoType,
    ...r.scope,
    justification: r.justification,
    status: 'pending',
    decidedBy: null,
    decidedAt: null,
    note: null,
    waiverId: null,
  };
  const how = r.via === 'link' ? `from the refusal link of decision ${r.auditId ?? '?'}` : 'with a gateway token';
  const audit = auditOf(req, ctx, r.by, { ...r.scope, repoType: r.repoType }, [], `waiver request ${w.id} filed by ${r.by.name} ${how} for ${scopeText(r.scope)}: ${r.justification}`);
  ctx.audit.forward(audit, await ctx.store.addWaiverRequest(w, audit));
  return w;
}

/** The new waiver, or null when the request is no longer pending. */
export async function approve(ctx: GatewayContext, req: FastifyRequest, by: Actor, request: WaiverRequest, scope: Scope, expiresAt: string, note: string | null): Promise<Waiver | null> {
  const now = new Date().toISOString();
  const reason = `request ${request.id} from ${request.requester}: ${request.justification}`.slice(0, MAX_TEXT);
  const w: Waiver = { id: newId(), ...scope, reason, author: by.name, createdAt: now, expiresAt, revokedAt: null };
  const audit = auditOf(req, ctx, by, { ...scope, repoType: request.repoType }, [w.id], `waiver request ${request.id} approved by ${by.name}: waiver ${w.id} for ${scopeText(scope)} until ${expiresAt}${note ? `; ${note}` : ''}`);
  const id = await ctx.store.approveWaiverRequest(request.id, w, { by: by.name, at: now, note }, audit);
  if (id === null) return null;
  ctx.audit.forward(audit, id);
  return w;
}

export async function reject(ctx: GatewayContext, req: FastifyRequest, by: Actor, request: WaiverRequest, note: string | null): Promise<boolean> {
  const audit = auditOf(req, ctx, by, { ...request, repoType: request.repoType }, [], `waiver request ${request.id} rejected by ${by.name}${note ? `: ${note}` : ''}`);
  const id = await ctx.store.rejectWaiverRequest(request.id, { by: by.name, at: new Date().toISOString(), note }, audit);
  if (id === null) return false;
  ctx.audit.forward(audit, id);
  return true;
}

export async function revoke(ctx: GatewayContext, req: FastifyRequest, by: Actor, w: Waiver): Promise<boolean> {
  const audit = auditOf(req, ctx, by, w, [w.id], `waiver ${w.id} revoked by ${by.name}`);
  const id = await ctx.store.revokeWaiverAudited(w.id, new Date().toISOString(), audit);
  if (id === null) return false;
  ctx.audit.forward(audit, id);
  return true;
}
