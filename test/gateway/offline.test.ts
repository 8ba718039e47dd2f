/**
 * The gateway started without internet access: an upstream whose name does not resolve is
 * logged once at start-up with the offline recipe, and /readyz says why the upstream is down.
 * `modelgate serve` as a real process (its log is pino JSON on stdout).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/core/package.js';

const BIN = join(packageRoot(), 'bin', 'modelgate.js');
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode !== null) continue;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
  }
});

interface Serving {
  base: string;
  /** Log lines so far (pino JSON). */
  log: () => Array<{ level: number; msg: string; upstream?: string; code?: string }>;
}

function serve(upstream: string): Promise<Serving> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mg-offline-'));
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--upstream', upstream, '--data-dir', dataDir, '--scan-workers', '1', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const log = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(err);
      if (m) resolve({ base: m[1]!, log });
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}

async function until<T>(what: string, f: () => T | undefined): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never happened: ${what}`);
}

describe('an upstream that cannot be resolved', () => {
  it('is logged once at start-up with the offline recipe; /readyz and the 502 say why', async () => {
    const gw = await serve('http://upstream.invalid');
    const warning = await until('the start-up warning', () => gw.log().find((l) => /cannot be resolved/.test(l.msg)));
    expect(warning).toMatchObject({
      level: 40,
      upstream: 'http://upstream.invalid',
      code: 'ENOTFOUND',
      msg: 'upstream http://upstream.invalid cannot be resolved (ENOTFOUND upstream.invalid): every request that needs it will fail with 502 until it can; to run offline, serve local repositories as the upstream: `modelgate hub --dir fixtures/repos --port 8081` and `modelgate serve --upstream http://127.0.0.1:8081` (README, Quick start)',
    });
    const ready = await fetch(`${gw.base}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([503, { status: 'not ready', store: true, disk: true, upstream: false, upstreamError: 'cannot resolve upstream.invalid (ENOTFOUND)' }]);
    const r = await fetch(`${gw.base}/acme/tiny-bert/resolve/main/config.json`);
    expect(r.status).toBe(502);
    expect(r.headers.get('x-error-message')).toBe('modelgate: upstream unreachable (upstream.invalid: ENOTFOUND)');
    // Requests do not repeat the start-up warning.
    expect(gw.log().filter((l) => /cannot be resolved/.test(l.msg))).toHaveLength(1);
  });

  it('an upstream that resolves but refuses connections gets no such warning; /readyz names the refusal', async () => {
    const gw = await serve('http://127.0.0.1:1');
    const ready = await fetch(`${gw.base}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([503, { status: 'not ready', store: true, disk: true, upstream: false, upstreamError: 'connection refused by 127.0.0.1:1' }]);
    expect(gw.log().filter((l) => /cannot be resolved/.test(l.msg))).toEqual([]);
  });
});
