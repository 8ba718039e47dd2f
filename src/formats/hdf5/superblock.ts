/**
 * The HDF5 superblock: where the file's structures start and how wide its addresses are.
 * Versions 0 and 1 (root group given as a symbol table entry) and 2 and 3 (root object header
 * address). The signature may sit at 0, 512, 1024, 2048... (a user block precedes it); the
 * library searches those offsets, so we do too.
 */
import { Cursor, H5Error, H5File, UNDEFINED, malformed } from './io.js';

export const HDF5_SIGNATURE = Uint8Array.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface Superblock {
  version: number;
  /** Absolute offset of the signature. */
  at: number;
  offsetSize: number;
  lengthSize: number;
  baseAddress: number;
  rootObjectHeader: number;
}

export function signatureAt(b: Uint8Array, at: number): boolean {
  if (b.length < at + 8) return false;
  for (let i = 0; i < 8; i++) if (b[at + i] !== HDF5_SIGNATURE[i]) return false;
  return true;
}

/** Offsets the library probes for the signature, within a file of `size` bytes. */
export function signatureOffsets(size: number): number[] {
  const out = [0];
  for (let at = 512; at + 8 <= size; at *= 2) out.push(at);
  return out;
}

async function locate(file: H5File): Promise<number> {
  for (const at of signatureOffsets(file.size)) {
    const b = await file.source.read(at, 8);
    if (signatureAt(b, 0)) return at;
  }
  throw malformed('no HDF5 signature at offset 0 or any power of two from 512');
}

const SIZES = new Set([2, 4, 8]);

function sizes(offsetSize: number, lengthSize: number, at: number): void {
  if (!SIZES.has(offsetSize) || !SIZES.has(lengthSize)) {
    throw new H5Error(offsetSize === 16 || lengthSize === 16 ? 'unsupported' : 'malformed', `superblock declares ${offsetSize}-byte addresses and ${lengthSize}-byte lengths`, at);
  }
}

/** Reads the superblock and configures `file` (address widths, base address). */
export async function readSuperblock(file: H5File): Promise<Superblock> {
  const at = await locate(file);
  const head = await file.source.read(at, 96);
  const c = new Cursor(head, at);
  c.skip(8, 'signature');
  const version = c.u8('superblock version');
  if (version === 0 || version === 1) {
    c.skip(4, 'superblock versions');
    const offsetSize = c.u8('size of offsets');
    const lengthSize = c.u8('size of lengths');
    sizes(offsetSize, lengthSize, at);
    c.skip(1 + 2 + 2 + 4, 'group node sizes and flags');
    if (version === 1) c.skip(4, 'indexed storage node size');
    file.offsetSize = offsetSize;
    file.lengthSize = lengthSize;
    const baseAddress = file.offset(c, 'base address');
    c.skip(offsetSize * 3, 'free-space, end-of-file and driver addresses');
    // Root group symbol table entry: link name offset, object header address, cache data.
    c.skip(offsetSize, 'root link name offset');
    const rootObjectHeader = file.offset(c, 'root object header address');
    return finish(file, { version, at, offsetSize, lengthSize, baseAddress, rootObjectHeader });
  }
  if (version === 2 || version === 3) {
    const offsetSize = c.u8('size of offsets');
    const lengthSize = c.u8('size of lengths');
    sizes(offsetSize, lengthSize, at);
    c.skip(1, 'file consistency flags');
    file.offsetSize = offsetSize;
    file.lengthSize = lengthSize;
    const baseAddress = file.offset(c, 'base address');
    c.skip(offsetSize * 2, 'superblock extension and end-of-file addresses');
    const rootObjectHeader = file.offset(c, 'root object header address');
    return finish(file, { version, at, offsetSize, lengthSize, baseAddress, rootObjectHeader });
  }
  throw new H5Error(version > 3 ? 'unsupported' : 'malformed', `superblock version ${version} is not one of 0-3`, at + 8);
}

function finish(file: H5File, sb: Superblock): Superblock {
  if (sb.baseAddress === UNDEFINED || sb.baseAddress > file.size) throw malformed(`base address ${sb.baseAddress} lies outside the file`, sb.at);
  if (sb.rootObjectHeader === UNDEFINED) throw malformed('root group object header address is undefined', sb.at);
  // Addresses count from the base address, which is the superblock's own position in files with a user block.
  file.base = sb.baseAddress;
  return sb;
}
