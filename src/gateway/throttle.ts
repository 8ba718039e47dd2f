/** Failed credential checks per client address (see LoginThrottle). */
import { isIPv6 } from 'node:net';

/**
 * The unit an address is counted in. One IPv6 client holds at least a /64 (2^64 addresses to
 * rotate through), so IPv6 is counted by its /64; an IPv4-mapped IPv6 address is its IPv4
 * address. Anything else (IPv4, a name) is itself.
 */
export function addressKey(ip: string): string {
  const bare = ip.replace(/%.*$/, '');
  if (!isIPv6(bare)) return ip;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return mapped[1]!;
  const [head = '', tail] = bare.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  // An embedded IPv4 tail (::a.b.c.d forms) stands for two groups; only the first four groups matter here.
  const groups = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/**
 * Failed logins per client address in a sliding window. The bootstrap admin token is chosen by
 * the operator and may be guessable, so nothing that checks a token may be an unlimited oracle:
 * one throttle counts the login form, bearer tokens on the admin API and the console, and
 * gateway tokens on downloads.
 */
export class LoginThrottle {
  private readonly fails = new Map<string, number[]>();

  constructor(
    private readonly maxFails = 10,
    private readonly windowMs = 15 * 60_000,
    private readonly maxKeys = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until `address` may try again, or 0 when it may now. */
  blockedFor(address: string): number {
    const recent = this.recent(addressKey(address));
    if (recent.length < this.maxFails) return 0;
    return Math.max(1, Math.ceil((recent[0]! + this.windowMs - this.now()) / 1000));
  }

  fail(address: string): void {
    const key = addressKey(address);
    const recent = this.recent(key);
    recent.push(this.now());
    this.fails.delete(key);
    this.fails.set(key, recent.slice(-this.maxFails));
    while (this.fails.size > this.maxKeys) this.fails.delete(this.fails.keys().next().value!);
  }

  succeed(address: string): void {
    this.fails.delete(addressKey(address));
  }

  private recent(key: string): number[] {
    const t = this.now();
    return (this.fails.get(key) ?? []).filter((x) => t - x < this.windowMs);
  }
}
