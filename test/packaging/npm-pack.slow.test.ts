/**
 * SLOW (minutes; needs the npm registry): the package as users get it. `npm pack` in a copy of the
 * checkout (which runs `prepare`, the build), then the tarball installed the two usual ways — `npm
 * install -g` into a temporary prefix and `npx --package=<tarball>` — and the installed
 * `modelgate scan` run on a malicious and a benign model. Nothing is built on the "user's" side:
 * the install gets only the runtime dependencies, and the CLI must scan with what was packed.
 * Without better-sqlite3 (optional: npm skips it where it cannot be built) the installed command
 * must still scan, and the gateway must say in one line what is missing.
 * The dependencies come from the npm registry through the user's npm cache (shared, so a warm
 * cache makes this faster); better-sqlite3 builds from source where its prebuilt binary cannot
 * be downloaded, which is most of the time spent.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/manifest.js';
import { cleanEnv, copyCheckout, explain, runCommand, type Ran } from '../helpers/install.js';

const SLOW = 20 * 60_000;
const MAL = join(FIXTURES, 'malicious', 'torch_zip_reduce.pt');
const BENIGN = join(FIXTURES, 'benign', 'torch_state_dict.pt');
const PKG = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { name: string; version: string };

const work = mkdtempSync(join(tmpdir(), 'mg-pack-'));
const env = cleanEnv();
const npmFlags = ['--no-audit', '--no-fund', '--prefer-offline'];
let tgz = '';
let npmCache = '';

function npm(args: string[], cwd: string): Promise<Ran> {
  return runCommand('npm', args, { cwd, env });
}

/** The two scans every installed form must get right: the exact rule and the exit codes. */
async function expectScans(scan: (args: string[]) => Promise<Ran>): Promise<void> {
  const mal = await scan(['scan', '--no-progress', MAL]);
  expect(mal.code, explain('scan of the malicious file', mal)).toBe(1);
  expect(mal.stdout).toContain('PICKLE_DANGEROUS_GLOBAL  calls os.system');
  expect(mal.stdout).toContain("chain posix.system('echo modelgate-fixture')");
  const benign = await scan(['scan', '--no-progress', BENIGN]);
  expect(benign.code, explain('scan of the benign file', benign)).toBe(0);
  expect(benign.stdout).toMatch(/torch_state_dict\.pt .*\bok\b/);
  // SARIF carries each rule's page from docs/rules/, read from the installed package
  const sarif = await scan(['scan', '--format', 'sarif', MAL]);
  expect(sarif.code, explain('SARIF scan', sarif)).toBe(1);
  const rule = (JSON.parse(sarif.stdout) as { runs: { tool: { driver: { rules: { id: string; help: { text: string } }[] } } }[] }).runs[0]!.tool.driver.rules[0]!;
  expect(rule.id).toBe('PICKLE_DANGEROUS_GLOBAL');
  expect(rule.help.text).toContain('WHAT IT CATCHES');
}

describe('npm pack, then install and run the tarball (slow: builds, installs from the npm registry)', () => {
  beforeAll(async () => {
    const src = join(work, 'checkout');
    copyCheckout(src);
    const r = await npm(['pack', '--json', '--pack-destination', work], src);
    expect(r.code, explain('npm pack', r)).toBe(0);
    const [info] = JSON.parse(r.stdout.slice(r.stdout.indexOf('['))) as { filename: string }[];
    tgz = join(work, info!.filename);
    npmCache = (await npm(['config', 'get', 'cache'], work)).stdout.trim();
  }, SLOW);

  afterAll(() => {
    // npx installs into <npm cache>/_npx/<hash>; drop the entry made for this tarball only
    const npxCache = join(npmCache, '_npx');
    for (const d of npmCache ? readdirSyncSafe(npxCache) : []) {
      try {
        const pj = JSON.parse(readFileSync(join(npxCache, d, 'package.json'), 'utf8')) as { _npx?: { packages?: string[] } };
        if (pj._npx?.packages?.some((p) => p.includes(work))) rmSync(join(npxCache, d), { recursive: true, force: true });
      } catch {
        // not an npx entry of ours
      }
    }
    rmSync(work, { recursive: true, force: true });
  }, SLOW);

  it('the tarball holds the compiled CLI, the rules and docs, and no sources, tests or fixtures', async () => {
    const r = await runCommand('tar', ['-tzf', tgz], { cwd: work, env });
    expect(r.code, explain('tar', r)).toBe(0);
    const entries = r.stdout.split('\n').filter(Boolean);
    expect(entries).toContain('package/package.json');
    expect(entries).toContain('package/bin/modelgate.js');
    expect(entries).toContain('package/dist/src/cli/main.js');
    expect(entries).toContain('package/rules/globals.yaml');
    expect(entries).toContain('package/docs/rules/PICKLE_DANGEROUS_GLOBAL.md');
    expect(entries.filter((e) => /^package\/(src|test|bench|fixtures|tools|dist\/(test|bench))\//.test(e))).toEqual([]);
  });

  it.concurrent('`npm install -g --prefix` installs a working `modelgate` command', async () => {
    const prefix = join(work, 'prefix');
    const r = await npm(['install', '-g', '--prefix', prefix, ...npmFlags, tgz], work);
    expect(r.code, explain('npm install -g', r)).toBe(0);
    const installed = join(prefix, 'lib', 'node_modules', PKG.name);
    // only runtime dependencies: a dev dependency here would mean the package needs one
    expect(readdirSyncSafe(join(installed, 'node_modules'))).not.toContain('typescript');
    const cwd = join(work, 'elsewhere');
    mkdirSync(cwd, { recursive: true });
    await expectScans((args) => runCommand(join(prefix, 'bin', 'modelgate'), args, { cwd, env }));
    const v = await runCommand(join(prefix, 'bin', 'modelgate'), ['--version'], { cwd, env });
    expect(v.stdout.trim()).toBe(PKG.version);
    // As npm leaves it when better-sqlite3 (optional) can neither be downloaded nor built: the
    // scanner still works, and the gateway says in one line what is missing.
    const deps = join(installed, 'node_modules');
    expect(readdirSyncSafe(deps)).toContain('better-sqlite3');
    rmSync(join(deps, 'better-sqlite3'), { recursive: true, force: true });
    await expectScans((args) => runCommand(join(prefix, 'bin', 'modelgate'), args, { cwd, env }));
    const serve = await runCommand(join(prefix, 'bin', 'modelgate'), ['serve', '--port', '0', '--data-dir', join(work, 'gw-no-sqlite')], { cwd, env });
    expect(serve.code, explain('serve without better-sqlite3', serve)).toBe(2);
    expect(serve.stderr).toBe(
      `modelgate: store ${join(work, 'gw-no-sqlite', 'modelgate.db')}: the embedded SQLite store needs the optional package better-sqlite3, which is not installed: reinstall modelgate where npm can download or build it (python3, make and a C++ compiler), or use a PostgreSQL store (--store postgres://…)\n`,
    );
  }, SLOW);

  it.concurrent('`npx --package=<tarball> modelgate scan` runs it without installing', async () => {
    const cwd = join(work, 'npx-cwd');
    mkdirSync(cwd, { recursive: true });
    await expectScans((args) => npm(['exec', '--yes', `--package=${tgz}`, ...npmFlags, '--', 'modelgate', ...args], cwd));
  }, SLOW);
});

function readdirSyncSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
