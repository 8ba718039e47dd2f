/** Small HTTP helpers shared by the routes: refusals in the Hub's convention, safe headers, ranges. */
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Node refuses non-latin1 and CR/LF in header values; clients show this text verbatim. */
export function headerSafe(s: string, max = 1000): string {
  const flat = s.replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e]/g, '?');
  return flat.length > max ? `${flat.slice(0, max - 1)}…`.replace(/[^\x20-\x7e]/g, '.') : flat;
}

export function requestId(req: FastifyRequest): string {
  return String(req.id);
}

/**
 * A refusal clients understand: huggingface_hub puts X-Error-Message (and the request id) in
 * its exception text; the JS client reads the JSON `error`. Never X-Repo-Commit on a refusal.
 */
export function refuse(reply: FastifyReply, status: number, message: string, opts: { code?: string; retryAfter?: number } = {}): FastifyReply {
  const msg = headerSafe(message);
  reply.code(status).header('x-error-message', msg).header('x-request-id', requestId(reply.request)).header('content-type', 'application/json; charset=utf-8');
  if (opts.code) reply.header('x-error-code', opts.code);
  if (opts.retryAfter !== undefined) reply.header('retry-after', String(opts.retryAfter));
  return reply.send(reply.request.method === 'HEAD' ? undefined : JSON.stringify({ error: msg }));
}

export type RangeResult = { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

/** A single `bytes=` range as clients send them (`N-`, `N-M`, `-N`); anything else serves whole. */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (!header) return { kind: 'full' };
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'full' };
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return { kind: 'unsatisfiable' };
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || end < start) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}
