/**
 * Shared set-up for the local hub's tests: a temporary directory of repositories built from the
 * committed fixtures, a raw HTTP client that sends request targets unnormalised, and a runner for
 * the real Python client that never blocks the event loop (the server runs in this process).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pythonOf } from '../helpers/python-envs.mjs';

export const FIXTURES = resolve(import.meta.dirname, '../../fixtures');

/** The Python with huggingface_hub installed, or null (tests that need it skip and say why). */
export const HUB_PYTHON: string | null = (() => {
  const p = pythonOf('MG_PYTHON');
  return existsSync(p) ? p : null;
})();
export const NO_PYTHON_REASON = 'no Python with huggingface_hub: neither MG_PYTHON, /opt/mg-venv nor .venv-clients (made by `npm test`) has one';

function put(root: string, rel: string, content: string | Uint8Array): void {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, content);
}

/**
 * A committed fixture's bytes. The working tree comes first; while `npm run fixtures` is rewriting
 * it, the committed copy in git is used, so these tests do not flake on a regeneration.
 */
function fixture(rel: string): Buffer {
  const p = join(FIXTURES, rel);
  if (existsSync(p)) return readFileSync(p);
  return execFileSync('git', ['show', `HEAD:fixtures/${rel}`], { cwd: FIXTURES, maxBuffer: 1 << 28 });
}

function copy(root: string, rel: string, fixtureRel: string): void {
  put(root, rel, fixture(fixtureRel));
}

export const CARD = `---
license: apache-2.0
library_name: transformers
pipeline_tag: text-classification
tags:
  - tiny
  - test
---
# A clean test model
`;

/**
 * acme/clean       benign safetensors + pytorch_model.bin, config, card, a nested file
 * acme/mixed       a malicious pytorch_model.bin next to a clean safetensors, with simulated hub verdicts
 * acme/many        25 small files for pagination
 * tiny             a one-segment repo
 * datasets/acme/data
 */
export function makeHubDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'mg-hub-'));
  copy(root, 'acme/clean/model.safetensors', 'benign/model.safetensors');
  copy(root, 'acme/clean/pytorch_model.bin', 'benign/pytorch_model.bin');
  put(root, 'acme/clean/config.json', JSON.stringify({ model_type: 'bert', architectures: ['BertModel'], hidden_size: 8 }) + '\n');
  put(root, 'acme/clean/README.md', CARD);
  put(root, 'acme/clean/.gitattributes', '*.bin filter=lfs diff=lfs merge=lfs -text\n*.safetensors filter=lfs diff=lfs merge=lfs -text\n');
  put(root, 'acme/clean/sub/deep/notes.txt', 'nested file\n');
  put(root, 'acme/clean/sub/vocab.txt', 'a\nb\nc\n');

  copy(root, 'acme/mixed/model.safetensors', 'benign/model.safetensors');
  copy(root, 'acme/mixed/pytorch_model.bin', 'malicious/torch_zip_reduce.pt');
  put(root, 'acme/mixed/config.json', '{"model_type": "bert"}\n');
  put(
    root,
    'acme/mixed/.hub-security.json',
    JSON.stringify({
      scansDone: true,
      files: {
        'pytorch_model.bin': {
          status: 'unsafe',
          pickleImportScan: { highestSafetyLevel: 'dangerous', imports: [{ module: 'os', name: 'system', safety: 'dangerous' }] },
        },
        'model.safetensors': { status: 'safe' },
      },
    }),
  );

  for (let i = 0; i < 25; i++) put(root, `acme/many/f${String(i).padStart(2, '0')}.txt`, `file ${i}\n`);
  put(root, 'acme/many/dir/inner.txt', 'inner\n');

  put(root, 'tiny/config.json', '{"model_type": "gpt2"}\n');
  put(root, 'datasets/acme/data/train.csv', 'a,b\n1,2\n');
  put(root, 'datasets/acme/data/README.md', '---\nlicense: cc-by-4.0\n---\n');
  return root;
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The connection ended before the announced length arrived. */
  aborted: boolean;
}

/** An HTTP request whose target is sent exactly as given (fetch would normalise `..` and `%2F`). */
export function raw(base: string, target: string, init: { method?: string; headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {}): Promise<RawResponse> {
  const u = new URL(base);
  // DELETE and friends are not chunked by default: without a length the body would read as a second request.
  const length: Record<string, string> = init.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(init.body)) };
  return new Promise((resolvePromise, reject) => {
    let response: import('node:http').IncomingMessage | null = null;
    const req = httpRequest({ host: u.hostname, port: u.port, method: init.method ?? 'GET', path: target, headers: { connection: 'close', ...length, ...init.headers }, timeout: init.timeoutMs ?? 10_000 }, (res) => {
      response = res;
      const chunks: Buffer[] = [];
      let aborted = false;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('aborted', () => {
        aborted = true;
      });
      res.on('error', () => {
        aborted = true;
      });
      res.on('close', () => {
        const body = Buffer.concat(chunks);
        const len = res.headers['content-length'];
        if (init.method !== 'HEAD' && len !== undefined && Number(len) !== body.length) aborted = true;
        resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body, aborted });
      });
    });
    // Once the answer has started, a timeout is a cut body (aborted), not a failed request.
    req.on('timeout', () => (response ? response.destroy() : req.destroy(new Error('timeout'))));
    req.on('error', (e) => {
      if (!response) reject(e);
    });
    if (init.body !== undefined) req.write(init.body);
    req.end();
  });
}

export interface PyResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a Python script against a hub with a fresh HF_HOME. Asynchronous on purpose: the hub under
 * test answers from this same process.
 */
export function runPy(script: string, endpoint: string, env: Record<string, string> = {}): Promise<PyResult> {
  if (HUB_PYTHON === null) throw new Error(NO_PYTHON_REASON);
  const home = mkdtempSync(join(tmpdir(), 'mg-hf-home-'));
  return new Promise((resolvePromise, reject) => {
    const child = spawn(HUB_PYTHON!, ['-c', script], {
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: home,
        HF_HOME: home,
        HF_ENDPOINT: endpoint,
        HF_HUB_DISABLE_TELEMETRY: '1',
        HF_HUB_DISABLE_PROGRESS_BARS: '1',
        HF_HUB_DISABLE_XET: '1',
        HF_HUB_ETAG_TIMEOUT: '10',
        HF_HUB_DOWNLOAD_TIMEOUT: '10',
        PYTHONUNBUFFERED: '1',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
  });
}

/** The last stdout line of a script that prints one JSON document last. */
export function lastJson<T>(r: PyResult): T {
  const lines = r.stdout.trim().split('\n');
  const last = lines[lines.length - 1];
  if (r.code !== 0 || last === undefined) throw new Error(`python failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(last) as T;
}
