/**
 * HEAD/GET /{repo}/resolve/{rev}/{path}: the download. The request's outcome is built step by
 * step (who asks, the file's metadata, the repository-level decision before any download, the
 * verified and scanned bytes, the file decision) and every request leaves through one exit,
 * which writes the audit record and only then answers: a step that throws (the decision
 * included) becomes an audited error, never an unaudited reply.
 *
 * HEAD answers the real metadata whatever the verdict (clients show a refusal's reason only when
 * the GET is refused; docs/hub-protocol.md) but makes the same decision and is audited; every GET
 * — Range requests included — either streams the verified, scanned blob or refuses.
 */
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { refusalMessage, warningMessage } from '../../policy/message.js';
import type { Decision } from '../../policy/types.js';
import type { AuditVerdict, FileMeta } from '../../store/types.js';
import { parseClientUserAgent } from '../../rules/client-agent.js';
import { identify } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { auditFrom } from '../decide.js';
import { FileError, type ScannedFile } from '../files.js';
import { headerSafe, parseRange, refuse } from '../http.js';
import type { ResolveTarget } from '../paths.js';
import { newTicket, refusalUrl, withheld, type RefusalTicket } from '../refusal-link.js';
import { UpstreamError } from '../upstream.js';

/** Upstream refusals a client should see as they are (access, absence, rate limits). */
const FORWARDED_UPSTREAM = new Set([401, 403, 404, 410, 429, 451]);

/** What the request has learned so far; the exit audits whatever is known. */
interface Progress {
  client: { name: string; group: string } | null;
  /** Library versions the client declared in User-Agent (client-vulnerable rule, audit). */
  libraries: Record<string, string>;
  meta: FileMeta | null;
  file: ScannedFile | null;
  decision: Decision | null;
  /** The refusal link's secret, when this request is refused (sent to the client only). */
  ticket: RefusalTicket | null;
}

type Outcome =
  /** Not audited: no identity (nothing to attribute), or a HEAD answered "still scanning". */
  | { kind: 'unaudited'; status: number; message: string; code?: string; retryAfter?: number }
  /**
   * Not audited either: upstream says the repository was renamed. Nothing is decided or served;
   * the client follows to the current name, which is judged (and audited) as any request.
   */
  | { kind: 'moved'; location: string; message: string }
  | { kind: 'error'; status: number; message: string; code?: string; retryAfter?: number; upstreamStatus: number | null }
  | { kind: 'refused'; decision: Decision; message: string }
  | { kind: 'serve'; file: ScannedFile; decision: Decision; warning: string | null; blob: FileHandle | null };

