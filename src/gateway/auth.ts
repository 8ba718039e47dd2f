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
import type { LoginThrottle } from './throttle.js';

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export type Identified =
  | { ok: true; client: ClientIdentity; upstreamAuth: Record<string, string>; token: TokenRecord | null }
  | { ok: false; status: 401; message: string }
  | { ok: false; status: 429; message: string; retryAfter: number };

/** What an address that guessed too often is told, whatever it sends next. */
export function throttledMessage(wait: number): string {
  return `too many failed admin logins from this address: try again in ${wait} s`;
}

function bearer(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m ? m[1]! : null;
}

export async function identify(req: FastifyRequest, store: Store, cfg: GatewayConfig, throttle?: LoginThrottle): Promise<Identified> {
  const secret = bearer(req);
  const service: Record<string, string> = cfg.upstreamToken && cfg.upstreamAuth !== 'none' ? { authorization: `Bearer ${cfg.upstreamToken}` } : {};
  if (secret?.startsWith('mg_')) {
    const token = await store.findToken(hashSecret(secret));
    const valid = token !== null && !token.revokedAt;
    // A throttled address learns nothing about admin tokens (right or wrong, the same 429); a
    // valid client token (random, not guessable) still downloads, so one bad script does not
    // lock out everyone behind the same address.
    const wait = throttle?.blockedFor(req.ip) ?? 0;
    if (wait > 0 && (!valid || token.role === 'admin')) return { ok: false, status: 429, message: throttledMessage(wait), retryAfter: wait };
    if (!valid) {
      throttle?.fail(req.ip);
      return { ok: false, status: 401, message: 'invalid or revoked modelgate token' };
    }
    return { ok: true, client: { name: token.name, group: token.group }, upstreamAuth: service, token };
  }
  if (cfg.requireClientToken) return { ok: false, status: 401, message: 'this gateway requires a modelgate client token (set HF_TOKEN to your mg_... token)' };
  const client: ClientIdentity = { name: `anonymous@${req.ip}`, group: 'default' };
  if (cfg.upstreamAuth === 'pass' && secret) return { ok: true, client, upstreamAuth: { authorization: `Bearer ${secret}` }, token: null };
  return { ok: true, client, upstreamAuth: cfg.upstreamAuth === 'replace' ? service : {}, token: null };
}

export type AdminCheck = { ok: true; token: TokenRecord } | { ok: false; status: 401 } | { ok: false; status: 429; retryAfter: number };

/**
 * The bearer token of an unrevoked admin. Each token presented that is not one counts against
 * the address (a success does not reset the count: a valid client token must not launder
 * guesses); past the limit the address waits, whatever it presents.
 */
export async function checkAdmin(req: FastifyRequest, store: Store, throttle: LoginThrottle): Promise<AdminCheck> {
  const secret = bearer(req);
  if (!secret) return { ok: false, status: 401 };
  const wait = throttle.blockedFor(req.ip);
  if (wait > 0) return { ok: false, status: 429, retryAfter: wait };
  const token = await store.findToken(hashSecret(secret));
  if (token && !token.revokedAt && token.role === 'admin') return { ok: true, token };
  throttle.fail(req.ip);
  return { ok: false, status: 401 };
}
