/**
 * FileService's in-memory caches, with a stand-in store and upstream (no network, no disk):
 * whatever clients ask for, they stay bounded.
 */
import { describe, expect, it } from 'vitest';
import { BRANCHES_MAX, FileService } from '../../src/gateway/files.js';
import { Metrics } from '../../src/gateway/metrics.js';
import type { ResolveTarget } from '../../src/gateway/paths.js';
import type { ScanPool } from '../../src/gateway/scan-pool.js';
import type { FileMetadata, Upstream } from '../../src/gateway/upstream.js';
import type { BlobStore, FileMeta, Store } from '../../src/store/types.js';

const COMMIT = 'c'.repeat(40);

function service(lookup?: (t: ResolveTarget) => Promise<FileMetadata>): FileService {
  const store = { getFileMeta: async (): Promise<FileMeta | null> => null, putFileMeta: async (): Promise<void> => undefined } as unknown as Store;
  const fixed = async (): Promise<FileMetadata> => ({ commit: COMMIT, etag: 'e'.repeat(40), linkedEtag: null, size: 10, location: 'http://hub.invalid/x', lfs: false });
  const upstream = { fileMetadata: lookup ?? fixed } as unknown as Upstream;
  return new FileService(store, {} as BlobStore, upstream, {} as ScanPool, 'engine', new Metrics(), 3600_000);
}

describe('FileService caches', () => {
  it('remembers at most BRANCHES_MAX branch names, dropping the oldest (any client can name any repository\'s refs)', async () => {
    const files = service();
    const target = (i: number): ResolveTarget => ({ type: 'model', id: `org/repo-${i}`, revision: 'main', path: 'config.json' });
    for (let i = 0; i <= BRANCHES_MAX; i++) await files.metadata(target(i), {});
    expect(files.knownCommit(target(0))).toBeNull();
    expect(files.knownCommit(target(1))).toBe(COMMIT);
    expect(files.knownCommit(target(BRANCHES_MAX))).toBe(COMMIT);
  });

  it('never gives one request the metadata of another whose revision and path join the same way', async () => {
    // Each file's own size, answered a moment later (both requests are in flight together).
    const sizes: Record<string, number> = { 'main|x:y': 111, 'main:x|y': 222 };
    const files = service(async (t) => {
      await new Promise((r) => setTimeout(r, 20));
      return { commit: COMMIT, etag: 'e'.repeat(40), linkedEtag: null, size: sizes[`${t.revision}|${t.path}`] ?? 0, location: 'http://hub.invalid/x', lfs: false };
    });
    const [a, b] = await Promise.all([
      files.metadata({ type: 'model', id: 'org/repo', revision: 'main', path: 'x:y' }, {}),
      files.metadata({ type: 'model', id: 'org/repo', revision: 'main:x', path: 'y' }, {}),
    ]);
    expect([a.path, a.size]).toEqual(['x:y', 111]);
    expect([b.path, b.size]).toEqual(['y', 222]);
  });
});
