/**
 * Parquet's FileMetaData (parquet.thrift): the fields a scan reports, read with the bounded
 * compact-protocol reader. Field ids: 1 version (i32), 2 schema (list<SchemaElement>), 3 num_rows
 * (i64), 4 row_groups (list<RowGroup>), 5 key_value_metadata (list<KeyValue{1 key, 2 value}>),
 * 6 created_by (string), 8 encryption_algorithm (plaintext-footer encryption); SchemaElement 5 is
 * num_children (set on group nodes only). Row groups are counted and skipped, never materialised.
 */
import { CT, CompactReader } from './thrift.js';

/** Metadata keys kept by name (for facts); every ARROW:schema value is kept whatever the count. */
const MAX_KEYS_KEPT = 1_000;
const MAX_KEY_CHARS = 256;
/** pyarrow reads the first ARROW:schema; a scan looks at every copy, up to this many. */
const MAX_ARROW_SCHEMAS = 16;

export const ARROW_SCHEMA_KEY = 'ARROW:schema';

export interface ArrowSchemaValue {
  /** The base64 text; null when the KeyValue has no value. */
  value: Uint8Array | null;
  /** File offset of the value (of the KeyValue when it has none). */
  offset: number;
}

export interface FileMetaData {
  version: number | null;
  /** Schema elements, the root included. */
  schemaElements: number | null;
  /** Leaf columns (elements without num_children). */
  columns: number;
  /** num_children of the root element: top-level fields. */
  topLevelFields: number | null;
  numRows: bigint | null;
  rowGroups: number | null;
  keys: string[];
  keyCount: number;
  arrowSchemas: ArrowSchemaValue[];
  /** ARROW:schema entries beyond MAX_ARROW_SCHEMAS, not examined. */
  arrowSchemasSkipped: number;
  createdBy: string | null;
  /** encryption_algorithm is set: columns are encrypted, the footer is plaintext (and signed). */
  encrypted: boolean;
}

export function emptyFileMetaData(): FileMetaData {
  return {
    version: null,
    schemaElements: null,
    columns: 0,
    topLevelFields: null,
    numRows: null,
    rowGroups: null,
    keys: [],
    keyCount: 0,
    arrowSchemas: [],
    arrowSchemasSkipped: 0,
    createdBy: null,
    encrypted: false,
  };
}

const UTF8 = new TextDecoder('utf-8', { fatal: false });

function schemaElement(r: CompactReader, out: FileMetaData, index: number): void {
  const el: { children: number | null } = { children: null };
  r.struct((id, type) => {
    if (id === 5 && type === CT.I32) {
      el.children = r.i32();
      return true;
    }
    return false;
  });
  if (el.children === null) out.columns++;
  else if (index === 0) out.topLevelFields = el.children;
}

function keyValue(r: CompactReader, out: FileMetaData): void {
  // Filled by the field callback (an object, so TypeScript follows the writes).
  const kv: { key: Uint8Array | null; value: Uint8Array | null; valueOffset: number } = { key: null, value: null, valueOffset: r.offset };
  r.struct((id, type) => {
    if (type !== CT.BINARY || (id !== 1 && id !== 2)) return false;
    const at = r.offset;
    const b = r.binary();
    if (id === 1) kv.key = b;
    else {
      kv.value = b;
      kv.valueOffset = at;
    }
    return true;
  });
  out.keyCount++;
  const name = kv.key === null ? '' : UTF8.decode(kv.key.subarray(0, MAX_KEY_CHARS * 4)).slice(0, MAX_KEY_CHARS);
  if (out.keys.length < MAX_KEYS_KEPT) out.keys.push(name);
  // Compared on the whole key: a longer key is another key to pyarrow.
  if (kv.key !== null && kv.key.length === ARROW_SCHEMA_KEY.length && name === ARROW_SCHEMA_KEY) {
    if (out.arrowSchemas.length < MAX_ARROW_SCHEMAS) out.arrowSchemas.push({ value: kv.value, offset: kv.valueOffset });
    else out.arrowSchemasSkipped++;
  }
}

/**
 * Reads FileMetaData from `footer` (at file offset `base`) into `out`, field by field, so what was
 * read before an error is still there. Throws ThriftError.
 */
export function readFileMetaData(footer: Uint8Array, base: number, out: FileMetaData): void {
  const r = new CompactReader(footer, base);
  r.struct((id, type) => {
    switch (id) {
      case 1:
        if (type !== CT.I32) return false;
        out.version = r.i32();
        return true;
      case 2: {
        if (type !== CT.LIST) return false;
        const h = r.list();
        if (h.type !== CT.STRUCT && h.size > 0) return skipElements(r, h.type, h.size);
        out.schemaElements = h.size;
        for (let i = 0; i < h.size; i++) schemaElement(r, out, i);
        return true;
      }
      case 3:
        if (type !== CT.I64) return false;
        out.numRows = r.i64();
        return true;
      case 4: {
        if (type !== CT.LIST) return false;
        const h = r.list();
        out.rowGroups = h.size;
        for (let i = 0; i < h.size; i++) r.skip(h.type);
        return true;
      }
      case 5: {
        if (type !== CT.LIST) return false;
        const h = r.list();
        if (h.type !== CT.STRUCT && h.size > 0) return skipElements(r, h.type, h.size);
        for (let i = 0; i < h.size; i++) keyValue(r, out);
        return true;
      }
      case 6:
        if (type !== CT.BINARY) return false;
        out.createdBy = r.string().slice(0, 512);
        return true;
      case 8:
        if (type !== CT.STRUCT) return false;
        out.encrypted = true;
        r.skip(CT.STRUCT);
        return true;
      default:
        return false;
    }
  });
}

/** A list whose header was read but whose element type is not what the field declares. */
function skipElements(r: CompactReader, type: number, size: number): true {
  for (let i = 0; i < size; i++) r.skip(type);
  return true;
}

/** Required fields a reader insists on; pyarrow refuses a footer without them. */
export function missingRequired(m: FileMetaData): string[] {
  const missing: string[] = [];
  if (m.version === null) missing.push('version');
  if (m.schemaElements === null) missing.push('schema');
  if (m.numRows === null) missing.push('num_rows');
  if (m.rowGroups === null) missing.push('row_groups');
  return missing;
}
