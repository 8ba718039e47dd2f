/**
 * Arrow IPC, the two layouts pyarrow reads and Hugging Face dataset repositories ship:
 * - the stream format (`datasets`' save_to_disk writes `data-00000-of-00001.arrow` this way):
 *   encapsulated messages, the first a Schema: 0xFFFFFFFF, an int32 metadata length, the Message
 *   flatbuffer (Arrow < 0.15 wrote the length alone);
 * - the file format (Feather v2, `.arrow`/`.feather` from pa.ipc.new_file): `ARROW1\0\0`, a
 *   stream, then the Footer flatbuffer, its int32 length and `ARROW1`.
 * Only the schema is read: a stream's first message, or a file's last 10 bytes and then its
 * footer (file readers take the schema from the footer and ignore the stream's copy), so a remote
 * scan of a multi-GiB shard costs a few KiB. Record batches are never read: their buffers are data.
 *
 * What can run is the schema: pyarrow 0.14.0-14.0.0 unpickles the `ARROW:extension:metadata` of
 * any field typed `arrow.py_extension_type` when it restores it (CVE-2023-47248).
 */
import type { AnalysisContext, Analyzer, Claim, SniffInput } from '../types.js';
import type { ByteSource } from '../../source/types.js';
import { measureSize } from '../measure.js';
import { emptyArrowSchema, messageFraming, readArrowSchema, readFooterSchema, type ArrowSchema, type SchemaProblem } from './schema.js';
import { newExtensionScan, reportExtensions } from './extension.js';
import { isFooter, isSchemaMessage } from './peek.js';

const FORMAT = 'arrow-ipc';
const MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31];
/** The file format starts with the magic padded to 8 bytes. */
const FILE_HEAD = [...MAGIC, 0, 0];
/** int32 footer length + closing magic. */
const TRAILER = 10;
/** Arrow's file reader refuses files this small or smaller, and footers longer than the size minus this. */
const MIN_FILE = 16;
const CONTINUATION = 0xffffffff;
const MAX_KEYS_REPORTED = 50;

type Layout = 'file' | 'stream';

const has = (b: Uint8Array, at: number, magic: readonly number[]) => at >= 0 && b.length >= at + magic.length && magic.every((x, i) => b[at + i] === x);
const u32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 2 ** 24;
const i32 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24);

/** A footer length Arrow's file reader accepts for a file of `size` bytes. */
const footerFits = (len: number, size: number) => len > 0 && len <= size - MIN_FILE;

function malformed(ctx: AnalysisContext, message: string, offset?: number, details: Record<string, string | number | boolean> = {}): void {
  ctx.emit({ rule: 'ARROW_MALFORMED', message, ...(offset !== undefined ? { offset } : {}), evidence: { details } });
}

function claim(confidence: number, layout: Layout, leadingMagic = true): Claim {
  return { format: FORMAT, confidence, hint: layout === 'file' ? { layout, leadingMagic } : { layout } };
}

function sniffFile({ head, tail, size }: SniffInput): Claim | null {
  // With the size unknown (a decompressing stream) the tail is not the end: only the head counts.
  const end = size !== null && size > MIN_FILE && tail.length >= TRAILER && has(tail, tail.length - 6, MAGIC) ? tail.length - TRAILER : -1;
  const len = end >= 0 ? i32(tail, end) : 0;
  const fits = end >= 0 && size !== null && footerFits(len, size);
  // Truncated, a footer length out of bounds, or a stream: still Arrow, reported as such.
  if (has(head, 0, FILE_HEAD)) return claim(fits ? 0.9 : 0.6, 'file');
  // pa.ipc.open_file never looks at the leading magic: a footer at the end of other bytes is read
  // all the same (a polyglot), so a footer that holds together is claimed next to their format.
  if (fits && len <= end && isFooter(tail.subarray(end - len, end))) return claim(0.85, 'file', false);
  return null;
}

function sniffStream({ head }: SniffInput): Claim | null {
  if (head.length < 8) return null;
  if (u32(head, 0) === CONTINUATION) {
    const n = u32(head, 4);
    return n > 0 && n <= 0x7fffffff && isSchemaMessage(head.subarray(8, 8 + n)) ? claim(0.9, 'stream') : null;
  }
  // Legacy framing (Arrow < 0.15): a bare length prefix is no signature; only a Schema message
  // that holds together makes the claim, and a weak one.
  const n = u32(head, 0);
  return n > 0 && n <= 0x7fffffff && isSchemaMessage(head.subarray(4, 4 + n)) ? claim(0.55, 'stream') : null;
}

function versionName(v: number): string {
  return v >= 0 && v <= 4 ? `V${v + 1}` : String(v);
}

function reportSchemaFacts(ctx: AnalysisContext, schema: ArrowSchema): void {
  if (schema.version !== null) ctx.fact('arrow.metadata_version', versionName(schema.version));
  ctx.fact('arrow.fields', schema.fields);
  if (schema.schemaKeys.length) ctx.fact('arrow.schema_metadata_keys', schema.schemaKeys);
}

