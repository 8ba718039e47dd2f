/**
 * `modelgate serve` as a real process, killed with SIGKILL in the middle of a download and
 * restarted on the same data directory: the partial download is never served or cached, the
 * next request downloads, scans and serves the whole file, and earlier verdicts survive.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGatewayConfig } from '../../src/gateway/config.js';
import { ScanPool } from '../../src/gateway/scan-pool.js';
import { createGateway } from '../../src/gateway/server.js';
import { startHub } from '../../src/hub/server.js';
import { openBlobStore } from '../../src/store/blobs-open.js';
import type { BlobStore, BlobWriter } from '../../src/store/types.js';
import { spawn } from 'node:child_process';
import { packageRoot } from '../../src/core/package.js';
import { serveProcess } from '../helpers/serve-process.js';

const serve = (upstream: string, dataDir: string) => serveProcess(['--upstream', upstream, '--data-dir', dataDir]);

/**
 * The same bytes on every run (sha256 in counter mode), so the verdict is too: random bytes
 * now and then start with a magic number and make the file a different format.
 */
function fixedBytes(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0, off = 0; off < size; i++, off += 32) createHash('sha256').update(`modelgate crash ${i}`).digest().copy(out, off);
  // A leading NUL and no magic number anywhere at the start: binary data of no known format.
  out[0] = 0;
  return out;
}

const listTmp = (dataDir: string) => (existsSync(join(dataDir, 'cache', 'tmp')) ? readdirSync(join(dataDir, 'cache', 'tmp')) : []);

describe('crash safety', () => {
  const repos = mkdtempSync(join(tmpdir(), 'mg-crash-repos-'));
  const dataDir = mkdtempSync(join(tmpdir(), 'mg-crash-data-'));
  const payload = fixedBytes(3 * 1024 * 1024);
  let hub: Awaited<ReturnType<typeof startHub>>;

  beforeAll(async () => {
    mkdirSync(join(repos, 'acme', 'big'), { recursive: true });
    writeFileSync(join(repos, 'acme', 'big', 'weights.bin'), payload);
    hub = await startHub({ dir: repos, logger: false });
  });
  afterAll(async () => {
    await hub?.close();
  });

  it('a gateway killed mid-download leaves nothing servable; after restart the file arrives whole', async () => {
    // Upstream sends 1 MiB then stalls, so the download is surely in flight when we kill.
    hub.app.hub.faults.set([{ method: 'GET', path: '/acme/big/resolve/**', action: { kind: 'stall', afterBytes: 1024 * 1024 } }]);
    const first = await serve(hub.url, dataDir);
    const inflight = fetch(`${first.base}/acme/big/resolve/main/weights.bin`).then((r) => r.status, () => 'connection lost');
    for (let i = 0; i < 100 && listTmp(dataDir).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(listTmp(dataDir).length).toBe(1);
    first.child.kill('SIGKILL');
    expect(await inflight).toBe('connection lost');
    hub.app.hub.faults.clear();

    const second = await serve(hub.url, dataDir);
    try {
      // Start-up swept the partial download.
      expect(listTmp(dataDir)).toEqual([]);
      const res = await fetch(`${second.base}/acme/big/resolve/main/weights.bin`);
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(payload)).toBe(true);
    } finally {
      second.child.kill('SIGTERM');
    }
  });
});

/** Runs `serve` to its exit (or gives up after `ms`): its exit code and stderr. */
function serveToExit(args: string[], ms: number): Promise<{ code: number | 'still running'; stderr: string }> {
  const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'modelgate.js'), 'serve', '--log-level', 'silent', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ code: 'still running', stderr });
    }, ms);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stderr });
    });
  });
}

