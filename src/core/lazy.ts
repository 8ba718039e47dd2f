/**
 * A package loaded on first use, synchronously. For parsers that only some inputs need (YAML in
 * a model card or a Hydra config, Jinja in a chat template): a static import would load them on
 * every start of every command, which is most of what a one-file `modelgate scan` costs.
 * Each package named here has a CommonJS entry (Node 20 resolves `require` to it).
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);
const loaders = new Map<string, () => unknown>();

export function lazyModule<T>(name: string): () => T {
  let mod: T | undefined;
  const get = () => (mod ??= load(name) as T);
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
