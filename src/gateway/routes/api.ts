/**
 * The Hub's JSON API, passed through with three changes: Xet is stripped (clients then use plain
 * HTTP, through us), pagination links point at the gateway, and repository-level policy (deny
 * lists, pinned revisions, ...) is applied to repo info so clients fail early with the reason.
 * Writes are refused.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { refusalMessage } from '../../policy/message.js';
import { identify } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { auditFrom } from '../decide.js';
import { refuse } from '../http.js';
import { apiPrefix, type ApiTarget } from '../paths.js';
import { newTicket, refusalUrl, withheld } from '../refusal-link.js';
import { UpstreamError } from '../upstream.js';
import { movedTo } from './resolve.js';

const FORWARD_HEADERS = ['content-type', 'link', 'x-repo-commit', 'etag', 'last-modified', 'x-error-code', 'x-error-message', 'x-total-count'];

/** Remove every `xetHash` key: clients that see one may try the Xet protocol around us. */
export function stripXet(v: unknown, depth = 0): unknown {
  if (depth > 64) return v;
  if (Array.isArray(v)) return v.map((x) => stripXet(x, depth + 1));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (k !== 'xetHash') out[k] = stripXet(x, depth + 1);
    return out;
  }
  return v;
}

/**
 * Rewrite upstream links to the gateway's base; drop Xet link relations and every link to
 * another host: clients follow pagination links with the user's token, which must never reach a
 * host the upstream names (only the gateway, which talks to the upstream itself).
 */
export function rewriteLink(link: string, upstreamOrigin: string, base: string): string | null {
  const parts = link
    .split(/,(?=\s*<)/)
    .map((p) => p.trim())
    .filter((p) => !/rel="?xet-/.test(p));
  const out: string[] = [];
  for (const p of parts) {
    const m = /^<([^>]*)>(.*)$/s.exec(p);
    if (!m) continue;
    let target: URL;
    try {
      target = new URL(m[1]!, `${upstreamOrigin}/`);
    } catch {
      continue;
    }
    if (target.origin !== upstreamOrigin) continue;
    out.push(`<${base}${target.pathname}${target.search}>${m[2]}`);
  }
  return out.length ? out.join(', ') : null;
}

function upstreamPath(t: ApiTarget, rawUrl: string): string {
  const q = rawUrl.includes('?') ? rawUrl.slice(rawUrl.indexOf('?')) : '';
  const p = apiPrefix(t);
  switch (t.kind) {
    case 'info':
      return t.revision === null ? `${p}${q}` : `${p}/revision/${encodeURIComponent(t.revision)}${q}`;
    case 'tree':
      return `${p}/tree/${encodeURIComponent(t.revision)}${t.path ? `/${t.path.split('/').map(encodeURIComponent).join('/')}` : ''}${q}`;
    case 'paths-info':
      return `${p}/paths-info/${encodeURIComponent(t.revision)}${q}`;
    case 'refs':
      return `${p}/refs${q}`;
    case 'commits':
      return `${p}/commits/${encodeURIComponent(t.revision)}${q}`;
    case 'other':
      return `${p}/${t.rest}${q}`;
  }
}

export async function handleApi(ctx: GatewayContext, req: FastifyRequest, reply: FastifyReply, t: ApiTarget): Promise<FastifyReply> {
  if (t.kind === 'other') return refuse(reply, 403, `modelgate does not serve ${apiPrefix(t)}/${t.rest.split('/')[0]} (writes and Xet are refused)`);
  const isPathsInfo = t.kind === 'paths-info';
  if (req.method === 'POST' && !isPathsInfo) return refuse(reply, 403, 'modelgate is read-only: writes are refused');
  if (req.method !== 'GET' && req.method !== 'HEAD' && !(req.method === 'POST' && isPathsInfo)) return refuse(reply, 405, `method ${req.method} is not allowed here`);
  const id = await identify(req, ctx.store, ctx.config, ctx.throttle);
  if (!id.ok) return refuse(reply, id.status, id.message, id.status === 429 ? { retryAfter: id.retryAfter } : {});
  const headers: Record<string, string> = { ...id.upstreamAuth, accept: 'application/json' };
  const ct = req.headers['content-type'];
  if (ct) headers['content-type'] = ct;
  let res;
  try {
    res = await ctx.upstream.api(req.method === 'POST' ? 'POST' : 'GET', upstreamPath(t, req.raw.url ?? ''), headers, req.method === 'POST' ? (req.body as Buffer | undefined) ?? Buffer.alloc(0) : undefined, t);
  } catch (e) {
    if (e instanceof UpstreamError && e.kind === 'moved' && e.location !== null) return movedTo(ctx, reply, e.location, e.message);
    ctx.metrics.inc('modelgate_upstream_errors_total', { kind: e instanceof UpstreamError ? e.kind : 'unknown' });
    return refuse(reply, e instanceof UpstreamError && e.kind === 'timeout' ? 504 : 502, `modelgate: ${(e as Error).message}`);
  }
  // A 2xx other than 200 (201, 204, 206) or a 304 is not the answer asked for: never passed on as one.
  if (res.status < 400 && res.status !== 200) {
    ctx.metrics.inc('modelgate_upstream_errors_total', { kind: 'status' });
    return refuse(reply, 502, `modelgate: upstream answered ${res.status} to ${apiPrefix(t)} (expected 200)`);
  }
  let body: Buffer | string = res.body;
  const isJson = (res.headers['content-type'] ?? '').includes('json');
  if (isJson && res.status < 400) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body.toString('utf8'));
    } catch {
      return refuse(reply, 502, 'modelgate: upstream sent invalid JSON');
    }
    if (t.kind === 'info') {
      const blocked = await repoLevelRefusal(ctx, req, t, parsed, id.client, id.upstreamAuth);
      if (blocked) return refuse(reply, 403, blocked);
    }
    body = JSON.stringify(stripXet(parsed));
  }
  for (const h of FORWARD_HEADERS) {
    const v = res.headers[h];
    if (v === undefined) continue;
    if (h === 'link') {
      const rewritten = rewriteLink(v, ctx.upstream.base.origin, ctx.base());
      if (rewritten) reply.header('link', rewritten);
    } else reply.header(h, v);
  }
  return reply.code(res.status).send(req.method === 'HEAD' ? undefined : body);
}

