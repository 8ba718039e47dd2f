/** Answers shared by every route of the local hub: errors the way huggingface.co sends them, and JSON. */
import type { FastifyReply } from 'fastify';
import type { RequestRecord } from './options.js';
import type { UrlError } from './paths.js';

export type ErrorCode = 'RepoNotFound' | 'RevisionNotFound' | 'EntryNotFound' | 'GatedRepo';

const JSON_TYPE = 'application/json; charset=utf-8';

/** What the hub keeps of one request while answering it (the raw path split before any decoding). */
export interface RequestCtx {
  pathname: string;
  query: URLSearchParams;
  record: RequestRecord | null;
}

/** Header values must be latin1 without CR/LF; messages are made printable ASCII and bounded. */
function headerSafe(s: string): string {
  const clean = s.replace(/[^\u0020-\u007e]/g, '?');
  return clean.length > 500 ? clean.slice(0, 500) : clean;
}

export function fail(reply: FastifyReply, status: number, message: string, code?: ErrorCode, extra: Record<string, string> = {}): FastifyReply {
  reply.code(status).header('x-error-message', headerSafe(message)).header('content-type', JSON_TYPE);
  if (code) reply.header('x-error-code', code);
  for (const [k, v] of Object.entries(extra)) reply.header(k, v);
  return reply.send(JSON.stringify({ error: message }));
}

export function urlError(reply: FastifyReply, e: UrlError): FastifyReply {
  return fail(reply, e.status, e.message);
}

export function sendJson(reply: FastifyReply, body: unknown, status = 200): FastifyReply {
  return reply.code(status).header('content-type', JSON_TYPE).send(JSON.stringify(body));
}

