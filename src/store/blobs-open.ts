/**
 * One entry point from the `blobStore` setting to a BlobStore, like openStore() for records:
 * the gateway never picks an implementation itself.
 */
import { join, resolve } from 'node:path';
import { openFsBlobStore } from './blobs-fs.js';
import { StoreError } from './errors.js';
import type { BlobStore } from './types.js';

/**
 * Replicas that share a directory must not sweep each other's downloads in progress: temporary
 * files younger than this are left alone (above any sane single download).
 */
export const SHARED_SWEEP_MIN_AGE_MS = 6 * 3600_000;

export type BlobStoreLocation =
  /** `<dataDir>/cache`: private to this process unless replicas share the data directory. */
  | { kind: 'default' }
  /** A directory given explicitly, typically shared by replicas (NFS and the like). */
  | { kind: 'fs'; path: string }
  | { kind: 's3'; bucket: string; prefix: string; endpoint: string | undefined; region: string; forcePathStyle: boolean; checksum: boolean };

const S3_PARAMS = new Set(['endpoint', 'region', 'pathStyle', 'checksum']);
const HELP = 'use a directory path, file:PATH or s3://bucket[/prefix][?endpoint=URL&region=R&pathStyle=1]';

function flag(name: string, v: string): boolean {
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new StoreError('invalid', `blob store URL: ${name} must be 1 or 0 (true or false)`);
}

function parseEndpoint(v: string, source: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new StoreError('invalid', `blob store: ${source} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new StoreError('invalid', `blob store: ${source} must be an http:// or https:// URL`);
  // Never echoed: whatever sits there may be a secret.
  if (u.username !== '' || u.password !== '') {
    throw new StoreError('invalid', `blob store: ${source} must not carry credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`);
  }
  return v;
}

function parseS3(s: string, env: NodeJS.ProcessEnv): BlobStoreLocation {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new StoreError('invalid', `blob store URL is not a valid s3:// URL; ${HELP}`);
  }
  if (u.username !== '' || u.password !== '') {
    throw new StoreError('invalid', 'blob store URL must not carry credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or another source the AWS SDK reads)');
  }
  const bucket = u.hostname;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(bucket)) throw new StoreError('invalid', `blob store URL names no valid bucket; ${HELP}`);
  if (u.port !== '') throw new StoreError('invalid', 'blob store URL: put the server in ?endpoint=http://host:port, not in the bucket name');
  for (const name of u.searchParams.keys()) {
    if (!S3_PARAMS.has(name)) throw new StoreError('invalid', `blob store URL: unknown parameter "${name.slice(0, 40)}" (known: ${[...S3_PARAMS].join(', ')})`);
  }
  let prefix: string;
  try {
    prefix = decodeURIComponent(u.pathname).replace(/^\/+/, '');
  } catch {
    throw new StoreError('invalid', 'blob store URL: the key prefix is not valid percent-encoding');
  }
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  const p = u.searchParams;
  const endpointParam = p.get('endpoint');
  const envEndpoint = env['AWS_ENDPOINT_URL_S3'] ? 'AWS_ENDPOINT_URL_S3' : env['AWS_ENDPOINT_URL'] ? 'AWS_ENDPOINT_URL' : null;
  const endpoint =
    endpointParam !== null && endpointParam !== ''
      ? parseEndpoint(endpointParam, 'endpoint')
      : envEndpoint !== null
        ? parseEndpoint(env[envEndpoint]!, envEndpoint)
        : undefined;
  const region = p.get('region') || env['AWS_REGION'] || env['AWS_DEFAULT_REGION'] || 'us-east-1';
  const pathStyle = p.get('pathStyle');
  const checksum = p.get('checksum');
  return {
    kind: 's3',
    bucket,
    prefix,
    endpoint,
    region,
    // S3-compatible servers mostly serve buckets by path, not as virtual hosts.
    forcePathStyle: pathStyle !== null && pathStyle !== '' ? flag('pathStyle', pathStyle) : endpoint !== undefined,
    checksum: checksum !== null && checksum !== '' ? flag('checksum', checksum) : true,
  };
}

/**
 * '' or undefined → `<dataDir>/cache`; a path or `file:PATH` → that directory;
 * `s3://bucket/prefix?endpoint=…&region=…&pathStyle=1&checksum=0` → S3 with a local cache.
 * Settings missing from the URL come from AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL and
 * AWS_REGION / AWS_DEFAULT_REGION; credentials are left to the AWS SDK (AWS_ACCESS_KEY_ID, …).
 */
export function parseBlobStoreLocation(location: string | undefined, env: NodeJS.ProcessEnv = process.env): BlobStoreLocation {
  const s = (location ?? '').trim();
  if (s === '') return { kind: 'default' };
  if (/^s3:/i.test(s)) return parseS3(s, env);
  const file = /^file:(?:\/\/)?(.*)$/i.exec(s);
  if (file) {
    if ((file[1] ?? '') === '') throw new StoreError('invalid', 'blob store location "file:" names no directory');
    return { kind: 'fs', path: file[1]! };
  }
  // Two or more letters before ':' is a scheme; one letter is a Windows drive (C:\…).
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]+):/.exec(s);
  if (scheme) throw new StoreError('invalid', `unsupported blob store URL scheme "${scheme[1]!.slice(0, 20)}:"; ${HELP}`);
  return { kind: 'fs', path: s };
}

export interface OpenBlobStoreOptions {
  /** For the local cache (default and s3): see FsBlobStoreOptions.sweepMinAgeMs. */
  sweepMinAgeMs?: number;
  env?: NodeJS.ProcessEnv;
}

export async function openBlobStore(location: string | undefined, dataDir: string, opts: OpenBlobStoreOptions = {}): Promise<BlobStore> {
  const loc = parseBlobStoreLocation(location, opts.env);
  const cacheOpts = opts.sweepMinAgeMs !== undefined ? { sweepMinAgeMs: opts.sweepMinAgeMs } : {};
  switch (loc.kind) {
    case 'default':
      return openFsBlobStore(join(dataDir, 'cache'), cacheOpts);
    case 'fs':
      // A directory named explicitly is there to be shared: never sweep fresh temporary files.
      return openFsBlobStore(resolve(loc.path), { sweepMinAgeMs: Math.max(opts.sweepMinAgeMs ?? 0, SHARED_SWEEP_MIN_AGE_MS) });
    case 's3': {
      // Loaded on demand: the AWS SDK is large, and the CLI reads this module's parser at start.
      const { S3BlobStore } = await import('./blobs-s3.js');
      const cache = await openFsBlobStore(join(dataDir, 'cache'), cacheOpts);
      return new S3BlobStore({
        bucket: loc.bucket,
        prefix: loc.prefix,
        cache,
        region: loc.region,
        forcePathStyle: loc.forcePathStyle,
        checksum: loc.checksum,
        ...(loc.endpoint !== undefined ? { endpoint: loc.endpoint } : {}),
      });
    }
  }
}
