/**
 * Fractal heaps ("FRHP"): where dense attribute storage keeps attribute messages. An object is
 * found from its heap ID: tiny objects sit in the ID itself, managed objects in a direct block
 * located through the doubling table of indirect blocks, huge objects at an address found in
 * a v2 B-tree (or in the ID itself when it is wide enough). Filtered (compressed) heaps and
 * filtered huge objects are reported as unsupported rather than guessed at.
 */
import { btree2Records } from './btree2.js';
import { Cursor, H5Error, H5File, UNDEFINED, malformed } from './io.js';

export interface FractalHeap {
  addr: number;
  idLength: number;
  filtered: boolean;
  maxManagedSize: number;
  hugeBTree: number;
  tableWidth: number;
  startBlockSize: number;
  maxDirectSize: number;
  /** Bytes of a heap offset (from the maximum heap size in bits). */
  offsetBytes: number;
  /** Bytes of a managed object length in a heap ID. */
  lengthBytes: number;
  rootBlock: number;
  rootRows: number;
  checksummedDirect: boolean;
}

const log2 = (n: number) => Math.log2(n);
const isPow2 = (n: number) => n > 0 && Number.isSafeInteger(n) && (n & (n - 1)) === 0;

export async function readFractalHeap(file: H5File, addr: number): Promise<FractalHeap> {
  const so = file.offsetSize;
  const sl = file.lengthSize;
  const c = await file.read(addr, 4 + 1 + 2 + 2 + 1 + 4 + sl + so + sl + so + sl * 8 + 2 + sl + sl + 2 + 2 + so + 2, 'fractal heap header');
  c.signature('FRHP', 'fractal heap header');
  if (c.u8('fractal heap version') !== 0) throw malformed('fractal heap version is not 0', c.at + 4);
  const idLength = c.u16('heap ID length');
  const filterLength = c.u16('I/O filter length');
  const flags = c.u8('fractal heap flags');
  const maxManagedSize = c.u32('maximum managed object size');
  file.length(c, 'next huge object ID');
  const hugeBTree = file.offset(c, 'huge object B-tree address');
  file.length(c, 'free space');
  file.offset(c, 'free space manager address');
  for (let i = 0; i < 8; i++) file.length(c, 'heap statistics');
  const tableWidth = c.u16('table width');
  const startBlockSize = file.length(c, 'starting block size');
  const maxDirectSize = file.length(c, 'maximum direct block size');
  const maxHeapBits = c.u16('maximum heap size');
  c.u16('starting root rows');
  const rootBlock = file.offset(c, 'root block address');
  const rootRows = c.u16('root rows');
  if (idLength < 2 || idLength > 64) throw malformed(`fractal heap ID length ${idLength} is implausible`, c.at);
  if (!isPow2(tableWidth) || !isPow2(startBlockSize) || !isPow2(maxDirectSize) || maxDirectSize < startBlockSize) {
    throw malformed(`fractal heap doubling table (width ${tableWidth}, blocks ${startBlockSize}..${maxDirectSize}) is not valid`, c.at);
  }
  if (maxHeapBits < 1 || maxHeapBits > 64) throw malformed(`fractal heap maximum size of ${maxHeapBits} bits is not valid`, c.at);
  const offsetBytes = Math.ceil(maxHeapBits / 8);
  const lengthBytes = Math.min(Math.ceil(log2(maxDirectSize) / 8), Math.floor(log2(Math.max(1, maxManagedSize)) / 8) + 1);
  return {
    addr,
    idLength,
    filtered: filterLength > 0,
    maxManagedSize,
    hugeBTree,
    tableWidth,
    startBlockSize,
    maxDirectSize,
    offsetBytes,
    lengthBytes,
    rootBlock,
    rootRows,
    checksummedDirect: (flags & 0x02) !== 0,
  };
}

function rowSize(h: FractalHeap, row: number): number {
  return row === 0 ? h.startBlockSize : h.startBlockSize * 2 ** (row - 1);
}

/** Rows of direct blocks an indirect block can hold before its rows become indirect. */
function maxDirectRows(h: FractalHeap): number {
  return log2(h.maxDirectSize) - log2(h.startBlockSize) + 2;
}

