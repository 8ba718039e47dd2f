/**
 * Datatype and dataspace messages, decoded only as far as attribute values need: strings
 * (fixed-length, and variable-length in the global heap), and the element size and count of
 * everything else so it can be skipped.
 */
import { Cursor, H5Error, malformed } from './io.js';

export type Charset = 'ascii' | 'utf-8';

export type Datatype =
  | { kind: 'string'; size: number; charset: Charset; padding: number }
  | { kind: 'vlen-string'; size: number; charset: Charset }
  | { kind: 'vlen-sequence'; size: number }
  | { kind: 'other'; size: number; typeClass: number };

const CLASS_NAMES = ['fixed-point', 'floating-point', 'time', 'string', 'bitfield', 'opaque', 'compound', 'reference', 'enumerated', 'variable-length', 'array'];

export function className(c: number): string {
  return CLASS_NAMES[c] ?? `class ${c}`;
}

const charset = (bits: number): Charset => (bits === 1 ? 'utf-8' : 'ascii');

/** Decodes the datatype at the cursor. Nested types (variable-length bases) are bounded by depth. */
export function readDatatype(c: Cursor, depth = 0): Datatype {
  if (depth > 8) throw malformed('datatype nesting deeper than 8', c.at + c.pos);
  const classVersion = c.u8('datatype class');
  const typeClass = classVersion & 0x0f;
  const version = classVersion >> 4;
  if (version < 1 || version > 5) throw malformed(`datatype version ${version} is not valid`, c.at + c.pos - 1);
  const b0 = c.u8('class bits');
  const b1 = c.u8('class bits');
  c.u8('class bits');
  const size = c.u32('datatype size');
  if (typeClass === 3) return { kind: 'string', size, charset: charset(b0 >> 4), padding: b0 & 0x0f };
  if (typeClass === 9) {
    const vlenType = b0 & 0x0f;
    // The base type follows; for strings it is a 1-byte character type and is not needed.
    readDatatype(c, depth + 1);
    if (vlenType === 1) return { kind: 'vlen-string', size, charset: charset(b1 & 0x0f) };
    return { kind: 'vlen-sequence', size };
  }
  if (typeClass > 10) throw malformed(`datatype class ${typeClass} is not valid`, c.at + c.pos - 8);
  return { kind: 'other', size, typeClass };
}

export interface Dataspace {
  /** Number of elements: 1 for a scalar, 0 for a null dataspace. */
  count: number;
  dims: number[];
}

export function readDataspace(c: Cursor, lengthSize: number): Dataspace {
  const version = c.u8('dataspace version');
  const rank = c.u8('dataspace rank');
  const flags = c.u8('dataspace flags');
  let isNull = false;
  if (version === 1) c.skip(5, 'reserved');
  else if (version === 2) isNull = c.u8('dataspace type') === 2;
  else throw malformed(`dataspace version ${version} is not 1 or 2`, c.at + c.pos - 3);
  if (rank > 32) throw malformed(`dataspace rank ${rank} exceeds HDF5's maximum of 32`, c.at + c.pos);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < rank; i++) {
    const d = c.uint(lengthSize, 'dimension');
    if (d < 0) throw malformed('dimension is the undefined value', c.at + c.pos);
    dims.push(d);
    count *= d;
  }
  if (flags & 0x01) c.skip(rank * lengthSize, 'maximum dimensions');
  if (!Number.isSafeInteger(count)) throw new H5Error('limit', `dataspace holds ${count} elements`, c.at);
  return { count: isNull ? 0 : count, dims };
}
