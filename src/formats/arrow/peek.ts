/**
 * A synchronous look at the root table of an Arrow IPC flatbuffer held in sniffing bytes (a head
 * or tail window), every offset bounds-checked against those bytes. Sniffing cannot await the
 * FlatReader, and a stream's only signature is a length prefix: what tells an Arrow stream from
 * other bytes that start with 0xFFFFFFFF, or a footer from a file that merely ends with `ARROW1`,
 * is a Message (or Footer) table that holds together. Flatbuffer builders write back to front, so
 * the root table and its vtable sit at the front of the buffer, inside the window even when the
 * rest of the schema is not.
 */

interface Peeked {
  pos: number;
  vt: number;
  vtSize: number;
}

/** The highest MetadataVersion (V5) Arrow writes; readers refuse unknown newer ones. */
const MAX_METADATA_VERSION = 4;
const SCHEMA_HEADER = 1;

const u16 = (b: Uint8Array, at: number): number | null => (at >= 0 && at + 2 <= b.length ? b[at]! | (b[at + 1]! << 8) : null);
const u32 = (b: Uint8Array, at: number): number | null => (at >= 0 && at + 4 <= b.length ? (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 2 ** 24 : null);

function table(b: Uint8Array, pos: number): Peeked | null {
  const rel = u32(b, pos);
  if (rel === null) return null;
  // soffset_t: the vtable may sit before or after its table.
  const vt = pos - (rel | 0);
  const vtSize = u16(b, vt);
  const inline = u16(b, vt + 2);
  if (vtSize === null || inline === null || vtSize < 4 || vtSize % 2 !== 0 || vt + vtSize > b.length || pos + Math.max(4, inline) > b.length) return null;
  return { pos, vt, vtSize };
}

/** Position of field `i`; 0 when the table does not set it (no field lives at a table's own position). */
function field(b: Uint8Array, t: Peeked, i: number): number {
  const entry = 4 + 2 * i;
  if (entry + 2 > t.vtSize) return 0;
  const off = u16(b, t.vt + entry) ?? 0;
  return off === 0 ? 0 : t.pos + off;
}

/** The table a uoffset field points to, or null when absent or out of the window. */
function child(b: Uint8Array, t: Peeked, i: number): Peeked | null {
  const p = field(b, t, i);
  if (p === 0) return null;
  const rel = u32(b, p);
  return rel === null ? null : table(b, p + rel);
}

function version(b: Uint8Array, t: Peeked): number | null {
  const p = field(b, t, 0);
  return p === 0 ? 0 : u16(b, p);
}

/** True when `fb` (a Message flatbuffer, possibly cut short) is a Schema message of a known version. */
export function isSchemaMessage(fb: Uint8Array): boolean {
  const root = u32(fb, 0);
  const t = root === null ? null : table(fb, root);
  if (t === null) return false;
  const v = version(fb, t);
  const typeAt = field(fb, t, 1);
  if (v === null || v > MAX_METADATA_VERSION || typeAt === 0 || fb[typeAt] !== SCHEMA_HEADER) return false;
  return child(fb, t, 2) !== null;
}

/** True when `fb` (an IPC file's Footer flatbuffer, whole) has a schema table and a known version. */
export function isFooter(fb: Uint8Array): boolean {
  const root = u32(fb, 0);
  const t = root === null ? null : table(fb, root);
  if (t === null) return false;
  const v = version(fb, t);
  return v !== null && v <= MAX_METADATA_VERSION && child(fb, t, 1) !== null;
}
