/** Console sessions: absolute lifetime, idle timeout, bounded count; cookies and their parsing. */
import { describe, expect, it } from 'vitest';
import { cookie, LoginThrottle, parseCookies, sameSecret, Sessions } from '../../src/gateway/console/session.js';
import { addressKey } from '../../src/gateway/throttle.js';
import { csvCell } from '../../src/gateway/console/export.js';
import { esc } from '../../src/gateway/console/html.js';
import { parseFilters } from '../../src/gateway/console/filters.js';
import { DayCache, Kept } from '../../src/gateway/console/day-cache.js';
import type { Store } from '../../src/store/types.js';

const token = { id: 't1', name: 'ops' };

describe('console sessions', () => {
  it('ends a session after its idle timeout, and renews the timer on use', () => {
    let now = 0;
    const s = new Sessions({ lifetimeMs: 10_000, idleMs: 1000, max: 10 }, () => now);
    const a = s.create(token, 'h');
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.csrf).not.toBe(a.id);
    now = 900;
    expect(s.get(a.id)?.id).toBe(a.id);
    now = 1800;
    expect(s.get(a.id)?.id).toBe(a.id);
    now = 2801;
    expect(s.get(a.id)).toBeNull();
    expect(s.size).toBe(0);
  });

  it('ends a session at its absolute lifetime however often it is used', () => {
    let now = 0;
    const s = new Sessions({ lifetimeMs: 3000, idleMs: 1000, max: 10 }, () => now);
    const a = s.create(token, 'h');
    for (now = 500; now < 3000; now += 500) expect(s.get(a.id)).not.toBeNull();
    now = 3000;
    expect(s.get(a.id)).toBeNull();
  });

  it('keeps at most `max` sessions, dropping the oldest', () => {
    const s = new Sessions({ lifetimeMs: 10_000, idleMs: 10_000, max: 3 }, () => 0);
    const ids = Array.from({ length: 5 }, () => s.create(token, 'h').id);
    expect(s.size).toBe(3);
    expect(s.get(ids[0])).toBeNull();
    expect(s.get(ids[1])).toBeNull();
    expect(s.get(ids[4])).not.toBeNull();
    expect(s.get(undefined)).toBeNull();
  });

  it('parses cookies (first value wins) and writes HttpOnly SameSite=Strict ones', () => {
    expect(parseCookies('a=1; mg_console=xyz; a=2; junk')).toEqual({ a: '1', mg_console: 'xyz' });
    expect(cookie('mg_console', 'v', { maxAgeS: 60, secure: false })).toBe('mg_console=v; Path=/console; HttpOnly; SameSite=Strict; Max-Age=60');
    expect(cookie('mg_console', 'v', { maxAgeS: 60, secure: true })).toMatch(/; Secure$/);
    expect(sameSecret('abc', 'abc')).toBe(true);
    expect(sameSecret('abd', 'abc')).toBe(false);
    expect(sameSecret('ab', 'abc')).toBe(false);
    expect(sameSecret(undefined, 'abc')).toBe(false);
  });
});

