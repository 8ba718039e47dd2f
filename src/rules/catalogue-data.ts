/**
 * The documents of the YAML rule catalogues (rules/*.yaml), as their loaders validate them.
 *
 * The YAML is what people review and edit. `npm run build` (tools/build-dist.mjs) also writes
 * each file's parsed document to dist/rules/<file>.json, with the sha256 of the YAML bytes it came
 * from, because parsing the YAML was most of what starting a one-file scan cost and JSON.parse is
 * far cheaper. A compiled document is used only while that sha256 is the one of the YAML on disk;
 * otherwise (a tree not built since the YAML was edited, or never built) the YAML itself is
 * parsed. An edit therefore always takes effect, and versions (cache keys) keep the YAML's
 * digest. Digests come from source-digests.ts: stored by the build, used only for the very bytes
 * it copied, else computed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lazyModule } from '../core/lazy.js';
import { packageRoot } from '../core/package.js';
import { ruleFileDigest } from './source-digests.js';

export { sha256Hex } from './source-digests.js';

/** Where the build writes the compiled documents, under the package root. */
export const COMPILED_DIR = join('dist', 'rules');

/**
 * The parser each catalogue is read with; every other rules/*.yaml uses `yaml`. globals.yaml
 * keeps js-yaml, whose duplicate-key errors and messages its tests and reviewers rely on.
 */
const JS_YAML: ReadonlySet<string> = new Set(['globals.yaml']);

const yaml = lazyModule<typeof import('yaml')>('yaml');
const jsYaml = lazyModule<typeof import('js-yaml')>('js-yaml');

/** The document of a catalogue's YAML text. `name` only labels parse errors. */
export function parseCatalogueText(file: string, text: string, name = file): unknown {
  return JS_YAML.has(file) ? jsYaml().load(text, { filename: name }) : yaml().parse(text);
}

export interface CompiledCatalogue {
  source: string;
  sha256: string;
  data: unknown;
}

export interface CatalogueDocument {
  /** The YAML as on disk. */
  text: string;
  /** sha256 (hex) of the YAML's bytes (loaders make their versions of it). */
  sha256: string;
  data: unknown;
  /** True when `data` came from the compiled form, false when the YAML was parsed. */
  compiled: boolean;
}

/**
 * The compiled document of rules/<file> whose YAML is `text`, or null when there is none for
 * exactly these bytes (the caller then parses `text`, with its own error reporting). `sha256`:
 * the digest of `text` when the caller has it already.
 */
export function compiledDocument(file: string, text: string | Uint8Array, root = packageRoot(), sha256?: string): { data: unknown } | null {
  let raw: string;
  try {
    // Written as pure ASCII (compile.ts), so the cheaper one-byte decoding reads it exactly.
    raw = readFileSync(join(root, COMPILED_DIR, `${file}.json`), 'latin1');
  } catch {
    return null;
  }
  try {
    const c = JSON.parse(raw) as Partial<CompiledCatalogue>;
    return c.source === file && c.sha256 === (sha256 ?? ruleFileDigest(file, text, root)) && 'data' in c ? { data: c.data } : null;
  } catch {
    // A damaged compiled file is only a slower start: the YAML is the truth.
    return null;
  }
}

/** The document of rules/<file> whose YAML is `text`: compiled when current, else parsed. */
export function documentOf(file: string, text: string, root = packageRoot()): unknown {
  const c = compiledDocument(file, text, root);
  return c ? c.data : parseCatalogueText(file, text);
}

/** rules/<file>: its text and its document, from the compiled form when that is current. */
export function readCatalogue(file: string, root = packageRoot()): CatalogueDocument {
  const text = readFileSync(join(root, 'rules', file), 'utf8');
  const sha256 = ruleFileDigest(file, text, root);
  const c = compiledDocument(file, text, root, sha256);
  return c ? { text, sha256, data: c.data, compiled: true } : { text, sha256, data: parseCatalogueText(file, text), compiled: false };
}
