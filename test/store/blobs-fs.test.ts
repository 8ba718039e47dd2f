import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSha256, openFsBlobStore, writeAll } from '../../src/store/blobs-fs.js';
import { expectStoreError } from './contract.js';

const root = mkdtempSync(join(tmpdir(), 'modelgate-blobs-'));
let n = 0;
const freshDir = (): string => join(root, `store-${++n}`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const tmpFiles = (dir: string): string[] => readdirSync(join(dir, 'tmp'));

describe('filesystem blob store', () => {
  it('streams 50 MB in chunks with bounded memory and the same hash as node:crypto', async () => {
    const dir = freshDir();
    const store = await openFsBlobStore(dir);
    const w = await store.create();
    const expected = createHash('sha256');
    // One reused 1 MiB buffer, rewritten after each write resolves: if the writer kept a
    // reference instead of writing it out, the file (and hash) would not match.
    const chunk = new Uint8Array(1 << 20);
    const baseline = process.memoryUsage();
    let peakRss = baseline.rss;
    let peakBuffers = baseline.arrayBuffers;
    for (let i = 0; i < 50; i++) {
      for (let j = 0; j < chunk.length; j += 4096) chunk[j] = (i * 31 + j) & 0xff;
      chunk[chunk.length - 1] = i;
      expected.update(chunk);
      await w.write(chunk);
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakBuffers = Math.max(peakBuffers, m.arrayBuffers);
    }
    expect(w.written).toBe(50 << 20);
    const digest = await w.finish();
    const want = expected.digest('hex');
    expect(digest).toBe(want);
    expect(await store.has(want)).toBe(false); // finished is not published
    await w.commit(want);
    expect(peakBuffers - baseline.arrayBuffers).toBeLessThan(16 << 20);
    expect(peakRss - baseline.rss).toBeLessThan(40 << 20);

    const path = await store.localPath(want);
    expect(path).toBe(join(dir, 'blobs', want.slice(0, 2), want.slice(2, 4), want));
    expect(await store.size(want)).toBe(50 << 20);
    expect(sha256(readFileSync(path!))).toBe(want);
    expect(tmpFiles(dir)).toEqual([]);
    await w.abort(); // no-op after commit
    expect(await store.has(want)).toBe(true);
  });

  it('writes in order even when the caller does not await each write', async () => {
    const store = await openFsBlobStore(freshDir());
    const w = await store.create();
    const parts = Array.from({ length: 20 }, (_, i) => new TextEncoder().encode(`part-${i};`));
    await Promise.all(parts.map((p) => w.write(p)));
    const all = new TextEncoder().encode(parts.map((_, i) => `part-${i};`).join(''));
    const digest = await w.finish();
    expect(digest).toBe(sha256(all));
    await w.commit(digest);
    expect(readFileSync((await store.localPath(digest))!)).toEqual(Buffer.from(all));
  });

  it('pumps an async iterable with writeAll', async () => {
    const store = await openFsBlobStore(freshDir());
    const w = await store.create();
    async function* gen(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 10; i++) yield new Uint8Array(1000).fill(i);
    }
    await writeAll(w, gen());
    expect(w.written).toBe(10_000);
    await w.commit(await w.finish());
  });

  it('refuses a commit under the wrong hash and leaves nothing visible', async () => {
    const dir = freshDir();
    const store = await openFsBlobStore(dir);
    const w = await store.create();
    const data = new TextEncoder().encode('not what upstream promised');
    await w.write(data);
    const real = await w.finish();
    const claimed = 'ab'.repeat(32);
    await expectStoreError(w.commit(claimed), 'corrupt');
    expect(await store.has(claimed)).toBe(false);
    expect(await store.has(real)).toBe(false);
    expect(tmpFiles(dir)).toEqual([]);
    expect(readdirSync(join(dir, 'blobs'))).toEqual([]);
    await expectStoreError(w.commit(real), 'invalid'); // the writer is spent
    await w.abort();
  });

  it('refuses hashes that are not 64 hex digits (no path tricks)', async () => {
    const store = await openFsBlobStore(freshDir());
    await expectStoreError(store.has('../../etc/passwd'), 'invalid');
    await expectStoreError(store.localPath('a'.repeat(63)), 'invalid');
    expect(checkSha256('AB'.repeat(32))).toBe('ab'.repeat(32));
    const w = await store.create();
    await w.write(new Uint8Array([1]));
    await w.finish();
    await expectStoreError(w.commit('../x'), 'invalid');
    await w.abort();
  });

  it('refuses commit before finish and write after finish', async () => {
    const store = await openFsBlobStore(freshDir());
    const w = await store.create();
    await w.write(new Uint8Array([1, 2, 3]));
    await expectStoreError(w.commit(sha256(new Uint8Array([1, 2, 3]))), 'invalid');
    await w.finish();
    await expectStoreError(w.write(new Uint8Array([4])), 'invalid');
    await w.abort();
  });

  it('abort removes the temporary file', async () => {
    const dir = freshDir();
    const store = await openFsBlobStore(dir);
    const w = await store.create();
    // More than one staging buffer, so some of it has reached the file before the abort.
    await w.write(new Uint8Array(5 << 20));
    expect(tmpFiles(dir)).toHaveLength(1);
    expect(tmpFiles(dir)[0]).toBe(basename(w.tempPath));
    await w.abort();
    expect(tmpFiles(dir)).toEqual([]);
    await w.abort(); // twice is fine
  });

  it('sweep removes leftovers but not the temp files of live writers', async () => {
    const dir = freshDir();
    const store = await openFsBlobStore(dir);
    writeFileSync(join(dir, 'tmp', 'crashed-1.partial'), 'half a model');
    writeFileSync(join(dir, 'tmp', 'crashed-2.partial'), '');
    const live = await store.create();
    await live.write(new Uint8Array([9]));
    expect(await store.sweep()).toBe(2);
    expect(tmpFiles(dir)).toEqual([live.tempPath.split('/').pop()]);
    await live.commit(await live.finish());
    expect(await store.sweep()).toBe(0);
  });

  it('sweep keeps the downloads of other live processes on this host and removes those of dead ones', async () => {
    const dir = freshDir();
    const store = await openFsBlobStore(dir);
    const mine = await store.create();
    const [host, pid] = basename(mine.tempPath).split('~');
    expect(Number(pid)).toBe(process.pid);
    // The parent of this test process is alive; pid 2^22+1 is above Linux's pid_max, so dead.
    const live = `${host}~${process.ppid}~00ff.partial`;
    const dead = `${host}~4194305~00ff.partial`;
    const stale = `${host}~${process.ppid}~0abc.partial`;
    for (const n of [live, dead, stale]) writeFileSync(join(dir, 'tmp', n), 'x');
    const old = (Date.now() - 7 * 3600_000) / 1000;
    utimesSync(join(dir, 'tmp', stale), old, old);
    expect(await store.sweep()).toBe(2);
    expect(tmpFiles(dir).sort()).toEqual([basename(mine.tempPath), live].sort());
    await mine.abort();
  });

  it('sweep with a minimum age spares recent files (replicas sharing a directory)', async () => {
    const dir = freshDir();
    const store = await openFsBlobStore(dir, { sweepMinAgeMs: 60_000 });
    writeFileSync(join(dir, 'tmp', 'old.partial'), 'x');
    writeFileSync(join(dir, 'tmp', 'new.partial'), 'y');
    const old = (Date.now() - 3_600_000) / 1000;
    utimesSync(join(dir, 'tmp', 'old.partial'), old, old);
    expect(await store.sweep()).toBe(1);
    expect(tmpFiles(dir)).toEqual(['new.partial']);
  });

  it('lets concurrent writers of the same content both commit', async () => {
    const dir = freshDir();
    const store = await openFsBlobStore(dir);
    const data = new Uint8Array(3 << 20).map((_, i) => (i * 7) & 0xff);
    const want = sha256(data);
    const [a, b] = await Promise.all([store.create(), store.create()]);
    for (let off = 0; off < data.length; off += 256 << 10) {
      await Promise.all([a.write(data.subarray(off, off + (256 << 10))), b.write(data.subarray(off, off + (256 << 10)))]);
    }
    const [da, db] = await Promise.all([a.finish(), b.finish()]);
    expect(da).toBe(want);
    expect(db).toBe(want);
    await Promise.all([a.commit(want), b.commit(want)]);
    expect(await store.size(want)).toBe(data.length);
    expect(sha256(readFileSync((await store.localPath(want))!))).toBe(want);
    expect(tmpFiles(dir)).toEqual([]);
  });

  it('answers absent blobs with false and null', async () => {
    const store = await openFsBlobStore(freshDir());
    expect(await store.has('0'.repeat(64))).toBe(false);
    expect(await store.localPath('0'.repeat(64))).toBeNull();
    expect(await store.size('0'.repeat(64))).toBeNull();
  });
});
