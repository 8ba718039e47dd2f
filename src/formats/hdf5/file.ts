/**
 * What the Keras analyzer needs from an HDF5 file: its superblock and the attributes of the
 * root group. Nothing else is read: no other group, no dataset, no weight.
 */
import type { ByteSource } from '../../source/types.js';
import { readAttributes, type Attribute } from './attributes.js';
import { H5Error, H5File, DEFAULT_H5_LIMITS, type H5Limits } from './io.js';
import { readObjectHeader } from './object-header.js';
import { readSuperblock, type Superblock } from './superblock.js';

export interface RootAttributes {
  superblock: Superblock;
  objectHeaderVersion: 1 | 2;
  attributes: Attribute[];
  problems: H5Error[];
}

export async function readRootAttributes(source: ByteSource, size: number, expired: () => boolean, limits: H5Limits = DEFAULT_H5_LIMITS): Promise<RootAttributes> {
  const file = new H5File(source, size, limits, expired);
  const superblock = await readSuperblock(file);
  const header = await readObjectHeader(file, superblock.rootObjectHeader);
  const { attributes, problems } = await readAttributes(file, header);
  return { superblock, objectHeaderVersion: header.version, attributes, problems };
}

export { H5Error } from './io.js';
export { signatureAt, signatureOffsets } from './superblock.js';
