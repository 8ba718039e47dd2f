/**
 * What `modelgate scan` accepts besides local paths:
 *   hf://org/repo[@rev][/path]        a model repository, or the files under `path` in it
 *   hf://datasets/org/repo[@rev]...   a dataset (also `spaces/`, and `models/` explicitly)
 *   hf://gpt2[@rev]                   a one-segment (legacy) repo id; it cannot take a path
 *   https://host/file, http://…       one file
 *   s3://bucket[/prefix-or-key]       every object under a prefix, or one object (src/remote/s3.ts)
 * The revision may be percent-encoded (`refs%2Fpr%2F1`) as in huggingface_hub's hf:// paths.
 * Also how the Hub's URLs are spelled, from the endpoint (`--endpoint`, HF_ENDPOINT) down.
 */

export type RepoKind = 'model' | 'dataset' | 'space';

export interface HubTarget {
  kind: 'hub';
  repoKind: RepoKind;
  repo: string;
  revision: string;
  /** Repo-relative file or directory to restrict the scan to; '' for the whole repo. */
  path: string;
  /** As the user wrote it (for messages). */
  spec: string;
}

export interface UrlTarget {
  kind: 'url';
  url: URL;
  spec: string;
}

/**
 * `s3://bucket/key`: the object `key` if it exists, and every object under `key/` (a
 * "directory"); `s3://bucket/prefix/` and `s3://bucket` list a prefix only. `key` is the raw
 * object key (not percent-decoded: S3 keys may contain `%`).
 */
export interface S3Target {
  kind: 's3';
  bucket: string;
  key: string;
  spec: string;
}

export type RemoteTarget = HubTarget | UrlTarget | S3Target;

export type TargetResult = { ok: true; value: RemoteTarget } | { ok: false; message: string };

export function isRemoteSpec(s: string): boolean {
  return /^(hf|https?|s3):\/\//i.test(s);
}

export function isS3Spec(s: string): boolean {
  return /^s3:\/\//i.test(s);
}

// S3's own rule for new buckets, plus the upper case and '_' of legacy us-east-1 buckets.
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/;

export function parseS3Target(spec: string): { ok: true; value: S3Target } | { ok: false; message: string } {
  if (!isS3Spec(spec)) return { ok: false, message: `not an s3:// target: ${spec}` };
  const rest = spec.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const key = slash < 0 ? '' : rest.slice(slash + 1);
  if (bucket === '') return { ok: false, message: `no bucket in ${spec} (expected s3://bucket[/prefix])` };
  if (bucket.includes('@') || bucket.includes(':')) return { ok: false, message: `${spec}: credentials or a port in the bucket name are not accepted; give the server with --endpoint and credentials the AWS way (AWS_ACCESS_KEY_ID, AWS_PROFILE, …)` };
  if (!BUCKET.test(bucket)) return { ok: false, message: `invalid bucket name in ${spec}` };
  if (/[\u0000-\u001f\u007f]/.test(key)) return { ok: false, message: `invalid key in ${spec}` };
  if (Buffer.byteLength(key) > 1024) return { ok: false, message: `${spec}: an S3 key has at most 1024 bytes` };
  return { ok: true, value: { kind: 's3', bucket, key, spec } };
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function parseTarget(spec: string): TargetResult {
  if (/^https?:\/\//i.test(spec)) {
    let url: URL;
    try {
      url = new URL(spec);
    } catch {
      return { ok: false, message: `not a valid URL: ${spec}` };
    }
    if (url.username || url.password) return { ok: false, message: 'credentials in the URL are not accepted; use --token (sent only to the endpoint host)' };
    return { ok: true, value: { kind: 'url', url, spec } };
  }
  if (isS3Spec(spec)) return parseS3Target(spec);
  if (!/^hf:\/\//i.test(spec)) return { ok: false, message: `not a remote target: ${spec}` };
  let rest = spec.slice('hf://'.length).replace(/\/+$/, '');
  let repoKind: RepoKind = 'model';
  for (const [prefix, kind] of [
    ['datasets/', 'dataset'],
    ['spaces/', 'space'],
    ['models/', 'model'],
  ] as const) {
    if (rest.startsWith(prefix)) {
      repoKind = kind;
      rest = rest.slice(prefix.length);
      break;
    }
  }
  const parts = rest.split('/');
  if (parts.length === 0 || parts[0] === '') return { ok: false, message: `no repository in ${spec} (expected hf://org/repo[@rev])` };
  // The revision follows the repo name: `org/repo@rev/path`, `gpt2@rev`.
  let repoParts: string[];
  let revision = 'main';
  let pathParts: string[];
  const firstAt = parts[0]!.indexOf('@');
  if (firstAt >= 0 || parts.length === 1) {
    repoParts = [parts[0]!];
    pathParts = parts.slice(1);
  } else {
    repoParts = [parts[0]!, parts[1]!];
    pathParts = parts.slice(2);
  }
  const lastIdx = repoParts.length - 1;
  const last = repoParts[lastIdx]!;
  const at = last.indexOf('@');
  if (at >= 0) {
    repoParts[lastIdx] = last.slice(0, at);
    try {
      revision = decodeURIComponent(last.slice(at + 1));
    } catch {
      return { ok: false, message: `invalid revision encoding in ${spec}` };
    }
    if (revision === '') return { ok: false, message: `empty revision in ${spec}` };
  }
  if (repoParts.length === 1 && pathParts.length > 0) {
    return { ok: false, message: `${spec}: a one-segment repo id cannot take a path; write hf://org/repo/path` };
  }
  for (const p of repoParts) if (!SEGMENT.test(p) || p.length > 96) return { ok: false, message: `invalid repository id in ${spec}` };
  const path = pathParts.join('/');
  if (pathParts.some((p) => p === '..' || p === '.' || p === '')) return { ok: false, message: `invalid path in ${spec}` };
  if (/[\u0000-\u001f]/.test(revision)) return { ok: false, message: `invalid revision in ${spec}` };
  return { ok: true, value: { kind: 'hub', repoKind, repo: repoParts.join('/'), revision, path, spec } };
}

/** `/api/models/…`, `/api/datasets/…`, `/api/spaces/…`. */
export function apiPrefix(kind: RepoKind): string {
  return `/api/${kind}s/`;
}

/** `/` for models, `/datasets/` and `/spaces/` otherwise (the resolve route's prefix). */
export function resolvePrefix(kind: RepoKind): string {
  return kind === 'model' ? '/' : `/${kind}s/`;
}

export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** The API root as given by the user, ending in '/' so that relative API paths keep its own path prefix. */
export function parseEndpoint(raw: string): { ok: true; value: URL } | { ok: false; message: string } {
  let url: URL;
  try {
    url = new URL(raw.replace(/\/+$/, '') + '/');
  } catch {
    return { ok: false, message: `invalid hub endpoint (not a URL): ${raw}` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, message: `invalid hub endpoint (not http or https): ${raw}` };
  return { ok: true, value: url };
}

/** 127.0.0.1 for localhost and back, with the port; null for any other host. */
export function loopbackAlias(host: string): string | null {
  const [name, port] = host.split(/:(?=\d+$)/);
  const alias = name === '127.0.0.1' ? 'localhost' : name === 'localhost' ? '127.0.0.1' : null;
  return alias === null ? null : port ? `${alias}:${port}` : alias;
}
