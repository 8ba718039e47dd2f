/**
 * What registerConsole hands to the route modules of further pages (policy, exposure, study),
 * so each page lives in its own file and shares one login gate, one set of security headers and
 * one CSRF check.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Session } from './session.js';
import type { TokenRecord } from '../../store/types.js';

export type Who = { admin: TokenRecord; session: Session | null };

export interface ConsoleKit {
  /** The signed-in admin, or null after answering (login redirect for pages, 401 for data). */
  gate(req: FastifyRequest, reply: FastifyReply, kind: 'page' | 'data'): Promise<Who | null>;
  /** A console page with the console's CSP and headers. */
  html(reply: FastifyReply, status: number, body: string): FastifyReply;
  /** The console's security headers on any other answer (the caller may replace the CSP). */
  secureHeaders(reply: FastifyReply): FastifyReply;
  forbidden(reply: FastifyReply, why: string): FastifyReply;
  /** The page frame's fields for this admin. */
  frame(w: Who): { who: string; csrf?: string };
  /**
   * A write is allowed from a session when it comes from our own origin and echoes the
   * session's CSRF token; a bearer-token request (a script) carries no ambient credential.
   */
  writeAllowed(req: FastifyRequest, w: Who, csrf: string | undefined): boolean;
}
