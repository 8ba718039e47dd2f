/**
 * `scan s3://…` against a real S3-compatible server (s3rver, as the blob store tests use): the
 * objects under a prefix get the findings a local scan of the same files gets, from a fraction
 * of their bytes; a single key, a key that is also a "directory", and prefixes that only share
 * leading characters are told apart; listing failures are one clear error; an object that
 * cannot be read, or that changed after it was listed, is a finding, never clean.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pathSelector } from '../../src/scan/select.js';
import { renderRemoteSummary, scanRemote, type RemoteScanOptions } from '../../src/remote/scan.js';
import { S3Session } from '../../src/remote/s3.js';
import { parseS3Target, parseTarget, type S3Target } from '../../src/remote/target.js';
import { scanPath } from '../../src/scan/scan.js';
import type { FileReport, ScanReport } from '../../src/scan/report.js';
import { S3_CREDENTIALS, startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { bigEvilTorchZip, FIXTURES } from './helpers.js';

/** Relative path → fixture file or bytes; uploaded under `tree/` and written to a local directory alike. */
const TREE: Record<string, string | Uint8Array> = {
  'evil/payload.pkl': 'malicious/builtins_exec.pkl',
  'evil-bert/pytorch_model.bin': 'repos/acme/evil-bert/pytorch_model.bin',
  'evil-bert/config.json': 'repos/acme/evil-bert/config.json',
  'clean/model.safetensors': 'benign/model.safetensors',
  'clean/pytorch_model.bin': 'benign/torch_state_dict.pt',
  'clean-extra/payload.pkl': 'malicious/builtins_exec.pkl',
  'sharded/model-00001-of-00002.safetensors': 'benign/model.safetensors',
  'sharded/model-00002-of-00002.safetensors': 'benign/safetensors_metadata_config.safetensors',
  'sharded/model.safetensors.index.json': new TextEncoder().encode(
    JSON.stringify({ metadata: {}, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }),
  ),
};

let s3: S3TestServer;
let sdk: S3Client;
let local: string;
let bigSize: number;

const bytesOf = (v: string | Uint8Array): Uint8Array => (typeof v === 'string' ? readFileSync(join(FIXTURES, v)) : v);

async function put(key: string, body: Uint8Array): Promise<void> {
  await sdk.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
}

beforeAll(async () => {
  s3 = await startS3Server();
  sdk = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3_CREDENTIALS });
  local = mkdtempSync(join(tmpdir(), 'mg-s3-local-'));
  for (const [rel, src] of Object.entries(TREE)) {
    const p = join(local, rel);
    mkdirSync(dirname(p), { recursive: true });
    if (typeof src === 'string') copyFileSync(join(FIXTURES, src), p);
    else writeFileSync(p, src);
    await put(`tree/${rel}`, bytesOf(src));
  }
  // A folder marker, as the S3 console makes: not a file.
  await put('tree/sharded/', new Uint8Array(0));
  const big = bigEvilTorchZip();
  bigSize = big.length;
  await put('big/pytorch_model.bin', big);
  // An object whose key is also a "directory".
  await put('both', bytesOf('malicious/builtins_exec.pkl'));
  await put('both/inner.safetensors', bytesOf('benign/model.safetensors'));
});

afterAll(async () => {
  sdk?.destroy();
  await s3?.stop();
  s3?.remove();
  if (local) rmSync(local, { recursive: true, force: true });
});

beforeEach(() => {
  s3.refuse = null;
  s3.rewriteHeaders = null;
  s3.requests.length = 0;
});

async function scanS3(specs: string[], extra: RemoteScanOptions = {}): Promise<ScanReport> {
  const r = await scanRemote(specs, { s3: { endpoint: s3.endpoint, credentials: S3_CREDENTIALS }, env: {}, ...extra });
  if (!r.ok) throw new Error(`${r.error.kind}: ${r.error.message}`);
  return r.report;
}

async function failure(specs: string[], s3opts: NonNullable<RemoteScanOptions['s3']>): Promise<{ target: string; kind: string; message: string }> {
  const r = await scanRemote(specs, { s3: s3opts, env: {} });
  if (r.ok) throw new Error('expected the scan to fail');
  return r.error;
}

/** What a verdict depends on, with the path made relative to the scanned root. */
function essence(f: FileReport, root: string): unknown {
  const rel = (p: string): string => (p.startsWith(root) ? p.slice(root.length) : p);
  return {
    path: rel(f.path),
    formats: f.formats,
    complete: f.complete,
    maxSeverity: f.maxSeverity,
    findings: f.findings.map((x) => ({ rule: x.rule, severity: x.severity, canonical: x.evidence.canonical ?? null, location: x.location.path.map(rel) })),
  };
}

