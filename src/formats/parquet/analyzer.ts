/**
 * Apache Parquet: `PAR1`, column chunks, the footer (thrift compact FileMetaData), its 4-byte
 * length and `PAR1` again. Only the footer is read (8 bytes, then the footer itself), so a remote
 * scan of a multi-GiB dataset shard costs its footer. Column data is never read: Parquet values
 * are data, and no reader executes them.
 *
 * What can run is in the footer's key_value_metadata: pyarrow stores the Arrow schema there
 * (`ARROW:schema`), and pyarrow 0.14.0-14.0.0 unpickles the `ARROW:extension:metadata` of any
 * field typed `arrow.py_extension_type` when it reads the file (CVE-2023-47248). That pickle is
 * handed to the same pickle analysis as every other pickle, so its globals and call chain are
 * reported with the usual rule ids.
 */
import type { AnalysisContext, Analyzer, SniffInput } from '../types.js';
import { BufferSource } from '../../source/buffer.js';
import type { ByteSource } from '../../source/types.js';
import { FlatError } from '../flatbuffer.js';
import { scanPickleStream } from '../pickle/stream.js';
import { pickleConfidence } from '../pickle/sniff.js';
import { ThriftError } from './thrift.js';
import { emptyFileMetaData, missingRequired, readFileMetaData, type ArrowSchemaValue, type FileMetaData } from './metadata.js';
import { ArrowSchemaError, decodeBase64, emptyArrowSchema, PY_EXTENSION_TYPE, readArrowSchema, type ArrowSchema, type ExtensionField } from './arrow-schema.js';

const PAR1 = [0x50, 0x41, 0x52, 0x31];
/** Encrypted-footer mode ends (and starts) with `PARE`: the schema cannot be read without the key. */
const PARE = [0x50, 0x41, 0x52, 0x45];
/** Magic + footer length + magic. */
const MIN_SIZE = 12;
/**
 * Both a page header (first column chunk) and FileMetaData (a file without row groups) begin with
 * field 1 as an i32: compact field header 0x15. Enough to claim a damaged file as Parquet.
 */
const FIRST_FIELD_I32 = 0x15;
/** Pickle claims at or above this always run in the engine (its SECONDARY_CONFIDENCE). */
const ENGINE_RUNS_PICKLE = 0.85;
const MAX_KEYS_REPORTED = 50;
/** Extension pickles interpreted per file; identical ones (shared flatbuffer strings) count once. */
const MAX_EXTENSION_PICKLES = 64;
const MEASURE_CHUNK = 1 << 20;

const REFERENCES = [
  'CVE-2023-47248',
  'GHSA-5wvp-7f3h-6wmm',
  'https://arrow.apache.org/release/14.0.1.html',
];

const has = (b: Uint8Array, at: number, magic: readonly number[]) => at >= 0 && b.length >= at + magic.length && magic.every((x, i) => b[at + i] === x);

function footerLength(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 2 ** 24;
}

function malformed(ctx: AnalysisContext, message: string, offset?: number, details: Record<string, string | number | boolean> = {}): void {
  ctx.emit({ rule: 'PARQUET_MALFORMED', message, ...(offset !== undefined ? { offset } : {}), evidence: { details } });
}

function sniff(input: SniffInput): ReturnType<Analyzer['sniff']> {
  const { head, tail, size } = input;
  // With the size unknown (a decompressing stream) the tail is not the end: only the head counts.
  const end = size !== null && tail.length >= MIN_SIZE ? tail.length - 4 : -1;
  if (has(head, 0, PAR1)) {
    if (end >= 0 && size !== null && size >= MIN_SIZE && has(tail, end, PAR1) && footerLength(tail, end - 4) <= size - MIN_SIZE) {
      return { format: 'parquet', confidence: 0.9 };
    }
    // Truncated, a footer length out of bounds, or a stream: still Parquet, reported as such.
    return head[4] === FIRST_FIELD_I32 ? { format: 'parquet', confidence: 0.6 } : null;
  }
  if (has(head, 0, PARE) && end >= 0 && has(tail, end, PARE)) return { format: 'parquet-encrypted', confidence: 0.9 };
  return null;
}

/** Size of a source that does not know it (a decompressing stream): read to the end once. */
async function measure(source: ByteSource, ctx: AnalysisContext): Promise<number | null> {
  let at = 0;
  for (;;) {
    const b = await source.read(at, MEASURE_CHUNK);
    at += b.length;
    if (b.length < MEASURE_CHUNK) return at;
    if (ctx.expired()) {
      ctx.incomplete(`time budget exhausted looking for the end of a Parquet stream (${at} bytes read)`);
      return null;
    }
  }
}

