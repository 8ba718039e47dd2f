/**
 * `modelgate scan s3://bucket/prefix`: the objects a target names become remote-scan jobs read
 * through S3RangeSource, one client for the whole scan. Each object is one file, as each file
 * of an hf:// repository is: a PyTorch zip is one object and is read by ranges through its
 * central directory; a sharded checkpoint is one object per shard, each scanned as locally.
 */
import { S3RangeSource, s3SourceError } from '../source/s3.js';
import type { RangedOptions } from '../source/ranged.js';
import type { Job, RemoteScanError } from './scan.js';
import { S3Session, type S3Access } from './s3.js';
import type { S3Target } from './target.js';
import type { PathSelector } from '../scan/select.js';

/** `excluded`: objects listed and left out by --include / --exclude (not scanned, still part of the model directory around an MLmodel). */
export type S3JobsResult = { ok: true; jobs: Job[]; excluded: Job[]; close: () => void } | { ok: false; error: RemoteScanError };

/**
 * The path `--include` / `--exclude` see for an object: its key below the prefix the target
 * names, as a file below a directory given on the command line; an object named by its own
 * key is seen by that key, as a file given by name.
 */
export function selectedPath(t: S3Target, key: string): string {
  if (key === t.key) return key;
  const prefix = t.key === '' || t.key.endsWith('/') ? t.key : `${t.key}/`;
  return key.startsWith(prefix) ? key.slice(prefix.length) : key;
}

export async function s3Jobs(
  targets: readonly S3Target[],
  access: S3Access,
  tuning: RangedOptions & { timeoutMs?: number | undefined },
  select?: PathSelector,
): Promise<S3JobsResult> {
  const opened = await S3Session.open(access);
  if (!opened.ok) return { ok: false, error: { target: targets[0]?.spec ?? 's3://', ...opened.error } };
  const session = opened.value;
  const jobs: Job[] = [];
  const names = new Set<string>();
  const excluded: Job[] = [];
  for (const t of targets) {
    const listed = await session.list(t);
    if (!listed.ok) {
      session.destroy();
      return { ok: false, error: { target: t.spec, ...listed.error } };
    }
    if (listed.value.length === 0) {
      session.destroy();
      return { ok: false, error: { target: t.spec, kind: 'not-found', message: `no object ${t.key === '' ? 'in the bucket' : t.key.endsWith('/') ? 'under this prefix' : 'with this key or under it'}` } };
    }
    for (const o of listed.value) {
      const name = `s3://${t.bucket}/${o.key}`;
      // Overlapping targets (s3://b/m and s3://b/m/x) would scan an object twice.
      if (names.has(name)) continue;
      names.add(name);
      const into = select && !select.selects(selectedPath(t, o.key)) ? excluded : jobs;
      if (o.size < 0) {
        // HEAD was refused: the object exists and cannot be read, which is a finding.
        into.push({ name, display: name, size: null, open: () => Promise.reject(s3SourceError('auth', `${name}: access denied (HeadObject answered 403)`, { status: 403 })) });
        continue;
      }
      into.push({
        name,
        display: name,
        size: o.size,
        open: () =>
          Promise.resolve(
            new S3RangeSource({
              ...pickRanged(tuning),
              client: session.client,
              bucket: t.bucket,
              key: o.key,
              size: o.size,
              etag: o.etag,
              name,
              ...(tuning.timeoutMs !== undefined ? { timeoutMs: tuning.timeoutMs } : {}),
            }),
          ),
      });
    }
  }
  return { ok: true, jobs, excluded, close: () => session.destroy() };
}

function pickRanged(t: RangedOptions): RangedOptions {
  const out: RangedOptions = {};
  if (t.minReadAhead !== undefined) out.minReadAhead = t.minReadAhead;
  if (t.maxReadAhead !== undefined) out.maxReadAhead = t.maxReadAhead;
  if (t.cacheBytes !== undefined) out.cacheBytes = t.cacheBytes;
  if (t.mergeGap !== undefined) out.mergeGap = t.mergeGap;
  if (t.retries !== undefined) out.retries = t.retries;
  return out;
}
