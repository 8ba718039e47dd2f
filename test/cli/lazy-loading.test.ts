/**
 * Each command loads only what it uses: `modelgate scan` of local files must never load the
 * gateway's, the crawler's or the store's packages, and a pickle scan no YAML or Jinja parser
 * either (the catalogues load from their compiled form). The compiled CLI runs in a child process
 * with a module hook that records every module resolved (ESM) and every module in the CommonJS
 * cache at exit (packages loaded with require), as `npm test` builds it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/manifest.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'modelgate.js');
const run = promisify(execFile);

/** Packages that belong to other commands or optional parts (server, store, queue, S3, HTTP). */
const NOT_FOR_LOCAL_SCAN = ['fastify', 'pino', 'ioredis', 'bullmq', 'pg', '@aws-sdk/client-s3', '@aws-sdk/lib-storage', 'kysely', 'better-sqlite3', 'undici', 'zod', 'preact'];
/** Parsers a pickle does not need: catalogues come compiled; YAML and Jinja only for such content. */
const NOT_FOR_A_PICKLE = [...NOT_FOR_LOCAL_SCAN, 'yaml', 'js-yaml', '@huggingface/jinja', 'fzstd'];

const tracer = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'mg-trace-'));
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.MG_TRACE_FILE, r.url + '\\n');
  return r;
}
`,
  );
  writeFileSync(
    join(dir, 'trace.mjs'),
    `import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
register(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});
const require = createRequire(import.meta.url);
process.on('exit', () => appendFileSync(process.env.MG_TRACE_FILE, [...Object.keys(require.cache), ...process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => 'builtin:' + m.slice(13))].join('\\n') + '\\n'));
`,
  );
  return { dir, preload: join(dir, 'trace.mjs') };
})();

/** Runs `node --import tracer <entry> args`; returns the packages loaded and the outcome. */
async function traced(entry: string[], args: string[]): Promise<{ packages: Set<string>; modules: string[]; code: number; stdout: string }> {
  const file = join(mkdtempSync(join(tracer.dir, 'run-')), 'modules.txt');
  writeFileSync(file, '');
  let code = 0;
  let stdout = '';
  try {
    stdout = (await run(process.execPath, ['--import', tracer.preload, ...entry, ...args], { env: { ...process.env, MG_TRACE_FILE: file, NO_COLOR: '1' }, maxBuffer: 1 << 26 })).stdout;
  } catch (e) {
    const err = e as { code: number; stdout: string };
    code = err.code;
    stdout = err.stdout;
  }
  const packages = new Set<string>();
  const modules = readFileSync(file, 'utf8').split('\n');
  for (const line of modules) {
    for (const m of line.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)/g)) packages.add(m[1]!);
    // A package the build bundled for the bundled command line (src/core/lazy.ts), '/' as '+'.
    for (const m of line.matchAll(/dist\/cli\/vendor\/(.+)\.cjs$/g)) packages.add(m[1]!.replace('+', '/'));
  }
  return { packages, modules, code, stdout };
}

const PICKLE = join(FIXTURES, 'benign', 'numpy_array_p2.pkl');
const EVIL = join(FIXTURES, 'malicious', 'torch_zip_reduce.pt');
/** tsc's output, without the bundle: the laziness must hold module by module, not only bundled. */
const UNBUNDLED = ['--input-type=module', '-e', `const { main } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'src', 'cli', 'main.js')).href)}); process.exitCode = await main(process.argv.slice(1));`];

describe('modelgate scan loads only what scanning needs', () => {
  it.each([
    ['bin/modelgate.js', [BIN]],
    ['dist/src (unbundled)', UNBUNDLED],
  ])('a small pickle through %s: no server, store, queue, S3, HTTP, YAML or Jinja package', async (name, entry) => {
    const r = await traced(entry, ['scan', '--no-progress', '--list-imports', PICKLE]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('safe      numpy.ndarray imported via GLOBAL');
    // The trace works (not a vacuous pass): it saw the entry point, and unbundled, the argument
    // parser's package (the bundle carries commander itself).
    expect(r.modules.some((m) => m.endsWith('/bin/modelgate.js') || m.endsWith('/dist/src/cli/main.js'))).toBe(true);
    if (name === 'dist/src (unbundled)') expect(r.packages).toContain('commander');
    expect(NOT_FOR_A_PICKLE.filter((p) => r.packages.has(p))).toEqual([]);
  });

  it('a small pickle through the bundle: commander and the archive readers leave child_process, zlib and fs/promises unloaded', async () => {
    // tools/build-dist.mjs makes these builtins load on first use; compiling them cost ~5 ms each,
    // fs/promises with the readline, watcher and stream modules it loads. (The tracer's module
    // hooks load internal/fs/promises themselves; the public module is the bundle's alone.)
    const r = await traced([BIN], ['scan', '--no-progress', PICKLE]);
    expect(r.code).toBe(0);
    expect(r.modules).toContain('builtin:fs');
    expect(r.modules.filter((m) => m === 'builtin:child_process' || m === 'builtin:zlib' || m === 'builtin:fs/promises')).toEqual([]);
  });

  it('a file larger than a read-ahead block through the bundle: fs/promises loads on first use and reads it', async () => {
    // Past 64 KiB, FileSource reads by positioned reads on a FileHandle (src/source/file.ts).
    const dir = mkdtempSync(join(tmpdir(), 'mg-large-'));
    const big = join(dir, 'big.pkl');
    const pickle = readFileSync(PICKLE);
    // The fixture's opcodes, then zero bytes up to 100 KiB: the pickle stops at its STOP, the rest is trailing data.
    writeFileSync(big, Buffer.concat([pickle, Buffer.alloc(100 * 1024 - pickle.length)]));
    const r = await traced([BIN], ['scan', '--no-progress', '--list-imports', big]);
    expect(r.modules).toContain('builtin:fs/promises');
    expect(r.stdout).toContain('safe      numpy.ndarray imported via GLOBAL');
  });

  it('a malicious checkpoint reported as SARIF: the same', async () => {
    const r = await traced([BIN], ['scan', '--no-progress', '-f', 'sarif', EVIL]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('"ruleId": "PICKLE_DANGEROUS_GLOBAL"');
    expect(NOT_FOR_A_PICKLE.filter((p) => r.packages.has(p))).toEqual([]);
  });

  it('a directory of every benign format: parsers as its files need them, never a server, store, queue or S3 package', async () => {
    const r = await traced([BIN], ['scan', '--no-progress', '-f', 'json', join(FIXTURES, 'benign')]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { summary: { files: number } }).summary.files).toBeGreaterThan(50);
    // Its chat templates and Hydra configs do need these (loaded on first use, not at start-up).
    expect(r.packages).toContain('@huggingface/jinja');
    expect(r.packages).toContain('yaml');
    expect(NOT_FOR_LOCAL_SCAN.filter((p) => r.packages.has(p))).toEqual([]);
  });

  it('help and version load no command implementation', async () => {
    const r = await traced([BIN], ['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(NOT_FOR_A_PICKLE.filter((p) => r.packages.has(p))).toEqual([]);
  });
});
