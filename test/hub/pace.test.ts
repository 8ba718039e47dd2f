/**
 * `bytesPerSecond` (`--rate-mbit`) paces file bodies like a slow link: the benchmark of the
 * gateway's first download relies on it being a true lower bound on transfer time, with the
 * bytes unchanged. (A lower bound only: a loaded machine makes it slower, never faster.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fetch } from 'undici';
import { describe, expect, it } from 'vitest';
import { startHub } from '../../src/hub/server.js';
import { FIXTURES } from '../helpers/manifest.js';

describe('hub body pacing', () => {
  it('serves a file no faster than the configured rate, byte-identical', async () => {
    const file = readFileSync(join(FIXTURES, 'repos', 'acme', 'tiny-bert', 'model.safetensors'));
    const rate = 20_000; // bytes per second: the 18,608-byte file needs at least 0.93 s
    const hub = await startHub({ dir: join(FIXTURES, 'repos'), logger: false, bytesPerSecond: rate });
    try {
      const t0 = performance.now();
      const res = await fetch(`${hub.url}/acme/tiny-bert/resolve/main/model.safetensors`);
      const body = Buffer.from(await res.arrayBuffer());
      const elapsed = performance.now() - t0;
      expect(res.status).toBe(200);
      expect(body.equals(file)).toBe(true);
      expect(elapsed).toBeGreaterThanOrEqual((file.length / rate) * 1000 - 20);
      // Metadata is not paced: a HEAD carries no body.
      const head = await fetch(`${hub.url}/acme/tiny-bert/resolve/main/model.safetensors`, { method: 'HEAD' });
      expect(head.headers.get('content-length')).toBe(String(file.length));
    } finally {
      await hub.close();
    }
  });
});
