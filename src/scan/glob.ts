/**
 * Path globs for `scan --include` / `--exclude` and the `path` of accepted-findings entries.
 * Our own small matcher: node's path.matchesGlob is still experimental on Node 20 and prints a
 * warning on stderr, which a CI step's output (and our one-line error contract) cannot carry.
 *
 * Semantics, close to .gitignore so they read as people expect:
 * - Paths are relative, with `/` separators (`sub/model.pt`).
 * - `*` matches any characters but `/`; `?` one character but `/`; `[abc]`, `[a-z]`, `[!a]`
 *   one character of (or not of) a set; `{pt,bin}` one of the alternatives; `\` quotes the
 *   next character. `**` as a whole segment matches any number of directories, none included.
 *   Dot files are matched like any other file. Matching is case-sensitive.
 * - A pattern without `/` matches a name at any depth (`*.pt`, `tests`); one with `/` matches
 *   from the start of the path (`models/*.bin`, `models/**`). A leading `/` or `./` only
 *   anchors; a trailing `/` restricts the pattern to directories.
 * - A pattern matches a file when it matches the file's path or any directory containing it:
 *   `tests` and `models/legacy` cover everything below them.
 */

export class GlobError extends Error {}

export interface PathGlob {
  readonly source: string;
  /** Matches a whole path (anchored patterns) or a single name (patterns without `/`). */
  readonly re: RegExp;
  readonly anchored: boolean;
  /** From a trailing `/`: matches directories containing the file, never the file itself. */
  readonly dirOnly: boolean;
}

const MAX_PATTERN = 1000;

export function compilePathGlob(pattern: string): PathGlob {
  if (pattern.length === 0) throw new GlobError('empty pattern');
  if (pattern.length > MAX_PATTERN) throw new GlobError(`pattern longer than ${MAX_PATTERN} characters`);
  let p = pattern.replace(/^(?:\.\/)+/, '');
  let anchored = false;
  if (p.startsWith('/')) {
    anchored = true;
    p = p.replace(/^\/+/, '');
  }
  const dirOnly = p.endsWith('/');
  p = p.replace(/\/+$/, '');
  if (p === '') throw new GlobError(`pattern '${pattern}' names no path`);
  if (p.includes('/')) anchored = true;
  return { source: pattern, re: new RegExp(`^${translate(p, pattern)}$`), anchored, dirOnly };
}

/** Glob text to a regular-expression source (without anchors). */
function translate(p: string, original: string): string {
  let out = '';
  let depth = 0;
  for (let i = 0; i < p.length; i++) {
    const ch = p[i]!;
    if (ch === '\\') {
      if (i + 1 >= p.length) throw new GlobError(`pattern '${original}' ends with a lone \\`);
      out += escapeRe(p[++i]!);
    } else if (ch === '*') {
      let j = i;
      while (p[j + 1] === '*') j++;
      const double = j > i;
      const segStart = i === 0 || p[i - 1] === '/';
      const segEnd = j + 1 === p.length || p[j + 1] === '/';
      if (double && segStart && segEnd) {
        if (j + 1 === p.length) {
          // `a/**` also matches `a` itself; `**` alone matches everything.
          if (out.endsWith('/')) out = `${out.slice(0, -1)}(?:/.*)?`;
          else out += '.*';
        } else {
          // `**/` matches zero or more whole directories.
          out += '(?:[^/]*/)*';
          j++;
        }
      } else out += '[^/]*';
      i = j;
    } else if (ch === '?') out += '[^/]';
    else if (ch === '[') {
      const end = classEnd(p, i);
      if (end < 0) throw new GlobError(`pattern '${original}' has an unclosed [`);
      let body = p.slice(i + 1, end);
      let negate = false;
      if (body.startsWith('!') || body.startsWith('^')) {
        negate = true;
        body = body.slice(1);
      }
      const chars = body.replace(/\\(.)/g, '$1').replace(/[\\\]^]/g, '\\$&');
      out += negate ? `[^/${chars}]` : `[${chars}]`;
      i = end;
    } else if (ch === '{') {
      out += '(?:';
      depth++;
    } else if (ch === ',' && depth > 0) out += '|';
    else if (ch === '}' && depth > 0) {
      out += ')';
      depth--;
    } else out += escapeRe(ch);
  }
  if (depth > 0) throw new GlobError(`pattern '${original}' has an unclosed {`);
  return out;
}

/** Index of the `]` closing the class opened at `start`, or -1. A `]` first in the class is a member. */
function classEnd(p: string, start: number): number {
  let i = start + 1;
  if (p[i] === '!' || p[i] === '^') i++;
  if (p[i] === ']') i++;
  for (; i < p.length; i++) {
    if (p[i] === '\\') i++;
    else if (p[i] === ']') return i;
    else if (p[i] === '/') return -1;
  }
  return -1;
}

function escapeRe(ch: string): string {
  return ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `a/b/c.pt` → `a/b/c.pt` normalised: `/` separators, no `./`, no empty segments. */
export function normaliseRelative(path: string): string {
  return path
    .replace(/\\/g, '/')
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/');
}

/** Whether the glob matches `relPath` or one of the directories containing it. */
export function globMatches(g: PathGlob, relPath: string): boolean {
  const parts = normaliseRelative(relPath).split('/');
  const last = g.dirOnly ? parts.length - 1 : parts.length;
  for (let n = 1; n <= last; n++) {
    const candidate = g.anchored ? parts.slice(0, n).join('/') : parts[n - 1]!;
    if (g.re.test(candidate)) return true;
  }
  return false;
}

/** Whether the glob matches this directory itself (a directory excluded is not walked). */
export function globMatchesDirectory(g: PathGlob, relDir: string): boolean {
  const rel = normaliseRelative(relDir);
  if (rel === '') return false;
  const candidate = g.anchored ? rel : rel.slice(rel.lastIndexOf('/') + 1);
  return g.re.test(candidate);
}
