/**
 * A package loaded on first use, synchronously. For parsers that only some inputs need (YAML in
 * a model card or a Hydra config, Jinja in a chat template): a static import would load them on
 * every start of every command, which is most of what a one-file `modelgate scan` costs.
 * Each package named here has a CommonJS entry (Node 20 resolves `require` to it).
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

export function lazyModule<T>(name: string): () => T {
  let mod: T | undefined;
  return () => (mod ??= load(name) as T);
}
