/**
 * Attribute messages (versions 1-3), from an object header (compact storage) or from a
 * fractal heap (dense storage, listed through the attribute name index). Values are decoded
 * only for string types; other types are described by class and size and never read.
 */
import { readDatatype, readDataspace, className, type Datatype } from './datatype.js';
import { heapObject, readFractalHeap } from './fractal-heap.js';
import { btree2Records } from './btree2.js';
import { GlobalHeap } from './global-heap.js';
import { Cursor, H5Error, H5File, UNDEFINED, malformed } from './io.js';
import { MSG_ATTRIBUTE, MSG_ATTRIBUTE_INFO, type ObjectHeader } from './object-header.js';

export type AttributeValue =
  | { kind: 'strings'; values: string[] }
  | { kind: 'other'; description: string };

export interface Attribute {
  name: string;
  value: AttributeValue;
  storage: 'compact' | 'dense';
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const pad8 = (n: number) => Math.ceil(n / 8) * 8;

function fixedString(raw: Uint8Array, padding: number): string {
  // Null-terminated and null-padded strings end at the first NUL; space-padded ones lose trailing spaces.
  let end = raw.length;
  if (padding === 2) while (end > 0 && raw[end - 1] === 0x20) end--;
  else {
    const z = raw.indexOf(0);
    if (z >= 0) end = z;
  }
  return utf8.decode(raw.subarray(0, end));
}

async function decodeValue(file: H5File, heap: GlobalHeap, type: Datatype, count: number, c: Cursor): Promise<AttributeValue> {
  if (type.kind === 'other' || type.kind === 'vlen-sequence') {
    const what = type.kind === 'other' ? className(type.typeClass) : 'variable-length sequence';
    return { kind: 'other', description: `${count} × ${what} (${type.size} bytes each)` };
  }
  if (count > file.limits.maxElements) throw new H5Error('limit', `attribute holds ${count} strings, more than the ${file.limits.maxElements} decoded`, c.at + c.pos);
  const values: string[] = [];
  if (type.kind === 'string') {
    if (type.size * count > c.left) throw malformed(`attribute data (${count} × ${type.size} bytes) runs past its message`, c.at + c.pos);
    for (let i = 0; i < count; i++) values.push(fixedString(c.bytes(type.size, 'string element'), type.padding));
    return { kind: 'strings', values };
  }
  for (let i = 0; i < count; i++) {
    const length = c.u32('variable-length string length');
    const collection = file.offset(c, 'global heap collection address');
    const index = c.u32('global heap object index');
    if (length === 0 || collection === UNDEFINED || collection === 0) {
      values.push('');
      continue;
    }
    values.push(utf8.decode(await heap.object(collection, index, length)));
  }
  return { kind: 'strings', values };
}

/** Decodes one attribute message. */
export async function readAttribute(file: H5File, heap: GlobalHeap, data: Uint8Array, at: number, storage: Attribute['storage']): Promise<Attribute> {
  const c = new Cursor(data, at);
  const version = c.u8('attribute message version');
  if (version < 1 || version > 3) throw malformed(`attribute message version ${version} is not 1-3`, at);
  const flags = c.u8('attribute flags');
  const nameSize = c.u16('attribute name size');
  const typeSize = c.u16('attribute datatype size');
  const spaceSize = c.u16('attribute dataspace size');
  if (version === 3) c.skip(1, 'name character set');
  const field = (n: number) => (version === 1 ? pad8(n) : n);
  const name = fixedString(c.bytes(field(nameSize), 'attribute name'), 0);
  if (flags & 0x03) {
    // Shared datatype or dataspace: stored elsewhere (a committed type); rare and not followed.
    throw new H5Error('unsupported', `attribute ${JSON.stringify(name)} uses a shared datatype or dataspace`, at);
  }
  const typeBytes = c.bytes(field(typeSize), 'attribute datatype');
  const spaceBytes = c.bytes(field(spaceSize), 'attribute dataspace');
  const type = readDatatype(new Cursor(typeBytes, at));
  const space = readDataspace(new Cursor(spaceBytes, at), file.lengthSize);
  const value = await decodeValue(file, heap, type, space.count, c);
  return { name, value, storage };
}

export interface AttributeList {
  attributes: Attribute[];
  /** Problems met with individual attributes; the others were still read. */
  problems: H5Error[];
}

/** Every attribute of an object: compact ones from its header, dense ones from its heap. */
export async function readAttributes(file: H5File, header: ObjectHeader): Promise<AttributeList> {
  const heap = new GlobalHeap(file);
  const out: AttributeList = { attributes: [], problems: [] };
  const attempt = async (fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      // A limit or malformed heap stops only the attribute it belongs to; other errors propagate.
      if (e instanceof H5Error) out.problems.push(e);
      else throw e;
    }
  };
  for (const m of header.messages) {
    if (m.type === MSG_ATTRIBUTE) await attempt(async () => void out.attributes.push(await readAttribute(file, heap, m.data, m.at, 'compact')));
    if (m.type !== MSG_ATTRIBUTE_INFO) continue;
    await attempt(async () => {
      const c = new Cursor(m.data, m.at);
      if (c.u8('attribute info version') !== 0) throw malformed('attribute info message version is not 0', m.at);
      const flags = c.u8('attribute info flags');
      if (flags & 0x01) c.skip(2, 'maximum creation index');
      const heapAddr = file.offset(c, 'attribute fractal heap address');
      const nameIndex = file.offset(c, 'attribute name index address');
      if (heapAddr === UNDEFINED || nameIndex === UNDEFINED) return; // no dense storage in use
      const fheap = await readFractalHeap(file, heapAddr);
      const { records } = await btree2Records(file, nameIndex, [8]);
      for (const rec of records) {
        if (rec.length < fheap.idLength) throw malformed('attribute name index record is shorter than a heap ID');
        // The record's message flags say whether the heap object is a shared message.
        const shared = rec[fheap.idLength]! & 0x02;
        if (shared) {
          out.problems.push(new H5Error('unsupported', 'a dense attribute is stored as a shared message'));
          continue;
        }
        await attempt(async () => {
          const msg = await heapObject(file, fheap, rec.subarray(0, fheap.idLength));
          out.attributes.push(await readAttribute(file, heap, msg, fheap.addr, 'dense'));
        });
      }
    });
  }
  return out;
}
