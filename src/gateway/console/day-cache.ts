/**
 * Per-day decision counts for the overview. Counting a day means reading every record of it
 * (tens of ms per day at 1,000,000 records), so the past days are counted in the background —
 * at start-up, then again before their counts are `maxAgeMs` old — and a page view counts only
 * today (and, just after midnight, the one day not counted yet). The audit log only grows and
 * records arrive with the current time, so a past day changes only by a record written late
 * with a past time (a replica with a skewed clock); that shows within about `maxAgeMs`.
 */
import type { AuditDay, Store } from '../../store/types.js';

const DAY_MS = 86_400_000;

export interface DayWindow {
  /** The first day's UTC midnight. */
  since: string;
  /** Today's UTC midnight (the end of the past days). */
  todayStart: string;
}

type Counts = Omit<AuditDay, 'day'>;

function dayList(since: string, todayStart: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(since); t < Date.parse(todayStart); t += DAY_MS) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

export class DayCache {
  /** Past days' counts (null: no decision that day) and when they were counted. */
  private past = new Map<string, { counts: Counts | null; at: number }>();
  private refreshing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    private readonly maxAgeMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Days from `since` (a UTC midnight) through today; `todayStart` is today's UTC midnight. */
  async days(since: string, todayStart: string): Promise<AuditDay[]> {
    const want = dayList(since, todayStart);
    // A warm-up under way counts these days anyway: wait for it rather than count them twice.
    if (this.refreshing && want.some((d) => !this.past.has(d))) await this.refreshing;
    const missing = want.filter((d) => !this.past.has(d));
    if (missing.length > 0) await this.count(`${missing[0]!}T00:00:00.000Z`, new Date(Date.parse(missing[missing.length - 1]!) + DAY_MS).toISOString());
    for (const d of [...this.past.keys()]) if (d < want[0]! || d >= todayStart.slice(0, 10)) this.past.delete(d);
    const oldest = Math.min(...want.map((d) => this.past.get(d)?.at ?? -Infinity));
    if (this.now() - oldest > this.maxAgeMs) void this.refresh({ since, todayStart });
    const out: AuditDay[] = [];
    for (const d of want) {
      const c = this.past.get(d)?.counts;
      if (c) out.push({ day: d, ...c });
    }
    return [...out, ...(await this.store.auditDays(todayStart))];
  }

  /**
   * Counts the past days of `window` again, one day per query with a turn of the event loop in
   * between (SQLite answers synchronously: one long count would hold every request). Calls
   * share one refresh; a failure leaves the older counts in place.
   */
  refresh(window: DayWindow): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        for (const d of dayList(window.since, window.todayStart)) {
          await new Promise<void>((r) => setImmediate(r));
          await this.count(`${d}T00:00:00.000Z`, new Date(Date.parse(d) + DAY_MS).toISOString());
        }
      } catch {
        // The next page view or tick tries again; the page counts what it lacks itself.
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  /**
   * Keeps the counts warm: now, then every `everyMs` when they are near `maxAgeMs` old or the
   * window moved (a new day). `window` gives the overview's current window.
   */
  start(window: () => DayWindow, everyMs = 30_000): void {
    if (this.timer) return;
    const tick = () => {
      const w = window();
      const want = dayList(w.since, w.todayStart);
      const oldest = Math.min(...want.map((d) => this.past.get(d)?.at ?? -Infinity));
      if (this.now() - oldest > this.maxAgeMs - 2 * everyMs) void this.refresh(w);
    };
    tick();
    this.timer = setInterval(tick, everyMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a refresh under way (before the store closes). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.refreshing;
  }

  private async count(from: string, to: string): Promise<void> {
    const at = this.now();
    const got = new Map((await this.store.auditDays(from, to)).map(({ day, ...c }) => [day, c]));
    for (const d of dayList(from, to)) this.past.set(d, { counts: got.get(d) ?? null, at });
  }
}

/**
 * A value computed ahead of the views that need it (the overview's top lists: a grouping over
 * two weeks of refusals, 50 to 300 ms at 1,000,000 records). Its key names what it was computed
 * from (for the top lists: the window and the newest refusal and warning), so a view with the
 * same key gets it at once and a view with another key computes it; the timer computes the
 * current key's value in the background, so an idle gateway's views never wait.
 */
export class Kept<T> {
  private value: { key: string; value: T; at: number } | null = null;
  private running: { key: string; work: Promise<T> } | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly compute: (key: string) => Promise<T>,
    private readonly maxAgeMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  async get(key: string): Promise<T> {
    const v = this.value;
    if (v && v.key === key) {
      if (this.now() - v.at > this.maxAgeMs) this.refresh(key).catch(() => undefined);
      return v.value;
    }
    return this.refresh(key);
  }

  /** Computes the value for `key` again; calls for the same key share one computation. */
  refresh(key: string): Promise<T> {
    if (this.running?.key === key) return this.running.work;
    const at = this.now();
    const work = this.compute(key).then((value) => {
      if (!this.value || this.value.key !== key || this.value.at <= at) this.value = { key, value, at };
      return value;
    });
    const entry = { key, work };
    this.running = entry;
    void work.catch(() => undefined).finally(() => this.running === entry && (this.running = null));
    return work;
  }

  /** Computes now, then again every `everyMs` when the value is near `maxAgeMs` old or `key()` changed. */
  start(key: () => Promise<string>, everyMs = 15_000): void {
    if (this.timer) return;
    const tick = () =>
      void key()
        .then((k) => {
          if (!this.value || this.value.key !== k || this.now() - this.value.at > this.maxAgeMs - 2 * everyMs) return this.refresh(k);
          return undefined;
        })
        .catch(() => undefined);
    tick();
    this.timer = setInterval(tick, everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.work.catch(() => undefined);
  }
}