function metaHeaders(reply: FastifyReply, meta: FileMeta, size: number): void {
  // Upstream's values exactly: the client names its cache blobs after them.
  reply.header('x-repo-commit', meta.commit).header('etag', `"${meta.etag}"`).header('accept-ranges', 'bytes').header('content-type', 'application/octet-stream');
  if (meta.lfs && meta.sha256) reply.header('x-linked-etag', `"${meta.sha256}"`).header('x-linked-size', String(size));
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => resolve('timeout'), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** Map a failure to the status and message a client should see (fail closed: nothing served). */
export function failure(e: unknown): { status: number; message: string; code?: string; retryAfter?: number; upstreamStatus: number | null } {
  if (e instanceof UpstreamError) {
    if (e.kind === 'status' && e.status !== null && FORWARDED_UPSTREAM.has(e.status)) {
      const code = e.headers['x-error-code'];
      const msg = e.headers['x-error-message'] ?? `upstream answered ${e.status}`;
      // Clients honour Retry-After on 429: pass upstream's (seconds only; a date is dropped).
      const retry = Number(e.headers['retry-after']);
      return { status: e.status, message: msg, upstreamStatus: e.status, ...(code ? { code } : {}), ...(Number.isSafeInteger(retry) && retry >= 0 ? { retryAfter: retry } : {}) };
    }
    // Any other status (a 2xx or 304 where the file was expected, a 5xx) is the upstream failing.
    if (e.kind === 'timeout') return { status: 504, message: `modelgate: ${e.message}`, upstreamStatus: e.status };
    return { status: 502, message: `modelgate: ${e.message}`, upstreamStatus: e.status };
  }
  if (e instanceof FileError) {
    if (e.kind === 'hash-mismatch') return { status: 502, message: `refused by modelgate: ${e.message}`, upstreamStatus: null };
    if (e.kind === 'scan-failed') return { status: 502, message: `refused by modelgate: the file could not be scanned (${e.message})`, upstreamStatus: null };
    return { status: 503, message: `modelgate storage unavailable: ${e.message}`, upstreamStatus: null };
  }
  const kind = (e as { kind?: string } | null)?.kind;
  if (kind === 'downloads-busy') return { status: 503, message: (e as Error).message, retryAfter: 10, upstreamStatus: null };
  if (kind === 'flight-unavailable') return { status: 503, message: `modelgate: ${(e as Error).message}; files not yet judged are refused until it is back`, upstreamStatus: null };
  if (kind === 'unavailable') return { status: 503, message: 'modelgate storage is unavailable; refusing to serve unscanned or unaudited bytes', upstreamStatus: null };
  // A stored blob whose bytes no longer match its sha256 (a tampered or damaged shared copy):
  // never served; where it lives is for the operator's log, not for clients.
  if (kind === 'corrupt') return { status: 502, message: 'refused by modelgate: the stored copy of this file failed its sha256 check; nothing was served', upstreamStatus: null };
  return { status: 500, message: `modelgate internal error: ${(e as Error)?.message ?? String(e)}`, upstreamStatus: null };
}

async function decideOutcome(ctx: GatewayContext, req: FastifyRequest, t: ResolveTarget, p: Progress): Promise<Outcome> {
  const head = req.method === 'HEAD';
  const id = await identify(req, ctx.store, ctx.config, ctx.throttle);
  if (!id.ok) return { kind: 'unaudited', status: id.status, message: id.message, ...(id.status === 429 ? { retryAfter: id.retryAfter } : {}) };
  p.client = id.client;
  const ua = req.headers['user-agent'];
  p.libraries = parseClientUserAgent(ua).libraries;

  let meta: FileMeta;
  try {
    meta = await ctx.files.metadata(t, id.upstreamAuth);
  } catch (e) {
    if (e instanceof UpstreamError && e.kind === 'moved' && e.location !== null) return { kind: 'moved', location: e.location, message: e.message };
    throw e;
  }
  p.meta = meta;

  // Repository-level rules (deny lists, pinned revisions, licences, ...) need no bytes: a file
  // they refuse is never downloaded, stored or scanned.
  const repoDecision = await ctx.gatekeeper.decideRepo(t, meta.commit, id.client, id.upstreamAuth);
  if (repoDecision.verdict === 'block') {
    p.decision = repoDecision;
    p.ticket = newTicket();
    return { kind: 'refused', decision: repoDecision, message: refusalMessage(repoDecision, t.path, refusalUrl(ctx.base(), p.ticket)) };
  }

  const work = ctx.files.ensure(t, meta, id.upstreamAuth);
  // The background work of a HEAD (or of a GET that timed out) must not become an unhandled rejection.
  work.catch((e: unknown) => ctx.log.warn({ err: (e as Error).message, repo: t.id, path: t.path }, 'fetch failed'));
  const got = await withTimeout(work, head ? ctx.config.headHoldMs : ctx.config.verdictTimeoutMs);
  if (got === 'timeout') {
    // Clients >= 1.22 retry a HEAD answered 503 with Retry-After; the download goes on.
    if (head) return { kind: 'unaudited', status: 503, message: `modelgate is still scanning ${t.path}; retry shortly`, retryAfter: 5 };
    throw new FileError('scan-failed', `no verdict within ${ctx.config.verdictTimeoutMs} ms`);
  }
  p.file = got;

  const decision = await ctx.gatekeeper.decide(t, got, id.client, id.upstreamAuth, { libraries: p.libraries, ...(typeof ua === 'string' ? { userAgent: ua } : {}) });
  p.decision = decision;
  const reportUrl = `${ctx.base()}/reports/${got.scan.id}`;
  if (decision.verdict === 'block') {
    p.ticket = newTicket();
    return { kind: 'refused', decision, message: refusalMessage(decision, t.path, refusalUrl(ctx.base(), p.ticket)) };
  }
  // Clients log each warning topic once per process: the topic names the file, so every warned file shows.
  const warning = decision.verdict === 'warn' ? warningMessage(decision, t.path, reportUrl, `modelgate ${t.id}/${t.path}`) : null;
  if (head) return { kind: 'serve', file: got, decision, warning, blob: null };

  // Content-Length comes from the blob actually opened, and it must be what the client was told.
  const blob = await open(got.blobPath, 'r');
  try {
    const { size } = await blob.stat();
    if (size !== got.size || size !== got.meta.size) throw new FileError('hash-mismatch', `the cached copy of ${t.path} has ${size} bytes, ${got.meta.size} were announced; nothing was served`);
  } catch (e) {
    await blob.close();
    throw e;
  }
  return { kind: 'serve', file: got, decision, warning, blob };
}

function auditVerdict(o: Outcome): AuditVerdict {
  if (o.kind === 'serve') return o.decision.verdict;
  if (o.kind === 'refused') return 'block';
  return 'error';
}

export async function handleResolve(ctx: GatewayContext, req: FastifyRequest, reply: FastifyReply, t: ResolveTarget): Promise<FastifyReply> {
  const p: Progress = { client: null, libraries: {}, meta: null, file: null, decision: null, ticket: null };
  let o: Outcome;
  try {
    o = await decideOutcome(ctx, req, t, p);
  } catch (e) {
    o = { kind: 'error', ...failure(e) };
    if (o.status >= 500) ctx.log.warn({ err: (e as Error)?.message, repo: t.id, path: t.path }, 'request failed');
  }
  return exit(ctx, req, reply, t, p, o);
}

/** The one way out: audit (durably) whatever was decided, then answer. */
async function exit(ctx: GatewayContext, req: FastifyRequest, reply: FastifyReply, t: ResolveTarget, p: Progress, o: Outcome): Promise<FastifyReply> {
  if (o.kind === 'moved') return movedTo(ctx, reply, o.location, o.message);
  if (o.kind === 'unaudited') return refuse(reply, o.status, o.message, { ...(o.code ? { code: o.code } : {}), ...(o.retryAfter !== undefined ? { retryAfter: o.retryAfter } : {}) });
  const verdict = auditVerdict(o);
  const client = p.client!;
  const message = o.kind === 'serve' ? o.warning : o.message;
  try {
    await ctx.audit.record(
      auditFrom(
        { requestId: String(req.id), client: client.name, group: client.group, method: req.method, repoType: t.type, repo: t.id, revision: t.revision, clientLibraries: p.libraries },
        {
          commit: p.meta?.commit ?? null,
          path: t.path,
          sha256: p.file?.sha256 ?? p.meta?.sha256 ?? null,
          verdict,
          ...(p.decision ? { decision: p.decision } : {}),
          ...(p.file ? { file: p.file } : {}),
          upstreamStatus: o.kind === 'error' ? o.upstreamStatus : null,
          message: message === null ? null : withheld(message, p.ticket),
          ticketHash: p.ticket?.hash ?? null,
          policyVersion: p.decision?.policyVersion ?? ctx.gatekeeper.policy.version,
        },
      ),
    );
  } catch {
    // Never serve (or refuse with a reason) what we could not record.
    if (o.kind === 'serve') await o.blob?.close();
    return refuse(reply, 503, 'modelgate could not record the audit entry; refusing to serve');
  }
  if (verdict !== 'error') ctx.metrics.inc('modelgate_verdicts_total', { verdict });
  if (o.kind === 'error') return refuse(reply, o.status, o.message, { ...(o.code ? { code: o.code } : {}), ...(o.retryAfter !== undefined ? { retryAfter: o.retryAfter } : {}) });
  if (o.kind === 'refused' && req.method !== 'HEAD') return refuse(reply, 403, o.message);
  if (o.kind === 'refused') {
    // HEAD keeps the real metadata so that the client's GET gets (and shows) the refusal.
    metaHeaders(reply, p.meta!, p.meta!.size);
    return reply.code(200).header('content-length', String(p.meta!.size)).send();
  }
  return serve(reply, req, t, o);
}

/**
 * The rename passed on as the Hub sends it: a 307 to a path on this server (relative, since
 * clients follow only relative redirects on HEAD), so that the current name comes back here.
 */
export function movedTo(ctx: GatewayContext, reply: FastifyReply, location: string, message: string): FastifyReply {
  const prefix = new URL(ctx.base()).pathname.replace(/\/+$/, '');
  return reply.code(307).header('location', `${prefix}${location}`).header('x-error-message', headerSafe(message)).header('content-type', 'application/json; charset=utf-8').send(JSON.stringify({ error: message }));
}

function serve(reply: FastifyReply, req: FastifyRequest, t: ResolveTarget, o: Extract<Outcome, { kind: 'serve' }>): FastifyReply {
  const { file, blob } = o;
  const size = file.size;
  metaHeaders(reply, file.meta, size);
  if (o.warning) reply.header('x-hf-warning', headerSafe(o.warning));
  if (blob === null) return reply.code(200).header('content-length', String(size)).send();
  const range = parseRange(req.headers.range, size);
  if (range.kind === 'unsatisfiable') {
    void blob.close();
    return reply.code(416).header('content-range', `bytes */${size}`).send();
  }
  if (size === 0) {
    void blob.close();
    return reply.code(200).header('content-length', '0').send('');
  }
  const start = range.kind === 'partial' ? range.start : 0;
  const end = range.kind === 'partial' ? range.end : size - 1;
  if (range.kind === 'partial') reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`);
  else reply.code(200);
  reply.header('content-length', String(end - start + 1));
  return reply.send(blob.createReadStream({ start, end, highWaterMark: 1 << 20, autoClose: true }));
}