describe('two gateways on one data directory', () => {
  it('a second serve on a busy port exits 2 with one line naming the address, and deletes none of the first one\'s downloads', async () => {
    const repos = mkdtempSync(join(tmpdir(), 'mg-two-repos-'));
    const dataDir = mkdtempSync(join(tmpdir(), 'mg-two-data-'));
    mkdirSync(join(repos, 'acme', 'big'), { recursive: true });
    writeFileSync(join(repos, 'acme', 'big', 'weights.bin'), fixedBytes(3 * 1024 * 1024));
    const hub = await startHub({ dir: repos, logger: false });
    hub.app.hub.faults.set([{ method: 'GET', path: '/acme/big/resolve/**', action: { kind: 'stall', afterBytes: 1024 * 1024 } }]);
    const first = await serve(hub.url, dataDir);
    try {
      void fetch(`${first.base}/acme/big/resolve/main/weights.bin`).catch(() => undefined);
      for (let i = 0; i < 100 && listTmp(dataDir).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      const inProgress = listTmp(dataDir);
      expect(inProgress).toHaveLength(1);
      const port = new URL(first.base).port;

      const busy = await serveToExit(['--upstream', hub.url, '--data-dir', dataDir, '--port', port], 20_000);
      expect(busy.code).toBe(2);
      expect(busy.stderr).toBe(`modelgate: cannot listen on 127.0.0.1:${port}: address already in use (is another modelgate running?)\n`);
      expect(listTmp(dataDir)).toEqual(inProgress);

      // A second gateway that does start on the same directory leaves the live download alone too.
      const second = await serve(hub.url, dataDir);
      second.child.kill('SIGTERM');
      expect(listTmp(dataDir)).toEqual(inProgress);
    } finally {
      first.child.kill('SIGKILL');
      hub.app.hub.faults.clear();
      await hub.close();
    }
  });
});

describe('logs', () => {
  it('client errors (400) are logged at info without a stack; nothing at error level', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mg-log-data-'));
    const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'modelgate.js'), 'serve', '--port', '0', '--data-dir', dataDir, '--upstream', 'http://127.0.0.1:1', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const base = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /listening on (http:\/\/\S+)/.exec(err);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
    });
    try {
      const bad = [
        await fetch(`${base}/acme/x/resolve/main/..%2fetc%2fpasswd`),
        await fetch(`${base}/acme/x/resolve/ma%00in/config.json`),
        await fetch(`${base}/api/models/acme/x/paths-info/main`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{bad' }),
      ];
      expect(bad.map((r) => r.status)).toEqual([400, 400, 400]);
      expect(bad[2]!.headers.get('x-error-message')).toMatch(/^bad request: Body is not valid JSON/);
      await new Promise((r) => setTimeout(r, 300));
      const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string });
      expect(lines.filter((l) => l.msg === 'request completed')).toHaveLength(3);
      expect(lines.filter((l) => l.level >= 40)).toEqual([]);
      expect(out).not.toContain('"stack"');
    } finally {
      child.kill('SIGTERM');
    }
  });
});

describe('start-up errors', () => {
  it('an unreachable PostgreSQL store is one line, exit 2, without the password', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mg-pg-data-'));
    const r = await serveToExit(['--port', '0', '--data-dir', dataDir, '--store', 'postgres://mg:s3cret-pw@127.0.0.1:1/modelgate'], 30_000);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('modelgate: store postgres://mg:***@127.0.0.1:1/modelgate: migrate: connect ECONNREFUSED 127.0.0.1:1\n');
  });
});

describe('a scan that cannot read its own file is not a verdict', () => {
  it('the scan pool fails (it does not report SCAN_UNREADABLE) when the downloaded file is gone', async () => {
    const pool = new ScanPool(1);
    try {
      await expect(pool.scan(join(tmpdir(), 'mg-no-such-dir', 'gone.partial'), 'weights.bin')).rejects.toThrow(/cannot read the downloaded file/);
    } finally {
      await pool.close();
    }
  });

  it('a temp file removed before its scan answers 502 once and is not cached: the next request gets the file', async () => {
    const repos = mkdtempSync(join(tmpdir(), 'mg-io-repos-'));
    const dataDir = mkdtempSync(join(tmpdir(), 'mg-io-data-'));
    const payload = fixedBytes(256 * 1024);
    mkdirSync(join(repos, 'acme', 'io'), { recursive: true });
    writeFileSync(join(repos, 'acme', 'io', 'weights.bin'), payload);
    const hub = await startHub({ dir: repos, logger: false });
    const real = await openBlobStore(undefined, dataDir);
    let sabotage = 1;
    // The first download's scan is pointed at a path that does not exist, as when a temp file
    // is removed underneath a scan; publishing still uses the real temp file.
    const blobs: BlobStore = {
      has: (h) => real.has(h),
      localPath: (h) => real.localPath(h),
      size: (h) => real.size(h),
      sweep: () => real.sweep(),
      async create(): Promise<BlobWriter> {
        const w = await real.create();
        const gone = sabotage-- > 0;
        return {
          get tempPath() {
            return gone ? `${w.tempPath}.removed` : w.tempPath;
          },
          get written() {
            return w.written;
          },
          write: (c) => w.write(c),
          finish: () => w.finish(),
          commit: (h) => w.commit(h),
          abort: () => w.abort(),
        };
      },
    };
    const cfg = loadGatewayConfig({ env: {}, flags: { host: '127.0.0.1', port: 0, upstream: hub.url, dataDir, logLevel: 'silent', scanWorkers: 1 } });
    const gw = await createGateway(cfg, { blobs });
    try {
      const base = await gw.listen();
      const url = `${base}/acme/io/resolve/main/weights.bin`;
      // connection: close, because gw.close() (fastify) can wait on a client's keep-alive socket.
      const first = await fetch(url, { headers: { connection: 'close' } });
      expect(first.status).toBe(502);
      expect(await first.text()).toContain('could not be scanned (scan failed: cannot read the downloaded file: cannot open weights.bin: ENOENT)');
      const second = await fetch(url, { headers: { connection: 'close' } });
      expect(second.status).toBe(200);
      expect(Buffer.from(await second.arrayBuffer()).equals(payload)).toBe(true);
    } finally {
      await gw.close();
      await hub.close();
    }
  });
});
