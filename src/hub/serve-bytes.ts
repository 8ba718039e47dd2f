/**
 * Sending file bytes the way the hub does (ranges, ETags, content disposition) and, when a fault
 * rule says so, the ways a real server misbehaves: a wrong Content-Range, a flipped byte, a body
 * cut short or left hanging.
 */
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FaultRule } from './faults.js';
import type { RequestRecord } from './options.js';
import { Pace } from './pace.js';
import { fail } from './reply.js';
import type { HubFile, RepoSnapshot } from './store.js';

/** What serving bytes needs from the server around it. */
export interface ByteServing {
  /** Serve bodies at most this fast (bytes per second). */
  bytesPerSecond?: number;
  /** The request's log entry, whose status a hijacked answer must set itself. */
  recordOf(req: FastifyRequest): RequestRecord | null;
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n`; null for anything else (which is then ignored, per RFC 9110). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (header === undefined) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return null;
  const [, a, b] = m;
  if (a === '' && b === '') return null;
  if (a === '') {
    const n = Number(b);
    if (n === 0) return 'unsatisfiable';
    return size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (!Number.isSafeInteger(start) || start >= size) return 'unsatisfiable';
  if (b !== '' && Number(b) < start) return null;
  return { start, end };
}

function contentDisposition(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const ascii = name.replace(/[^\u0020-\u007e]|["\\]/g, '_');
  return `inline; filename*=UTF-8''${encodeURIComponent(name)}; filename="${ascii}";`;
}

export function resolveHeaders(snap: RepoSnapshot, f: HubFile): Record<string, string> {
  const h: Record<string, string> = {
    'x-repo-commit': snap.commit,
    'accept-ranges': 'bytes',
    'content-type': 'application/octet-stream',
    'content-disposition': contentDisposition(f.path),
  };
  if (f.lfs) {
    h['etag'] = `"${f.sha256}"`;
    h['x-linked-etag'] = `"${f.sha256}"`;
    h['x-linked-size'] = String(f.size);
  } else {
    h['etag'] = `"${f.blobSha1}"`;
  }
  return h;
}

/** Flips the byte at an absolute file offset: same length, other content. */
class Corrupt extends Transform {
  private pos: number;
  private done = false;
  constructor(
    start: number,
    private readonly target: number,
  ) {
    super();
    this.pos = start;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!this.done && this.target < this.pos + chunk.length) {
      const copy = Buffer.from(chunk);
      const i = Math.max(0, this.target - this.pos);
      copy[i] = copy[i]! ^ 0xff;
      this.done = true;
      this.pos += chunk.length;
      cb(null, copy);
      return;
    }
    this.pos += chunk.length;
    cb(null, chunk);
  }
}

function writeChunk(res: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    res.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}

function rangeFor(req: FastifyRequest, size: number, rule: FaultRule | null): ReturnType<typeof parseRange> {
  if (req.method === 'HEAD' || rule?.action.kind === 'ignoreRange') return null;
  const h = req.headers.range;
  // Several ranges: answered with the whole file, which RFC 9110 allows.
  if (h !== undefined && h.includes(',')) return null;
  return parseRange(h, size);
}

function rangeHeaders(reply: FastifyReply, range: { start: number; end: number } | null, size: number, rule: FaultRule | null): void {
  if (range === null) {
    reply.code(200).header('content-length', String(size));
    return;
  }
  let { start, end } = range;
  if (rule?.action.kind === 'wrongContentRange') {
    const shift = start > 0 ? -start : 1;
    start += shift;
    end += shift;
  }
  reply.code(206).header('content-length', String(range.end - range.start + 1)).header('content-range', `bytes ${start}-${end}/${size}`);
}

export async function serveFile(bs: ByteServing, req: FastifyRequest, reply: FastifyReply, f: HubFile, headers: Record<string, string>, rule: FaultRule | null): Promise<FastifyReply | 'changed'> {
  let fh;
  try {
    fh = await open(f.abs, 'r');
  } catch {
    return 'changed';
  }
  let st;
  try {
    st = await fh.stat();
  } catch {
    await fh.close();
    return 'changed';
  }
  if (st.size !== f.size || st.mtimeMs !== f.mtimeMs || st.ino !== f.ino) {
    await fh.close();
    return 'changed';
  }
  const range = rangeFor(req, f.size, rule);
  reply.headers(headers);
  if (range === 'unsatisfiable') {
    await fh.close();
    return fail(reply, 416, 'Range Not Satisfiable', undefined, { 'content-range': `bytes */${f.size}` });
  }
  rangeHeaders(reply, range, f.size, rule);
  if (req.method === 'HEAD') {
    await fh.close();
    return reply.send();
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? f.size - 1;
  if (f.size === 0) {
    await fh.close();
    return reply.send(Buffer.alloc(0));
  }
  const action = rule?.action;
  if (action?.kind === 'truncate' || action?.kind === 'stall') {
    return cutStream(bs, req, reply, fh, start, end, action.kind, action.afterBytes);
  }
  const stream = fh.createReadStream({ start, end, highWaterMark: 1 << 20 });
  if (action?.kind === 'corrupt') {
    // Outside the bytes asked for, the first byte sent is flipped: the corruption is always visible.
    const at = action.offset !== undefined && action.offset >= start && action.offset <= end ? action.offset : start;
    return reply.send(stream.pipe(new Corrupt(start, at)));
  }
  if (bs.bytesPerSecond) return reply.send(stream.pipe(new Pace(bs.bytesPerSecond)));
  return reply.send(stream);
}

/**
 * Sends the status line, the real headers and `afterBytes` of the body, then either cuts the
 * connection or goes silent. Fastify's reply is bypassed: it would finish the response properly.
 */
async function cutStream(bs: ByteServing, req: FastifyRequest, reply: FastifyReply, fh: FileHandle, start: number, end: number, mode: 'truncate' | 'stall', afterBytes: number): Promise<FastifyReply> {
  reply.hijack();
  const res = reply.raw;
  const record = bs.recordOf(req);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) headers[k] = String(v);
  res.writeHead(reply.statusCode, headers);
  if (record) record.status = reply.statusCode;
  const last = Math.min(end, start + afterBytes - 1);
  try {
    if (last >= start) {
      for await (const chunk of fh.createReadStream({ start, end: last, highWaterMark: 1 << 16, autoClose: false }) as AsyncIterable<Buffer>) {
        if (res.destroyed) break;
        await writeChunk(res, chunk);
      }
    } else {
      res.flushHeaders();
    }
  } catch {
    /* the client went away first */
  } finally {
    await fh.close();
  }
  if (mode === 'truncate') {
    req.raw.socket.destroy();
  } else {
    // Stalled: hold the connection open until the client (or close()) ends it.
    await new Promise<void>((resolve) => {
      if (req.raw.socket.destroyed) resolve();
      else req.raw.socket.once('close', () => resolve());
    });
  }
  return reply;
}

export function sendBuffer(req: FastifyRequest, reply: FastifyReply, body: Buffer, headers: Record<string, string>, rule: FaultRule | null): FastifyReply {
  const range = rangeFor(req, body.length, rule);
  reply.headers(headers);
  if (range === 'unsatisfiable') return fail(reply, 416, 'Range Not Satisfiable', undefined, { 'content-range': `bytes */${body.length}` });
  rangeHeaders(reply, range, body.length, rule);
  if (req.method === 'HEAD') return reply.send();
  const slice = range === null ? body : body.subarray(range.start, range.end + 1);
  return reply.send(Readable.from([slice]));
}
