/**
 * Reachability of the real services the scale-out tests use (PostgreSQL and Redis on
 * 127.0.0.1). A missing service skips its suites with the reason in the suite name, unless
 * MODELGATE_TEST_PG_REQUIRED / MODELGATE_TEST_REDIS_REQUIRED is set (CI), which makes it fail.
 */
import { Redis } from 'ioredis';
import { probePostgres } from '../store/pg-probe.js';

export type Probe = { ok: true; url: string } | { ok: false; reason: string };

export async function probeRedis(): Promise<Probe> {
  const url = process.env['MODELGATE_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    await r.ping();
    return { ok: true, url };
  } catch (e) {
    return { ok: false, reason: `Redis not reachable at ${url} (${(e as Error).message})` };
  } finally {
    r.disconnect();
  }
}

export async function services(): Promise<{ pg: Probe; redis: Probe; skip: string | null }> {
  const [pg, redis] = await Promise.all([probePostgres(), probeRedis()]);
  const missing = [pg, redis].filter((p): p is { ok: false; reason: string } => !p.ok).map((p) => p.reason);
  if (missing.length && (process.env['MODELGATE_TEST_PG_REQUIRED'] === '1' || process.env['MODELGATE_TEST_REDIS_REQUIRED'] === '1')) {
    throw new Error(`required services missing: ${missing.join('; ')}`);
  }
  if (missing.length) process.stderr.write(`[modelgate tests] skipping scale-out tests: ${missing.join('; ')}\n`);
  return { pg, redis, skip: missing.length ? missing.join('; ') : null };
}
