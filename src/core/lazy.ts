/**
 * A package loaded on first use, synchronously. For parsers that only some inputs need (YAML in
 * a model card or a Hydra config, Jinja in a chat template): a static import would load them on
 * every start of every command, which is most of what a one-file `modelgate scan` costs.
 * Each package named here has a CommonJS entry (Node 20 resolves `require` to it).
 *
 * Run from the bundled command line (dist/cli/main.cjs), a package the build bundled into
 * dist/cli/vendor/<name>.cjs (`/` as `+`; tools/build-dist.mjs) is loaded from there with its
 * code cache (cached-script.ts); otherwise, and from tsc's output, from node_modules.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireCached } from './cached-script.js';

const load = createRequire(import.meta.url);
const loaders = new Map<string, () => unknown>();

/** Where the build puts a package bundled for the bundled command line, beside that file. */
export function vendoredFile(dir: string, name: string): string {
  return join(dir, 'vendor', `${name.replace('/', '+')}.cjs`);
}

function loadPackage(name: string): unknown {
  const vendored = vendoredFile(dirname(fileURLToPath(import.meta.url)), name);
  return existsSync(vendored) ? requireCached(vendored) : load(name);
}

export function lazyModule<T>(name: string): () => T {
  let mod: T | undefined;
  const get = () => (mod ??= loadPackage(name) as T);
  loaders.set(name, get);
  return get;
}

/**
 * Loads every lazy package declared so far (by the modules imported until now) and returns their
 * names: a long-lived process (the gateway's scan workers) pays for them before its first request.
 */
export function loadLazyModules(): string[] {
  for (const get of loaders.values()) get();
  return [...loaders.keys()].sort();
}
