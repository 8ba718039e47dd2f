/** Console sessions: absolute lifetime, idle timeout, bounded count; cookies and their parsing. */
import { describe, expect, it } from 'vitest';
import { cookie, LoginThrottle, parseCookies, sameSecret, Sessions } from '../../src/gateway/console/session.js';
import { addressKey } from '../../src/gateway/throttle.js';
import { csvCell } from '../../src/gateway/console/export.js';
import { esc } from '../../src/gateway/console/html.js';
import { parseFilters } from '../../src/gateway/console/filters.js';
import { DayCache } from '../../src/gateway/console/day-cache.js';
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
  it('counts past days once per interval and today on every view', async () => {
    const calls: Array<[string, string | undefined]> = [];
    const store = {
      auditDays: async (since: string, until?: string) => {
        calls.push([since, until]);
        return until ? [{ day: '2026-03-01', allow: 1, warn: 0, block: 0, error: 0 }] : [{ day: '2026-03-02', allow: 0, warn: 0, block: calls.length, error: 0 }];
      },
    } as unknown as Store;
    let now = 0;
    const cache = new DayCache(store, 1000, () => now);
    const a = await cache.days('2026-03-01T00:00:00.000Z', '2026-03-02T00:00:00.000Z');
    expect(a.map((d) => d.day)).toEqual(['2026-03-01', '2026-03-02']);
    now = 500;
    const b = await cache.days('2026-03-01T00:00:00.000Z', '2026-03-02T00:00:00.000Z');
    expect(b[1]!.block).toBe(3);
    expect(calls.filter(([, u]) => u !== undefined)).toHaveLength(1);
    now = 1501;
    await cache.days('2026-03-01T00:00:00.000Z', '2026-03-02T00:00:00.000Z');
    expect(calls.filter(([, u]) => u !== undefined)).toHaveLength(2);
    // A new day moves the window: recounted at once.
    await cache.days('2026-03-02T00:00:00.000Z', '2026-03-03T00:00:00.000Z');
    expect(calls.filter(([, u]) => u !== undefined)).toHaveLength(3);
    expect(calls.filter(([, u]) => u === undefined)).toHaveLength(4);
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
