/**
 * FileSource serves short reads from a 64 KiB read-ahead block: every read must return exactly
 * the file's bytes at that offset wherever it falls (inside, across the block's end, past the
 * file's end, interleaved and concurrent), and bytesRead() counts what readers asked for.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
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
});
