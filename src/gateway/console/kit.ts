/**
 * What every console route shares: the security headers every answer carries, HTML and form
 * helpers, and the access checks (who is asking, and whether a write may proceed), built once
 * by registerConsole and handed to the route modules.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TokenRecord } from '../../store/types.js';
import type { Session } from './session.js';

export const CSP = "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export type Who = { admin: TokenRecord; session: Session | null };

export function secureHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CSP)
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'same-origin')
    .header('cache-control', 'no-store');
}

/**
 * The bare HTML answer. Route modules send pages through `ConsoleKit.html` instead, which also
 * fills in what the frame cannot know (the nav's "(no crawl store)" note).
 */
export function sendHtml(reply: FastifyReply, status: number, body: string): FastifyReply {
  return secureHeaders(reply).code(status).type('text/html; charset=utf-8').send(body);
}

export function text(reply: FastifyReply, status: number, message: string): FastifyReply {
  return secureHeaders(reply).code(status).type('text/plain; charset=utf-8').send(`${message}\n`);
}

export function formFields(body: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Buffer.isBuffer(body)) {
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) if (!(k in out)) out[k] = v;
  } else if (body && typeof body === 'object') {
    for (const [k, v] of Object.entries(body)) if (typeof v === 'string') out[k] = v;
  }
  return out;
}

export interface ConsoleKit {
  /** A bearer admin token, or a live session whose token is still an unrevoked admin. */
  who(req: FastifyRequest): Promise<Who | null>;
  /** `who`, or the answer for a caller who is not an admin (login redirect for pages, 401 for data). */
  gate(req: FastifyRequest, reply: FastifyReply, kind: 'page' | 'data'): Promise<Who | null>;
  /**
   * An admin write: a session must come from our own origin and echo its CSRF token in the
   * form; a bearer token (scripts) has no ambient credential to abuse. Answers the refusal itself.
   */
  adminWrite(req: FastifyRequest, reply: FastifyReply, fields: Record<string, string>): Promise<Who | null>;
  /** Cross-site writes: a foreign Origin or Sec-Fetch-Site is refused outright. */
  sameOrigin(req: FastifyRequest): boolean;
  /** Secure cookies when the request or the public URL is https. */
  secure(req: FastifyRequest): boolean;
  /** The signed-in admin's name and CSRF token for the page frame. */
  frame(w: Who): { who: string; csrf?: string };
  /** A console page with the console's CSP and headers. */
  html(reply: FastifyReply, status: number, body: string): FastifyReply;
  /** The console's security headers on any other answer (the caller may replace the CSP). */
  secureHeaders(reply: FastifyReply): FastifyReply;
  forbidden(reply: FastifyReply, why: string): FastifyReply;
  /**
   * A write is allowed from a session when it comes from our own origin and echoes the
   * session's CSRF token; a bearer-token request (a script) carries no ambient credential.
   */
  writeAllowed(req: FastifyRequest, w: Who, csrf: string | undefined): boolean;
}
