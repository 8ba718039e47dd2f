#!/usr/bin/env node
import { statSync } from 'node:fs';

// The bundled command line (dist/cli, tools/build-dist.mjs) starts several times faster than
// tsc's ~140 modules (dist/src). It is used when built at or after tsc's last output, so a `tsc`
// alone after an edit never runs a stale bundle.
const mtime = (rel) => {
  try {
    return statSync(new URL(rel, import.meta.url)).mtimeMs;
  } catch {
    return -1;
  }
};
const bundle = mtime('../dist/cli/main.js');
const entry = bundle >= 0 && bundle >= mtime('../dist/src/cli/main.js') ? '../dist/cli/main.js' : '../dist/src/cli/main.js';
const { main } = await import(entry);

process.exitCode = await main(process.argv.slice(2));
