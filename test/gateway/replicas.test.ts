/**
 * Gateway replicas as real processes sharing PostgreSQL (verdicts, audit), Redis (single flight)
 * and a data directory (blobs). Two replicas asked for the same uncached file fetch and scan it
 * once; a replica killed mid-download loses nothing and the other keeps serving; with
 * PostgreSQL gone the gateway refuses (fails closed) and recovers when it returns.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '../../src/hub/server.js';
import { services } from '../helpers/services.js';
import { serveProcess } from '../helpers/serve-process.js';

const serve = (args: string[]) => serveProcess(args, { MODELGATE_FLIGHT_LEASE_MS: '3000' });

const svc = await services();


/** A TCP proxy in front of PostgreSQL that the test can cut, to make the database "go away". */
class CuttableProxy {
  private server: Server;
  private sockets = new Set<Socket>();
  port = 0;
  open = true;
  constructor(target: { host: string; port: number }) {
    this.server = createServer((client) => {
      if (!this.open) return client.destroy();
      const upstream = connect(target.port, target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
  }
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }
  cut(): void {
    this.open = false;
    for (const s of this.sockets) s.destroy();
  }
  restore(): void {
    this.open = true;
  }
  async close(): Promise<void> {
    this.cut();
    await new Promise((r) => this.server.close(r));
  }
}

describe.skipIf(svc.skip !== null)(`gateway replicas on PostgreSQL and Redis${svc.skip ? ` (skipped: ${svc.skip})` : ''}`, () => {
  const schema = `mg_rep_${randomBytes(4).toString('hex')}`;
  const pgUrl = svc.pg.ok ? svc.pg.url : '';
  const repos = mkdtempSync(join(tmpdir(), 'mg-rep-repos-'));
  const dataDir = mkdtempSync(join(tmpdir(), 'mg-rep-data-'));
  const files: Record<string, Buffer> = {};
  let hub: Awaited<ReturnType<typeof startHub>>;
  let proxy: CuttableProxy;
  const children: ChildProcess[] = [];

  const storeUrl = () => {
    const u = new URL(pgUrl);
    u.port = String(proxy.port);
    u.searchParams.set('schema', schema);
    return u.toString();
  };
  const replica = async () => {
    const r = await serve(['--upstream', hub.url, '--data-dir', dataDir, '--store', storeUrl(), '--redis', svc.redis.ok ? svc.redis.url : '']);
    children.push(r.child);
    return r;
  };
  const downloads = (name: string) => hub.app.hub.requests.filter((r) => r.method === 'GET' && r.url.endsWith(`/${name}`)).length;

  beforeAll(async () => {
    for (const name of ['shared.bin', 'killed.bin', 'outage.bin']) {
      mkdirSync(join(repos, 'acme', name.replace('.bin', '')), { recursive: true });
      files[name] = randomBytes(2 * 1024 * 1024);
      writeFileSync(join(repos, 'acme', name.replace('.bin', ''), name), files[name]!);
    }
    hub = await startHub({ dir: repos, logger: false });
    const u = new URL(pgUrl);
    proxy = new CuttableProxy({ host: u.hostname, port: Number(u.port || 5432) });
    await proxy.start();
  });

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await hub?.close();
    await proxy?.close();
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    await c.query(`drop schema if exists "${schema}" cascade`);
    await c.end();
  });

  it('two replicas asked at once for an uncached file download and scan it once', async () => {
    const [a, b] = await Promise.all([replica(), replica()]);
    const path = '/acme/shared/resolve/main/shared.bin';
    const results = await Promise.all([...Array.from({ length: 5 }, () => fetch(a.base + path)), ...Array.from({ length: 5 }, () => fetch(b.base + path))]);
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(Buffer.from(await r.arrayBuffer()).equals(files['shared.bin']!)).toBe(true);
    }
    expect(downloads('shared.bin')).toBe(1);
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    const scans = await c.query(`select count(*)::int as n from "${schema}".scans`);
    const audit = await c.query(`select count(*)::int as n from "${schema}".audit where path = 'shared.bin' and verdict = 'allow'`);
    await c.end();
    expect(scans.rows[0].n).toBe(1);
    expect(audit.rows[0].n).toBe(10);
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
  });

  it('a replica killed mid-download loses nothing: the other takes over and serves the whole file', async () => {
    hub.app.hub.faults.set([{ method: 'GET', path: '/acme/killed/resolve/**', times: 1, action: { kind: 'stall', afterBytes: 512 * 1024 } }]);
    const [a, b] = await Promise.all([replica(), replica()]);
    const path = '/acme/killed/resolve/main/killed.bin';
    const first = fetch(a.base + path).then((r) => r.status, () => 'connection lost');
    for (let i = 0; i < 100 && downloads('killed.bin') === 0; i++) await new Promise((r) => setTimeout(r, 50));
    a.child.kill('SIGKILL');
    expect(await first).toBe('connection lost');
    // B waits for A's lease to expire (A no longer renews it), then downloads itself.
    const res = await fetch(b.base + path);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(files['killed.bin']!)).toBe(true);
    expect(downloads('killed.bin')).toBe(2);
    b.child.kill('SIGTERM');
  }, 90_000);

  it('with PostgreSQL unreachable the gateway refuses to serve, and recovers when it returns', async () => {
    const a = await replica();
    const path = '/acme/outage/resolve/main/outage.bin';
    proxy.cut();
    const refused = await fetch(a.base + path);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('x-error-message')).toMatch(/storage is unavailable|refusing to serve/);
    expect((await fetch(`${a.base}/readyz`)).status).toBe(503);
    proxy.restore();
    let ok: Response | null = null;
    for (let i = 0; i < 50; i++) {
      ok = await fetch(a.base + path);
      if (ok.status === 200) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(ok!.status).toBe(200);
    expect(Buffer.from(await ok!.arrayBuffer()).equals(files['outage.bin']!)).toBe(true);
    a.child.kill('SIGTERM');
  }, 60_000);
});
