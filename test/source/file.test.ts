/**
 * FileSource serves short reads from a 64 KiB read-ahead block: every read must return exactly
 * the file's bytes at that offset wherever it falls (inside, across the block's end, past the
 * file's end, interleaved and concurrent), and bytesRead() counts what readers asked for.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileSource } from '../../src/source/file.js';

const SIZE = 200_000;
const bytes = Uint8Array.from({ length: SIZE }, (_, i) => (i * 7 + (i >> 8)) & 0xff);
const path = join(mkdtempSync(join(tmpdir(), 'mg-file-')), 'data.bin');
writeFileSync(path, bytes);

describe('FileSource', () => {
  it('returns the bytes at every offset, inside and across read-ahead blocks', async () => {
    const src = await FileSource.open(path);
    const reads: Array<[number, number]> = [
      [0, 4], [4, 100], [65_530, 20], [10, 8], [65_536, 65_536], [131_000, 70_000], [199_990, 100], [SIZE, 5], [150_000, 1],
    ];
    let asked = 0;
    for (const [off, len] of reads) {
      const got = await src.read(off, len);
      expect(Buffer.from(got).equals(Buffer.from(bytes.subarray(off, Math.min(SIZE, off + len))))).toBe(true);
      asked += got.length;
    }
    expect(src.bytesRead()).toBe(asked);
    await src.close();
  });

  it('readInto and concurrent reads at far-apart offsets each get their own bytes', async () => {
    const src = await FileSource.open(path);
    const offsets = [0, 70_000, 140_000, 30, 70_050, 199_000];
    const got = await Promise.all(offsets.map((o) => src.read(o, 64)));
    got.forEach((g, i) => expect(Buffer.from(g).equals(Buffer.from(bytes.subarray(offsets[i]!, offsets[i]! + 64)))).toBe(true));
    const into = new Uint8Array(16);
    expect(await src.readInto(100_000, into)).toBe(16);
    expect(Buffer.from(into).equals(Buffer.from(bytes.subarray(100_000, 100_016)))).toBe(true);
    await src.close();
  });

  it('smallSync: a file of one block or less is read whole at open, with the same bytes and counts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-file-small-'));
    const small = join(dir, 'small.bin');
    writeFileSync(small, bytes.subarray(0, 65_536));
    const sync = await FileSource.open(small, 'small.bin', { smallSync: true });
    const plain = await FileSource.open(small, 'small.bin');
    expect(sync.size).toBe(65_536);
    for (const [off, len] of [[0, 4], [65_530, 20], [100, 65_536], [65_536, 1], [70_000, 4]] as Array<[number, number]>) {
      expect(Buffer.from(await sync.read(off, len)).equals(Buffer.from(await plain.read(off, len)))).toBe(true);
    }
    const a = new Uint8Array(40);
    const b = new Uint8Array(40);
    expect(await sync.readInto(65_510, a)).toBe(await plain.readInto(65_510, b));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(sync.bytesRead()).toBe(plain.bytesRead());
    await sync.close();
    await plain.close();
    // Empty files too.
    writeFileSync(join(dir, 'empty'), '');
    const empty = await FileSource.open(join(dir, 'empty'), 'empty', { smallSync: true });
    expect(empty.size).toBe(0);
    expect((await empty.read(0, 10)).length).toBe(0);
    await empty.close();
  });

  it('smallSync: a larger file, a directory or a missing file go the usual way, with the usual errors', async () => {
    const big = await FileSource.open(path, 'data.bin', { smallSync: true });
    expect(big.size).toBe(SIZE);
    expect(Buffer.from(await big.read(199_990, 10)).equals(Buffer.from(bytes.subarray(199_990)))).toBe(true);
    await big.close();
    const dir = mkdtempSync(join(tmpdir(), 'mg-file-dir-'));
    mkdirSync(join(dir, 'sub'));
    for (const p of [join(dir, 'sub'), join(dir, 'missing')]) {
      const plain = await FileSource.open(p).then(() => 'opened', (e: Error) => e.message);
      const sync = await FileSource.open(p, p, { smallSync: true }).then(() => 'opened', (e: Error) => e.message);
      expect(sync).toBe(plain);
      expect(sync).toMatch(/not a regular file|ENOENT/);
    }
  });
});
