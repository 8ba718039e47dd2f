#!/usr/bin/env node
/**
 * The build after `tsc` (npm run build, prepare, test and bench run it):
 *  1. compiles rules/*.yaml to dist/rules/<file>.json (src/rules/compile.ts), so a scan loads the
 *     catalogues without a YAML parser; a catalogue that fails to parse fails the build here;
 *  2. bundles the command line from tsc's output into dist/cli/ with esbuild: one file for what
 *     every command loads, and one chunk per command or optional part behind each dynamic
 *     `import()`. Packages stay external (loaded from node_modules, only when imported). Loading
 *     ~140 modules one by one was most of the CPU a one-file scan cost (bench/RESULTS.md).
 * bin/modelgate.js runs the bundle when it is at least as new as tsc's output, else dist/src, so
 * a `tsc` alone never leaves a stale bundle in use. Without esbuild installed, step 2 is skipped
 * with a warning and the command line runs from dist/src (slower to start, same behaviour).
 */
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileCatalogues } from '../dist/src/rules/compile.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const written = compileCatalogues(root);
process.stdout.write(`build-dist: ${written.length} catalogues compiled to dist/rules\n`);

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  process.stderr.write('build-dist: esbuild is not installed; the command line runs unbundled from dist/src (slower start)\n');
}
if (esbuild) {
  const outdir = join(root, 'dist', 'cli');
  rmSync(outdir, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: { main: join(root, 'dist', 'src', 'cli', 'main.js') },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: true,
    logLevel: 'warning',
  });
  process.stdout.write('build-dist: command line bundled to dist/cli\n');
}