describe('console escaping, CSV cells and filters', () => {
  it('escapes markup and shows bidi and control characters', () => {
    expect(esc(`<a href='x'>"&`)).toBe('&lt;a href=&#39;x&#39;&gt;&quot;&amp;');
    expect(esc('a\u202Eb\u0007c')).toBe('a&lt;U+202E&gt;b&lt;U+0007&gt;c');
    expect(esc(null)).toBe('');
  });

  it('defuses spreadsheet formulas and quotes every cell', () => {
    expect(csvCell('=1+1')).toBe(`"'=1+1"`);
    expect(csvCell('+1')).toBe(`"'+1"`);
    expect(csvCell('-1')).toBe(`"'-1"`);
    expect(csvCell('@SUM(A1)')).toBe(`"'@SUM(A1)"`);
    expect(csvCell('\t=x')).toBe(`"'\t=x"`);
    expect(csvCell('a "b", c')).toBe('"a ""b"", c"');
    expect(csvCell(null)).toBe('""');
    expect(csvCell(42)).toBe('"42"');
  });

  it('reads a bare day as the whole UTC day and refuses nonsense', () => {
    const p = parseFilters({ since: '2026-03-01', until: '2026-03-01', verdict: 'block', limit: '20', before: '99' });
    expect(p.ok && p.query).toEqual({ since: '2026-03-01T00:00:00.000Z', until: '2026-03-02T00:00:00.000Z', verdict: 'block' });
    expect(p.ok && [p.before, p.limit]).toEqual([99, 20]);
    expect(parseFilters({ until: '2026-03-01T12:00:00Z' }).ok && (parseFilters({ until: '2026-03-01T12:00:00Z' }) as { query: { until?: string } }).query.until).toBe('2026-03-01T12:00:00.000Z');
    for (const bad of [{ verdict: 'maybe' }, { since: 'yesterday' }, { limit: '0' }, { limit: '201' }, { before: '-1' }, { sha256: 'abc' }]) {
      expect(parseFilters(bad).ok, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('overview day counts', () => {
  /** A store whose past days each hold one allow per count made so far, and whose today holds 7 blocks. */
  function fakeStore() {
    const calls: Array<[string, string | undefined]> = [];
    let gate: Promise<void> | null = null;
    const store = {
      auditDays: async (since: string, until?: string) => {
        calls.push([since, until]);
        if (gate) await gate;
        if (until === undefined) return [{ day: since.slice(0, 10), allow: 0, warn: 0, block: 7, error: 0 }];
        const out = [];
        for (let t = Date.parse(since); t < Date.parse(until); t += 86_400_000) out.push({ day: new Date(t).toISOString().slice(0, 10), allow: calls.length, warn: 0, block: 0, error: 0 });
        return out;
      },
    } as unknown as Store;
    return { store, calls, hold: (p: Promise<void> | null) => (gate = p) };
  }
  const W = { since: '2026-03-01T00:00:00.000Z', todayStart: '2026-03-03T00:00:00.000Z' };
  const past = (calls: Array<[string, string | undefined]>) => calls.filter(([, u]) => u !== undefined);

  it('counts the past days in the background, one query each, so a view counts only today', async () => {
    const { store, calls } = fakeStore();
    const now = 0;
    const cache = new DayCache(store, 1000, () => now);
    await cache.refresh(W);
    expect(past(calls)).toEqual([
      ['2026-03-01T00:00:00.000Z', '2026-03-02T00:00:00.000Z'],
      ['2026-03-02T00:00:00.000Z', '2026-03-03T00:00:00.000Z'],
    ]);
    calls.length = 0;
    const a = await cache.days(W.since, W.todayStart);
    expect(a).toEqual([
      { day: '2026-03-01', allow: 1, warn: 0, block: 0, error: 0 },
      { day: '2026-03-02', allow: 2, warn: 0, block: 0, error: 0 },
      { day: '2026-03-03', allow: 0, warn: 0, block: 7, error: 0 },
    ]);
    expect(calls).toEqual([['2026-03-03T00:00:00.000Z', undefined]]);
  });

  it('serves counts past their age at once and recounts them behind the view', async () => {
    const { store, calls, hold } = fakeStore();
    let now = 0;
    const cache = new DayCache(store, 1000, () => now);
    await cache.refresh(W);
    now = 1500;
    let release!: () => void;
    hold(new Promise<void>((r) => (release = r)));
    calls.length = 0;
    // The view does not wait for the recount it started (held here until released).
    const view = cache.days(W.since, W.todayStart);
    release();
    expect((await view).map((d) => d.allow)).toEqual([1, 2, 0]);
    hold(null);
    await cache.refresh(W);
    expect(past(calls).length).toBe(2);
    // The store's 2nd and 3rd counts since the reset (after the view's today): the recount the
    // view started, which the explicit one joined.
    expect((await cache.days(W.since, W.todayStart)).map((d) => d.allow)).toEqual([2, 3, 0]);
  });

  it('after midnight counts only the day that left "today", and a view during the warm-up waits for it', async () => {
    const { store, calls, hold } = fakeStore();
    const cache = new DayCache(store, 60_000, () => 0);
    let release!: () => void;
    hold(new Promise<void>((r) => (release = r)));
    const warming = cache.refresh(W);
    const view = cache.days(W.since, W.todayStart);
    release();
    hold(null);
    await Promise.all([warming, view]);
    // The view counted no past day itself: the warm-up did.
    expect(past(calls).length).toBe(2);
    calls.length = 0;
    await cache.days('2026-03-02T00:00:00.000Z', '2026-03-04T00:00:00.000Z');
    expect(calls).toEqual([
      ['2026-03-03T00:00:00.000Z', '2026-03-04T00:00:00.000Z'],
      ['2026-03-04T00:00:00.000Z', undefined],
    ]);
  });

  it('starts warm-ups from a timer and stops them', async () => {
    const { store, calls } = fakeStore();
    const cache = new DayCache(store, 60_000, () => 0);
    cache.start(() => W, 10_000);
    await cache.stop();
    expect(past(calls).length).toBe(2);
  });
});

describe('overview top lists (Kept)', () => {
  it('waits only for a key it has no value for, and serves an old value while recomputing it', async () => {
    let now = 0;
    let n = 0;
    let release: (() => void) | null = null;
    const kept = new Kept(async (key: string) => {
      const mine = ++n;
      if (mine === 2) await new Promise<void>((r) => (release = r));
      return `${key}#${mine}`;
    }, 1000, () => now);
    expect(await kept.get('a')).toBe('a#1');
    now = 1001;
    // Too old: the view gets the old value at once, and the recount (held) goes on behind it.
    expect(await kept.get('a')).toBe('a#1');
    expect(await kept.get('a')).toBe('a#1');
    expect(n).toBe(2);
    release!();
    await kept.refresh('a');
    expect(await kept.get('a')).toBe('a#2');
    // A new key (a new day's window) is computed for the view that asks.
    expect(await kept.get('b')).toBe('b#3');
  });
});

describe('login throttle', () => {
  it('refuses an address after 3 failures in the window, until the oldest leaves it', () => {
    let now = 0;
    const t = new LoginThrottle(3, 1000, 100, () => now);
    for (let i = 0; i < 3; i++) {
      expect(t.blockedFor('a')).toBe(0);
      t.fail('a');
      now += 100;
    }
    expect(t.blockedFor('a')).toBe(1);
    expect(t.blockedFor('b')).toBe(0);
    now = 1000;
    expect(t.blockedFor('a')).toBe(0);
    t.fail('a');
    t.succeed('a');
    expect(t.blockedFor('a')).toBe(0);
  });

  it('counts an IPv6 client by its /64 (it can rotate through all of it), and an IPv4-mapped address as IPv4', () => {
    const t = new LoginThrottle(3, 60_000, 100, () => 0);
    for (const a of ['2001:db8:1:2::1', '2001:db8:1:2::abcd', '2001:0db8:0001:0002:ffff:ffff:ffff:ffff']) t.fail(a);
    expect(t.blockedFor('2001:db8:1:2:dead:beef::7')).toBe(60);
    expect(t.blockedFor('2001:db8:1:3::1')).toBe(0);
    for (let i = 0; i < 3; i++) t.fail('::ffff:10.0.0.1');
    expect(t.blockedFor('10.0.0.1')).toBe(60);
    expect(t.blockedFor('10.0.0.2')).toBe(0);
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
  });
});
