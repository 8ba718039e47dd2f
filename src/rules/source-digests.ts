/**
 * sha256 digests of the shipped rule files (rules/*), without hashing them at every start.
 *
 * The catalogues' versions, and the check that a compiled catalogue (catalogue-data.ts) is the
 * one of the YAML on disk, hash the rule files' bytes: about 3 MB of sha256 for every scan,
 * however small, most of it rules/globals-facts.json. The build (compile.ts) keeps a copy of each
 * file's bytes at dist/rules/sources/<sha256 of those bytes>, lists file -> digest in
 * dist/rules/sources/index.json, and stores there too the digests of the concatenations the
 * loaders hash (a version over several files). A digest asked for here is the stored one only
 * when the bytes given are equal, byte for byte, to the copy named by that digest; anything else
 * (an edited rule file, a tree never built, a copy missing or damaged) is hashed as before. The
 * result is therefore always sha256 of the bytes given, never a guess from names or times.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../core/package.js';

/** Where the build keeps the copies and their index, under the package root. */
export const SOURCES_DIR = join('dist', 'rules', 'sources');
export const SOURCES_INDEX = 'index.json';

export interface SourcesIndex {
  /** rules/<file> -> sha256 of the bytes the build copied. */
  files: Record<string, string>;
  /** combinedKey(parts) -> sha256 of the parts' concatenation. */
  combined: Record<string, string>;
}

/** A part of a hashed concatenation: a rules/ file's bytes, or literal text (hashed as UTF-8). */
export type DigestPart = { file: string; bytes: string | Uint8Array } | string;

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

const indexes = new Map<string, SourcesIndex | null>();

function indexAt(root: string): SourcesIndex | null {
  if (indexes.has(root)) return indexes.get(root)!;
  let index: SourcesIndex | null = null;
  try {
    const raw = JSON.parse(readFileSync(join(root, SOURCES_DIR, SOURCES_INDEX), 'latin1')) as Partial<SourcesIndex>;
    if (raw && typeof raw.files === 'object' && raw.files !== null && typeof raw.combined === 'object' && raw.combined !== null) index = { files: raw.files, combined: raw.combined };
  } catch {
    // No index (not built, or damaged): every digest is computed.
  }
  indexes.set(root, index);
  return index;
}

function asBytes(data: string | Uint8Array): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

/** The stored digest of rules/<file> when `bytes` are the very bytes copied under it, else null. */
function storedDigest(file: string, bytes: Uint8Array, root: string): string | null {
  const digest = indexAt(root)?.files[file];
  if (typeof digest !== 'string' || !/^[0-9a-f]{64}$/.test(digest)) return null;
  let copy: Buffer;
  try {
    copy = readFileSync(join(root, SOURCES_DIR, digest));
  } catch {
    return null;
  }
  return copy.length === bytes.length && copy.equals(bytes) ? digest : null;
}

/** Digests already found for byte arrays (the facts are checked for their compiled form and for the version). */
const known = new WeakMap<Uint8Array, string>();

/** sha256 (hex) of rules/<file>'s content `data` (text is hashed as UTF-8, as createHash does). */
export function ruleFileDigest(file: string, data: string | Uint8Array, root = packageRoot()): string {
  const seen = typeof data === 'string' ? undefined : known.get(data);
  if (seen !== undefined) return seen;
  const bytes = asBytes(data);
  const digest = storedDigest(file, bytes, root) ?? sha256Hex(bytes);
  if (typeof data !== 'string') known.set(data, digest);
  return digest;
}

/** The index key of a concatenation: each file by its digest, each literal as itself. */
function combinedKey(parts: ReadonlyArray<{ file: string; digest: string } | string>): string {
  return JSON.stringify(parts.map((p) => (typeof p === 'string' ? ['text', p] : ['file', p.file, p.digest])));
}

/** Concatenations hashed while recording (the build), by key. */
let recording: Record<string, string> | null = null;

/** sha256 (hex) of the parts one after another, as one createHash updated with each in turn. */
export function combinedDigest(parts: readonly DigestPart[], root = packageRoot()): string {
  const keyed = parts.map((p) => (typeof p === 'string' ? p : { file: p.file, digest: ruleFileDigest(p.file, p.bytes, root) }));
  const key = combinedKey(keyed);
  const stored = indexAt(root)?.combined[key];
  if (typeof stored === 'string' && recording === null) return stored;
  const h = createHash('sha256');
  for (const p of parts) h.update(typeof p === 'string' ? p : asBytes(p.bytes));
  const digest = h.digest('hex');
  if (recording !== null) recording[key] = digest;
  return digest;
}

/** Runs `load` and returns the concatenations it hashed, for the index (compile.ts). */
export function recordCombinedDigests(load: () => void): Record<string, string> {
  const before = recording;
  recording = {};
  try {
    load();
    return recording;
  } finally {
    recording = before;
  }
}

/** Forgets the indexes read (the build rewrites them; tests write their own). */
export function forgetSourcesIndex(): void {
  indexes.clear();
}
