/**
 * The upstream rate limit, shared by every worker on every machine: a token bucket in Redis
 * (one Lua script, so concurrent takers never overdraw it) plus a "paused until" key that a 429
 * or 503 with Retry-After sets for everyone. Times come from Redis's clock (TIME), so machines
 * with skewed clocks still agree on when a pause ends.
 *
 * BullMQ's own limiter counts jobs, not requests; one repository job makes anywhere from two to
 * thousands of requests, so the bucket is charged per request instead.
 */
import type { Redis } from 'ioredis';
import { sleep, type Limiter } from '../remote/limiter.js';
import { keys } from './redis.js';

// Returns 0 when a token was taken, else the milliseconds to wait before trying again.
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if pause > now then return pause - now end
local rate = tonumber(ARGV[1])
if rate <= 0 then return 0 end
local burst = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / 1000) end
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) * 1000 / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(math.max(now, ts)))
redis.call('PEXPIRE', KEYS[1], 600000)
return wait
`;

// Extends the pause to now + ARGV[1] ms unless it already lasts longer; returns the remaining ms.
const PAUSE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilMs = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilMs > cur then
  redis.call('SET', KEYS[1], tostring(untilMs), 'PX', tonumber(ARGV[1]) + 1000)
  return tonumber(ARGV[1])
end
return cur - now
`;

export interface LimiterOptions {
  /** Requests per second towards the upstream, over all workers; 0 = no limit (pauses still apply). */
  rate: number;
  /** Requests allowed at once after an idle period. */
  burst: number;
  /** Longest single wait between checks, so a shortened pause or a restarted Redis is noticed. */
  maxWaitMs?: number;
}

export class RedisLimiter implements Limiter {
  private readonly bucketKey: string;
  private readonly pauseKey: string;
  private readonly maxWaitMs: number;

  constructor(
    private readonly redis: Redis,
    origin: string,
    private readonly opts: LimiterOptions,
  ) {
    this.bucketKey = keys.bucket(origin);
    this.pauseKey = keys.pause(origin);
    this.maxWaitMs = opts.maxWaitMs ?? 1000;
  }

  async take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      // While Redis is down this waits in ioredis's offline queue: no request goes out unmetered.
      const wait = Number(await this.redis.eval(TAKE, 2, this.bucketKey, this.pauseKey, String(this.opts.rate), String(Math.max(1, this.opts.burst))));
      if (!(wait > 0)) return;
      await sleep(Math.min(wait, this.maxWaitMs), signal);
    }
  }

  async pause(ms: number): Promise<void> {
    if (!(ms > 0)) return;
    await this.redis.eval(PAUSE, 1, this.pauseKey, String(Math.ceil(ms)));
  }
}
