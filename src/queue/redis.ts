/**
 * Redis connections for the crawler. One URL (`redis://[user:pass@]host:port[/db]`, `rediss://`
 * for TLS) becomes ioredis options; BullMQ opens its own connections from the same options.
 */
import type { RedisOptions as BullRedisOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { CrawlError } from './types.js';

export { DEFAULT_QUEUE, DEFAULT_REDIS_URL } from './types.js';

export function redisOptions(url: string): RedisOptions & BullRedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CrawlError('invalid', `--redis: not a URL: ${url.replace(/:[^:@/]*@/, ':***@')}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new CrawlError('invalid', `--redis: expected redis:// or rediss://, got ${u.protocol}`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new CrawlError('invalid', `--redis: database must be a number, got ${u.pathname.slice(1)}`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    // BullMQ's blocking commands must wait through a Redis restart rather than fail: commands
    // queue while ioredis reconnects (every 0.05–2 s, forever).
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: (times: number) => Math.min(times * 100, 2000),
  };
}

/** A plain client for our own keys (limiter, locks, stats). */
export function openRedis(url: string, name: string): Redis {
  const r = new Redis({ ...redisOptions(url), connectionName: name });
  // Without a listener ioredis prints every reconnect failure; the callers see failures on commands.
  r.on('error', () => {});
  return r;
}

/** Our keys live beside BullMQ's (`bull:<queue>:…`) under their own prefix. */
export const keys = {
  stats: (queue: string) => `modelgate:crawl:${queue}:stats`,
  /** Shared by every queue that crawls the same upstream: the limit is the upstream's. */
  bucket: (origin: string) => `modelgate:upstream:${origin}:bucket`,
  pause: (origin: string) => `modelgate:upstream:${origin}:pause-until`,
  scanLock: (engineKey: string, content: string) => `modelgate:scan-lock:${engineKey}:${content}`,
};

export type StatName = 'repos_done' | 'repos_unchanged' | 'files_scanned' | 'files_skipped' | 'file_errors' | 'bytes_fetched' | 'upstream_429' | 'upstream_503';
