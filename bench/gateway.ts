/**
 * Gateway benchmark against the local hub source on loopback, side by side in one run:
 * - throughput of a cached clean 1 GB download through the gateway vs straight from the source;
 * - first (uncached) download of a 1 GB safetensors and a 1 GB PyTorch file, gateway vs direct;
 * - HEAD latency p50/p99 for a cached verdict under 50 concurrent clients;
 * - upstream fetches caused by 50 concurrent requests of one uncached file.
 * Files are made by the real libraries (torch, safetensors) into bench/out (never committed).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startHub } from '../src/hub/server.js';
import { serveProcess } from '../test/helpers/serve-process.js';

export interface GatewayBenchRow {
  name: string;
  value: string;
  target: string;
}

async function download(url: string, method: 'GET' | 'HEAD' = 'GET'): Promise<{ status: number; bytes: number; ms: number; firstByteMs: number }> {
  const t0 = performance.now();
  const res = await request(url, { method });
  let bytes = 0;
  let firstByteMs = -1;
  for await (const c of res.body) {
    if (firstByteMs < 0) firstByteMs = performance.now() - t0;
    bytes += (c as Buffer).length;
  }
  return { status: res.statusCode, bytes, ms: performance.now() - t0, firstByteMs };
}


function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function gatewayBench(root: string, python: string): Promise<GatewayBenchRow[]> {
  const repos = join(root, 'bench', 'out', 'gw-repos');
  const st = join(repos, 'acme', 'big-st', 'model.safetensors');
  const pt = join(repos, 'acme', 'big-pt', 'pytorch_model.bin');
  const st2 = join(repos, 'acme', 'big-st2', 'model.safetensors');
  if (!existsSync(st) || !existsSync(pt) || !existsSync(st2)) {
    for (const d of ['big-st', 'big-pt', 'big-st2']) mkdirSync(join(repos, 'acme', d), { recursive: true });
    execFileSync(python, ['-c', `import torch
from safetensors.torch import save_file
save_file({f'layer{i}.weight': torch.zeros(64, 1024, 1024) for i in range(4)}, ${JSON.stringify(st)})
save_file({f'layer{i}.weight': torch.ones(64, 1024, 1024) for i in range(4)}, ${JSON.stringify(st2)})
torch.save({f'layer{i}.weight': torch.zeros(64, 1024, 1024) for i in range(4)}, ${JSON.stringify(pt)})`], { stdio: 'inherit' });
  }
  const hub = await startHub({ dir: repos, logger: false, warm: true });
  const rows: GatewayBenchRow[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'mg-bench-gw-'));
  const gw = await serveProcess(['--upstream', hub.url, '--data-dir', dataDir]);
  const files = [
    ['safetensors', '/acme/big-st/resolve/main/model.safetensors', statSync(st).size],
    ['PyTorch zip', '/acme/big-pt/resolve/main/pytorch_model.bin', statSync(pt).size],
  ] as const;
  try {
    const mb = (b: number, ms: number) => (b / 2 ** 20 / (ms / 1000)).toFixed(0);
    // Warm the source first: its first answer hashes every file of the repository, and the page
    // cache should hold the files for the direct and the gateway downloads alike.
    for (const p of ['/acme/big-st/resolve/main/model.safetensors', '/acme/big-pt/resolve/main/pytorch_model.bin', '/acme/big-st2/resolve/main/model.safetensors']) await download(hub.url + p);
    for (const [label, path, size] of files) {
      const direct = [await download(hub.url + path), await download(hub.url + path)].sort((a, b) => a.ms - b.ms)[0]!;
      const before = await phases(gw.base);
      const first = await download(gw.base + path);
      if (first.status !== 200 || first.bytes !== size) throw new Error(`gateway first download of ${label}: status ${first.status}, ${first.bytes} bytes`);
      const spent = diffPhases(await phases(gw.base), before);
      rows.push({ name: `first (uncached) download, ${(size / 2 ** 30).toFixed(2)} GiB ${label}, loopback: gateway ${(first.ms / 1000).toFixed(2)} s (first byte at ${(first.firstByteMs / 1000).toFixed(2)} s; download+hash+write ${spent.download.toFixed(2)} s, scan ${spent.scan.toFixed(2)} s, publish ${spent.publish.toFixed(2)} s) vs direct ${(direct.ms / 1000).toFixed(2)} s`, value: `${(first.ms / direct.ms).toFixed(2)}×`, target: '≤ 1.3×' });
      if (label === 'safetensors') {
        const directs = [await download(hub.url + path), await download(hub.url + path)];
        const cached = [await download(gw.base + path), await download(gw.base + path)];
        const d = Math.min(...directs.map((x) => x.ms));
        const c = Math.min(...cached.map((x) => x.ms));
        rows.push({ name: `cached clean download throughput: gateway ${mb(size, c)} MiB/s vs direct ${mb(size, d)} MiB/s`, value: `${(d / c).toFixed(2)}×`, target: '≥ 0.8×' });
      }
    }
    // HEAD latency with a cached verdict, 50 concurrent clients, 40 requests each.
    const headPath = '/acme/big-st/resolve/main/model.safetensors';
    const lat: number[] = [];
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        for (let i = 0; i < 40; i++) {
          const r = await download(gw.base + headPath, 'HEAD');
          if (r.status !== 200) throw new Error(`HEAD answered ${r.status}`);
          lat.push(r.ms);
        }
      }),
    );
    lat.sort((a, b) => a - b);
    rows.push({ name: `HEAD latency, cached verdict, 50 concurrent clients (${lat.length} requests)`, value: `p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms`, target: '' });
    // 50 concurrent requests of one uncached file: count the upstream downloads.
    hub.app.hub.clearRequests();
    const uncached = '/acme/big-st2/resolve/main/model.safetensors';
    const all = await Promise.all(Array.from({ length: 50 }, () => download(gw.base + uncached)));
    const ok = all.filter((r) => r.status === 200).length;
    const ups = hub.app.hub.requests.filter((r) => r.method === 'GET' && r.url.includes('/big-st2/resolve/')).length;
    rows.push({ name: `50 concurrent requests of one uncached 1 GiB file (${ok}/50 served)`, value: `${ups} upstream download${ups === 1 ? '' : 's'}`, target: '1' });
  } finally {
    gw.child.kill('SIGTERM');
    await hub.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  rows.push(...(await pacedFirstDownloads(repos, files)));
  return rows;
}

/**
 * The same first downloads with the source behind a 1 Gbit/s link (the hub paces its bodies),
 * as when the gateway sits near its clients and the hub is across the internet: the direct
 * download and the gateway's upstream download cross the same simulated link.
 */
