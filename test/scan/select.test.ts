/**
 * The path globs of --include / --exclude and accepted-findings entries (src/scan/glob.ts), and
 * the include/exclude rule built on them (src/scan/select.ts).
 */
import { describe, expect, it } from 'vitest';
import { compilePathGlob, globMatches, GlobError } from '../../src/scan/glob.js';
import { pathSelector, SelectorError } from '../../src/scan/select.js';

const m = (pattern: string, path: string) => globMatches(compilePathGlob(pattern), path);

describe('path globs', () => {
  it('a pattern without / matches a name at any depth, files and directories', () => {
    expect(m('*.pt', 'model.pt')).toBe(true);
    expect(m('*.pt', 'a/b/model.pt')).toBe(true);
    expect(m('*.pt', 'a/model.bin')).toBe(false);
    expect(m('tests', 'tests/x/model.pt')).toBe(true);
    expect(m('tests', 'a/tests/model.pt')).toBe(true);
    expect(m('tests', 'a/tests2/model.pt')).toBe(false);
  });

  it('a pattern with / is anchored at the scanned directory and covers what is below a matched directory', () => {
    expect(m('models/*.bin', 'models/w.bin')).toBe(true);
    expect(m('models/*.bin', 'x/models/w.bin')).toBe(false);
    expect(m('models/*.bin', 'models/sub/w.bin')).toBe(false);
    expect(m('models/legacy', 'models/legacy/a/b.pkl')).toBe(true);
    expect(m('/model.pt', 'model.pt')).toBe(true);
    expect(m('/model.pt', 'sub/model.pt')).toBe(false);
    expect(m('./sub/model.pt', 'sub/model.pt')).toBe(true);
  });

  it('* and ? stop at /; ** crosses directories, none included', () => {
    expect(m('a/*/c.pt', 'a/b/c.pt')).toBe(true);
    expect(m('a/*/c.pt', 'a/b/x/c.pt')).toBe(false);
    expect(m('a/**/c.pt', 'a/c.pt')).toBe(true);
    expect(m('a/**/c.pt', 'a/b/x/c.pt')).toBe(true);
    expect(m('**/c.pt', 'c.pt')).toBe(true);
    expect(m('a/**', 'a/b/c.pt')).toBe(true);
    expect(m('a/**', 'ab/c.pt')).toBe(false);
    expect(m('**', 'anything/at/all')).toBe(true);
    expect(m('model?.pt', 'model1.pt')).toBe(true);
    expect(m('model?.pt', 'model10.pt')).toBe(false);
    expect(m('a?b', 'a/b')).toBe(false);
  });

  it('classes, alternatives, escapes; dot files like any; case counts', () => {
    expect(m('shard-[0-9].bin', 'shard-7.bin')).toBe(true);
    expect(m('shard-[!0-9].bin', 'shard-7.bin')).toBe(false);
    expect(m('shard-[!0-9].bin', 'shard-x.bin')).toBe(true);
    expect(m('*.{pt,bin}', 'w.bin')).toBe(true);
    expect(m('*.{pt,bin}', 'w.pth')).toBe(false);
    expect(m('{a,b/{c,d}}/x', 'b/d/x')).toBe(true);
    expect(m('\\*.pt', '*.pt')).toBe(true);
    expect(m('\\*.pt', 'a.pt')).toBe(false);
    expect(m('*.pt', '.hidden.pt')).toBe(true);
    expect(m('.git', '.git/objects/ab/cd')).toBe(true);
    expect(m('*.PT', 'model.pt')).toBe(false);
    expect(m('a.b', 'axb')).toBe(false);
  });

  it('a trailing / matches directories only', () => {
    expect(m('cache/', 'cache/x.pt')).toBe(true);
    expect(m('cache/', 'cache')).toBe(false);
  });

  it('rejects patterns it cannot read, saying why', () => {
    expect(() => compilePathGlob('')).toThrow(new GlobError('empty pattern'));
    expect(() => compilePathGlob('a[bc')).toThrow(new GlobError("pattern 'a[bc' has an unclosed ["));
    expect(() => compilePathGlob('{a,b')).toThrow(new GlobError("pattern '{a,b' has an unclosed {"));
    expect(() => compilePathGlob('a\\')).toThrow(new GlobError("pattern 'a\\' ends with a lone \\"));
    expect(() => compilePathGlob('/')).toThrow(new GlobError("pattern '/' names no path"));
  });
});

describe('include and exclude', () => {
  it('no include: everything; includes: any of them; an exclude wins', () => {
    const s = pathSelector(['*.pt', 'models'], ['tests', '*.tmp.pt']);
    expect(s.selects('a/model.pt')).toBe(true);
    expect(s.selects('models/w.bin')).toBe(true);
    expect(s.selects('README.md')).toBe(false);
    expect(s.selects('tests/model.pt')).toBe(false);
    expect(s.selects('x.tmp.pt')).toBe(false);
    expect(pathSelector([], ['*.md']).selects('w.bin')).toBe(true);
  });

  it('prunes directories an exclude matches, never for an include', () => {
    const s = pathSelector(['*.pt'], ['node_modules', 'data/cache']);
    expect(s.prunes('node_modules')).toBe(true);
    expect(s.prunes('a/node_modules')).toBe(true);
    expect(s.prunes('data/cache')).toBe(true);
    expect(s.prunes('data')).toBe(false);
    expect(s.prunes('models')).toBe(false);
  });

  it('names the flag of a bad pattern', () => {
    expect(() => pathSelector([], ['ok', '[x'])).toThrow(new SelectorError("--exclude '[x': pattern '[x' has an unclosed ["));
  });
});
