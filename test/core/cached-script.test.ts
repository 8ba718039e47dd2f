/**
 * requireCached (src/core/cached-script.ts) runs a bundled package with V8's code cache; a cache
 * V8 rejects, or one older than the file, must cost only the compile, never the load.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { requireCached } from '../../src/core/cached-script.js';

function pkg(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mg-cached-'));
  writeFileSync(join(dir, 'helper.cjs'), 'exports.twice = (x) => 2 * x;\n');
  writeFileSync(join(dir, 'pkg.cjs'), "const { twice } = require('./helper.cjs'); exports.four = twice(2); exports.file = __filename;\n");
  return join(dir, 'pkg.cjs');
}

describe('requireCached', () => {
  it('runs the file as a CommonJS module (its own require, __filename), once, listed in require.cache', () => {
    const file = pkg();
    const a = requireCached(file) as { four: number; file: string };
    expect(a).toEqual({ four: 4, file });
    expect(requireCached(file)).toBe(a);
    expect(createRequire(file).cache[file]?.exports).toBe(a);
  });

  it('loads despite a damaged cache, or one older than the file', () => {
    const file = pkg();
    writeFileSync(`${file}.cache`, 'not a V8 code cache');
    expect((requireCached(file) as { four: number }).four).toBe(4);
    const other = pkg();
    writeFileSync(`${other}.cache`, 'not a V8 code cache');
    const t = statSync(other).mtimeMs / 1000 - 60;
    utimesSync(`${other}.cache`, t, t);
    expect((requireCached(other) as { four: number }).four).toBe(4);
  });

  it('writes a cache V8 accepts when MODELGATE_WRITE_CODE_CACHE=1', () => {
    const file = pkg();
    const mod = pathToFileURL(join(import.meta.dirname, '..', '..', 'dist', 'src', 'core', 'cached-script.js')).href;
    const run = `import(${JSON.stringify(mod)}).then((m) => m.requireCached(${JSON.stringify(file)}))`;
    execFileSync(process.execPath, ['-e', run], { env: { ...process.env, MODELGATE_WRITE_CODE_CACHE: '1' } });
    expect(statSync(`${file}.cache`).size).toBeGreaterThan(0);
    // A second process uses it: V8 reports the cache accepted.
    const check = `const { Script } = require('node:vm'); const fs = require('node:fs'); const s = new Script(require('node:module').wrap(fs.readFileSync(${JSON.stringify(file)}, 'utf8')), { filename: ${JSON.stringify(file)}, cachedData: fs.readFileSync(${JSON.stringify(`${file}.cache`)}) }); process.stdout.write(String(s.cachedDataRejected));`;
    expect(execFileSync(process.execPath, ['-e', check], { encoding: 'utf8' })).toBe('false');
  });
});