describe('s3:// targets', () => {
  it('parses bucket and key, and refuses what cannot be one', () => {
    expect(parseS3Target('s3://models/tree/evil/payload.pkl')).toEqual({ ok: true, value: { kind: 's3', bucket: 'models', key: 'tree/evil/payload.pkl', spec: 's3://models/tree/evil/payload.pkl' } });
    expect(parseTarget('s3://models')).toMatchObject({ ok: true, value: { kind: 's3', bucket: 'models', key: '' } });
    expect(parseTarget('s3://models/a%20b/')).toMatchObject({ ok: true, value: { key: 'a%20b/' } });
    expect(parseS3Target('s3:///key')).toEqual({ ok: false, message: 'no bucket in s3:///key (expected s3://bucket[/prefix])' });
    expect(parseS3Target('s3://AKIA:secret@models/x')).toMatchObject({ ok: false, message: expect.stringMatching(/^s3:\/\/AKIA:secret@models\/x: credentials or a port in the bucket name are not accepted/) });
    expect(parseS3Target('s3://b!d/x')).toEqual({ ok: false, message: 'invalid bucket name in s3://b!d/x' });
  });
});

/** A client whose ListObjectsV2 answers come from `pages` by continuation token ('' = first page). */
function pagedClient(pages: Record<string, { keys: string[]; next?: string; truncated?: boolean }>, seen: string[]): S3Client {
  const send = async (cmd: unknown): Promise<unknown> => {
    if (!(cmd instanceof ListObjectsV2Command)) throw new Error('unexpected command');
    const token = cmd.input.ContinuationToken ?? '';
    seen.push(token);
    const p = pages[token]!;
    return { Contents: p.keys.map((Key) => ({ Key, Size: Key.endsWith('/') ? 0 : 10, ETag: '"e"' })), IsTruncated: p.truncated ?? p.next !== undefined, NextContinuationToken: p.next };
  };
  return { send, destroy: () => undefined } as unknown as S3Client;
}

function s3target(spec: string): S3Target {
  const t = parseS3Target(spec);
  if (!t.ok) throw new Error(t.message);
  return t.value;
}

describe('S3 listing', () => {
  // s3rver cannot page on this Node (its continuation tokens use DES, which OpenSSL 3 dropped): pages come from a stub client.
  it('follows continuation tokens to the end, leaving out folder markers', async () => {
    const seen: string[] = [];
    const session = S3Session.forClient(pagedClient({ '': { keys: ['m/a', 'm/'], next: 't1' }, t1: { keys: ['m/c'], next: 't2' }, t2: { keys: ['m/b'] } }, seen));
    const r = await session.list(s3target('s3://bkt/m/'));
    expect(r).toMatchObject({ ok: true, value: [{ key: 'm/a' }, { key: 'm/b' }, { key: 'm/c' }] });
    expect(seen).toEqual(['', 't1', 't2']);
  });

  it('a token seen before, a truncated page without a token, or too many objects end the listing with an error', async () => {
    const t = s3target('s3://bkt/m/');
    expect(await S3Session.forClient(pagedClient({ '': { keys: ['m/a'], next: 't1' }, t1: { keys: ['m/b'], next: 't1' } }, [])).list(t)).toEqual({
      ok: false,
      error: { kind: 'protocol', message: 'listing s3://bkt/m/: the server repeated a continuation token' },
    });
    expect(await S3Session.forClient(pagedClient({ '': { keys: ['m/a'], truncated: true } }, [])).list(t)).toEqual({
      ok: false,
      error: { kind: 'protocol', message: 'listing s3://bkt/m/: the server said the list goes on but gave no continuation token' },
    });
    expect(await S3Session.forClient(pagedClient({ '': { keys: ['m/a', 'm/b', 'm/c'] } }, [])).list(t, 2)).toEqual({
      ok: false,
      error: { kind: 'limit', message: 'listing s3://bkt/m/: more than 2 objects' },
    });
  });
});

