/**
 * The directory walker and symbolic links: a checked-out repository is untrusted, so a link
 * below the scanned directory that leads out of it is reported and not read; loops end.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanPath } from '../../src/scan/scan.js';
import { walkPaths } from '../../src/scan/walk.js';

async function walk(dir: string): Promise<Array<{ path: string; error?: string }>> {
  const out = [];
  for await (const e of walkPaths([dir])) out.push({ path: e.path.slice(dir.length + 1), ...(e.error ? { error: e.error } : {}) });
  return out;
}

describe('walking a directory with symbolic links', () => {
  it('reports a file or directory link that leads outside the scanned directory, without reading it', async () => {
    const outside = realpathSync(mkdtempSync(join(tmpdir(), 'mg-outside-')));
    writeFileSync(join(outside, 'id_rsa'), 'SECRET KEY MATERIAL\n');
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'mg-walk-')));
    writeFileSync(join(dir, 'README.md'), '# hi\n');
    symlinkSync(join(outside, 'id_rsa'), join(dir, 'weights.bin'));
    symlinkSync(outside, join(dir, 'extra'));
    expect(await walk(dir)).toEqual([
      { path: 'README.md' },
      { path: 'extra', error: `symbolic link to ${outside}, outside the scanned directory ${dir}; not followed` },
      { path: 'weights.bin', error: `symbolic link to ${join(outside, 'id_rsa')}, outside the scanned directory ${dir}; not followed` },
    ]);
    const report = await scanPath(dir);
    const link = report.files.find((f) => f.path === join(dir, 'weights.bin'))!;
    expect(link.findings.map((f) => [f.rule, f.message])).toEqual([['SCAN_UNREADABLE', `cannot read: symbolic link to ${join(outside, 'id_rsa')}, outside the scanned directory ${dir}; not followed`]]);
    expect(link.bytesRead).toBe(0);
  });

  it('follows links that stay inside, and Hugging Face cache snapshots into their blobs', async () => {
    const cache = realpathSync(mkdtempSync(join(tmpdir(), 'mg-hfcache-')));
    const repo = join(cache, 'models--acme--tiny');
    mkdirSync(join(repo, 'blobs'), { recursive: true });
    mkdirSync(join(repo, 'snapshots', 'a'.repeat(40), 'sub'), { recursive: true });
    writeFileSync(join(repo, 'blobs', 'b1'), 'one\n');
    const snap = join(repo, 'snapshots', 'a'.repeat(40));
    symlinkSync('../../blobs/b1', join(snap, 'config.json'));
    symlinkSync('../../../blobs/b1', join(snap, 'sub', 'vocab.txt'));
    symlinkSync('config.json', join(snap, 'alias.json'));
    expect(await walk(snap)).toEqual([{ path: 'alias.json' }, { path: 'config.json' }, { path: 'sub/vocab.txt' }]);
  });

  it('ends on link loops: a directory linked to its parent is listed once, a file loop is reported', async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'mg-loop-')));
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'a.txt'), 'a\n');
    symlinkSync('..', join(dir, 'sub', 'up'));
    symlinkSync('l2', join(dir, 'l1'));
    symlinkSync('l1', join(dir, 'l2'));
    expect(await walk(dir)).toEqual([
      { path: 'l1', error: 'too many levels of symbolic links' },
      { path: 'l2', error: 'too many levels of symbolic links' },
      { path: 'sub/a.txt' },
    ]);
  });
});
