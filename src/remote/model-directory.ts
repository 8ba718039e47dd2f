/**
 * The directory around a remote MLmodel, as the listing of the scan saw it (an S3 prefix, a Hub
 * repository): src/scan/mlflow.ts reads the environment files and lists the code paths through
 * it exactly as it does on disk. Files are read by range from the first byte, at most the limit
 * the check asks for, and what that costs is counted so the report's bytes-fetched stays true.
 */
import { posix } from 'node:path';
import type { ModelDirectory } from '../scan/mlflow.js';
import type { Job } from './scan.js';

export interface RemoteDirectory extends ModelDirectory {
  /** Bytes and requests spent reading files so far. */
  cost(): { bytes: number; requests: number };
}

/** `jobs`: every listed file (scanned or excluded); `dir`: the MLmodel's directory name, without the final '/'. */
export function remoteDirectory(jobs: readonly Job[], dir: string): RemoteDirectory {
  const prefix = `${dir}/`;
  const files = new Map<string, Job>();
  for (const j of jobs) if (j.name.startsWith(prefix)) files.set(j.name.slice(prefix.length), j);
  const names = [...files.keys()].sort();
  let bytes = 0;
  let requests = 0;
  return {
    async readText(rel, limit) {
      const job = files.get(rel);
      if (!job) return null;
      if (job.size !== null && job.size > limit) return { error: `is larger than ${limit} bytes` };
      let src;
      try {
        src = await job.open();
      } catch (e) {
        return { error: (e as Error).message };
      }
      try {
        const got = await src.read(0, limit + 1);
        if (got.length > limit) return { error: `is larger than ${limit} bytes` };
        return new TextDecoder('utf-8', { fatal: false }).decode(got);
      } catch (e) {
        return { error: (e as Error).message };
      } finally {
        bytes += src.bytesRead();
        requests += src.requests();
        await src.close().catch(() => undefined);
      }
    },
    async filesUnder(rel, max, maxDepth) {
      const root = rel === '.' ? '' : rel.replace(/\/+$/, '');
      const out: string[] = [];
      for (const n of names) {
        if (out.length >= max) break;
        if (n === root) out.push(n);
        else if (root === '' || n.startsWith(`${root}/`)) {
          const below = root === '' ? n : n.slice(root.length + 1);
          if (below.split('/').length <= maxDepth) out.push(n);
        }
      }
      return out;
    },
    async exists(rel) {
      const r = posix.normalize(rel);
      return files.has(r) || names.some((n) => n.startsWith(`${r}/`));
    },
    cost: () => ({ bytes, requests }),
  };
}
