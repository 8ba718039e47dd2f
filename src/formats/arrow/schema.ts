/**
 * The Arrow schema as IPC metadata, wherever a reader restores it from: the first message of an
 * IPC stream, the footer of an IPC file (Feather v2), or the base64 `ARROW:schema` value pyarrow
 * stores in a Parquet footer (itself a Schema message). Restoring the schema is where extension
 * types come back: a field's custom_metadata pairs `ARROW:extension:name` /
 * `ARROW:extension:metadata` name the type and hold its serialized parameters, handed to the
 * registered type's deserializer (for `arrow.py_extension_type`, pickle.loads in pyarrow
 * 0.14.0-14.0.0).
 *
 * Layout (format/Message.fbs, File.fbs, Schema.fbs): Message { version: short (0), header_type:
 * ubyte (1), header (2), bodyLength (3), custom_metadata (4) }, header type 1 = Schema;
 * Footer { version: short (0), schema: Schema (1), dictionaries: [Block] (2), recordBatches:
 * [Block] (3), custom_metadata (4) }, Block a 24-byte struct;
 * Schema { endianness (0), fields: [Field] (1), custom_metadata: [KeyValue] (2), features (3) };
 * Field { name (0), nullable (1), type_type (2), type (3), dictionary (4), children: [Field] (5),
 * custom_metadata: [KeyValue] (6) }; KeyValue { key: string (0), value: string (1) }.
 * Flatbuffer strings are length-prefixed bytes, so a value may be any binary (a pickle).
 *
 * The readers return what went wrong as a value; what was read before it stays in `out`.
 */
import { BufferSource } from '../../source/buffer.js';
import { FlatError, FlatReader, type FlatErrorKind, type Table } from '../flatbuffer.js';

export type ArrowSchemaErrorKind = 'framing' | 'not-a-schema' | 'no-schema' | 'too-many-fields' | 'too-many-entries' | 'too-deep';

/** Why a schema could not be read (completely). */
export interface SchemaProblem {
  kind: ArrowSchemaErrorKind | FlatErrorKind;
  message: string;
  /** Offset in the bytes handed to the reader. */
  offset: number;
}

/** Unwinds the recursive walk; never leaves this module (the readers return a SchemaProblem). */
class ArrowSchemaError extends Error {
  constructor(
    readonly kind: ArrowSchemaErrorKind,
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'ArrowSchemaError';
  }
}

export const EXTENSION_NAME_KEY = 'ARROW:extension:name';
export const EXTENSION_METADATA_KEY = 'ARROW:extension:metadata';
export const PY_EXTENSION_TYPE = 'arrow.py_extension_type';

/** Arrow's IPC reader refuses nesting deeper than this (ipc::kMaxNestingDepth). */
const MAX_DEPTH = 64;
/**
 * Fields visited, children included. Flatbuffers let many fields share one children vector, so a
 * small message can describe an exponentially large tree: every visit counts.
 */
const MAX_FIELDS = 100_000;
const MAX_KEY_VALUES = 10_000;
/** custom_metadata entries read over the whole walk (vectors can be shared the same way). */
const MAX_TOTAL_KEY_VALUES = 200_000;
const MAX_NAME_CHARS = 256;
/** Extension fields kept for reporting; the walk goes on past them. */
const MAX_EXTENSION_FIELDS = 1_000;
const MAX_SCHEMA_KEYS = 50;
/** Footer blocks are counted, never read: the count only has to fit in the footer. */
const MAX_BLOCKS = 2 ** 31;
const BLOCK_SIZE = 24;

const UTF8 = new TextDecoder('utf-8', { fatal: false });
const CONTINUATION = 0xffffffff;

const u32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 2 ** 24;

// ---------------------------------------------------------------------------------------------
// IPC message

export interface Framing {
  framing: 'continuation' | 'legacy';
  /** Offset and length of the flatbuffer in the message bytes. */
  start: number;
  length: number;
}

export type FramingResult = { ok: true; value: Framing } | { ok: false; error: SchemaProblem };

const framingError = (message: string, offset: number): FramingResult => ({ ok: false, error: { kind: 'framing', message, offset } });

/**
 * The prefix of an encapsulated IPC message: 0xFFFFFFFF + int32 metadata length (Arrow >= 0.15)
 * or the int32 alone. Only the prefix (4 or 8 bytes) has to be in `b`, so a stream's first 8
 * bytes say how much more to read.
 */
