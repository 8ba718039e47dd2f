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

function service(): FileService {
  const store = { getFileMeta: async (): Promise<FileMeta | null> => null, putFileMeta: async (): Promise<void> => undefined } as unknown as Store;
  const upstream = { fileMetadata: async (): Promise<FileMetadata> => ({ commit: COMMIT, etag: 'e'.repeat(40), linkedEtag: null, size: 10, location: 'http://hub.invalid/x', lfs: false }) } as unknown as Upstream;
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
});
