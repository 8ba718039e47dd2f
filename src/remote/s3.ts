/**
 * S3 (and S3-compatible servers) as a place models are read from: the client, set up the AWS
 * way, and the listing of what `s3://bucket/prefix` names. Loaded only when an s3:// target is
 * given (the AWS SDK is large).
 *
 * Credentials are the SDK's default chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN, AWS_PROFILE (or `profile`) with ~/.aws/credentials and ~/.aws/config
 * (SSO, credential_process, assumed roles), web identity, then the container or instance role.
 * Nothing here reads or prints a secret.
 * The endpoint is `endpoint` (the `--endpoint` flag), else AWS_ENDPOINT_URL_S3, else
 * AWS_ENDPOINT_URL, else AWS itself (the SDK also reads a profile's `endpoint_url`); with an
 * explicit endpoint buckets are addressed by path, as MinIO, Ceph and s3rver expect. The region
 * is `region`, else AWS_REGION, AWS_DEFAULT_REGION, the profile's `region`, else us-east-1; on
 * AWS a bucket in another region is followed there.
 */
import { HeadObjectCommand, ListObjectsV2Command, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { setTimeout as sleep } from 'node:timers/promises';
import { s3ErrorInfo } from '../source/s3.js';
import type { HubErrorKind } from './hub.js';
import type { S3Target } from './target.js';

export interface S3Access {
  /** S3-compatible server; default from the environment, else AWS. */
  endpoint?: string | undefined;
  region?: string | undefined;
  /** A profile of the shared config and credentials files (AWS_PROFILE otherwise). */
  profile?: string | undefined;
  timeoutMs?: number | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  /** Only for tests and embedding: skips the SDK's chain. */
  credentials?: S3ClientConfig['credentials'];
  /** Awaited before each listing request: the crawler's shared rate limit. */
  beforeRequest?: (() => Promise<void>) | undefined;
}

export interface S3Object {
  key: string;
  /** -1 when the object exists but its size could not be had (HEAD refused). */
  size: number;
  /** Quoted, as S3 gives it; null when the server gave none. */
  etag: string | null;
  lastModified: string | null;
  storageClass: string | null;
}

export interface S3Failure {
  kind: HubErrorKind | 'usage';
  message: string;
}

export type S3Result<T> = { ok: true; value: T } | { ok: false; error: S3Failure };

/** A listing is held in memory, as a Hub tree is. */
export const MAX_OBJECTS = 200_000;
const MAX_PAGES = 10_000;
const LIST_ATTEMPTS = 4;

function endpointFrom(access: S3Access): S3Result<{ url: string | undefined; source: string }> {
  const env = access.env ?? process.env;
  const pick: Array<[string | undefined, string]> = [
    [access.endpoint, '--endpoint'],
    [env['AWS_ENDPOINT_URL_S3'], 'AWS_ENDPOINT_URL_S3'],
    [env['AWS_ENDPOINT_URL'], 'AWS_ENDPOINT_URL'],
  ];
  for (const [raw, source] of pick) {
    if (raw === undefined || raw === '') continue;
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      return { ok: false, error: { kind: 'usage', message: `${source} is not a URL` } };
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return { ok: false, error: { kind: 'usage', message: `${source} must be an http:// or https:// URL` } };
    // Never echoed: whatever sits there may be a secret.
    if (u.username !== '' || u.password !== '') return { ok: false, error: { kind: 'usage', message: `${source} must not carry credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE` } };
    return { ok: true, value: { url: raw, source } };
  }
  return { ok: true, value: { url: undefined, source: 'AWS' } };
}

/** One S3 client for a whole scan: every object's range source shares its connections. */
export class S3Session {
  private constructor(
    readonly client: S3Client,
    /** For messages: the endpoint's origin, or "AWS". */
    readonly where: string,
    private readonly beforeRequest: (() => Promise<void>) | null = null,
  ) {}

  static async open(access: S3Access = {}): Promise<S3Result<S3Session>> {
    const env = access.env ?? process.env;
    const ep = endpointFrom(access);
    if (!ep.ok) return ep;
    const timeoutMs = access.timeoutMs ?? 30_000;
    const base: S3ClientConfig = {
      ...(ep.value.url !== undefined ? { endpoint: ep.value.url, forcePathStyle: true } : { followRegionRedirects: true }),
      ...(access.profile !== undefined ? { profile: access.profile } : {}),
      ...(access.credentials !== undefined ? { credentials: access.credentials } : {}),
      // Retries are the range source's and the listing's own (see src/source/s3.ts).
      maxAttempts: 1,
      requestHandler: { connectionTimeout: Math.min(timeoutMs, 10_000), requestTimeout: timeoutMs },
    };
    const region = access.region || env['AWS_REGION'] || env['AWS_DEFAULT_REGION'];
    let client = new S3Client({ ...base, ...(region ? { region } : {}) });
    if (!region) {
      // The SDK looks in the profile; with no region anywhere, S3's default one.
      try {
        await client.config.region();
      } catch {
        client.destroy();
        client = new S3Client({ ...base, region: 'us-east-1' });
      }
    }
    const where = ep.value.url !== undefined ? new URL(ep.value.url).origin : 'AWS';
    return { ok: true, value: new S3Session(client, where, access.beforeRequest ?? null) };
  }

  /** A session over a client made elsewhere (tests, embedding). */
  static forClient(client: S3Client, where = 'AWS'): S3Session {
    return new S3Session(client, where);
  }

  destroy(): void {
    this.client.destroy();
  }

  /**
   * What the target names: the object `key` itself if it exists, and every object under
   * `key/`; a key that is empty or ends in '/' is a prefix only. Folder markers (empty
   * objects whose key ends in '/') are left out. Sorted by key.
   */
  async list(t: S3Target, maxObjects = MAX_OBJECTS): Promise<S3Result<S3Object[]>> {
    const out: S3Object[] = [];
    const isPrefix = t.key === '' || t.key.endsWith('/');
    if (!isPrefix) {
      // Asked by HEAD rather than read off a listing: S3-compatible servers do not all list in byte order.
      const one = await this.head(t);
      if (!one.ok) return one;
      if (one.value !== null) out.push(one.value);
    }
    const prefix = isPrefix ? t.key : `${t.key}/`;
    const seen = new Set<string>();
    let token: string | undefined;
    for (let pages = 0; ; pages++) {
      if (pages >= MAX_PAGES) return fail('protocol', `listing ${t.spec}: more than ${MAX_PAGES} pages`);
      const r = await this.page(t, prefix, token);
      if (!r.ok) return r;
      for (const o of r.value.objects) {
        if (o.key.endsWith('/') && o.size === 0) continue;
        out.push(o);
        if (out.length > maxObjects) return fail('limit', `listing ${t.spec}: more than ${maxObjects} objects`);
      }
      token = r.value.next;
      if (token === undefined) break;
      if (seen.has(token)) return fail('protocol', `listing ${t.spec}: the server repeated a continuation token`);
      seen.add(token);
    }
    return { ok: true, value: out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)) };
  }

  /**
   * The immediate "subdirectories" (common prefixes, ending in '/') and the objects directly
   * under a prefix: what the crawler takes as its list of models.
   */
  async children(t: S3Target): Promise<S3Result<{ prefixes: string[]; objects: S3Object[] }>> {
    const prefix = t.key === '' || t.key.endsWith('/') ? t.key : `${t.key}/`;
    const prefixes: string[] = [];
    const objects: S3Object[] = [];
    const seen = new Set<string>();
    let token: string | undefined;
    for (let pages = 0; ; pages++) {
      if (pages >= MAX_PAGES) return fail('protocol', `listing ${t.spec}: more than ${MAX_PAGES} pages`);
      const r = await this.page(t, prefix, token, '/');
      if (!r.ok) return r;
      prefixes.push(...r.value.prefixes);
      for (const o of r.value.objects) if (!(o.key.endsWith('/') && o.size === 0)) objects.push(o);
      if (prefixes.length + objects.length > MAX_OBJECTS) return fail('limit', `listing ${t.spec}: more than ${MAX_OBJECTS} entries`);
      token = r.value.next;
      if (token === undefined) break;
      if (seen.has(token)) return fail('protocol', `listing ${t.spec}: the server repeated a continuation token`);
      seen.add(token);
    }
    return { ok: true, value: { prefixes: prefixes.sort(), objects } };
  }

  /**
   * The object `t.key` itself, or null when there is none. With s3:ListBucket S3 answers a
   * missing key with 404; a 403 therefore means an object that exists and may not be read: it
   * is listed (size unknown) so that its scan fails closed, as a finding.
   */
  private async head(t: S3Target): Promise<S3Result<S3Object | null>> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.beforeRequest?.();
        const h = await this.client.send(new HeadObjectCommand({ Bucket: t.bucket, Key: t.key }));
        const size = h.ContentLength;
        if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return fail('protocol', `${t.spec}: the server gave no size for the object`);
        return { ok: true, value: { key: t.key, size, etag: h.ETag ?? null, lastModified: h.LastModified?.toISOString() ?? null, storageClass: h.StorageClass ?? null } };
      } catch (e) {
        const info = s3ErrorInfo(e);
        if (info.status === 404 && info.name !== 'NoSuchBucket') return { ok: true, value: null };
        if (info.status === 403 || info.status === 401) return { ok: true, value: { key: t.key, size: -1, etag: null, lastModified: null, storageClass: null } };
        const f = listingFailure(e, t, this.where);
        if (!f.retry || attempt >= LIST_ATTEMPTS) return { ok: false, error: f.error };
        await sleep(250 * 2 ** (attempt - 1));
      }
    }
  }

  /** One ListObjectsV2 page, retried on 5xx, throttling and connection errors. */
  private async page(t: S3Target, prefix: string, token: string | undefined, delimiter?: string): Promise<S3Result<{ objects: S3Object[]; prefixes: string[]; next: string | undefined }>> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.beforeRequest?.();
        const res = await this.client.send(
          new ListObjectsV2Command({
            Bucket: t.bucket,
            Prefix: prefix,
            ...(token !== undefined ? { ContinuationToken: token } : {}),
            ...(delimiter !== undefined ? { Delimiter: delimiter } : {}),
          }),
        );
        const objects: S3Object[] = [];
        for (const c of res.Contents ?? []) {
          if (typeof c.Key !== 'string' || typeof c.Size !== 'number' || !Number.isSafeInteger(c.Size) || c.Size < 0) {
            return fail('protocol', `listing ${t.spec}: malformed entry ${JSON.stringify(c).slice(0, 200)}`);
          }
          objects.push({ key: c.Key, size: c.Size, etag: c.ETag ?? null, lastModified: c.LastModified?.toISOString() ?? null, storageClass: c.StorageClass ?? null });
        }
        const prefixes = (res.CommonPrefixes ?? []).map((p) => p.Prefix).filter((p): p is string => typeof p === 'string');
        const next = res.IsTruncated ? res.NextContinuationToken : undefined;
        if (res.IsTruncated && next === undefined) return fail('protocol', `listing ${t.spec}: the server said the list goes on but gave no continuation token`);
        return { ok: true, value: { objects, prefixes, next } };
      } catch (e) {
        const f = listingFailure(e, t, this.where);
        if (!f.retry || attempt >= LIST_ATTEMPTS) return { ok: false, error: f.error };
        await sleep(250 * 2 ** (attempt - 1));
      }
    }
  }
}

