/**
 * Console sessions: a random id in an HttpOnly, SameSite=Strict cookie names a record kept in
 * this process (never the admin token itself, only the hash the store already keys tokens by,
 * so every request re-checks that the token is still an unrevoked admin). Each session has an
 * absolute lifetime and an idle timeout, and carries the CSRF token its forms must echo.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'mg_console';
/** Double-submit cookie protecting the login form itself (there is no session yet). */
export const LOGIN_COOKIE = 'mg_console_login';

export interface Session {
  id: string;
  tokenId: string;
  tokenName: string;
  secretHash: string;
  csrf: string;
  expiresAt: number;
  idleUntil: number;
}

export interface SessionLimits {
  lifetimeMs: number;
  idleMs: number;
  /** Oldest sessions are dropped beyond this many (memory stays bounded whatever clients do). */
  max: number;
}

export const DEFAULT_LIMITS: SessionLimits = { lifetimeMs: 8 * 3600_000, idleMs: 3600_000, max: 10_000 };

export function randomId(): string {
  return randomBytes(32).toString('base64url');
}

export class Sessions {
  private readonly map = new Map<string, Session>();

  constructor(
    private readonly limits: SessionLimits = DEFAULT_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  create(token: { id: string; name: string }, secretHash: string): Session {
    const t = this.now();
    this.prune(t);
    while (this.map.size >= this.limits.max) this.map.delete(this.map.keys().next().value!);
    const s: Session = { id: randomId(), tokenId: token.id, tokenName: token.name, secretHash, csrf: randomId(), expiresAt: t + this.limits.lifetimeMs, idleUntil: t + this.limits.idleMs };
    this.map.set(s.id, s);
    return s;
  }

  /** The live session for a cookie value, its idle timer renewed; null when unknown or expired. */
  get(id: string | undefined): Session | null {
    if (!id) return null;
    const s = this.map.get(id);
    if (!s) return null;
    const t = this.now();
    if (t >= s.expiresAt || t >= s.idleUntil) {
      this.map.delete(id);
      return null;
    }
    s.idleUntil = Math.min(s.expiresAt, t + this.limits.idleMs);
    return s;
  }

  destroy(id: string): void {
    this.map.delete(id);
  }

  get size(): number {
    return this.map.size;
  }

  private prune(t: number): void {
    for (const [id, s] of this.map) if (t >= s.expiresAt || t >= s.idleUntil) this.map.delete(id);
  }
}

export function sameSecret(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    if (k && !(k in out)) out[k] = part.slice(i + 1).trim();
  }
  return out;
}

export function cookie(name: string, value: string, opts: { maxAgeS: number; secure: boolean }): string {
  return `${name}=${value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=${opts.maxAgeS}${opts.secure ? '; Secure' : ''}`;
}

export { LoginThrottle } from '../throttle.js';
