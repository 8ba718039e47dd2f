/**
 * The build step of catalogue-data.ts: every rules/*.yaml parsed once, at build time, and written
 * as JSON to dist/rules/<file>.json with the sha256 of its YAML; and rules/globals-facts.json in
 * its indexed form (globals-facts-compiled.ts). Run by tools/build-dist.mjs from `npm run build`,
 * `prepare` and `npm test`; never imported by a command.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { packageRoot } from '../core/package.js';
import { COMPILED_DIR, parseCatalogueText, sha256Hex, type CompiledCatalogue } from './catalogue-data.js';
import { compileFacts, FACTS_TABLES } from './globals-facts-compiled.js';
import { loadGlobalCatalogue } from './globals.js';
import { forgetSourcesIndex, recordCombinedDigests, SOURCES_DIR, SOURCES_INDEX, type SourcesIndex } from './source-digests.js';
import { tfOpCatalogueVersion } from './tf-ops.js';

/** The JSON data file compiled to an index rather than parsed at run time. */
export const FACTS_FILE = 'globals-facts.json';

/** The YAML catalogues under rules/, sorted. */
export function yamlCatalogues(root = packageRoot()): string[] {
  return readdirSync(join(root, 'rules'))
    .filter((f) => f.endsWith('.yaml'))
    .sort();
}

/** One catalogue's compiled form. Throws when its document is not plain JSON data (a YAML date, say). */
export function compileCatalogue(file: string, root = packageRoot()): CompiledCatalogue {
  const text = readFileSync(join(root, 'rules', file), 'utf8');
  const data = parseCatalogueText(file, text, `rules/${file}`);
  // JSON would silently change such a value (a Date becomes a string, undefined disappears).
  if (!isDeepStrictEqual(JSON.parse(JSON.stringify(data)) as unknown, data)) throw new Error(`rules/${file}: holds a value JSON cannot carry; quote it`);
  // Its consistency checks run here, once per content, and not when the compiled form loads.
  if (file === 'globals.yaml') loadGlobalCatalogue(join(root, 'rules', file), null);
  return { source: file, sha256: sha256Hex(text), data };
}

/** The facts' compiled header (data) and the tables text it points into. */
export function compileFactsFile(root = packageRoot()): { catalogue: CompiledCatalogue; tables: string } {
  const text = readFileSync(join(root, 'rules', FACTS_FILE), 'utf8');
  const { header, tables } = compileFacts(text, `rules/${FACTS_FILE}`);
  return { catalogue: { source: FACTS_FILE, sha256: sha256Hex(text), data: header }, tables };
}

/** JSON with every non-ASCII character escaped, so that readers may decode it as one-byte text. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Writes a file whole under its final name (a reader sees the old file or the new, never half). */
function writeAtomically(path: string, data: string | Uint8Array): void {
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
}

/**
 * The copies and digests of source-digests.ts: each rules/ file's bytes under their sha256, the
 * index of them, and the digests of the concatenations the loaders hash (recorded by loading the
 * catalogues that hash several files). Returns the index's path.
 */
export function writeSourceDigests(root = packageRoot()): string {
  const dir = join(root, SOURCES_DIR);
  // Copies of older builds go; a scan that reads the index meanwhile and misses a copy only hashes.
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const index: SourcesIndex = { files: {}, combined: {} };
  for (const file of readdirSync(join(root, 'rules')).sort()) {
    const path = join(root, 'rules', file);
    if (!statSync(path).isFile()) continue;
    const bytes = readFileSync(path);
    const digest = sha256Hex(bytes);
    writeAtomically(join(dir, digest), bytes);
    index.files[file] = digest;
  }
  const out = join(dir, SOURCES_INDEX);
  writeAtomically(out, JSON.stringify(index) + '\n');
  forgetSourcesIndex();
  // The versions made over several files (the globals with their facts; the TensorFlow op lists).
  index.combined = recordCombinedDigests(() => {
    loadGlobalCatalogue();
    tfOpCatalogueVersion();
  });
  writeAtomically(out, JSON.stringify(index) + '\n');
  forgetSourcesIndex();
  return out;
}

/** Writes every catalogue's compiled form; returns the files written. */
export function compileCatalogues(root = packageRoot(), outDir = join(root, COMPILED_DIR)): string[] {
  mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  const facts = compileFactsFile(root);
  // The tables first: the header that points into them is written after, so a header never
  // describes tables older than itself (the reader also checks their length).
  const tablesPath = join(outDir, FACTS_TABLES);
  writeFileSync(`${tablesPath}.tmp`, facts.tables, 'latin1');
  renameSync(`${tablesPath}.tmp`, tablesPath);
  written.push(tablesPath);
  const compiled = [...yamlCatalogues(root).map((f) => compileCatalogue(f, root)), facts.catalogue];
  for (const c of compiled) {
    const out = join(outDir, `${c.source}.json`);
    // Renamed into place: a scan starting meanwhile reads the old file or the new, never half.
    writeFileSync(`${out}.tmp`, asciiJson(c) + '\n');
    renameSync(`${out}.tmp`, out);
    written.push(out);
  }
  if (outDir === join(root, COMPILED_DIR)) written.push(writeSourceDigests(root));
  return written;
}
