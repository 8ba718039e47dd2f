/**
 * bin/modelgate.js runs the bundled command line (dist/cli/main.cjs, tools/build-dist.mjs) when it
 * was built at or after tsc's output (dist/src), and tsc's output otherwise: a `tsc` after an edit
 * must never leave an older bundle in use. A code cache is used only when written after the
 * bundle, and one V8 rejects costs only the compile. Checked on a copy of the bin with two
 * stand-in entry modules.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'modelgate.js');

function tree(): { dir: string; run: () => string; age: (file: string, seconds: number) => void } {
  const dir = mkdtempSync(join(tmpdir(), 'mg-bin-'));
  mkdirSync(join(dir, 'bin'));
  copyFileSync(BIN, join(dir, 'bin', 'modelgate.js'));
  // Marks the bin CommonJS (the package itself is "type": "module").
  copyFileSync(join(BIN, '..', 'package.json'), join(dir, 'bin', 'package.json'));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  mkdirSync(join(dir, 'dist', 'cli'), { recursive: true });
  writeFileSync(join(dir, 'dist', 'cli', 'main.cjs'), `exports.main = async (argv) => { process.stdout.write('bundle ' + argv.join(' ')); return 0; };\n`);
  mkdirSync(join(dir, 'dist', 'src', 'cli'), { recursive: true });
  writeFileSync(join(dir, 'dist', 'src', 'cli', 'main.js'), `export async function main(argv) { process.stdout.write('tsc output ' + argv.join(' ')); return 0; }\n`);
  return {
    dir,
    run: () => execFileSync(process.execPath, [join(dir, 'bin', 'modelgate.js'), 'scan', 'x'], { encoding: 'utf8' }),
    age: (rel, seconds) => {
      const t = Date.now() / 1000 - seconds;
      utimesSync(join(dir, rel), t, t);
    },
  };
}

describe('bin/modelgate.js', () => {
  it('runs the bundle when it is newer than tsc output', () => {
    const t = tree();
    t.age('dist/src/cli/main.js', 60);
    expect(t.run()).toBe('bundle scan x');
  });

  it('runs the bundle when both have the same time (npm pack sets one time on every file)', () => {
    const t = tree();
    t.age('dist/src/cli/main.js', 60);
    t.age('dist/cli/main.cjs', 60);
    expect(t.run()).toBe('bundle scan x');
  });

  it('runs tsc output when tsc ran after the bundle was built', () => {
    const t = tree();
    t.age('dist/cli/main.cjs', 60);
    expect(t.run()).toBe('tsc output scan x');
  });

  it('ignores a code cache older than the bundle, and survives one V8 rejects', () => {
    const t = tree();
    t.age('dist/src/cli/main.js', 60);
    writeFileSync(join(t.dir, 'dist', 'cli', 'main.cjs.cache'), 'not a V8 code cache');
    expect(t.run()).toBe('bundle scan x');
    t.age('dist/cli/main.cjs.cache', 120);
    expect(t.run()).toBe('bundle scan x');
  });

  it('runs tsc output when there is no bundle (esbuild not installed)', () => {
    const t = tree();
    rmSync(join(t.dir, 'dist', 'cli'), { recursive: true });
    expect(t.run()).toBe('tsc output scan x');
  });
});
