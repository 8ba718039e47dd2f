/**
 * The gateway's scan workers are warm before it accepts a request: each worker loads the rule
 * catalogues (the globals facts included) and the lazily loaded parsers at start and reports so;
 * createGateway returns, and so the server listens, only once every worker has. Runs the compiled
 * worker (dist/src/gateway/scan-worker.js; `npm test` builds first).
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/core/package.js';
import { loadGatewayConfig } from '../../src/gateway/config.js';
import { ScanPool, ScanPoolStartError } from '../../src/gateway/scan-pool.js';
import { createGateway, type Gateway } from '../../src/gateway/server.js';

const WORKER = join(packageRoot(), 'dist', 'src', 'gateway', 'scan-worker.js');
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

describe('scan pool warm-up', () => {
  it('the compiled worker exists (else the pool scans in-process and these tests prove little)', () => {
    expect(existsSync(WORKER), 'run `npm run build` first').toBe(true);
  });

  it('each worker reports ready with the catalogues and parsers it loaded', async () => {
    const pool = new ScanPool(2);
    cleanup.push(() => pool.close());
    expect(pool.warmth()).toEqual({ workers: 2, ready: 0, loaded: [] });
    await pool.ready();
    const w = pool.warmth();
    expect(w.workers).toBe(2);
    expect(w.ready).toBe(2);
    for (const report of w.loaded) {
      expect(report.catalogues).toEqual(expect.arrayContaining(['globals.yaml', 'globals-facts.json', 'call-conditions.yaml', 'tf-ops.yaml', 'templates.yaml', 'hydra.yaml']));
      expect(report.packages).toEqual(expect.arrayContaining(['yaml', '@huggingface/jinja']));
    }
  });

  it('fails to start, naming the cause, when a worker cannot build its engine', async () => {
    const pool = new ScanPool(1, { timeoutMs: -1 });
    cleanup.push(() => pool.close());
    await expect(pool.ready()).rejects.toThrow(ScanPoolStartError);
    await expect(pool.ready()).rejects.toThrow('scan worker failed to start: limit timeoutMs must be a positive number, got -1');
  });
});

describe('the gateway listens with warm workers', () => {
  it('createGateway returns once every worker is ready, before the server accepts connections', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mg-warm-'));
    const cfg = loadGatewayConfig({ env: {}, flags: { host: '127.0.0.1', port: 0, upstream: 'http://127.0.0.1:9', dataDir, logLevel: 'silent', scanWorkers: 2 } });
    const gw: Gateway = await createGateway(cfg);
    cleanup.push(() => gw.close());
    expect(gw.app.server.listening).toBe(false);
    expect(gw.ctx.pool.warmth()).toMatchObject({ workers: 2, ready: 2 });
    await gw.listen();
    expect(gw.app.server.listening).toBe(true);
  });
});
