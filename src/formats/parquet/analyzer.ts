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
import type { ByteSource } from '../../source/types.js';
import { measureSize } from '../measure.js';
import { ThriftError } from './thrift.js';
import { emptyFileMetaData, missingRequired, readFileMetaData, type ArrowSchemaValue, type FileMetaData } from './metadata.js';
import { decodeBase64 } from './base64.js';
import { emptyArrowSchema, readArrowSchema } from '../arrow/schema.js';
import { newExtensionScan, reportExtensions, type ExtensionScan } from '../arrow/extension.js';

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
const MAX_KEYS_REPORTED = 50;

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

function reportFacts(ctx: AnalysisContext, m: FileMetaData): void {
  if (m.version !== null) ctx.fact('parquet.version', m.version);
  if (m.numRows !== null) ctx.fact('parquet.num_rows', Number.isSafeInteger(Number(m.numRows)) ? Number(m.numRows) : m.numRows.toString());
  if (m.rowGroups !== null) ctx.fact('parquet.row_groups', m.rowGroups);
  if (m.schemaElements !== null) ctx.fact('parquet.columns', m.columns);
  if (m.createdBy !== null) ctx.fact('parquet.created_by', m.createdBy);
  if (m.keyCount > 0) ctx.fact('parquet.metadata_keys', m.keys.slice(0, MAX_KEYS_REPORTED));
  if (m.encrypted) ctx.fact('parquet.encrypted_columns', true);
}

async function arrowSchema(ctx: AnalysisContext, state: ExtensionScan, entry: ArrowSchemaValue, index: number): Promise<void> {
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
  const problem = await readArrowSchema(b64.bytes, schema);
  if (problem) {
    malformed(ctx, `ARROW:schema: ${problem.message}`, at, { error: problem.kind, decodedOffset: problem.offset });
    ctx.incomplete(`Arrow schema in the Parquet footer could not be read (${problem.kind})`, at);
  }
  if (index === 0) {
    ctx.fact('parquet.arrow_fields', schema.fields);
    if (schema.schemaKeys.length) ctx.fact('parquet.arrow_schema_metadata_keys', schema.schemaKeys);
  }
  // Fields read before an error are reported all the same: pyarrow may have read them too.
  // Offsets inside the base64-decoded schema have no place in the file: the entry's offset stands for them.
  await reportExtensions(ctx, state, schema, 'PARQUET_PY_EXTENSION_TYPE', () => at);
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
  const state = newExtensionScan();
  for (const [i, entry] of meta.arrowSchemas.entries()) await arrowSchema(ctx, state, entry, i);
  if (state.others.size) ctx.fact('parquet.arrow_extension_types', [...state.others].slice(0, MAX_KEYS_REPORTED));
}

export const parquetAnalyzer: Analyzer = {
  id: 'parquet',
  version: '7',
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
    const size = source.size ?? (await measureSize(source, ctx, 'Parquet stream'));
    if (size === null) return;
    await analyzeFooter(source, ctx, size);
  },
};
