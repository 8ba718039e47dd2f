#!/usr/bin/env node
/**
 * The `prepare` script: builds dist/ (`npm run build`). npm runs it after `npm install` / `npm ci`
 * in a checkout, before `npm pack` / `npm publish`, and in the clone when the package is installed
 * from git (`npm install -g github:…`, and pre-commit, which installs a `language: node` hook with
 * `npm install -g git+file://…`). Tarball and registry installs never run it: they get dist/ as
 * packed.
 *
 * Why a script and not `tsc` directly:
 * - For a global install from git, npm (11.19 at least) prepares the clone with an `npm install`
 *   that inherits `npm_config_global=true` from the outer command, so the clone's devDependencies
 *   are never installed and the build cannot find TypeScript (npm/cli#8440). When TypeScript is
 *   missing, install the devDependencies into this checkout first, explicitly local, without
 *   install scripts (the build needs none).
 * - An install from git runs `prepare` twice in the same clone (after installing its
 *   dependencies, then again before packing it). The build records a digest of its inputs in
 *   dist/; when they have not changed since, the second run skips the build.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const STAMP = join(root, 'dist', '.prepare-inputs');
/** Everything the build reads: sources, rule catalogues, build tools and configuration. */
const INPUTS = ['src', 'bin', 'rules', 'tools', 'test', 'bench', 'tsconfig.json', 'package.json', 'package-lock.json'];

function hasTypeScript() {
  try {
    createRequire(join(root, 'package.json')).resolve('typescript');
    return true;
  } catch {
    return false;
  }
}

function inputsDigest() {
  const h = createHash('sha256');
  const add = (rel) => {
    const entries = readdirSync(join(root, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const r = `${rel}/${e.name}`;
      if (r === 'bench/out') continue; // generated benchmark inputs, not sources
      if (e.isDirectory()) add(r);
      else if (e.isFile()) h.update(`${r}\0`).update(readFileSync(join(root, r))).update('\0');
    }
  };
  for (const p of INPUTS) {
    const abs = join(root, p);
    if (!existsSync(abs)) continue;
    if (statSync(abs).isDirectory()) add(p);
    else h.update(`${p}\0`).update(readFileSync(abs)).update('\0');
  }
  return h.digest('hex');
}

/** The npm that runs this script (npm_execpath), so a nested call uses the same npm and cache. */
function npm(args) {
  const cli = process.env.npm_execpath;
  const [cmd, argv] = cli && /npm-cli\.[cm]?js$/.test(cli) ? [process.execPath, [cli, ...args]] : ['npm', args];
  // command-line flags outrank the npm_config_* variables the outer npm exported
  const local = ['--global=false', `--prefix=${root}`];
  const r = spawnSync(cmd, [...argv, ...local], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`prepare: npm ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`})\n`);
    process.exit(r.status || 1);
  }
}

const digest = inputsDigest();
if (existsSync(STAMP) && readFileSync(STAMP, 'utf8').trim() === digest) {
  process.stderr.write('prepare: dist/ is up to date with its sources\n');
  process.exit(0);
}
if (!hasTypeScript()) {
  process.stderr.write('prepare: TypeScript is not installed here; installing the devDependencies to build dist/\n');
  npm(['install', '--include=dev', '--ignore-scripts', '--no-save', '--no-audit', '--no-fund']);
}
npm(['run', 'build']);
writeFileSync(STAMP, `${digest}\n`);