describe('scan s3://', () => {
  it('gives every object under a prefix the verdict a local scan of the same files gives', async () => {
    const remote = await scanS3([`s3://${s3.bucket}/tree/`]);
    const here = await scanPath([local]);
    expect(remote.files.map((f) => f.path)).toEqual(Object.keys(TREE).sort().map((k) => `s3://${s3.bucket}/tree/${k}`));
    const want = here.files.map((f) => essence(f, `${local}/`)).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    const got = remote.files.map((f) => essence(f, `s3://${s3.bucket}/tree/`)).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    expect(got).toEqual(want);
    // And what that verdict is, exactly.
    const evil = remote.files.find((f) => f.path.endsWith('/evil/payload.pkl'))!;
    expect(evil.findings.map((x) => [x.rule, x.severity, x.evidence.canonical])).toEqual([['PICKLE_DANGEROUS_GLOBAL', 'critical', 'builtins.exec']]);
    const bert = remote.files.find((f) => f.path.endsWith('/evil-bert/pytorch_model.bin'))!;
    expect(bert.findings.map((x) => [x.rule, x.evidence.canonical, x.location.path])).toEqual([
      ['PICKLE_DANGEROUS_GLOBAL', 'os.system', [`s3://${s3.bucket}/tree/evil-bert/pytorch_model.bin`, 'pytorch_model/data.pkl']],
    ]);
    for (const clean of ['clean/model.safetensors', 'clean/pytorch_model.bin', 'sharded/model-00001-of-00002.safetensors']) {
      expect(remote.files.find((f) => f.path.endsWith(`/tree/${clean}`))!.findings).toEqual([]);
    }
    const f = remote.files.find((x) => x.path.endsWith('/clean/model.safetensors'))!;
    expect(f.remote).toEqual({ url: `s3://${s3.bucket}/tree/clean/model.safetensors`, bytesFetched: f.size, requests: 1 });
    expect(remote.summary.maxSeverity).toBe('critical');
    expect(relative(local, local)).toBe('');
  });

  it('a key without a trailing slash is that object and what is under key/, not keys that merely start the same', async () => {
    const clean = await scanS3([`s3://${s3.bucket}/tree/clean`]);
    expect(clean.files.map((f) => f.path)).toEqual([`s3://${s3.bucket}/tree/clean/model.safetensors`, `s3://${s3.bucket}/tree/clean/pytorch_model.bin`]);
    const one = await scanS3([`s3://${s3.bucket}/tree/evil/payload.pkl`]);
    expect(one.files.map((f) => [f.path, f.findings.map((x) => x.rule)])).toEqual([[`s3://${s3.bucket}/tree/evil/payload.pkl`, ['PICKLE_DANGEROUS_GLOBAL']]]);
    const both = await scanS3([`s3://${s3.bucket}/both`]);
    expect(both.files.map((f) => f.path)).toEqual([`s3://${s3.bucket}/both`, `s3://${s3.bucket}/both/inner.safetensors`]);
    // Overlapping targets scan each object once.
    const twice = await scanS3([`s3://${s3.bucket}/tree/evil`, `s3://${s3.bucket}/tree/evil/payload.pkl`]);
    expect(twice.files).toHaveLength(1);
  });

  it('--include / --exclude see an object by its key below the prefix, or by its whole key when named by it', async () => {
    const picked = await scanS3([`s3://${s3.bucket}/tree/`], { select: pathSelector(['evil*/**'], ['**/*.json']) });
    expect(picked.files.map((f) => f.path)).toEqual([`s3://${s3.bucket}/tree/evil-bert/pytorch_model.bin`, `s3://${s3.bucket}/tree/evil/payload.pkl`]);
    expect(picked.summary.excluded).toBe(Object.keys(TREE).length - 2);
    // A prefix without its slash: keys are seen below `tree/clean/`, so `*.bin` matches at that level.
    const clean = await scanS3([`s3://${s3.bucket}/tree/clean`], { select: pathSelector([], ['*.bin']) });
    expect(clean.files.map((f) => f.path)).toEqual([`s3://${s3.bucket}/tree/clean/model.safetensors`]);
    expect(clean.summary.excluded).toBe(1);
    // An object named by its key is matched by that key, as a local file named on the command line.
    const one = await scanS3([`s3://${s3.bucket}/tree/evil/payload.pkl`], { select: pathSelector([], ['tree/evil/*.pkl']) });
    expect(one.files).toEqual([]);
    expect(one.summary.excluded).toBe(1);
  });

  it('an MLmodel under a prefix is read with the objects around it: environment pins, code files, as on disk', async () => {
    const upload = async (fixture: string, prefix: string): Promise<void> => {
      const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
      for (const f of walk(join(FIXTURES, fixture))) await put(`${prefix}/${relative(join(FIXTURES, fixture), f)}`, readFileSync(f));
    };
    await upload('malicious/mlflow_vulnerable_env', 'mlruns/1/abc/artifacts/model');
    await upload('malicious/mlflow_code_loader', 'mlruns/1/def/artifacts/model');
    const remote = await scanS3([`s3://${s3.bucket}/mlruns/`]);
    for (const [run, fixture] of [['abc', 'malicious/mlflow_vulnerable_env'], ['def', 'malicious/mlflow_code_loader']] as const) {
      const got = remote.files.find((f) => f.path === `s3://${s3.bucket}/mlruns/1/${run}/artifacts/model/MLmodel`)!;
      const local = (await scanPath([join(FIXTURES, fixture, 'MLmodel')])).files[0]!;
      const pick = (f: FileReport) => ({
        findings: f.findings.map((x) => [x.rule, x.severity, x.message]),
        facts: Object.fromEntries(Object.entries(f.facts).filter(([k]) => k.startsWith('mlflow.')).sort()),
        maxSeverity: f.maxSeverity,
      });
      expect(pick(got)).toEqual(pick(local));
    }
    const env = remote.files.find((f) => f.path.endsWith('/abc/artifacts/model/MLmodel'))!;
    expect(env.findings.filter((x) => x.rule === 'MLFLOW_ENV_VULNERABLE' && x.severity === 'medium').map((x) => x.evidence.details!['id'])).toEqual(['CVE-2025-32434', 'CVE-2026-24747']);
    // The environment files were read for it, and that is counted in its cost.
    const own = readFileSync(join(FIXTURES, 'malicious/mlflow_vulnerable_env/MLmodel')).length;
    const envBytes = ['conda.yaml', 'python_env.yaml', 'requirements.txt'].reduce((n, f) => n + readFileSync(join(FIXTURES, 'malicious/mlflow_vulnerable_env', f)).length, 0);
    expect(env.remote!.bytesFetched).toBe(own + envBytes);
    expect(env.remote!.requests).toBe(4);
    // Excluded from the scan, still part of the model: the pins are read all the same.
    const only = await scanS3([`s3://${s3.bucket}/mlruns/1/abc/`], { select: pathSelector(['**/MLmodel'], []) });
    expect(only.files.map((f) => f.path)).toEqual([`s3://${s3.bucket}/mlruns/1/abc/artifacts/model/MLmodel`]);
    expect(only.files[0]!.facts['mlflow.environment']).toEqual(['cloudpickle==3.0.0', 'mlflow==2.14.1', 'numpy==1.26.4', 'torch==2.5.1']);
  });

  it('reads a 32 MiB PyTorch checkpoint by ranges: the exact finding from under 1 % of its bytes', async () => {
    const report = await scanS3([`s3://${s3.bucket}/big/pytorch_model.bin`]);
    const f = report.files[0]!;
    expect(f.findings.map((x) => [x.rule, x.evidence.canonical, x.location.path])).toEqual([
      ['PICKLE_DANGEROUS_GLOBAL', 'os.system', [`s3://${s3.bucket}/big/pytorch_model.bin`, 'big/data.pkl']],
    ]);
    expect(f.size).toBe(bigSize);
    expect(f.complete).toBe(true);
    expect(f.remote!.bytesFetched).toBeLessThan(bigSize * 0.01);
    expect(f.remote!.bytesFetched).toBeGreaterThan(0);
    // Every GetObject carried a Range header's worth of bytes: the server saw exactly that many GETs.
    const gets = s3.requests.filter((r) => r.startsWith(`GET /${s3.bucket}/big/pytorch_model.bin`));
    expect(gets).toHaveLength(f.remote!.requests);
    expect(renderRemoteSummary(report)).toMatch(/^remote: fetched [\d.]+ KiB of 32\.\d MiB \(0\.\d+%\) in \d+ requests over 1 file\n$/);
  });

  it('a missing bucket, an unknown access key and an empty prefix are one-line errors', async () => {
    expect(await failure(['s3://nope/x'], { endpoint: s3.endpoint, credentials: S3_CREDENTIALS })).toEqual({
      target: 's3://nope/x',
      kind: 'not-found',
      message: `bucket nope does not exist at ${s3.endpoint} (NoSuchBucket, HTTP 404)`,
    });
    expect(await failure([`s3://${s3.bucket}/tree/`], { endpoint: s3.endpoint, credentials: { accessKeyId: 'NOT-A-KEY', secretAccessKey: 'x' } })).toEqual({
      target: `s3://${s3.bucket}/tree/`,
      kind: 'auth',
      message: `the access key id is not known at ${s3.endpoint} (InvalidAccessKeyId, HTTP 403); check AWS_ACCESS_KEY_ID or the profile's credentials`,
    });
    expect(await failure([`s3://${s3.bucket}/no/such/prefix/`], { endpoint: s3.endpoint, credentials: S3_CREDENTIALS })).toEqual({
      target: `s3://${s3.bucket}/no/such/prefix/`,
      kind: 'not-found',
      message: 'no object under this prefix',
    });
    s3.refuse = (method, url) => (method === 'GET' && url.includes('list-type=2') ? { status: 403, code: 'AccessDenied' } : null);
    expect(await failure([`s3://${s3.bucket}/tree/`], { endpoint: s3.endpoint, credentials: S3_CREDENTIALS })).toEqual({
      target: `s3://${s3.bucket}/tree/`,
      kind: 'auth',
      message: `access denied listing s3://${s3.bucket}/tree/ at ${s3.endpoint} (AccessDenied, HTTP 403); the credentials need s3:ListBucket on bucket ${s3.bucket}`,
    });
  });

  it('an object the credentials may list but not read is a finding, and the others are still scanned', async () => {
    s3.refuse = (method, url) => (method === 'GET' && url.startsWith(`/${s3.bucket}/tree/clean/model.safetensors`) ? { status: 403, code: 'AccessDenied' } : null);
    const report = await scanS3([`s3://${s3.bucket}/tree/clean/`]);
    const denied = report.files.find((f) => f.path.endsWith('model.safetensors'))!;
    expect(denied.complete).toBe(false);
    expect(denied.findings.map((x) => [x.rule, x.severity, x.message])).toEqual([
      ['SCAN_UNREADABLE', 'medium', `s3://${s3.bucket}/tree/clean/model.safetensors: access denied (AccessDenied, HTTP 403)`],
      ['SCAN_INCOMPLETE', 'medium', `not completely scanned: s3://${s3.bucket}/tree/clean/model.safetensors: access denied (AccessDenied, HTTP 403)`],
    ]);
    expect(denied.findings[0]!.evidence.details).toMatchObject({ fault: 'auth', status: 403 });
    expect(report.files.find((f) => f.path.endsWith('pytorch_model.bin'))!.complete).toBe(true);
    expect(report.summary.maxSeverity).toBe('medium');
  });

  it('an object named by its key that HEAD refuses is a finding, not skipped', async () => {
    s3.refuse = (method, url) => (method === 'HEAD' && url.startsWith(`/${s3.bucket}/tree/evil/payload.pkl`) ? { status: 403, code: 'AccessDenied' } : null);
    const report = await scanS3([`s3://${s3.bucket}/tree/evil/payload.pkl`]);
    expect(report.files.map((f) => [f.path, f.complete, f.findings.map((x) => [x.rule, x.message])])).toEqual([
      [`s3://${s3.bucket}/tree/evil/payload.pkl`, false, [['SCAN_UNREADABLE', `cannot read: s3://${s3.bucket}/tree/evil/payload.pkl: access denied (HeadObject answered 403)`]]],
    ]);
  });

  it('an object replaced after it was listed is not scanned from two versions', async () => {
    s3.rewriteHeaders = (method, url, headers) => {
      if (method === 'GET' && url.startsWith(`/${s3.bucket}/big/pytorch_model.bin`)) headers['etag'] = '"0123456789abcdef0123456789abcdef"';
    };
    const report = await scanS3([`s3://${s3.bucket}/big/pytorch_model.bin`]);
    const f = report.files[0]!;
    expect(f.complete).toBe(false);
    const unreadable = f.findings.filter((x) => x.rule === 'SCAN_UNREADABLE');
    expect(unreadable.length).toBeGreaterThan(0);
    expect(unreadable[0]!.message).toMatch(
      new RegExp(`^s3://${s3.bucket}/big/pytorch_model\\.bin: the object changed after it was listed \\(ETag "0123456789abcdef0123456789abcdef", listed "[0-9a-f]{32}"\\); not scanned from two versions$`),
    );
    expect(unreadable[0]!.evidence.details).toMatchObject({ fault: 'changed' });
    expect(f.findings.some((x) => x.rule === 'PICKLE_DANGEROUS_GLOBAL')).toBe(false);
  });
});
