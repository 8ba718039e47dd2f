/** Failed credential checks per client address (see LoginThrottle). */

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

  /** Seconds until `key` may try again, or 0 when it may now. */
  blockedFor(key: string): number {
    const recent = this.recent(key);
    if (recent.length < this.maxFails) return 0;
    return Math.max(1, Math.ceil((recent[0]! + this.windowMs - this.now()) / 1000));
  }

  fail(key: string): void {
    const recent = this.recent(key);
    recent.push(this.now());
    this.fails.delete(key);
    this.fails.set(key, recent.slice(-this.maxFails));
    while (this.fails.size > this.maxKeys) this.fails.delete(this.fails.keys().next().value!);
  }

  succeed(key: string): void {
    this.fails.delete(key);
  }

  private recent(key: string): number[] {
    const t = this.now();
    return (this.fails.get(key) ?? []).filter((x) => t - x < this.windowMs);
  }
}
