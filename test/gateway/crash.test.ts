/**
 * `modelgate serve` as a real process, killed with SIGKILL in the middle of a download and
 * restarted on the same data directory: the partial download is never served or cached, the
 * next request downloads, scans and serves the whole file, and earlier verdicts survive.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '../../src/hub/server.js';
import { serveProcess } from '../helpers/serve-process.js';

const serve = (upstream: string, dataDir: string) => serveProcess(['--upstream', upstream, '--data-dir', dataDir]);



const listTmp = (dataDir: string) => (existsSync(join(dataDir, 'cache', 'tmp')) ? readdirSync(join(dataDir, 'cache', 'tmp')) : []);

describe('crash safety', () => {
  const repos = mkdtempSync(join(tmpdir(), 'mg-crash-repos-'));
  const dataDir = mkdtempSync(join(tmpdir(), 'mg-crash-data-'));
  const payload = randomBytes(3 * 1024 * 1024);
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
