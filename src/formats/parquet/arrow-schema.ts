/**
 * The Arrow schema pyarrow stores in a Parquet footer (key `ARROW:schema`): base64 of an Arrow
 * IPC message whose header is a Schema. pyarrow decodes it on every read to restore Arrow types,
 * and that is where extension types come back: a field's custom_metadata pairs
 * `ARROW:extension:name` / `ARROW:extension:metadata` name the type and hold its serialized
 * parameters, handed to the registered type's deserializer (for `arrow.py_extension_type`,
 * pickle.loads in pyarrow 0.14.0-14.0.0).
 *
 * Layout (format/Message.fbs, format/Schema.fbs): Message { version: short (0), header_type:
 * ubyte (1), header (2), bodyLength (3), custom_metadata (4) }, header type 1 = Schema;
 * Schema { endianness (0), fields: [Field] (1), custom_metadata: [KeyValue] (2), features (3) };
 * Field { name (0), nullable (1), type_type (2), type (3), dictionary (4), children: [Field] (5),
 * custom_metadata: [KeyValue] (6) }; KeyValue { key: string (0), value: string (1) }.
 * Flatbuffer strings are length-prefixed bytes, so a value may be any binary (a pickle).
 */
import { BufferSource } from '../../source/buffer.js';
import { FlatError, FlatReader, type Table } from '../flatbuffer.js';

export type ArrowSchemaErrorKind = 'framing' | 'not-a-schema' | 'too-many-fields' | 'too-many-entries' | 'too-deep';

export class ArrowSchemaError extends Error {
  constructor(
    readonly kind: ArrowSchemaErrorKind,
    message: string,
    /** Offset in the decoded message. */
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

const UTF8 = new TextDecoder('utf-8', { fatal: false });
const CONTINUATION = 0xffffffff;

// ---------------------------------------------------------------------------------------------
// base64

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const SEXTET = new Int8Array(256).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) SEXTET[ALPHABET.charCodeAt(i)] = i;

export interface Base64Result {
  bytes: Uint8Array;
  /** Why the text is not canonical base64 (null when it is), with the offset of the first bad byte. */
  error: { message: string; offset: number } | null;
}

/**
 * Decodes the longest valid prefix, as Arrow's decoder (before it checked its input) did: it
 * stopped at the first '=' or non-alphabet byte and returned what it had. Anything else after
 * that prefix but well-formed padding is reported, so a scan sees what an old pyarrow decodes and
 * still flags text a strict decoder refuses.
 */
export function decodeBase64(text: Uint8Array): Base64Result {
  const out = new Uint8Array(Math.floor((text.length * 3) / 4) + 3);
  let n = 0;
  let acc = 0;
  let bits = 0;
  let i = 0;
  for (; i < text.length; i++) {
    const v = SEXTET[text[i]!]!;
    if (v < 0) break;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  const bytes = out.subarray(0, n);
  const digits = i;
  let pad = 0;
  while (i + pad < text.length && text[i + pad] === 0x3d && pad < 2) pad++;
  if (i + pad < text.length) {
    return { bytes, error: { message: `byte ${text[i + pad]} at ${i + pad} is not base64`, offset: i + pad } };
  }
  if ((digits + pad) % 4 !== 0 || digits % 4 === 1 || (pad > 0 && digits % 4 === 0)) {
    return { bytes, error: { message: `${digits} base64 digits and ${pad} padding characters do not form whole groups`, offset: digits } };
  }
  return { bytes, error: null };
}

// ---------------------------------------------------------------------------------------------
// IPC message

export interface Framing {
  kind: 'continuation' | 'legacy';
  /** Offset and length of the flatbuffer in the decoded message. */
  start: number;
  length: number;
}

/** An encapsulated IPC message: 0xFFFFFFFF + int32 length (Arrow >= 0.15) or the int32 alone. */
export function messageFraming(b: Uint8Array): Framing {
  const u32 = (at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 2 ** 24;
  if (b.length < 4) throw new ArrowSchemaError('framing', `${b.length} bytes: too short for an IPC message`, 0);
  let kind: Framing['kind'] = 'legacy';
  let start = 4;
  let length = u32(0);
  if (length === CONTINUATION) {
    if (b.length < 8) throw new ArrowSchemaError('framing', 'IPC message ends after its continuation marker', 4);
    kind = 'continuation';
    start = 8;
    length = u32(4);
  }
  if (length === 0) throw new ArrowSchemaError('framing', 'IPC end-of-stream marker where a Schema message was expected', start - 4);
  if (length > 0x7fffffff) throw new ArrowSchemaError('framing', `IPC metadata length ${length} is negative as an int32`, start - 4);
  if (start + length > b.length) {
    throw new ArrowSchemaError('framing', `IPC message declares ${length} metadata bytes, only ${b.length - start} follow`, start - 4);
  }
  return { kind, start, length };
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
  /** Offset of the field table in the flatbuffer. */
  offset: number;
}

export interface ArrowSchema {
  framing: Framing['kind'] | null;
  version: number | null;
  topLevelFields: number;
  /** Fields walked, children included. */
  fields: number;
  schemaKeys: string[];
  extensions: ExtensionField[];
  /** Extension fields beyond MAX_EXTENSION_FIELDS, walked but not kept. */
  extensionsDropped: number;
}

export function emptyArrowSchema(): ArrowSchema {
  return { framing: null, version: null, topLevelFields: 0, fields: 0, schemaKeys: [], extensions: [], extensionsDropped: 0 };
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
    const ext: ExtensionField = { path, names: [], metadata: [], offset: f.pos };
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

/**
 * Walks the Schema message in `decoded` (a whole base64-decoded ARROW:schema value) into `out`,
 * which keeps what was read before an error. Throws ArrowSchemaError or FlatError (offsets in the
 * decoded bytes).
 */
export async function readArrowSchema(decoded: Uint8Array, out: ArrowSchema): Promise<void> {
  const framing = messageFraming(decoded);
  out.framing = framing.kind;
  const fb = decoded.subarray(framing.start, framing.start + framing.length);
  const r = new FlatReader(new BufferSource('ARROW:schema', fb), fb.length);
  try {
    const message = await r.root();
    const vp = await r.field(message, 0);
    out.version = vp === null ? 0 : await r.u16(vp);
    const headerType = await r.scalar(message, 1, 'u8', 0);
    if (headerType !== 1) throw new ArrowSchemaError('not-a-schema', `IPC message header type ${headerType} is not Schema (1)`, message.pos);
    const schema = await r.tableField(message, 2);
    if (schema === null) throw new ArrowSchemaError('not-a-schema', 'IPC Schema message has no header table', message.pos);
    const kvs = await r.vector(schema, 2, 4, MAX_KEY_VALUES);
    for (let k = 0; kvs && k < kvs.length && out.schemaKeys.length < MAX_SCHEMA_KEYS; k++) {
      const key = await r.string(await r.vectorTable(kvs, k), 0, MAX_NAME_CHARS * 4);
      if (key !== null) out.schemaKeys.push(key.slice(0, MAX_NAME_CHARS));
    }
    out.topLevelFields = await new Walker(r, out, fb.length).fields(schema, 1, [], 1);
  } catch (e) {
    // Offsets inside the flatbuffer become offsets in the decoded message.
    if (e instanceof FlatError) throw new FlatError(e.kind, e.message, framing.start + e.offset);
    if (e instanceof ArrowSchemaError) throw new ArrowSchemaError(e.kind, e.message, framing.start + e.offset);
    throw e;
  }
}
