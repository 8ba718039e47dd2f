/**
 * `modelgate scan s3://…` as a user runs it: the compiled bin (run `npm run build` before
 * running this file alone) against s3rver, with credentials and endpoint given the AWS ways
 * (environment, a profile in the shared files, --endpoint) and each failure one line, exit 2.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3_CREDENTIALS, startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { FIXTURES } from './helpers.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'modelgate.js');
const run = promisify(execFile);

let s3: S3TestServer;
let home: string;

beforeAll(async () => {
  s3 = await startS3Server();
  const sdk = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3_CREDENTIALS });
  await sdk.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'm/evil/payload.pkl', Body: readFileSync(join(FIXTURES, 'malicious/builtins_exec.pkl')) }));
  await sdk.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'm/clean/model.safetensors', Body: readFileSync(join(FIXTURES, 'benign/model.safetensors')) }));
  sdk.destroy();
  // A home with no ~/.aws: only what each test gives is there.
  home = mkdtempSync(join(tmpdir(), 'mg-s3-home-'));
  writeFileSync(join(home, 'credentials'), `[scanner]\naws_access_key_id = ${S3_CREDENTIALS.accessKeyId}\naws_secret_access_key = ${S3_CREDENTIALS.secretAccessKey}\n`);
  writeFileSync(join(home, 'config'), '[profile scanner]\nregion = eu-west-3\n');
});

afterAll(async () => {
  await s3?.stop();
  s3?.remove();
  if (home) rmSync(home, { recursive: true, force: true });
});

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(AWS_|HF_)/.test(k)) base[k] = v;
  Object.assign(base, {
    NO_COLOR: '1',
    HOME: home,
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'),
    AWS_CONFIG_FILE: join(home, 'none'),
    // No instance or container role to ask on a test machine.
    AWS_EC2_METADATA_DISABLED: 'true',
  });
  try {
    const r = await run(process.execPath, [BIN, ...args], { env: { ...base, ...env }, maxBuffer: 1 << 26 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const KEYS = { AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey };

describe('modelgate scan s3://', () => {
  it('credentials from the environment, --endpoint: exits 1 with the finding and the bytes fetched', async () => {
    const r = await cli(['scan', '--no-progress', '--endpoint', s3.endpoint, 's3://models/m/'], KEYS);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('PICKLE_DANGEROUS_GLOBAL  calls builtins.exec');
    expect(r.stdout).toContain('s3://models/m/evil/payload.pkl');
    expect(r.stdout).toMatch(/^remote: fetched 269 B of 269 B \(100\.00%\) in 2 requests over 2 files; 1 read from start to end \(pickle or compressed stream\)$/m);
  });

  it('endpoint from AWS_ENDPOINT_URL_S3, credentials from a profile of the shared files (--profile, then AWS_PROFILE)', async () => {
    const files = { AWS_SHARED_CREDENTIALS_FILE: join(home, 'credentials'), AWS_CONFIG_FILE: join(home, 'config'), AWS_ENDPOINT_URL_S3: s3.endpoint };
    const a = await cli(['scan', '--no-progress', '--profile', 'scanner', 's3://models/m/clean'], files);
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    expect(a.stdout).toContain('s3://models/m/clean/model.safetensors');
    const b = await cli(['scan', '--no-progress', '--format', 'json', 's3://models/m/evil/payload.pkl'], { ...files, AWS_PROFILE: 'scanner' });
    expect(b.code).toBe(1);
    const report = JSON.parse(b.stdout) as { files: Array<{ path: string; remote: unknown; findings: Array<{ rule: string }> }> };
    expect(report.files.map((f) => [f.path, f.findings.map((x) => x.rule), f.remote])).toEqual([
      ['s3://models/m/evil/payload.pkl', ['PICKLE_DANGEROUS_GLOBAL'], { url: 's3://models/m/evil/payload.pkl', bytesFetched: 85, requests: 1, fallback: 'sequential' }],
    ]);
  });

  it('a missing bucket, an unknown key id, no credentials at all: one line on stderr, exit 2', async () => {
    const nope = await cli(['scan', '--no-progress', '--endpoint', s3.endpoint, 's3://nope/m/'], KEYS);
    expect(nope).toEqual({ code: 2, stdout: '', stderr: `modelgate: s3://nope/m/: bucket nope does not exist at ${s3.endpoint} (NoSuchBucket, HTTP 404)\n` });
    const bad = await cli(['scan', '--no-progress', '--endpoint', s3.endpoint, 's3://models/m/'], { AWS_ACCESS_KEY_ID: 'AKIANOTAKEY', AWS_SECRET_ACCESS_KEY: 'wrong' });
    expect(bad).toEqual({
      code: 2,
      stdout: '',
      stderr: `modelgate: s3://models/m/: the access key id is not known at ${s3.endpoint} (InvalidAccessKeyId, HTTP 403); check AWS_ACCESS_KEY_ID or the profile's credentials\n`,
    });
    const none = await cli(['scan', '--no-progress', '--endpoint', s3.endpoint, 's3://models/m/']);
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toMatch(/^modelgate: s3:\/\/models\/m\/: no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE \([^\n]*\)\n$/);
    expect(none.stderr).not.toContain('wrong');
  });

  it('--endpoint with both s3:// and hf:// targets is refused as ambiguous', async () => {
    const r = await cli(['scan', '--endpoint', s3.endpoint, 's3://models/m/', 'hf://acme/x'], KEYS);
    expect(r).toEqual({ code: 2, stdout: '', stderr: 'modelgate: --endpoint is ambiguous with both s3:// and hf:// or http(s):// targets; give the S3 endpoint in AWS_ENDPOINT_URL_S3 instead\n' });
  });
});
