/**
 * Per-day decision counts for the overview. Counting a day means reading every record of it, so
 * the days before today are counted once and kept for a few minutes (the audit log only grows,
 * and records arrive with the current time); only today is counted on every page view. A record
 * written late with a past time (a replica with a skewed clock) shows within `maxAgeMs`.
 */
import type { AuditDay, Store } from '../../store/types.js';

export class DayCache {
  private past: { since: string; until: string; days: AuditDay[]; at: number } | null = null;

  constructor(
    private readonly store: Store,
    private readonly maxAgeMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Days from `since` (a UTC midnight) through today; `todayStart` is today's UTC midnight. */
  async days(since: string, todayStart: string): Promise<AuditDay[]> {
    const t = this.now();
    const p = this.past;
    if (!p || p.since !== since || p.until !== todayStart || t - p.at > this.maxAgeMs) {
      this.past = { since, until: todayStart, days: await this.store.auditDays(since, todayStart), at: t };
    }
    return [...this.past!.days, ...(await this.store.auditDays(todayStart))];
  }
}
