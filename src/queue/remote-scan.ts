/**
 * Scanning one file of an upstream repository. Today: a streamed download to a temporary file
 * (hashed and size-checked as it arrives), then the ordinary local scan. When the HTTP range
 * ByteSource (src/source/http.ts) lands, only `openRemoteSource` changes: the engine reads just
 * the bytes it needs and nothing is written to disk.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine } from '../scan/engine.js';
import type { FileReport } from '../scan/report.js';
import { FileSource } from '../source/file.js';
import type { ByteSource } from '../source/types.js';
import type { HubClient } from './hub-client.js';
import { CrawlError } from './types.js';

export interface RemoteScanOptions {
  client: HubClient;
  engine: Engine;
  /** Repo-relative path, shown in the report. */
  displayPath: string;
  /** Size from the tree listing: the download must match it exactly. */
  expectedSize: number;
  /** sha256 from the tree's lfs.oid when the file is in LFS; the download must match it. */
  expectedSha256: string | null;
  /** Files larger than this are not fetched ('too-large'). */
  maxBytes: number;
  tmpDir?: string;
  signal?: AbortSignal;
}

export interface RemoteScan {
  report: FileReport;
  sha256: string;
  bytesFetched: number;
  method: 'download' | 'range';
}

interface OpenedSource {
  source: ByteSource;
  sha256: string;
  bytesFetched: () => number;
  close(): Promise<void>;
}

/** Fetches a file into a temporary file, verifying size and (for LFS files) sha256 on the way. */
async function downloadToTemp(url: string, opts: RemoteScanOptions): Promise<OpenedSource> {
  const path = join(opts.tmpDir ?? tmpdir(), `mg-crawl-${process.pid}-${randomBytes(6).toString('hex')}`);
  const fh = await open(path, 'wx', 0o600);
  let ok = false;
  try {
    // A body cut mid-way restarts the download (a few times) rather than resuming: files here are
    // small next to a cut's cost, and a fresh hash avoids stitching bugs.
    for (let attempt = 1; ; attempt++) {
      const res = await opts.client.get(url, { signal: opts.signal, follow: true });
      if (res.status !== 200) {
        await res.body.dump();
        if (res.status === 404 || res.status === 403 || res.status === 401) throw new CrawlError('not-found', `${opts.displayPath}: upstream answered ${res.status}`, res.status);
        throw new CrawlError('protocol', `${opts.displayPath}: upstream answered ${res.status} to the download`, res.status);
      }
      const hash = createHash('sha256');
      let n = 0;
      try {
        await fh.truncate(0);
        for await (const chunk of res.body) {
          const c = chunk as Buffer;
          n += c.length;
          if (n > opts.expectedSize) {
            res.body.destroy();
            throw new CrawlError('protocol', `${opts.displayPath}: upstream sent more than the listed ${opts.expectedSize} bytes`);
          }
          hash.update(c);
          await fh.write(c, 0, c.length, n - c.length);
        }
      } catch (e) {
        opts.client.countBytes(n);
        if (e instanceof CrawlError) throw e;
        if (attempt >= 3) throw new CrawlError('transient', `${opts.displayPath}: download cut after ${n} bytes: ${(e as Error).message}`, null, { cause: e });
        continue;
      }
      opts.client.countBytes(n);
      if (n !== opts.expectedSize) {
        if (attempt >= 3) throw new CrawlError('transient', `${opts.displayPath}: download ended after ${n} of ${opts.expectedSize} bytes`);
        continue;
      }
      const sha256 = hash.digest('hex');
      if (opts.expectedSha256 !== null && sha256 !== opts.expectedSha256) {
        throw new CrawlError('protocol', `${opts.displayPath}: content sha256 ${sha256} differs from the listed ${opts.expectedSha256}`);
      }
      await fh.close();
      const source = await FileSource.open(path, opts.displayPath);
      ok = true;
      return {
        source,
        sha256,
        bytesFetched: () => n,
        close: async () => {
          await source.close();
          await rm(path, { force: true });
        },
      };
    }
  } finally {
    if (!ok) {
      await fh.close().catch(() => {});
      await rm(path, { force: true });
    }
  }
}

/** The one line to change when remote range scans are available. */
const openRemoteSource = downloadToTemp;
const METHOD: RemoteScan['method'] = 'download';

/** Scans the file at `url` (a resolve URL on the upstream); never loads it. */
export async function scanRemoteFile(url: string, opts: RemoteScanOptions): Promise<RemoteScan> {
  if (opts.expectedSize > opts.maxBytes) throw new CrawlError('too-large', `${opts.displayPath}: ${opts.expectedSize} bytes is over --max-file-bytes (${opts.maxBytes})`);
  const opened = await openRemoteSource(url, opts);
  try {
    const report = await opts.engine.scanSource(opened.source, opts.displayPath);
    report.sha256 = opened.sha256;
    return { report, sha256: opened.sha256, bytesFetched: opened.bytesFetched(), method: METHOD };
  } finally {
    await opened.close();
  }
}
