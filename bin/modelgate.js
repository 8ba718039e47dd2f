#!/usr/bin/env node
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

// The bundled command line (dist/cli/main.cjs, tools/build-dist.mjs) starts several times faster
// than tsc's ~140 modules (dist/src). It is used when built at or after tsc's last output, so a
// `tsc` alone after an edit never runs a stale bundle.
const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
};
const bundle = join(dist, 'cli', 'main.cjs');
const built = mtime(bundle);
let main;
if (built >= 0 && built >= mtime(join(dist, 'src', 'cli', 'main.js'))) {
  // Compiled with V8's code cache when one was recorded for this very bundle (written after it).
  const cacheFile = `${bundle}.cache`;
  const cachedData = mtime(cacheFile) >= built ? readFileSync(cacheFile) : undefined;
  const script = new Script(Module.wrap(readFileSync(bundle, 'latin1')), { filename: bundle, ...(cachedData ? { cachedData } : {}) });
  const mod = { exports: {} };
  script.runInThisContext().call(mod.exports, mod.exports, createRequire(bundle), mod, bundle, dirname(bundle));
  main = mod.exports.main;
  if (process.env.MODELGATE_WRITE_CODE_CACHE === '1') process.once('beforeExit', () => writeFileSync(cacheFile, script.createCachedData()));
} else {
  ({ main } = await import('../dist/src/cli/main.js'));
}

process.exitCode = await main(process.argv.slice(2));