async function pacedFirstDownloads(repos: string, files: readonly (readonly [string, string, number])[]): Promise<GatewayBenchRow[]> {
  const mbit = Number(process.env['MG_BENCH_LINK_MBIT'] ?? 1000);
  const hub = await startHub({ dir: repos, logger: false, bytesPerSecond: (mbit * 1e6) / 8 });
  // Hashing the repositories first: the direct download must not share the machine with it.
  await hub.app.hub.store.warm();
  const dataDir = mkdtempSync(join(tmpdir(), 'mg-bench-gw-'));
  const gw = await serveProcess(['--upstream', hub.url, '--data-dir', dataDir]);
  const rows: GatewayBenchRow[] = [];
  try {
    for (const [label, path, size] of files) {
      const direct = await download(hub.url + path);
      const before = await phases(gw.base);
      const first = await download(gw.base + path);
      if (first.status !== 200 || first.bytes !== size) throw new Error(`gateway first download of ${label}: status ${first.status}, ${first.bytes} bytes`);
      const spent = diffPhases(await phases(gw.base), before);
      rows.push({ name: `first (uncached) download, ${(size / 2 ** 30).toFixed(2)} GiB ${label}, source behind a ${mbit} Mbit/s link: gateway ${(first.ms / 1000).toFixed(2)} s (first byte at ${(first.firstByteMs / 1000).toFixed(2)} s; download+hash+write ${spent.download.toFixed(2)} s, scan ${spent.scan.toFixed(2)} s, publish ${spent.publish.toFixed(2)} s) vs direct ${(direct.ms / 1000).toFixed(2)} s`, value: `${(first.ms / direct.ms).toFixed(2)}×`, target: '≤ 1.3×' });
    }
  } finally {
    gw.child.kill('SIGTERM');
    await hub.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return rows;
}

interface Phases {
  download: number;
  scan: number;
  publish: number;
}

/** Seconds spent so far in each phase of a first download, from the gateway's own histograms. */
async function phases(base: string): Promise<Phases> {
  const text = await (await request(base + '/metrics')).body.text();
  const sum = (name: string) => Number(new RegExp(`^${name}_sum (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { download: sum('modelgate_download_duration_seconds'), scan: sum('modelgate_scan_duration_seconds'), publish: sum('modelgate_publish_duration_seconds') };
}

function diffPhases(a: Phases, b: Phases): Phases {
  return { download: a.download - b.download, scan: a.scan - b.scan, publish: a.publish - b.publish };
}
