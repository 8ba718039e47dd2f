/**
 * What a restored Arrow schema can run: fields typed `arrow.py_extension_type`, whose
 * `ARROW:extension:metadata` pyarrow 0.14.0-14.0.0 unpickles when it reads the schema
 * (CVE-2023-47248). Shared by every container of an Arrow schema (Parquet footers, IPC streams
 * and files); each reports under its own rule id, so waivers and policies keep naming the format.
 * The pickle is handed to the same pickle analysis as every other pickle, so its globals and call
 * chain are reported with the usual rule ids.
 */
import type { AnalysisContext } from '../types.js';
import { BufferSource } from '../../source/buffer.js';
import { scanPickleStream } from '../pickle/stream.js';
import { pickleConfidence } from '../pickle/sniff.js';
import { PY_EXTENSION_TYPE, type ArrowSchema, type ExtensionField } from './schema.js';

export type PyExtensionRule = 'PARQUET_PY_EXTENSION_TYPE' | 'ARROW_PY_EXTENSION_TYPE';

export const PY_EXTENSION_REFERENCES: readonly string[] = [
  'CVE-2023-47248',
  'GHSA-5wvp-7f3h-6wmm',
  'https://arrow.apache.org/release/14.0.1.html',
];

/** Pickle claims at or above this always run in the engine (its SECONDARY_CONFIDENCE). */
const ENGINE_RUNS_PICKLE = 0.85;
/** Extension pickles interpreted per file; identical ones (shared flatbuffer strings) count once. */
const MAX_EXTENSION_PICKLES = 64;
const MAX_NAME_CHARS = 128;

/** What one file's analysis has seen across the Arrow schemas it holds. */
export interface ExtensionScan {
  /** Extension names other than arrow.py_extension_type (facts). */
  others: Set<string>;
  /**
   * Extension pickles already interpreted, by their span in the decoded schema they come from
   * (keyed by that buffer: equal spans of two different schema buffers are different bytes).
   */
  pickles: Map<ArrayBufferLike, Set<string>>;
  interpreted: number;
}

export function newExtensionScan(): ExtensionScan {
  return { others: new Set(), pickles: new Map(), interpreted: 0 };
}

/** The pickle pyarrow would load: a member when the engine will run the pickle analysis on it, else in place. */
async function scanExtensionPickle(ctx: AnalysisContext, state: ExtensionScan, field: string, bytes: Uint8Array): Promise<void> {
  // pickle.loads(b'') raises before anything runs.
  if (bytes.length === 0) return;
  const span = `${bytes.byteOffset}:${bytes.length}`;
  let seen = state.pickles.get(bytes.buffer);
  if (seen?.has(span)) return;
  if (state.interpreted >= MAX_EXTENSION_PICKLES) {
    ctx.incomplete(`more than ${MAX_EXTENSION_PICKLES} arrow.py_extension_type pickles; the rest were not interpreted`);
    return;
  }
  if (!seen) state.pickles.set(bytes.buffer, (seen = new Set()));
  seen.add(span);
  state.interpreted++;
  const member = new BufferSource(`ARROW:extension:metadata of field ${field}`, bytes);
  if (pickleConfidence(bytes) >= ENGINE_RUNS_PICKLE) {
    await ctx.scanMember(member);
    return;
  }
  // The engine's sniffing might not pick these bytes as a pickle, but pickle.loads reads them as
  // one whatever they look like: interpret them here (one pickle, as loads reads).
  await scanPickleStream(member, ctx, 0, { maxPickles: 1 });
}

async function reportPyExtension(ctx: AnalysisContext, state: ExtensionScan, rule: PyExtensionRule, ext: ExtensionField, offset: number): Promise<void> {
  const field = ext.path.join('.');
  const bytes = ext.metadata.reduce((n, m) => n + m.length, 0);
  // Without metadata bytes pickle.loads(b'') raises before anything runs: the type alone is odd, not code.
  const empty = bytes === 0;
  ctx.emit({
    rule,
    ...(empty ? { severity: 'medium' as const } : {}),
    message: empty
      ? `Arrow field ${JSON.stringify(field)} has extension type ${PY_EXTENSION_TYPE} but no ARROW:extension:metadata to unpickle`
      : `Arrow field ${JSON.stringify(field)} has extension type ${PY_EXTENSION_TYPE}: pyarrow 0.14.0–14.0.0 unpickles its ARROW:extension:metadata (${bytes} bytes) when it reads the file`,
    offset,
    evidence: {
      matched: PY_EXTENSION_TYPE,
      details: { field, metadataBytes: bytes, metadataValues: ext.metadata.length, fixedIn: 'pyarrow 14.0.1' },
    },
    references: [...PY_EXTENSION_REFERENCES],
  });
  for (const m of ext.metadata) await scanExtensionPickle(ctx, state, field, m);
}

/**
 * Reports every arrow.py_extension_type field of `schema` under `rule` and scans its pickles;
 * other extension names go to `state.others`. `offsetOf` places a field in the scanned file.
 */
export async function reportExtensions(ctx: AnalysisContext, state: ExtensionScan, schema: ArrowSchema, rule: PyExtensionRule, offsetOf: (ext: ExtensionField) => number): Promise<void> {
  for (const ext of schema.extensions) {
    if (!ext.names.includes(PY_EXTENSION_TYPE)) {
      for (const n of ext.names) state.others.add(n.slice(0, MAX_NAME_CHARS));
      continue;
    }
    await reportPyExtension(ctx, state, rule, ext, offsetOf(ext));
  }
}
