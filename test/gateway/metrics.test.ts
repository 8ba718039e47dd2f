/**
 * /metrics stays bounded whatever clients ask for (issue 10, item 5): request labels come from
 * a fixed set of routes, so unknown paths do not each become a new time series.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES, routeLabel } from '../../src/gateway/metrics.js';
import { parseResolve } from '../../src/gateway/paths.js';
import { startStack, type Stack } from './stack.js';

describe('metrics labels', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('200 requests for made-up paths add no route label beyond the fixed set', async () => {
    for (let i = 0; i < 200; i++) {
      const r = await fetch(`${s.base}/made-up-${i}/x`, { headers: { connection: 'close' } });
      await r.arrayBuffer();
    }
    await fetch(`${s.base}/healthz`).then((r) => r.arrayBuffer());
    const text = await (await fetch(`${s.base}/metrics`)).text();
    const routes = new Set([...text.matchAll(/modelgate_requests_total\{route="([^"]*)"/g)].map((m) => m[1]));
    expect(text).not.toContain('made-up');
    expect([...routes].every((r) => (ROUTES as readonly string[]).includes(r!))).toBe(true);
    expect(text).toContain('modelgate_requests_total{route="other",status="404"} 200');
    expect(text).toContain('modelgate_requests_total{route="healthz",status="200"} 1');
  });

  it('labels each kind of path from the fixed set', () => {
    const isResolve = (u: string) => parseResolve(u) !== null;
    expect(routeLabel('/acme/tiny-bert/resolve/main/config.json', isResolve)).toBe('resolve');
    expect(routeLabel('/api/models/acme/tiny-bert', isResolve)).toBe('api');
    expect(routeLabel('/reports/abc?format=json', isResolve)).toBe('reports');
    expect(routeLabel('/admin/audit', isResolve)).toBe('admin');
    expect(routeLabel('/', isResolve)).toBe('root');
    expect(routeLabel('/%00/resolve/main/x', isResolve)).toBe('other');
    expect(routeLabel('/other', isResolve)).toBe('other');
    expect(routeLabel('/resolve', isResolve)).toBe('other');
  });
});
