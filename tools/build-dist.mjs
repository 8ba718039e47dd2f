#!/usr/bin/env node
/**
 * The build after `tsc` (npm run build, prepare, test and bench run it):
 *  1. compiles rules/*.yaml to dist/rules/<file>.json (src/rules/compile.ts), so a scan loads the
 *     catalogues without a YAML parser; a catalogue that fails to parse fails the build here;
 *  2. bundles the command line from tsc's output into one CommonJS file, dist/cli/main.cjs, with
 *     esbuild. Packages stay external (required from node_modules, only when used) but commander
 *     and picocolors; what a command loads in its action (`import()`) is bundled but evaluated
 *     only when that action runs.
 *     Loading ~140 modules one by one was most of the CPU a one-file scan cost (bench/RESULTS.md);
 *     The packages loaded on demand (src/core/lazy.ts: YAML, Jinja, zstd) are bundled each into
 *     its own file, dist/cli/vendor/<name>.cjs, loaded only when a file needs it;
 *  3. records V8's code cache for those files (<file>.cache) after a scan of the fixtures, so
 *     bin/modelgate.js starts, and the parsers load, without compiling what a scan runs. A cache made by
 *     another Node version is rejected by V8 and the file is compiled as usual.
 * bin/modelgate.js runs the bundle when it is at least as new as tsc's output, else dist/src, so
 * a `tsc` alone never leaves a stale bundle in use. Without esbuild installed, steps 2 and 3 are
 * skipped with a warning and the command line runs from dist/src (slower to start, same behaviour).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { vendoredFile } from '../dist/src/core/lazy.js';
import { compileCatalogues } from '../dist/src/rules/compile.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Packages the installed CLI requires from node_modules: dependencies and optional ones (better-sqlite3). */
function runtimePackages() {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  return [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})];
}

/**
 * Builtins the bundle requires only when first used. Node compiles a builtin module when it is
 * first required, and these pull in others (child_process: net, dgram; zlib: its binding), a few
 * ms of CPU at every start. A scan of a pickle uses neither: commander requires child_process at
 * load only to run a subcommand as a separate executable (modelgate has none), and zlib serves
 * archives and compressed files; crypto (~5 ms) hashes only for --hash, accepted-findings files,
 * SARIF fingerprints and a rule file that is not the one the build copied (src/rules/source-digests.ts).
 * Each import of them gets an object of getters over the
 * builtin's own export names, which requires it on the first property read: through the
 * bin's requireBuiltin when bin/modelgate.js defined it (Node's code cache for the builtin is
 * used only under the V8 flags it was made with, which the bin changed), else with require.
 * fs/promises (with the readline, watcher and stream modules it loads, ~4 % of a one-pickle
 * scan's CPU) serves files larger than a read-ahead block, links and a few side files.
 */
const LAZY_BUILTINS = ['child_process', 'zlib', 'crypto', 'fs/promises'];

/** Every package named in a lazyModule() call (src/core/lazy.ts); one left out loads from node_modules. */
const VENDORED = ['yaml', 'js-yaml', '@huggingface/jinja', 'fzstd'];
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(build) {
    const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`);
    build.onResolve({ filter }, (args) => (args.namespace === 'lazy-builtin' ? { path: `node:${args.path.replace(/^node:/, '')}`, external: true } : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' }));
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => {
      const names = Object.keys(createRequire(import.meta.url)(`node:${args.path}`)).filter((k) => k !== 'default');
      return {
        contents: `var m;function load(){var r=globalThis[Symbol.for("modelgate.requireBuiltin")];return m||(m=r?r(${JSON.stringify(`node:${args.path}`)}):require(${JSON.stringify(`node:${args.path}`)}))}
for(const k of ${JSON.stringify(names)})Object.defineProperty(exports,k,{enumerable:true,get:()=>load()[k]});`,
        loader: 'js',
      };
    });
  },
};
const written = compileCatalogues(root);
process.stdout.write(`build-dist: ${written.length} files compiled to dist/rules\n`);

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  process.stderr.write('build-dist: esbuild is not installed; the command line runs unbundled from dist/src (slower start)\n');
}
if (esbuild) {
  const outdir = join(root, 'dist', 'cli');
  rmSync(outdir, { recursive: true, force: true });
  const result = await esbuild.build({
    metafile: true,
    entryPoints: [join(root, 'dist', 'src', 'cli', 'main.js')],
    outfile: join(outdir, 'main.cjs'),
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    // Packages stay in node_modules (loaded only when used), except the two every command loads
    // (arguments, colours): bundled, they start from the code cache too.
    external: runtimePackages().filter((d) => d !== 'commander' && d !== 'picocolors'),
    // CommonJS has no import.meta: the two modules that use it (package root, lazy require) get the file's URL.
    define: { 'import.meta.url': '__modelgateFileUrl' },
    banner: { js: 'var __modelgateFileUrl = require("node:url").pathToFileURL(__filename).href;' },
    sourcemap: true,
    // No comments or indentation: a smaller file to read and hand to V8 (names stay; the source
    // map leads back to dist/src and src/). It is also pure ASCII then (esbuild escapes the rest),
    // which bin/modelgate.js reads as one-byte text.
    minifyWhitespace: true,
    logLevel: 'warning',
    plugins: [lazyBuiltins],
  });
  // bin/modelgate.js runs the bundle as a vm.Script, where an import() left in it would fail at
  // run time: a package loaded on demand must use require (src/core/lazy.ts).
  const dynamic = Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.kind === 'dynamic-import').map((i) => i.path));
  if (dynamic.length) throw new Error(`build-dist: the bundle keeps import() of ${dynamic.join(', ')}; load it with lazyModule (src/core/lazy.ts) instead`);
  if (/[^\x00-\x7f]/.test(readFileSync(join(outdir, 'main.cjs'), 'utf8'))) throw new Error('build-dist: dist/cli/main.cjs is not pure ASCII, which bin/modelgate.js reads it as');
  process.stdout.write('build-dist: command line bundled to dist/cli/main.cjs\n');
  // The packages src/core/lazy.ts loads on demand, each bundled into one file that the bundled
  // command line loads with its own code cache (src/core/cached-script.ts) instead of resolving,
  // reading and compiling its files one by one (yaml: ~70 files, ~45 ms).
  const require = createRequire(join(root, 'package.json'));
  for (const name of VENDORED) {
    await esbuild.build({
      entryPoints: [require.resolve(name)],
      outfile: vendoredFile(outdir, name),
      bundle: true,
      format: 'cjs',
      platform: 'node',
      target: 'node20',
      minifyWhitespace: true,
      logLevel: 'warning',
    });
  }
  process.stdout.write(`build-dist: ${VENDORED.join(', ')} bundled to dist/cli/vendor\n`);
  // What a scan compiles goes into the cache: run one, as a user would, with the cache writer on.
  const sample = [join(root, 'fixtures', 'benign'), join(root, 'fixtures', 'malicious', 'global_p0_os_system.pkl')].filter((p) => existsSync(p));
  if (sample.length) {
    try {
      execFileSync(process.execPath, [join(root, 'bin', 'modelgate.js'), 'scan', '--no-progress', '-f', 'json', ...sample], {
        env: { ...process.env, MODELGATE_WRITE_CODE_CACHE: '1' },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    } catch (e) {
      // Findings exit 1; only a missing cache file is a failure of this step.
      if (!existsSync(join(outdir, 'main.cjs.cache'))) throw e;
    }
    process.stdout.write('build-dist: code cache written to dist/cli/main.cjs.cache\n');
  }
}
