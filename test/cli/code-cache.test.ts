/**
 * The V8 code caches the build records (tools/build-dist.mjs: the bundled command line and the
 * packages loaded on demand) are accepted when the installed bin runs them. The bin changes a V8
 * flag before compiling the bundle, and V8 rejects a cache made under other flags without a word:
 * the scan still works, only slower, so nothing else would notice a mismatch. Run on the real
 * build the test command makes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'modelgate.js');

describe('recorded code caches', () => {
  it('are accepted for the bundled command line and for a package loaded on demand (yaml)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-cache-'));
    try {
      const config = join(dir, 'config.yaml');
      writeFileSync(config, 'model:\n  _target_: torch.nn.Linear\n  in_features: 4\n');
      const run = spawnSync(process.execPath, [BIN, 'scan', '--no-progress', config], { encoding: 'utf8', env: { ...process.env, MODELGATE_REPORT_CODE_CACHE: '1' } });
      expect(run.status, run.stderr).toBe(0);
      expect(run.stdout).toContain('(hydra-yaml, ');
      expect(run.stderr.split('\n').filter((l) => l.startsWith('modelgate: code cache')).sort()).toEqual([
        `modelgate: code cache accepted: ${join(ROOT, 'dist', 'cli', 'main.cjs')}`,
        `modelgate: code cache accepted: ${join(ROOT, 'dist', 'cli', 'vendor', 'yaml.cjs')}`,
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
