/**
 * Who is asking, and what goes upstream. A gateway token (mg_...) identifies a client and its
 * policy group; any other bearer token is the user's Hub token, forwarded or replaced by
 * configuration. Secrets are compared by hash and never logged.
 */
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Store, TokenRecord } from '../store/types.js';
import type { GatewayConfig } from './config.js';
import type { ClientIdentity } from './decide.js';

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export type Identified = { ok: true; client: ClientIdentity; upstreamAuth: Record<string, string>; token: TokenRecord | null } | { ok: false; status: 401; message: string };

function bearer(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m ? m[1]! : null;
}

export async function identify(req: FastifyRequest, store: Store, cfg: GatewayConfig): Promise<Identified> {
  const secret = bearer(req);
  const service: Record<string, string> = cfg.upstreamToken && cfg.upstreamAuth !== 'none' ? { authorization: `Bearer ${cfg.upstreamToken}` } : {};
  if (secret?.startsWith('mg_')) {
    const token = await store.findToken(hashSecret(secret));
    if (!token || token.revokedAt) return { ok: false, status: 401, message: 'invalid or revoked modelgate token' };
    return { ok: true, client: { name: token.name, group: token.group }, upstreamAuth: service, token };
  }
  if (cfg.requireClientToken) return { ok: false, status: 401, message: 'this gateway requires a modelgate client token (set HF_TOKEN to your mg_... token)' };
  const client: ClientIdentity = { name: `anonymous@${req.ip}`, group: 'default' };
  if (cfg.upstreamAuth === 'pass' && secret) return { ok: true, client, upstreamAuth: { authorization: `Bearer ${secret}` }, token: null };
  return { ok: true, client, upstreamAuth: cfg.upstreamAuth === 'replace' ? service : {}, token: null };
}

export async function requireAdmin(req: FastifyRequest, store: Store): Promise<TokenRecord | null> {
  const secret = bearer(req);
  if (!secret) return null;
  const token = await store.findToken(hashSecret(secret));
  return token && !token.revokedAt && token.role === 'admin' ? token : null;
}