/** Address of the byte at heap offset `offset`, found through the doubling table. */
async function locate(file: H5File, h: FractalHeap, offset: number, length: number): Promise<number> {
  if (h.filtered) throw new H5Error('unsupported', 'fractal heap blocks are filtered (compressed)');
  if (h.rootBlock === UNDEFINED) throw malformed('fractal heap has no root block but an object refers to it');
  if (h.rootRows === 0) {
    if (offset + length > h.startBlockSize) throw malformed(`heap object at offset ${offset} runs past the root direct block`);
    return h.rootBlock + offset;
  }
  let block = h.rootBlock;
  let rows = h.rootRows;
  let blockOffset = 0;
  for (let depth = 0; depth < 16; depth++) {
    const direct = Math.min(rows, maxDirectRows(h));
    const entries = rows * h.tableWidth;
    const size = 4 + 1 + file.offsetSize + h.offsetBytes + direct * h.tableWidth * file.offsetSize + (entries - direct * h.tableWidth) * file.offsetSize;
    const c: Cursor = await file.read(block, size, 'fractal heap indirect block');
    c.signature('FHIB', 'fractal heap indirect block');
    c.skip(1 + file.offsetSize, 'version and heap address');
    const stated = c.uint(h.offsetBytes, 'block offset');
    if (stated !== blockOffset) throw malformed(`indirect block states heap offset ${stated}, its parent places it at ${blockOffset}`, c.at);
    let start = blockOffset;
    let next: { addr: number; rows: number; start: number } | null = null;
    for (let r = 0; r < rows && !next; r++) {
      const span = rowSize(h, r);
      for (let col = 0; col < h.tableWidth; col++) {
        const child = file.offset(c, 'child block address');
        if (offset >= start && offset < start + span) {
          if (child === UNDEFINED) throw malformed(`heap offset ${offset} falls in an unallocated block`);
          if (r < maxDirectRows(h)) {
            if (offset + length > start + span) throw malformed(`heap object at offset ${offset} (${length} bytes) runs past its direct block`);
            return child + (offset - start);
          }
          next = { addr: child, rows: log2(span) - log2(h.startBlockSize * h.tableWidth) + 1, start };
          break;
        }
        start += span;
      }
    }
    if (!next) throw malformed(`heap offset ${offset} lies outside the heap's doubling table`);
    block = next.addr;
    rows = next.rows;
    blockOffset = next.start;
    if (!Number.isInteger(rows) || rows < 1) throw malformed('indirect block row count is not valid');
  }
  throw malformed('fractal heap indirect blocks nest deeper than 16');
}

/** The bytes of the heap object named by `id` (a heap ID from an index record). */
export async function heapObject(file: H5File, h: FractalHeap, id: Uint8Array): Promise<Uint8Array> {
  const c = new Cursor(id, 0);
  const flags = c.u8('heap ID flags');
  if (flags >> 6 !== 0) throw malformed(`heap ID version ${flags >> 6} is not 0`);
  const type = (flags >> 4) & 0x03;
  if (type === 0) {
    const offset = c.uint(h.offsetBytes, 'heap offset');
    const length = c.uint(h.lengthBytes, 'object length');
    if (offset < 0 || length < 0) throw malformed('managed heap ID has an undefined offset or length');
    const at = await locate(file, h, offset, length);
    return (await file.read(at, length, 'fractal heap object')).buf;
  }
  if (type === 2) {
    // Tiny: the object is inside the ID; its length is in the low bits (and the next byte for wide IDs).
    const extended = h.idLength > 18;
    const length = (extended ? ((flags & 0x0f) << 8) | c.u8('tiny length') : flags & 0x0f) + 1;
    return c.bytes(length, 'tiny heap object');
  }
  if (type === 1) return hugeObject(file, h, c);
  throw malformed(`heap ID type ${type} is not valid`);
}

async function hugeObject(file: H5File, h: FractalHeap, c: Cursor): Promise<Uint8Array> {
  const so = file.offsetSize;
  const sl = file.lengthSize;
  if (!h.filtered && h.idLength >= 1 + so + sl) {
    const addr = file.offset(c, 'huge object address');
    const length = file.length(c, 'huge object length');
    return (await file.read(addr, length, 'huge heap object')).buf;
  }
  if (h.filtered) throw new H5Error('unsupported', 'huge heap object is filtered (compressed)');
  const id = c.uint(Math.min(h.idLength - 1, sl), 'huge object ID');
  if (h.hugeBTree === UNDEFINED) throw malformed('huge heap object without a huge object index');
  const { records } = await btree2Records(file, h.hugeBTree, [1]);
  for (const rec of records) {
    const r = new Cursor(rec, 0);
    const addr = file.offset(r, 'huge object address');
    const length = file.length(r, 'huge object length');
    if (file.length(r, 'huge object ID') === id) return (await file.read(addr, length, 'huge heap object')).buf;
  }
  throw malformed(`huge heap object ${id} is not in the huge object index`);
}