export function messageFraming(b: Uint8Array): FramingResult {
  if (b.length < 4) return framingError(`${b.length} bytes: too short for an IPC message`, 0);
  let framing: Framing['framing'] = 'legacy';
  let start = 4;
  let length = u32(b, 0);
  if (length === CONTINUATION) {
    if (b.length < 8) return framingError('IPC message ends after its continuation marker', 4);
    framing = 'continuation';
    start = 8;
    length = u32(b, 4);
  }
  if (length === 0) return framingError('IPC end-of-stream marker where a Schema message was expected', start - 4);
  if (length > 0x7fffffff) return framingError(`IPC metadata length ${length} is negative as an int32`, start - 4);
  return { ok: true, value: { framing, start, length } };
}

// ---------------------------------------------------------------------------------------------
// Schema walk

export interface ExtensionField {
  /** Field names from the top level down (`record`, `inner`). */
  path: string[];
  /** Every ARROW:extension:name value (Arrow uses the first; a scan looks at all). */
  names: string[];
  /** Every ARROW:extension:metadata value, raw. */
  metadata: Uint8Array[];
  /** Offset of the field table in the bytes handed to the reader. */
  offset: number;
}

export interface ArrowSchema {
  framing: Framing['framing'] | null;
  /** MetadataVersion of the message or footer (0 = V1 ... 4 = V5). */
  version: number | null;
  topLevelFields: number;
  /** Fields walked, children included. */
  fields: number;
  schemaKeys: string[];
  extensions: ExtensionField[];
  /** Extension fields beyond MAX_EXTENSION_FIELDS, walked but not kept. */
  extensionsDropped: number;
  /** Footer only: record batch and dictionary blocks (counted, not read). */
  recordBatches: number | null;
  dictionaries: number | null;
}

export function emptyArrowSchema(): ArrowSchema {
  return { framing: null, version: null, topLevelFields: 0, fields: 0, schemaKeys: [], extensions: [], extensionsDropped: 0, recordBatches: null, dictionaries: null };
}

/** A string or [ubyte] field's bytes, at most `cap` of them (the whole length is bounds-checked); null when absent. */
async function rawString(r: FlatReader, t: Table, i: number, cap: number): Promise<Uint8Array | null> {
  const p = await r.field(t, i);
  if (p === null) return null;
  const at = await r.deref(p);
  const n = await r.u32(at);
  await r.ensure(at + 4, n);
  return r.bytes(at + 4, Math.min(n, cap));
}

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const NAME_KEY = ascii(EXTENSION_NAME_KEY);
const METADATA_KEY = ascii(EXTENSION_METADATA_KEY);

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

class Walker {
  private keyValues = 0;

  constructor(
    private readonly r: FlatReader,
    private readonly out: ArrowSchema,
    private readonly size: number,
    /** Added to flatbuffer positions so ExtensionField offsets are in the caller's bytes. */
    private readonly base: number,
  ) {}

  async fields(owner: Table, slot: number, path: string[], depth: number): Promise<number> {
    const v = await this.r.vector(owner, slot, 4, MAX_FIELDS);
    if (v === null) return 0;
    if (depth > MAX_DEPTH) throw new ArrowSchemaError('too-deep', `Arrow fields nested deeper than ${MAX_DEPTH} (${path.join('.')})`, v.start);
    for (let k = 0; k < v.length; k++) {
      if (++this.out.fields > MAX_FIELDS) throw new ArrowSchemaError('too-many-fields', `more than ${MAX_FIELDS} Arrow fields`, v.start);
      const f = await this.r.vectorTable(v, k);
      const name = (await this.r.string(f, 0, MAX_NAME_CHARS * 4))?.slice(0, MAX_NAME_CHARS) ?? '';
      const here = [...path, name === '' ? `#${k}` : name];
      await this.metadata(f, here);
      await this.fields(f, 5, here, depth + 1);
    }
    return v.length;
  }

  private async metadata(f: Table, path: string[]): Promise<void> {
    const v = await this.r.vector(f, 6, 4, MAX_KEY_VALUES);
    if (v === null) return;
    const ext: ExtensionField = { path, names: [], metadata: [], offset: this.base + f.pos };
    this.keyValues += v.length;
    if (this.keyValues > MAX_TOTAL_KEY_VALUES) throw new ArrowSchemaError('too-many-entries', `more than ${MAX_TOTAL_KEY_VALUES} custom_metadata entries in the Arrow schema`, v.start);
    for (let k = 0; k < v.length; k++) {
      const kv = await this.r.vectorTable(v, k);
      // One byte past the longest key we look for: a longer key never compares equal.
      const key = await rawString(this.r, kv, 0, METADATA_KEY.length + 1);
      if (key === null) continue;
      if (equal(key, NAME_KEY)) {
        const value = await rawString(this.r, kv, 1, MAX_NAME_CHARS * 4);
        // Kept as soon as it is known to be an extension, so an error later in the walk loses nothing.
        if (ext.names.length === 0) this.keep(ext);
        ext.names.push(value === null ? '' : UTF8.decode(value));
      } else if (equal(key, METADATA_KEY)) {
        const value = await rawString(this.r, kv, 1, this.size);
        if (value !== null) ext.metadata.push(value);
      }
    }
  }