function fail(kind: HubErrorKind, message: string): { ok: false; error: S3Failure } {
  return { ok: false, error: { kind, message } };
}

/** A listing error as one line that says what to fix; whether another try may help. */
export function listingFailure(e: unknown, t: S3Target, where: string): { error: S3Failure; retry: boolean } {
  const info = s3ErrorInfo(e);
  const tag = `${info.name}${info.status !== null ? `, HTTP ${info.status}` : ''}`;
  const at = where === 'AWS' ? '' : ` at ${where}`;
  const one = (kind: HubErrorKind, message: string, retry = false) => ({ error: { kind, message }, retry });
  switch (info.name) {
    case 'NoSuchBucket':
      return one('not-found', `bucket ${t.bucket} does not exist${at} (${tag})`);
    case 'InvalidAccessKeyId':
      return one('auth', `the access key id is not known${at} (${tag}); check AWS_ACCESS_KEY_ID or the profile's credentials`);
    case 'SignatureDoesNotMatch':
      return one('auth', `the secret key does not match the access key id (${tag}); check AWS_SECRET_ACCESS_KEY or the profile's credentials`);
    case 'ExpiredToken':
    case 'TokenRefreshRequired':
      return one('auth', `the session credentials have expired (${tag}); renew them (AWS_SESSION_TOKEN, aws sso login, …)`);
    case 'InvalidToken':
      return one('auth', `the session token is not valid (${tag}); check AWS_SESSION_TOKEN`);
    case 'CredentialsProviderError':
      return one('auth', `no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (${info.message})`);
    case 'PermanentRedirect':
    case 'AuthorizationHeaderMalformed':
      return one('status', `bucket ${t.bucket} is in another region (${tag}); give it with --region or AWS_REGION`);
  }
  if (info.status === 403 || info.status === 401) return one('auth', `access denied listing ${t.spec}${at} (${tag}); the credentials need s3:ListBucket on bucket ${t.bucket}`);
  if (info.status === 404) return one('not-found', `bucket ${t.bucket} not found${at} (${tag})`);
  if (info.status !== null && (info.status >= 500 || info.status === 429 || info.status === 408)) return one('unavailable', `listing ${t.spec}${at}: ${tag} after ${LIST_ATTEMPTS} tries`, true);
  if (info.status !== null) return one('status', `listing ${t.spec}${at}: ${info.message || info.name} (${tag})`);
  if (info.name.startsWith('Credentials') || /credential/i.test(info.message)) return one('auth', `no usable AWS credentials: ${info.message}`);
  return one('network', `cannot reach ${where === 'AWS' ? 'S3' : where} (${info.name}: ${info.message})`, true);
}
