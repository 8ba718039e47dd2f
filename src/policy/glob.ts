/**
 * Repository globs: `meta-llama/*`, `gpt2`, `datasets/org/*`, and `*` for any organisation.
 * `*` and `?` stop at `/` so `org/*` never reaches into another organisation; `**` crosses it.
 * Matching ignores case because the Hub resolves repo ids without regard to case: a deny entry
 * must not be sidestepped by writing `Evil-Org/model`.
 */

export interface RepoRef {
  type: 'model' | 'dataset';
  id: string;
}

/** What a glob may contain: Hub repo id characters plus the wildcards. */
export const GLOB_PATTERN = /^(?:(?:models|datasets)\/)?[A-Za-z0-9._*?-]+(?:\/[A-Za-z0-9._*?-]+)?$/;
const DOUBLE_STAR = /^(?:(?:models|datasets)\/)?\*\*$/;

export function isValidGlob(glob: string): boolean {
  return glob.length <= 200 && (GLOB_PATTERN.test(glob) || DOUBLE_STAR.test(glob));
}

const compiled = new Map<string, RegExp>();

function toRegExp(glob: string): RegExp {
  let re = compiled.get(glob);
  if (re) return re;
  let src = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*') {
      if (glob[i + 1] === '*') {
        src += '.*';
        i++;
      } else src += '[^/]*';
    } else if (ch === '?') src += '[^/]';
    else src += ch.replace(/[.\-\\^$+()[\]{}|]/g, '\\$&');
  }
  re = new RegExp(`^${src}$`, 'i');
  compiled.set(glob, re);
  return re;
}

/**
 * A `models/` or `datasets/` prefix restricts the glob to that repository type; without one it
 * matches both, as the Hub's own ids do.
 */
export function repoMatches(glob: string, repo: RepoRef): boolean {
  let pattern = glob;
  if (pattern.startsWith('datasets/')) {
    if (repo.type !== 'dataset') return false;
    pattern = pattern.slice('datasets/'.length);
  } else if (pattern.startsWith('models/')) {
    if (repo.type !== 'model') return false;
    pattern = pattern.slice('models/'.length);
  }
  return toRegExp(pattern).test(repo.id);
}

export function firstMatch(globs: readonly string[], repo: RepoRef): string | null {
  for (const g of globs) if (repoMatches(g, repo)) return g;
  return null;
}
