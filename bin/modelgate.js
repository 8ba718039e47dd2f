#!/usr/bin/env node
'use strict';
// CommonJS (bin/package.json): Node runs a CommonJS main without starting its ES module loader,
// which cost a one-file scan ~10 ms of CPU (bench/RESULTS.md).
//
// Functions get optimised (TurboFan, on a background thread whose CPU the process pays) only
// after 4x V8's default budget of bytecode run: a scan of a few small files otherwise spent a
// third of its CPU optimising code it was about to stop running (mixed-168: 3.26 G instructions,
// 1.24 G of them TurboFan's; 2.42 G with this). A long scan still optimises its hot loops in time
// (the 50 MB opcode-dense pickle: 1.42 G instructions, 1.45 G before; 8x cost it 8 % more).
// Set before the bundle is compiled: V8's code cache is tied to the flags, and the build records
// it through this file too.
// Node's own modules come with a code cache too, made under the default flags: the builtins every
// scan uses are loaded first, from that cache (loaded after, each would be compiled from source).
// node:module and node:process (and the ES module internals node:module brings) were still
// loaded after the flag change, so compiled from source: ~7 M instructions of a one-pickle scan.
// process.stdout too: its stream (a file, pipe or terminal one) is made on first use, and every
// scan but one written with -o prints its report there.
// Not node:crypto, node:zlib, node:child_process nor node:fs/promises: the bundle requires them
// on first use only (tools/build-dist.mjs), most scans of a few small files never do, and they
// are loaded from that cache all the same (requireBuiltin below).
for (const m of ['node:vm', 'node:stream', 'node:module', 'node:process']) require(m);
void process.stdout;
const v8 = require('node:v8');
const BUDGET = '--interrupt-budget=270336';
// V8's default in Node 20 (`node --v8-options`). Were it another's, a builtin required through
// requireBuiltin would only be compiled from source, as without it.
const DEFAULT_BUDGET = '--interrupt-budget=67584';
v8.setFlagsFromString(BUDGET);
/**
 * Requires a Node builtin under the flags Node's code cache was made with, so that it loads from
 * that cache instead of being compiled from source: the bundle's lazily required builtins go
 * through it (tools/build-dist.mjs), fs/promises and its readline, watcher and stream modules in
 * a scan of a large file, zlib in one of an archive (mixed-168: ~15 M fewer instructions).
 */
globalThis[Symbol.for('modelgate.requireBuiltin')] = (id) => {
  v8.setFlagsFromString(DEFAULT_BUDGET);
  try {
    return require(id);
  } finally {
    v8.setFlagsFromString(BUDGET);
  }
};
const { readFileSync, statSync, writeFileSync } = require('node:fs');
const { dirname, join } = require('node:path');

// The bundled command line (dist/cli/main.cjs, tools/build-dist.mjs) starts several times faster
// than tsc's ~140 modules (dist/src). It is used when built at or after tsc's last output, so a
// `tsc` alone after an edit never runs a stale bundle.
const dist = join(__dirname, '..', 'dist');
const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
};
const bundle = join(dist, 'cli', 'main.cjs');
const built = mtime(bundle);

function runBundle() {
  const Module = require('node:module');
  const { Script } = require('node:vm');
  // Compiled with V8's code cache when one was recorded for this very bundle (written after it);
  // one V8 rejects (another Node version, damaged) costs only the compile.
  const cacheFile = `${bundle}.cache`;
  const cachedData = mtime(cacheFile) >= built ? readFileSync(cacheFile) : undefined;
  const script = new Script(Module.wrap(readFileSync(bundle, 'latin1')), { filename: bundle, ...(cachedData ? { cachedData } : {}) });
  const mod = { exports: {} };
  script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(bundle), mod, bundle, dirname(bundle));
  if (process.env.MODELGATE_WRITE_CODE_CACHE === '1') process.once('beforeExit', () => writeFileSync(cacheFile, script.createCachedData()));
  // For the test that the recorded cache still fits the V8 flags set above (test/cli/code-cache.test.ts).
  if (process.env.MODELGATE_REPORT_CODE_CACHE === '1') process.stderr.write(`modelgate: code cache ${cachedData ? (script.cachedDataRejected ? 'rejected' : 'accepted') : 'absent'}: ${bundle}\n`);
  return mod.exports.main;
}

const loaded = built >= 0 && built >= mtime(join(dist, 'src', 'cli', 'main.js')) ? Promise.resolve(runBundle()) : import('../dist/src/cli/main.js').then((m) => m.main);
loaded
  .then((main) => main(process.argv.slice(2)))
  .then((code) => {
    process.exitCode = code;
  });