  private keep(ext: ExtensionField): void {
    if (this.out.extensions.length < MAX_EXTENSION_FIELDS) this.out.extensions.push(ext);
    else this.out.extensionsDropped++;
  }
}

/** The Schema table: its custom_metadata keys, then every field. */
async function walkSchema(r: FlatReader, schema: Table, out: ArrowSchema, size: number, base: number): Promise<void> {
  const kvs = await r.vector(schema, 2, 4, MAX_KEY_VALUES);
  for (let k = 0; kvs && k < kvs.length && out.schemaKeys.length < MAX_SCHEMA_KEYS; k++) {
    const key = await r.string(await r.vectorTable(kvs, k), 0, MAX_NAME_CHARS * 4);
    if (key !== null) out.schemaKeys.push(key.slice(0, MAX_NAME_CHARS));
  }
  out.topLevelFields = await new Walker(r, out, size, base).fields(schema, 1, [], 1);
}

/** Runs a walk over the flatbuffer at `base` in the caller's bytes, turning its errors into a SchemaProblem there. */
async function guarded(base: number, walk: () => Promise<void>): Promise<SchemaProblem | null> {
  try {
    await walk();
    return null;
  } catch (e) {
    if (e instanceof FlatError || e instanceof ArrowSchemaError) return { kind: e.kind, message: e.message, offset: base + e.offset };
    throw e;
  }
}

/**
 * Walks the Schema message in `message` (an encapsulated IPC message: prefix, then the
 * flatbuffer; a whole base64-decoded ARROW:schema value, or a stream's first message) into `out`.
 * Offsets in the result are in `message`.
 */
export async function readArrowSchema(message: Uint8Array, out: ArrowSchema): Promise<SchemaProblem | null> {
  const framed = messageFraming(message);
  if (!framed.ok) return framed.error;
  const { framing, start, length } = framed.value;
  out.framing = framing;
  if (start + length > message.length) {
    return { kind: 'framing', message: `IPC message declares ${length} metadata bytes, only ${message.length - start} follow`, offset: start - 4 };
  }
  const fb = message.subarray(start, start + length);
  const r = new FlatReader(new BufferSource('Arrow schema message', fb), fb.length);
  return guarded(start, async () => {
    const root = await r.root();
    const vp = await r.field(root, 0);
    out.version = vp === null ? 0 : await r.u16(vp);
    const headerType = await r.scalar(root, 1, 'u8', 0);
    if (headerType !== 1) throw new ArrowSchemaError('not-a-schema', `IPC message header type ${headerType} is not Schema (1)`, root.pos);
    const schema = await r.tableField(root, 2);
    if (schema === null) throw new ArrowSchemaError('not-a-schema', 'IPC Schema message has no header table', root.pos);
    await walkSchema(r, schema, out, fb.length, start);
  });
}

/**
 * Walks the Footer flatbuffer of an IPC file (`footer`, as stored before its length and the
 * closing magic) into `out`: the schema readers of the file format restore, and the block counts.
 * Offsets in the result are in `footer`.
 */
export async function readFooterSchema(footer: Uint8Array, out: ArrowSchema): Promise<SchemaProblem | null> {
  const r = new FlatReader(new BufferSource('Arrow IPC footer', footer), footer.length);
  return guarded(0, async () => {
    const root = await r.root();
    const vp = await r.field(root, 0);
    out.version = vp === null ? 0 : await r.u16(vp);
    const schema = await r.tableField(root, 1);
    // Arrow's file reader refuses a footer without one: nothing is restored, and nothing here is a file it reads.
    if (schema === null) throw new ArrowSchemaError('no-schema', 'IPC Footer has no schema', root.pos);
    // The schema before the blocks: a broken block vector must not hide the fields.
    await walkSchema(r, schema, out, footer.length, 0);
    out.dictionaries = (await r.vector(root, 2, BLOCK_SIZE, MAX_BLOCKS))?.length ?? 0;
    out.recordBatches = (await r.vector(root, 3, BLOCK_SIZE, MAX_BLOCKS))?.length ?? 0;
  });
}