/** Facts, then every extension field; fields read before a problem count: a lenient reader may have read them too. */
async function reportSchema(ctx: AnalysisContext, schema: ArrowSchema, at: number): Promise<void> {
  reportSchemaFacts(ctx, schema);
  const state = newExtensionScan();
  await reportExtensions(ctx, state, schema, 'ARROW_PY_EXTENSION_TYPE', (ext) => ext.offset + at);
  if (schema.extensionsDropped > 0) ctx.incomplete(`${schema.extensionsDropped} further Arrow extension fields not examined`, at);
  if (state.others.size) ctx.fact('arrow.extension_types', [...state.others].slice(0, MAX_KEYS_REPORTED));
}

function schemaProblem(ctx: AnalysisContext, where: string, problem: SchemaProblem, at: number): void {
  malformed(ctx, `${where}: ${problem.message}`, at + problem.offset, { error: problem.kind });
  ctx.incomplete(`Arrow IPC ${where.toLowerCase()} could not be read (${problem.kind})`, at + problem.offset);
}

async function analyzeFile(source: ByteSource, ctx: AnalysisContext, size: number, leadingMagic: boolean): Promise<void> {
  ctx.fact('arrow.ipc_format', 'file');
  if (size <= MIN_FILE) {
    malformed(ctx, `${size} bytes: too short for an Arrow IPC file (magic, footer, footer length, magic)`);
    return;
  }
  const tail = await source.read(size - TRAILER, TRAILER);
  if (tail.length < TRAILER) {
    malformed(ctx, `the file ends after ${size - TRAILER + tail.length} bytes, not at its declared size ${size}`);
    return;
  }
  if (!has(tail, 4, MAGIC)) {
    malformed(ctx, 'Arrow IPC file does not end with ARROW1: truncated, or bytes were appended', size - 6);
    ctx.incomplete('Arrow IPC footer not found');
    return;
  }
  const len = i32(tail, 0);
  if (!footerFits(len, size)) {
    malformed(ctx, `footer length ${len} is not within what the ${size}-byte file can hold (1 to ${size - MIN_FILE})`, size - TRAILER, { footerLength: len });
    ctx.incomplete('Arrow IPC footer length out of bounds');
    return;
  }
  if (len > ctx.limits.maxArrowSchemaBytes) {
    ctx.incomplete(`Arrow IPC footer of ${len} bytes exceeds the ${ctx.limits.maxArrowSchemaBytes}-byte limit (maxArrowSchemaBytes)`, size - TRAILER);
    return;
  }
  const start = size - TRAILER - len;
  const footer = await source.read(start, len);
  ctx.fact('arrow.footer_bytes', len);
  if (footer.length < len) {
    malformed(ctx, `footer declares ${len} bytes, only ${footer.length} could be read`, start);
    ctx.incomplete('Arrow IPC footer truncated');
    return;
  }
  if (!leadingMagic) {
    malformed(ctx, 'the file ends with an Arrow IPC footer but does not start with ARROW1: pa.ipc.open_file reads it all the same (bytes of another format before it?)', 0);
  }
  const schema = emptyArrowSchema();
  const problem = await readFooterSchema(footer, schema);
  if (problem) schemaProblem(ctx, 'Footer', problem, start);
  if (schema.recordBatches !== null) ctx.fact('arrow.record_batches', schema.recordBatches);
  if (schema.dictionaries) ctx.fact('arrow.dictionary_batches', schema.dictionaries);
  await reportSchema(ctx, schema, start);
}

async function analyzeStream(source: ByteSource, ctx: AnalysisContext): Promise<void> {
  ctx.fact('arrow.ipc_format', 'stream');
  const framed = messageFraming(await source.read(0, 8));
  if (!framed.ok) {
    schemaProblem(ctx, 'Schema message', framed.error, 0);
    return;
  }
  const { framing, start, length } = framed.value;
  ctx.fact('arrow.message_framing', framing);
  if (length > ctx.limits.maxArrowSchemaBytes) {
    ctx.incomplete(`Arrow IPC schema message of ${length} bytes exceeds the ${ctx.limits.maxArrowSchemaBytes}-byte limit (maxArrowSchemaBytes)`, start - 4);
    return;
  }
  ctx.fact('arrow.schema_message_bytes', length);
  const schema = emptyArrowSchema();
  const problem = await readArrowSchema(await source.read(0, start + length), schema);
  if (problem) schemaProblem(ctx, 'Schema message', problem, 0);
  await reportSchema(ctx, schema, 0);
}

export const arrowIpcAnalyzer: Analyzer = {
  id: 'arrow-ipc',
  version: '7',
  description: 'Apache Arrow IPC stream and file (Feather v2) formats: the schema only (first message, or footer); pickles of arrow.py_extension_type fields (CVE-2023-47248)',
  sniff: (input) => sniffFile(input) ?? sniffStream(input),
  async analyze(source, ctx, claimed) {
    if (claimed.hint?.['layout'] === 'stream') {
      await analyzeStream(source, ctx);
      return;
    }
    const size = source.size ?? (await measureSize(source, ctx, 'decompressed Arrow IPC file'));
    if (size === null) return;
    await analyzeFile(source, ctx, size, claimed.hint?.['leadingMagic'] !== false);
  },
};
