/**
 * Turning wire-level failures into findings, shared by the protobuf analyzers: a hostile or broken
 * message is a finding on the file (and the file is marked incompletely scanned), never an
 * exception and never "clean". Other errors propagate to the engine, which reports them itself.
 */
import type { AnalysisContext } from '../types.js';
import { WireError } from './wire.js';

export function reportWireError(ctx: AnalysisContext, e: unknown, what: string): void {
  if (!(e instanceof WireError)) throw e;
  if (e.kind === 'budget') {
    ctx.incomplete(`${what}: ${e.message}`, e.offset);
    return;
  }
  ctx.emit({
    rule: e.kind === 'too-deep' ? 'PROTOBUF_TOO_DEEP' : 'PROTOBUF_MALFORMED',
    message: `${what}: ${e.message}`,
    offset: e.offset,
    evidence: { details: { error: e.kind } },
  });
  ctx.incomplete(`${what} could not be read past offset ${e.offset}`, e.offset);
}

/** Why a path stored in a model would leave the model's directory, or null when it stays inside. */
export function pathEscape(p: string): string | null {
  if (p.includes('\0')) return 'contains a NUL byte (the path is cut there by C loaders)';
  if (/^(\\\\|\/\/)/.test(p)) return 'is a UNC / network path';
  if (/^[A-Za-z]:/.test(p)) return 'is a Windows drive path';
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(p)) return 'is a URL';
  if (p.startsWith('/') || p.startsWith('\\')) return 'is absolute';
  if (p.split(/[\\/]+/).includes('..')) return 'climbs out with ..';
  if (p.startsWith('~')) return 'starts with ~ (a home directory once expanded)';
  return null;
}
