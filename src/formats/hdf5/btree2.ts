/**
 * Version 2 B-trees ("BTHD" / "BTIN" / "BTLF"), walked to list every record. Used for the
 * attribute name index of dense attribute storage (record type 8) and the index of huge
 * fractal heap objects (types 1 and 2). The node geometry (how many bytes encode child record
 * counts) follows the library's derivation from the node and record sizes. Depth, node count
 * and record count are bounded; a node reached twice is a cycle.
 */
import { H5Error, H5File, UNDEFINED, malformed } from './io.js';

const PREFIX = 10; // signature, version, type, checksum

/** Bytes needed to encode values up to n (the library's H5VM_limit_enc_size). */
function encSize(n: number): number {
  return Math.floor(Math.log2(Math.max(1, n)) / 8) + 1;
}

interface Geometry {
  maxNrec: number[];
  cumMaxNrecSize: number[];
  maxNrecSize: number;
}

function geometry(nodeSize: number, recordSize: number, offsetSize: number, depth: number): Geometry {
  const maxNrec = [Math.floor((nodeSize - PREFIX) / recordSize)];
  const cumMaxNrec = [maxNrec[0]!];
  const cumMaxNrecSize = [0];
  const maxNrecSize = encSize(maxNrec[0]!);
  for (let d = 1; d <= depth; d++) {
    const ptr = offsetSize + maxNrecSize + cumMaxNrecSize[d - 1]!;
    const n = Math.floor((nodeSize - (PREFIX + ptr)) / (recordSize + ptr));
    if (n < 1) throw malformed(`v2 B-tree nodes of ${nodeSize} bytes cannot hold a record at depth ${d}`);
    maxNrec.push(n);
    const cum = (n + 1) * cumMaxNrec[d - 1]! + n;
    cumMaxNrec.push(cum);
    cumMaxNrecSize.push(encSize(cum));
  }
  return { maxNrec, cumMaxNrecSize, maxNrecSize };
}

export interface BTree2Header {
  type: number;
  recordSize: number;
  depth: number;
  total: number;
}

/** Every record of the v2 B-tree whose header is at `addr`, in storage order. */
export async function btree2Records(file: H5File, addr: number, expectTypes: readonly number[]): Promise<{ header: BTree2Header; records: Uint8Array[] }> {
  const so = file.offsetSize;
  const h = await file.read(addr, 4 + 1 + 1 + 4 + 2 + 2 + 1 + 1 + so + 2 + file.lengthSize + 4, 'v2 B-tree header');
  h.signature('BTHD', 'v2 B-tree header');
  const version = h.u8('v2 B-tree version');
  if (version !== 0) throw malformed(`v2 B-tree version ${version} is not 0`, h.at + 4);
  const type = h.u8('v2 B-tree type');
  if (!expectTypes.includes(type)) throw malformed(`v2 B-tree has record type ${type}, expected ${expectTypes.join(' or ')}`, h.at + 5);
  const nodeSize = h.u32('node size');
  const recordSize = h.u16('record size');
  const depth = h.u16('depth');
  h.skip(2, 'split and merge percents');
  const root = file.offset(h, 'root node address');
  const rootNrec = h.u16('root record count');
  const total = file.length(h, 'total record count');
  if (nodeSize < PREFIX + recordSize || nodeSize > 1024 * 1024 || recordSize === 0) throw malformed(`v2 B-tree node size ${nodeSize} / record size ${recordSize} are inconsistent`, h.at);
  if (depth > 16) throw malformed(`v2 B-tree depth ${depth} is implausible`, h.at);
  const header = { type, recordSize, depth, total };
  const records: Uint8Array[] = [];
  if (root === UNDEFINED || total === 0) return { header, records };
  const geo = geometry(nodeSize, recordSize, so, depth);
  const visited = new Set<number>();

  const walk = async (node: number, nrec: number, d: number): Promise<void> => {
    if (visited.has(node)) throw malformed(`v2 B-tree node at ${node} is reached twice (a cycle)`, file.base + node);
    visited.add(node);
    if (nrec > geo.maxNrec[d]!) throw malformed(`v2 B-tree node holds ${nrec} records, more than the ${geo.maxNrec[d]} that fit`, file.base + node);
    const c = await file.read(node, nodeSize, 'v2 B-tree node');
    c.signature(d === 0 ? 'BTLF' : 'BTIN', d === 0 ? 'v2 B-tree leaf node' : 'v2 B-tree internal node');
    c.skip(1, 'node version');
    if (c.u8('node type') !== type) throw malformed('v2 B-tree node type differs from its header', c.at + 5);
    for (let i = 0; i < nrec; i++) {
      if (records.length >= file.limits.maxRecords) throw new H5Error('limit', `v2 B-tree has more than ${file.limits.maxRecords} records`, c.at);
      records.push(c.bytes(recordSize, 'v2 B-tree record'));
    }
    if (d === 0) return;
    const children: Array<[number, number]> = [];
    for (let i = 0; i <= nrec; i++) {
      const child = file.offset(c, 'child node address');
      const childNrec = c.uint(geo.maxNrecSize, 'child record count');
      if (d > 1) c.skip(geo.cumMaxNrecSize[d - 1]!, 'child total record count');
      children.push([child, childNrec]);
    }
    for (const [child, childNrec] of children) await walk(child, childNrec, d - 1);
  };
  await walk(root, rootNrec, depth);
  return { header, records };
}
