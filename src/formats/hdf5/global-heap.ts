/**
 * Global heap collections ("GCOL"): where variable-length strings live. A collection is
 * indexed once (object headers only, data skipped) and cached; an object's bytes are read only
 * when a string asks for them.
 */
import { Cursor, H5Error, H5File, malformed } from './io.js';

interface HeapObject {
  dataAddr: number;
  size: number;
  /** Present when the collection was small enough to read whole. */
  data?: Uint8Array;
}

/** Collections up to this size are read in one go; larger ones object header by object header. */
const WHOLE = 4 * 1024 * 1024;

export class GlobalHeap {
  private readonly collections = new Map<number, Map<number, HeapObject>>();

  constructor(private readonly file: H5File) {}

  private async index(addr: number): Promise<Map<number, HeapObject>> {
    const cached = this.collections.get(addr);
    if (cached) return cached;
    if (this.collections.size > 1000) throw new H5Error('limit', 'more than 1000 global heap collections referenced');
    const f = this.file;
    const head = await f.read(addr, 8 + f.lengthSize, 'global heap collection header');
    head.signature('GCOL', 'global heap collection');
    const version = head.u8('global heap version');
    if (version !== 1) throw malformed(`global heap collection version ${version} is not 1`, head.at + 4);
    head.skip(3, 'reserved');
    const size = f.length(head, 'collection size');
    if (size < 8 + f.lengthSize || addr + size > f.size - f.base) throw malformed(`global heap collection of ${size} bytes does not fit in the file`, head.at);
    const objects = new Map<number, HeapObject>();
    const objHeader = 8 + f.lengthSize;
    let pos = addr + 8 + f.lengthSize;
    const end = addr + size;
    const whole = size <= WHOLE ? await f.read(addr, size, 'global heap collection') : null;
    while (pos + objHeader <= end) {
      const h = whole ? new Cursor(whole.buf.subarray(pos - addr, pos - addr + objHeader), whole.at + pos - addr) : await f.read(pos, objHeader, 'global heap object header');
      const index = h.u16('object index');
      if (index === 0) break; // free space: the rest of the collection
      h.skip(6, 'reference count');
      const objSize = f.length(h, 'object size');
      const dataAddr = pos + objHeader;
      if (objSize < 0 || dataAddr + objSize > end) throw malformed(`global heap object ${index} (${objSize} bytes) runs past its collection`, h.at);
      objects.set(index, whole ? { dataAddr, size: objSize, data: whole.buf.subarray(dataAddr - addr, dataAddr - addr + objSize) } : { dataAddr, size: objSize });
      pos = dataAddr + Math.ceil(objSize / 8) * 8;
      if (objects.size > 1_000_000) throw new H5Error('limit', 'global heap collection has more than a million objects', h.at);
    }
    this.collections.set(addr, objects);
    return objects;
  }

  /** The bytes of object `index` in the collection at `addr` (at most `length` of them). */
  async object(addr: number, index: number, length: number): Promise<Uint8Array> {
    const obj = (await this.index(addr)).get(index);
    if (!obj) throw malformed(`global heap collection at ${addr} has no object ${index}`);
    if (length > obj.size) throw malformed(`variable-length value of ${length} bytes is longer than its heap object (${obj.size} bytes)`);
    if (obj.data) return obj.data.subarray(0, length);
    return (await this.file.read(obj.dataAddr, length, 'global heap object')).buf;
  }
}
