/**
 * Which source files make up each analyzer, and their hash: the module that exports it plus every
 * module it imports (not `import type`) under src/formats, src/pickle and src/rules. Code outside
 * those (engine, byte sources, core) is covered by the package version, which is also in the
 * engine key. Used by test/scan/analyzer-versions.test.ts and tools/analyzer-manifest.ts.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Analyzer } from '../../src/formats/types.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MANIFEST = join(ROOT, 'src', 'scan', 'analyzer-sources.json');
const OWNED = ['src/formats/', 'src/pickle/', 'src/rules/'];

export interface ManifestEntry {
  version: string;
  /** sha256 over the analyzer's source files (relative path and content, sorted). */
  sources: string;
  files: string[];
}
export type Manifest = Record<string, ManifestEntry>;

function isAnalyzer(v: unknown): v is Analyzer {
  return typeof v === 'object' && v !== null && typeof (v as Analyzer).id === 'string' && typeof (v as Analyzer).version === 'string' && typeof (v as Analyzer).sniff === 'function';
}

/** Relative value imports of a module, resolved to .ts files. */
function valueImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  const re = /^\s*(import|export)\s+(type\s+)?[^;]*?from\s+'(\.[^']+)'/gms;
  for (const m of text.matchAll(re)) {
    if (m[2]) continue;
    const target = resolve(dirname(file), m[3]!.replace(/\.js$/, '.ts'));
    if (existsSync(target)) out.push(target);
  }
  return out;
}

function closure(entry: string): string[] {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length) {
    const f = todo.pop()!;
    const rel = relative(ROOT, f).split('\\').join('/');
    if (seen.has(rel) || !OWNED.some((p) => rel.startsWith(p))) continue;
    seen.add(rel);
    todo.push(...valueImports(f));
  }
  return [...seen].sort();
}

function hashFiles(files: readonly string[]): string {
  const h = createHash('sha256');
  for (const rel of files) {
    const bytes = readFileSync(join(ROOT, rel));
    h.update(`${rel}\0${bytes.length}\0`).update(bytes);
  }
  return h.digest('hex');
}

/** The current analyzers (those the registry lists), with their versions and source hashes. */
export async function currentAnalyzers(): Promise<Manifest> {
  const registry = join(ROOT, 'src', 'scan', 'registry.ts');
  const { ANALYZERS } = (await import(pathToFileURL(registry).href)) as { ANALYZERS: readonly Analyzer[] };
  const moduleOf = new Map<string, string>();
  for (const file of valueImports(registry)) {
    const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    for (const v of Object.values(mod)) {
      for (const a of Array.isArray(v) ? v : [v]) if (isAnalyzer(a)) moduleOf.set(a.id, file);
    }
  }
  const out: Manifest = {};
  for (const a of ANALYZERS) {
    const file = moduleOf.get(a.id);
    if (!file) throw new Error(`analyzer ${a.id}: no module imported by src/scan/registry.ts exports it`);
    const files = closure(file);
    out[a.id] = { version: a.version, sources: hashFiles(files), files };
  }
  return out;
}

export function readManifest(): Manifest {
  return JSON.parse(readFileSync(MANIFEST, 'utf8')) as Manifest;
}

/** Why the manifest disagrees with the code, one line per analyzer; empty when it agrees. */
export function manifestProblems(recorded: Manifest, current: Manifest): string[] {
  const problems: string[] = [];
  for (const [id, now] of Object.entries(current)) {
    const was = recorded[id];
    if (!was) problems.push(`${id}: not in the manifest (run: npx tsx tools/analyzer-manifest.ts)`);
    else if (was.sources !== now.sources && was.version === now.version) problems.push(`${id}: its code changed but its version is still ${now.version}: bump the analyzer's version (cached verdicts must be redone), or if behaviour cannot change, record that with: npx tsx tools/analyzer-manifest.ts --same-version ${id}`);
    else if (was.sources !== now.sources || was.version !== now.version) problems.push(`${id}: version ${was.version} -> ${now.version}; refresh the manifest: npx tsx tools/analyzer-manifest.ts`);
  }
  for (const id of Object.keys(recorded)) if (!current[id]) problems.push(`${id}: no longer registered; refresh the manifest: npx tsx tools/analyzer-manifest.ts`);
  return problems;
}
