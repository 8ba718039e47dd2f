/**
 * A CommonJS file run with V8's code cache: the build bundles each package that is loaded on
 * demand (src/core/lazy.ts) into one file beside the bundled command line, and records what a
 * scan compiled of it in `<file>.cache` (tools/build-dist.mjs). Loading `yaml` the usual way
 * resolves, reads and compiles ~70 files, ~45 ms of CPU on the first YAML file of a scan; one
 * file from its code cache is a fraction of that. bin/modelgate.js loads the command line itself
 * the same way (it cannot import this module before the bundle runs).
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

const loaded = new Map<string, unknown>();

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

/**
 * The exports of the CommonJS file `file`, run once. Its cache is used when written at or after
 * the file; V8 rejects one made by another Node version or damaged, which costs only the compile.
 * MODELGATE_WRITE_CODE_CACHE=1 (the build) writes the cache when the process is about to exit;
 * MODELGATE_REPORT_CODE_CACHE=1 says on stderr whether V8 took it (test/cli/code-cache.test.ts).
 */
export function requireCached(file: string): unknown {
  if (loaded.has(file)) return loaded.get(file);
  const cacheFile = `${file}.cache`;
  const cachedData = mtime(cacheFile) >= mtime(file) ? readFileSync(cacheFile) : undefined;
  const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, ...(cachedData ? { cachedData } : {}) });
  const mod = new Module(file);
  mod.filename = file;
  const req = createRequire(file);
  // In require.cache like any module, so tools that list what a run loaded see it.
  req.cache[file] = mod;
  (script.runInThisContext() as (...args: unknown[]) => void).call(mod.exports, mod.exports, req, mod, file, dirname(file));
  mod.loaded = true;
  loaded.set(file, mod.exports);
  if (process.env['MODELGATE_WRITE_CODE_CACHE'] === '1') process.once('beforeExit', () => writeFileSync(cacheFile, script.createCachedData()));
  // For the test that the recorded caches still fit the flags the bin runs V8 with.
  if (process.env['MODELGATE_REPORT_CODE_CACHE'] === '1') process.stderr.write(`modelgate: code cache ${cachedData ? (script.cachedDataRejected ? 'rejected' : 'accepted') : 'absent'}: ${file}\n`);
  return mod.exports;
}
