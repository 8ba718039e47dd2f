/** URL parsing of the local hub: the readings a path admits, and what is refused before any disk access. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkRelativePath, parseRoute, type Route } from '../../src/hub/paths.js';
import { parseRange } from '../../src/hub/server.js';

function routes(p: string): Route[] {
  const r = parseRoute(p);
  if (!r.ok) throw new Error(`${p}: ${r.error.status} ${r.error.message}`);
  return r.value;
}

describe('parseRoute', () => {
  it('resolve: two-segment reading first, one-segment second', () => {
    const r = routes('/a/b/resolve/main/x/y.bin');
    expect(r).toEqual([{ kind: 'resolve', repo: { kind: 'model', id: 'a/b', segments: ['a', 'b'] }, rev: 'main', path: 'x/y.bin', raw: false }]);
    const both = routes('/a/resolve/resolve/main/f');
    expect(both.map((x) => (x.kind === 'resolve' ? [x.repo.id, x.rev, x.path] : null))).toEqual([
      ['a/resolve', 'main', 'f'],
      ['a', 'resolve', 'main/f'],
    ]);
  });

  it('revisions are decoded after splitting: refs%2Fpr%2F1 is one revision', () => {
    const [r] = routes('/a/b/resolve/refs%2Fpr%2F1/f.txt');
    expect(r).toMatchObject({ rev: 'refs/pr/1', path: 'f.txt' });
  });

  it('datasets and API routes', () => {
    expect(routes('/datasets/o/d/resolve/main/t.csv')[0]).toMatchObject({ kind: 'resolve', repo: { kind: 'dataset', id: 'o/d' } });
    expect(routes('/api/models/o/m/tree/main/sub%2Fdir')[0]).toMatchObject({ kind: 'api', action: { op: 'tree', rev: 'main', path: 'sub/dir' } });
    expect(routes('/api/datasets/o/d/paths-info/abc')[0]).toMatchObject({ kind: 'api', repo: { kind: 'dataset' }, action: { op: 'paths-info', rev: 'abc' } });
    expect(routes('/api/models/o/m/revision/main')[0]).toMatchObject({ action: { op: 'info', rev: 'main' } });
    expect(routes('/api/models')[0]).toEqual({ kind: 'list', repoKind: 'model' });
    // Both readings of an ambiguous refs URL are offered; the server picks the one that exists.
    expect(routes('/api/models/gpt2/refs').map((x) => (x.kind === 'api' ? [x.repo.id, x.action.op] : null))).toEqual([
      ['gpt2/refs', 'info'],
      ['gpt2', 'refs'],
    ]);
  });

  it('refuses what is not a valid repo id, revision or path', () => {
    const refused = ['/a%2Fb/resolve/main/f', '/a/../resolve/main/f', '/a/b/resolve/main/', '/a/b/resolve/main/x//y', '/a/b/resolve/main/%2e%2e/x', '/a-/b/resolve/main/f', '/a--b/c/resolve/main/f', '/api/models/a/b/tree/main/%00', '/spaces/a/b/resolve/main/f', '/api/spaces/a/b'];
    for (const p of refused) expect(parseRoute(p).ok, p).toBe(false);
  });

  it('no accepted path ever escapes: arbitrary strings either fail or have only clean segments', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', '..', '.', '%2F', '%2e', '%00', '/', '\\', '%5C', 'b.bin', '%2E%2E', ''), { maxLength: 12 }), (parts) => {
        const r = parseRoute('/o/m/resolve/main/' + parts.join(''));
        if (!r.ok) return;
        for (const route of r.value) {
          if (route.kind !== 'resolve') continue;
          expect(checkRelativePath(route.path).ok).toBe(true);
          for (const seg of route.path.split('/')) expect(['', '.', '..']).not.toContain(seg);
          expect(route.path).not.toMatch(/[\\\u0000]/);
        }
      }),
    );
  });
});

describe('parseRange', () => {
  it('the single-range forms, unsatisfiable ones and ignored ones', () => {
    expect(parseRange('bytes=0-0', 10)).toEqual({ start: 0, end: 0 });
    expect(parseRange('bytes=3-', 10)).toEqual({ start: 3, end: 9 });
    expect(parseRange('bytes=-4', 10)).toEqual({ start: 6, end: 9 });
    expect(parseRange('bytes=-40', 10)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=5-100', 10)).toEqual({ start: 5, end: 9 });
    expect(parseRange('bytes=10-', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-0', 0)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=5-2', 10)).toBeNull();
    expect(parseRange('items=0-1', 10)).toBeNull();
    expect(parseRange(undefined, 10)).toBeNull();
  });
});
