/**
 * HEAD/GET /{repo}/resolve/{rev}/{path}: the download. HEAD answers the real metadata (and
 * starts the fetch and scan); every GET — Range requests included — waits for the verdict and
 * either streams the verified, scanned blob or refuses with the reason. Nothing is served
 * before the audit record is durable.
 */
import { createReadStream } from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { refusalMessage, warningMessage } from '../../policy/message.js';
import type { FileMeta } from '../../store/types.js';
import { identify } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { auditFrom } from '../decide.js';
import { FileError, type ScannedFile } from '../files.js';
import { headerSafe, parseRange, refuse } from '../http.js';
import type { ResolveTarget } from '../paths.js';
import { UpstreamError } from '../upstream.js';

function metaHeaders(reply: FastifyReply, meta: FileMeta): void {
  // Upstream's values exactly: the client names its cache blobs after them.
  reply.header('x-repo-commit', meta.commit).header('etag', `"${meta.etag}"`).header('accept-ranges', 'bytes').header('content-type', 'application/octet-stream');
  if (meta.lfs && meta.sha256) reply.header('x-linked-etag', `"${meta.sha256}"`).header('x-linked-size', String(meta.size));
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
function failure(e: unknown): { status: number; message: string; code?: string; upstreamStatus?: number } {
  if (e instanceof UpstreamError) {
    if (e.kind === 'status' && e.status !== null && e.status < 500) {
      const code = e.headers['x-error-code'];
      const msg = e.headers['x-error-message'] ?? `upstream answered ${e.status}`;
      return { status: e.status, message: msg, upstreamStatus: e.status, ...(code ? { code } : {}) };
    }
    if (e.kind === 'timeout') return { status: 504, message: `modelgate: ${e.message}` };
    return { status: 502, message: `modelgate: ${e.message}`, ...(e.status !== null ? { upstreamStatus: e.status } : {}) };
  }
  if (e instanceof FileError) {
    if (e.kind === 'hash-mismatch') return { status: 502, message: `refused by modelgate: ${e.message}` };
    if (e.kind === 'scan-failed') return { status: 502, message: `refused by modelgate: the file could not be scanned (${e.message})` };
    return { status: 503, message: `modelgate storage unavailable: ${e.message}` };
  }
  const kind = (e as { kind?: string }).kind;
  if (kind === 'unavailable') return { status: 503, message: 'modelgate storage is unavailable; refusing to serve unscanned or unaudited bytes' };
  // A stored blob whose bytes no longer match its sha256 (a tampered or damaged shared copy):
  // never served; where it lives is for the operator's log, not for clients.
  if (kind === 'corrupt') return { status: 502, message: 'refused by modelgate: the stored copy of this file failed its sha256 check; nothing was served' };
  return { status: 500, message: `modelgate internal error: ${(e as Error).message ?? String(e)}` };
}

export async function handleResolve(ctx: GatewayContext, req: FastifyRequest, reply: FastifyReply, t: ResolveTarget): Promise<FastifyReply> {
  const head = req.method === 'HEAD';
  const id = await identify(req, ctx.store, ctx.config);
  if (!id.ok) return refuse(reply, id.status, id.message);
  const base = { requestId: String(req.id), client: id.client.name, group: id.client.group, method: req.method, repoType: t.type, repo: t.id, revision: t.revision };
  const policyVersion = ctx.gatekeeper.policy.version;

  let meta: FileMeta;
  try {
    meta = await ctx.files.metadata(t, id.upstreamAuth);
  } catch (e) {
    const f = failure(e);
    if (!head) await ctx.audit.record(auditFrom(base, { path: t.path, verdict: 'error', upstreamStatus: f.upstreamStatus ?? null, message: f.message, policyVersion })).catch(() => undefined);
    return refuse(reply, f.status, f.message, f.code ? { code: f.code } : {});
  }

  const work = ctx.files.ensure(t, meta, id.upstreamAuth);
  if (head) {
    // Start the download and scan now, so the GET that follows finds a verdict.
    work.catch((e: unknown) => ctx.log.warn({ err: (e as Error).message, repo: t.id, path: t.path }, 'background fetch failed'));
    const settled = await withTimeout(work.then(() => true, () => true), ctx.config.headHoldMs);
    if (settled === 'timeout') {
      // Clients >= 1.22 retry a HEAD answered 503 with Retry-After.
      return refuse(reply, 503, `modelgate is still scanning ${t.path}; retry shortly`, { retryAfter: 5 });
    }
    metaHeaders(reply, meta);
    reply.header('content-length', String(meta.size));
    return reply.code(200).send();
  }

  let file: ScannedFile;
  try {
    const got = await withTimeout(work, ctx.config.verdictTimeoutMs);
    if (got === 'timeout') throw new FileError('scan-failed', `no verdict within ${ctx.config.verdictTimeoutMs} ms`);
    file = got;
  } catch (e) {
    const f = failure(e);
    try {
      await ctx.audit.record(auditFrom(base, { commit: meta.commit, path: t.path, sha256: meta.sha256, verdict: 'error', upstreamStatus: f.upstreamStatus ?? null, message: f.message, policyVersion }));
    } catch {
      return refuse(reply, 503, 'modelgate storage is unavailable; refusing to serve');
    }
    return refuse(reply, f.status, f.message, f.code ? { code: f.code } : {});
  }

  let decision;
  try {
    decision = await ctx.gatekeeper.decide(t, file, id.client, id.upstreamAuth);
  } catch (e) {
    const f = failure(e);
    return refuse(reply, f.status, f.message);
  }
  const reportUrl = `${ctx.base()}/reports/${file.scan.id}`;
  const verdict = decision.verdict;
  const message = verdict === 'block' ? refusalMessage(decision, t.path, reportUrl) : verdict === 'warn' ? warningMessage(decision, t.path, reportUrl) : null;
  try {
    await ctx.audit.record(auditFrom(base, { commit: meta.commit, path: t.path, sha256: file.sha256, verdict, decision, file, message, policyVersion: decision.policyVersion }));
  } catch {
    // Never serve what we could not record.
    return refuse(reply, 503, 'modelgate could not record the audit entry; refusing to serve');
  }
  ctx.metrics.inc('modelgate_verdicts_total', { verdict });
  if (verdict === 'block') return refuse(reply, 403, message!);

  metaHeaders(reply, file.meta);
  // Clients log each warning topic once per process: make the topic the file, so every warned file shows.
  if (verdict === 'warn') reply.header('x-hf-warning', headerSafe(message!.replace(/^modelgate;/, `modelgate ${t.id}/${t.path};`)));
  const size = file.meta.size;
  const range = parseRange(req.headers.range, size);
  if (range.kind === 'unsatisfiable') {
    return reply.code(416).header('content-range', `bytes */${size}`).send();
  }
  if (range.kind === 'partial') {
    reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${size}`).header('content-length', String(range.end - range.start + 1));
    return reply.send(createReadStream(file.blobPath, { start: range.start, end: range.end, highWaterMark: 1 << 20 }));
  }
  reply.code(200).header('content-length', String(size));
  return reply.send(size === 0 ? '' : createReadStream(file.blobPath, { highWaterMark: 1 << 20 }));
}