function reportFacts(ctx: AnalysisContext, m: FileMetaData): void {
  if (m.version !== null) ctx.fact('parquet.version', m.version);
  if (m.numRows !== null) ctx.fact('parquet.num_rows', Number.isSafeInteger(Number(m.numRows)) ? Number(m.numRows) : m.numRows.toString());
  if (m.rowGroups !== null) ctx.fact('parquet.row_groups', m.rowGroups);
  if (m.schemaElements !== null) ctx.fact('parquet.columns', m.columns);
  if (m.createdBy !== null) ctx.fact('parquet.created_by', m.createdBy);
  if (m.keyCount > 0) ctx.fact('parquet.metadata_keys', m.keys.slice(0, MAX_KEYS_REPORTED));
  if (m.encrypted) ctx.fact('parquet.encrypted_columns', true);
}

/** What one file's analysis has seen across its ARROW:schema entries. */
interface State {
  /** Extension names other than arrow.py_extension_type (facts). */
  others: Set<string>;
  /**
   * Extension pickles already interpreted, by their span in the decoded schema they come from
   * (keyed by that buffer: equal spans of two different ARROW:schema values are different bytes).
   */
  pickles: Map<ArrayBufferLike, Set<string>>;
  interpreted: number;
}

/** The pickle pyarrow would load: a member when the engine will run the pickle analysis on it, else in place. */
async function scanExtensionPickle(ctx: AnalysisContext, state: State, field: string, bytes: Uint8Array): Promise<void> {
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

async function reportExtensions(ctx: AnalysisContext, state: State, schema: ArrowSchema, at: number): Promise<void> {
  for (const ext of schema.extensions) {
    const field = ext.path.join('.');
    if (!ext.names.includes(PY_EXTENSION_TYPE)) {
      for (const n of ext.names) state.others.add(n.slice(0, 128));
      continue;
    }
    await reportPyExtension(ctx, state, ext, field, at);
  }
}

async function reportPyExtension(ctx: AnalysisContext, state: State, ext: ExtensionField, field: string, at: number): Promise<void> {
  const bytes = ext.metadata.reduce((n, m) => n + m.length, 0);
  // Without metadata bytes pickle.loads(b'') raises before anything runs: the type alone is odd, not code.
  const empty = bytes === 0;
  ctx.emit({
    rule: 'PARQUET_PY_EXTENSION_TYPE',
    ...(empty ? { severity: 'medium' as const } : {}),
    message: empty
      ? `Arrow field ${JSON.stringify(field)} has extension type ${PY_EXTENSION_TYPE} but no ARROW:extension:metadata to unpickle`
      : `Arrow field ${JSON.stringify(field)} has extension type ${PY_EXTENSION_TYPE}: pyarrow 0.14.0–14.0.0 unpickles its ARROW:extension:metadata (${bytes} bytes) when it reads the file`,
    offset: at,
    evidence: {
      matched: PY_EXTENSION_TYPE,
      details: { field, metadataBytes: bytes, metadataValues: ext.metadata.length, fixedIn: 'pyarrow 14.0.1' },
    },
    references: REFERENCES,
  });
  for (const m of ext.metadata) await scanExtensionPickle(ctx, state, field, m);
}

async function arrowSchema(ctx: AnalysisContext, state: State, entry: ArrowSchemaValue, index: number): Promise<void> {
  const at = entry.offset;
  if (entry.value === null) {
    malformed(ctx, 'ARROW:schema key has no value', at);
    return;
  }
  const b64 = decodeBase64(entry.value);
  if (b64.error) {
    malformed(ctx, `ARROW:schema is not valid base64 (${b64.error.message}); ${b64.bytes.length} bytes decode before it and are examined`, at + b64.error.offset, { decodedBytes: b64.bytes.length });
  }
  if (b64.bytes.length === 0) {
    malformed(ctx, 'ARROW:schema decodes to nothing', at);
    return;
  }
  const schema = emptyArrowSchema();
  try {
    await readArrowSchema(b64.bytes, schema);
  } catch (e) {
    if (!(e instanceof ArrowSchemaError) && !(e instanceof FlatError)) throw e;
    malformed(ctx, `ARROW:schema: ${e.message}`, at, { error: e.kind, decodedOffset: e.offset });
    ctx.incomplete(`Arrow schema in the Parquet footer could not be read (${e.kind})`, at);
  }
  if (index === 0) {
    ctx.fact('parquet.arrow_fields', schema.fields);
    if (schema.schemaKeys.length) ctx.fact('parquet.arrow_schema_metadata_keys', schema.schemaKeys);
  }
  // Fields read before an error are reported all the same: pyarrow may have read them too.
  await reportExtensions(ctx, state, schema, at);
  if (schema.extensionsDropped > 0) ctx.incomplete(`${schema.extensionsDropped} further Arrow extension fields not examined`, at);
}

async function analyzeFooter(source: ByteSource, ctx: AnalysisContext, size: number): Promise<void> {
  if (size < MIN_SIZE) {
    malformed(ctx, `${size} bytes: too short for a Parquet file (magic, footer length, magic)`);
    return;
  }
  const tail = await source.read(size - 8, 8);
  if (tail.length < 8) {
    malformed(ctx, `the file ends after ${size - 8 + tail.length} bytes, not at its declared size ${size}`);
    return;
  }
  if (!has(tail, 4, PAR1)) {
    const why = has(tail, 4, PARE) ? 'ends with PARE (encrypted footer) but starts with PAR1' : 'does not end with PAR1: truncated, or bytes were appended';
    malformed(ctx, `Parquet file ${why}`, size - 4);
    ctx.incomplete('Parquet footer not found');
    return;
  }
  const len = footerLength(tail, 0);
  if (len > size - MIN_SIZE) {
    malformed(ctx, `footer length ${len} exceeds what the ${size}-byte file can hold (${size - MIN_SIZE})`, size - 8, { footerLength: len });
    ctx.incomplete('Parquet footer length out of bounds');
    return;
  }
  if (len > ctx.limits.maxParquetFooterBytes) {
    ctx.incomplete(`Parquet footer of ${len} bytes exceeds the ${ctx.limits.maxParquetFooterBytes}-byte limit (maxParquetFooterBytes)`, size - 8);
    return;
  }
  const start = size - 8 - len;
  const footer = await source.read(start, len);
  ctx.fact('parquet.footer_bytes', len);
  if (footer.length < len) {
    malformed(ctx, `footer declares ${len} bytes, only ${footer.length} could be read`, start);
    ctx.incomplete('Parquet footer truncated');
    return;
  }
  const meta = emptyFileMetaData();
  try {
    readFileMetaData(footer, start, meta);
    const missing = missingRequired(meta);
    if (missing.length) malformed(ctx, `FileMetaData lacks required field${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (readers refuse it)`, start);
  } catch (e) {
    if (!(e instanceof ThriftError)) throw e;
    malformed(ctx, `FileMetaData (thrift compact): ${e.message}`, e.offset, { error: e.kind });
    ctx.incomplete(`Parquet footer could not be fully parsed (${e.kind})`, e.offset);
  }
  reportFacts(ctx, meta);
  if (meta.arrowSchemas.length + meta.arrowSchemasSkipped > 1) {
    malformed(ctx, `${meta.arrowSchemas.length + meta.arrowSchemasSkipped} ARROW:schema entries: pyarrow reads the first, other tools may read another`, meta.arrowSchemas[1]?.offset);
  }
  if (meta.arrowSchemasSkipped > 0) ctx.incomplete(`${meta.arrowSchemasSkipped} further ARROW:schema entries not examined`);
  const state: State = { others: new Set(), pickles: new Map(), interpreted: 0 };
  for (const [i, entry] of meta.arrowSchemas.entries()) await arrowSchema(ctx, state, entry, i);
  if (state.others.size) ctx.fact('parquet.arrow_extension_types', [...state.others].slice(0, MAX_KEYS_REPORTED));
}

export const parquetAnalyzer: Analyzer = {
  id: 'parquet',
  version: '1',
  description: 'Apache Parquet footer (thrift FileMetaData, key-value metadata, the Arrow schema pyarrow stores there); pickles of arrow.py_extension_type fields (CVE-2023-47248)',
  sniff,
  async analyze(source, ctx, claim) {
    if (claim.format === 'parquet-encrypted') {
      ctx.emit({
        rule: 'FORMAT_NOT_ANALYSED',
        message: 'Parquet file with an encrypted footer: its schema and metadata cannot be read without the key; treat as unscanned',
        evidence: { details: { format: claim.format } },
      });
      return;
    }
    const size = source.size ?? (await measure(source, ctx));
    if (size === null) return;
    await analyzeFooter(source, ctx, size);
  },
};