/** Repository-level rules (file = null) on repo info: refuse early, with the reason, and audit it. */
async function repoLevelRefusal(
  ctx: GatewayContext,
  req: FastifyRequest,
  t: Extract<ApiTarget, { kind: 'info' }>,
  info: unknown,
  client: { name: string; group: string },
  auth: Record<string, string>,
): Promise<string | null> {
  const sha = (info as { sha?: unknown }).sha;
  if (typeof sha !== 'string' || !/^[0-9a-f]{40}$/.test(sha)) return null;
  const target = { type: t.type, id: t.id, revision: t.revision ?? 'main', path: '' };
  const repo = await ctx.gatekeeper.repoFacts(target, sha, auth);
  const decision = ctx.gatekeeper.policy.evaluate({ repo, file: null, group: client.group, now: new Date(), waivers: await ctx.store.listWaivers({ activeAt: new Date().toISOString() }) });
  if (decision.verdict !== 'block') return null;
  const ticket = newTicket();
  const message = refusalMessage(decision, t.id, refusalUrl(ctx.base(), ticket));
  await ctx.audit.record(
    auditFrom(
      { requestId: String(req.id), client: client.name, group: client.group, method: req.method, repoType: t.type, repo: t.id, revision: t.revision ?? 'main' },
      { commit: sha, verdict: 'block', decision, message: withheld(message, ticket), ticketHash: ticket.hash, policyVersion: decision.policyVersion },
    ),
  );
  ctx.metrics.inc('modelgate_verdicts_total', { verdict: 'block' });
  return message;
}
