/**
 * Single flight across gateway replicas. One replica takes a Redis lease (SET NX PX) for the
 * file and downloads and scans it into the shared store and blob directory; the others wait for
 * the lease to go, then run the same work, which finds the verdict and blob already there. A
 * replica that dies stops renewing its lease, which expires, and a waiter takes over: nothing
 * is lost, nothing is served unscanned.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { LocalFlight, type Flight } from './files.js';

/** Deletes the lease only if we still own it (a lease that expired may belong to someone else now). */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
/** Extends the lease only if we still own it. */
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

/** Redis cannot be asked: new work (downloads, scans) is refused; already-judged files never get here. */
export class FlightUnavailable extends Error {
  readonly kind = 'flight-unavailable';
  constructor(cause: unknown) {
    super(`the download coordinator (Redis) is unavailable (${(cause as Error)?.message ?? String(cause)})`);
    this.name = 'FlightUnavailable';
  }
}

function unavailable(e: unknown): never {
  throw new FlightUnavailable(e);
}

export interface RedisFlightOptions {
  url: string;
  /** Lease length; renewed at a third of it while the work runs. */
  leaseMs?: number;
  /** How often a waiter looks at the lease. */
  pollMs?: number;
  prefix?: string;
}

export class RedisFlight implements Flight {
  private readonly redis: Redis;
  private readonly local = new LocalFlight();
  private readonly owner = randomBytes(8).toString('hex');
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly prefix: string;

  constructor(opts: RedisFlightOptions) {
    this.redis = new Redis(opts.url, { maxRetriesPerRequest: 2, enableOfflineQueue: false, lazyConnect: false });
    // Errors surface on the commands (and fail the request closed); don't crash on the event.
    this.redis.on('error', () => undefined);
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.pollMs = opts.pollMs ?? 100;
    this.prefix = opts.prefix ?? 'modelgate:flight:';
  }

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    // Requests in this process share one attempt; that attempt coordinates with other replicas.
    return this.local.run(key, () => this.acrossReplicas(key, fn));
  }

  private async acrossReplicas<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const lease = this.prefix + key;
    for (;;) {
      const got = await this.redis.set(lease, this.owner, 'PX', this.leaseMs, 'NX').catch(unavailable);
      if (got === 'OK') {
        const timer = setInterval(() => {
          this.redis.eval(RENEW, 1, lease, this.owner, String(this.leaseMs)).catch(() => undefined);
        }, Math.max(100, Math.floor(this.leaseMs / 3)));
        try {
          return await fn();
        } finally {
          clearInterval(timer);
          await this.redis.eval(RELEASE, 1, lease, this.owner).catch(() => undefined);
        }
      }
      // Someone else is fetching: wait until their lease is gone (done, or expired with them).
      while ((await this.redis.exists(lease).catch(unavailable)) === 1) await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
