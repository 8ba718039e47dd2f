/**
 * Which files a path scan takes: `--include` / `--exclude` globs (glob.ts) on paths relative to
 * the directory given (or, for a file given by name, the path as given). A file is scanned when
 * no include is given or one matches, and no exclude matches: an exclude always wins. A
 * directory an exclude matches is not walked at all (`node_modules`, `.git`).
 */
import { compilePathGlob, globMatches, globMatchesDirectory, GlobError, type PathGlob } from './glob.js';

export interface PathSelector {
  readonly include: readonly PathGlob[];
  readonly exclude: readonly PathGlob[];
  /** Whether the file at `relPath` is scanned. */
  selects(relPath: string): boolean;
  /** Whether the directory at `relDir` is skipped without being listed. */
  prunes(relDir: string): boolean;
}

export class SelectorError extends Error {}

export function pathSelector(include: readonly string[], exclude: readonly string[]): PathSelector {
  const compile = (flag: string) => (p: string) => {
    try {
      return compilePathGlob(p);
    } catch (e) {
      if (e instanceof GlobError) throw new SelectorError(`${flag} '${p}': ${e.message}`);
      throw e;
    }
  };
  const inc = include.map(compile('--include'));
  const exc = exclude.map(compile('--exclude'));
  return {
    include: inc,
    exclude: exc,
    selects: (rel) => (inc.length === 0 || inc.some((g) => globMatches(g, rel))) && !exc.some((g) => globMatches(g, rel)),
    prunes: (rel) => exc.some((g) => globMatchesDirectory(g, rel)),
  };
}
