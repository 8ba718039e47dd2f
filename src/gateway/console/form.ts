/**
 * The console's form bodies: urlencoded, or just enough multipart/form-data for its own forms
 * (a file input needs it): the parts of one bounded body (the server's body limit), by field
 * name, first occurrence wins. Anything malformed is an error the page shows, never a partial read.
 */
import type { FastifyRequest } from 'fastify';

export interface FormPart {
  value: Buffer;
  filename?: string;
}

const MAX_PARTS = 20;

export class MultipartError extends Error {}

export function boundaryOf(contentType: string | undefined): string | null {
  if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType)) return null;
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2] ?? null) : null;
}

function headerParam(header: string, name: string): string | undefined {
  const m = new RegExp(`;\\s*${name}="([^"]*)"`, 'i').exec(header) ?? new RegExp(`;\\s*${name}=([^\\s;]+)`, 'i').exec(header);
  return m?.[1];
}

export function parseMultipart(body: Buffer, boundary: string): Map<string, FormPart> {
  const out = new Map<string, FormPart>();
  const delim = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delim);
  if (pos < 0) throw new MultipartError('the form body has no parts');
  for (let n = 0; ; n++) {
    pos += delim.length;
    if (body.subarray(pos, pos + 2).toString() === '--') return out;
    if (n >= MAX_PARTS) throw new MultipartError('the form has too many parts');
    if (body.subarray(pos, pos + 2).toString() !== '\r\n') throw new MultipartError('the form body is malformed');
    const headEnd = body.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) throw new MultipartError('the form body is malformed');
    const headers = body.subarray(pos + 2, headEnd).toString('utf8').split('\r\n');
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delim]), headEnd + 4);
    if (next < 0) throw new MultipartError('the form body ends inside a part');
    const disposition = headers.find((h) => /^content-disposition:/i.test(h)) ?? '';
    const name = headerParam(disposition, 'name');
    if (name !== undefined && !out.has(name)) {
      const filename = headerParam(disposition, 'filename');
      out.set(name, { value: body.subarray(headEnd + 4, next), ...(filename !== undefined ? { filename } : {}) });
    }
    pos = next + 2;
  }
}

/** The fields of a console form, urlencoded or multipart; a string is an error to show. */
export function readForm(req: FastifyRequest): Map<string, { text: string; filename?: string }> | string {
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.from(typeof req.body === 'string' ? req.body : '');
  const out = new Map<string, { text: string; filename?: string }>();
  const boundary = boundaryOf(req.headers['content-type']);
  if (boundary) {
    try {
      for (const [k, p] of parseMultipart(body, boundary)) out.set(k, { text: p.value.toString('utf8'), ...(p.filename !== undefined ? { filename: p.filename } : {}) });
    } catch (e) {
      if (e instanceof MultipartError) return e.message;
      throw e;
    }
    return out;
  }
  for (const [k, v] of new URLSearchParams(body.toString('utf8'))) if (!out.has(k)) out.set(k, { text: v });
  return out;
}
