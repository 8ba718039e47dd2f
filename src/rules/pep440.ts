/**
 * Just enough PEP 440 to decide whether a client's library version falls in an advisory's range:
 * version parsing (epoch, release, pre, post, dev, local), total ordering, and comma-separated
 * specifier lists. Inputs come from User-Agent headers and declared environments, so parsing is
 * bounded and returns null on anything odd instead of guessing.
 */

export type PreTag = 'a' | 'b' | 'rc';

export interface Pep440Version {
  readonly epoch: number;
  readonly release: readonly number[];
  readonly pre: readonly [PreTag, number] | null;
  readonly post: number | null;
  readonly dev: number | null;
  /** Local label segments (`+cpu`, `+cu121.post1`); numbers stay numbers. */
  readonly local: readonly (number | string)[] | null;
}

export type Operator = '<' | '<=' | '>' | '>=' | '==' | '!=' | '~=' | '===';

export interface Specifier {
  readonly op: Operator;
  readonly text: string;
  /** Absent for `===`, which compares strings. */
  readonly version: Pep440Version | null;
  /** `==1.2.*` / `!=1.2.*`: compare on the release prefix only. */
  readonly wildcard: boolean;
}

/** All specifiers must hold (PEP 440 comma = AND). */
export type Range = readonly Specifier[];

const MAX_VERSION_LENGTH = 64;
const MAX_RELEASE_SEGMENTS = 12;
// Larger numbers lose precision as doubles; no real release needs them.
const MAX_DIGITS = 15;

const VERSION_RE = new RegExp(
  '^v?' +
    '(?:(?<epoch>[0-9]+)!)?' +
    '(?<release>[0-9]+(?:\\.[0-9]+)*)' +
    '(?:[-_.]?(?<preL>alpha|beta|preview|pre|rc|a|b|c)[-_.]?(?<preN>[0-9]+)?)?' +
    '(?:-(?<postImplicit>[0-9]+)|[-_.]?(?<postL>post|rev|r)[-_.]?(?<postN>[0-9]+)?)?' +
    '(?<devL>[-_.]?dev[-_.]?(?<devN>[0-9]+)?)?' +
    '(?:\\+(?<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?$',
);

function num(s: string | undefined, dflt: number): number | null {
  if (s === undefined) return dflt;
  if (s.length > MAX_DIGITS) return null;
  return Number(s);
}

const PRE_NAMES: Record<string, PreTag> = { a: 'a', alpha: 'a', b: 'b', beta: 'b', c: 'rc', rc: 'rc', pre: 'rc', preview: 'rc' };

export function parseVersion(input: string): Pep440Version | null {
  if (typeof input !== 'string' || input.length === 0 || input.length > MAX_VERSION_LENGTH) return null;
  const m = VERSION_RE.exec(input.trim().toLowerCase());
  if (!m?.groups) return null;
  const g = m.groups;
  const epoch = num(g['epoch'], 0);
  const parts = g['release']!.split('.');
  if (epoch === null || parts.length > MAX_RELEASE_SEGMENTS || parts.some((p) => p.length > MAX_DIGITS)) return null;
  const release = parts.map(Number);
  let pre: [PreTag, number] | null = null;
  if (g['preL'] !== undefined) {
    const n = num(g['preN'], 0);
    if (n === null) return null;
    pre = [PRE_NAMES[g['preL']]!, n];
  }
  let post: number | null = null;
  if (g['postImplicit'] !== undefined) post = num(g['postImplicit'], 0);
  else if (g['postL'] !== undefined) post = num(g['postN'], 0);
  if ((g['postImplicit'] !== undefined || g['postL'] !== undefined) && post === null) return null;
  let dev: number | null = null;
  if (g['devL'] !== undefined) {
    dev = num(g['devN'], 0);
    if (dev === null) return null;
  }
  let local: (number | string)[] | null = null;
  if (g['local'] !== undefined) {
    local = g['local'].split(/[-_.]/).map((seg) => (/^[0-9]+$/.test(seg) && seg.length <= MAX_DIGITS ? Number(seg) : seg));
  }
  return { epoch, release, pre, post, dev, local };
}

const cmp = (a: number, b: number): number => (a < b ? -1 : a > b ? 1 : 0);
const PRE_ORDER: Record<PreTag, number> = { a: 0, b: 1, rc: 2 };

function compareRelease(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const c = cmp(a[i] ?? 0, b[i] ?? 0);
    if (c !== 0) return c;
  }
  return 0;
}

// PEP 440 ordering: X.devN < X.aN < X.bN < X.rcN < X < X.postN, and dev releases of a pre or post
// sort before it. Encoded as keys where "absent" is -inf or +inf depending on the field.
function preKey(v: Pep440Version): [number, number] {
  if (v.pre === null && v.post === null && v.dev !== null) return [-Infinity, 0];
  if (v.pre === null) return [Infinity, 0];
  return [PRE_ORDER[v.pre[0]], v.pre[1]];
}

function compareLocal(a: Pep440Version['local'], b: Pep440Version['local']): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined || y === undefined) return x === undefined ? -1 : 1;
    if (typeof x === 'number' && typeof y === 'number') {
      if (x !== y) return cmp(x, y);
    } else if (typeof x === 'string' && typeof y === 'string') {
      if (x !== y) return x < y ? -1 : 1;
    } else return typeof x === 'number' ? 1 : -1; // numeric segments sort after alphanumeric ones
  }
  return 0;
}

export function compareVersions(a: Pep440Version, b: Pep440Version): number {
  if (a.epoch !== b.epoch) return cmp(a.epoch, b.epoch);
  const r = compareRelease(a.release, b.release);
  if (r !== 0) return r;
  const [pa, pb] = [preKey(a), preKey(b)];
  if (pa[0] !== pb[0]) return cmp(pa[0], pb[0]);
  if (pa[1] !== pb[1]) return cmp(pa[1], pb[1]);
  const post = cmp(a.post ?? -Infinity, b.post ?? -Infinity);
  if (post !== 0) return post;
  const dev = cmp(a.dev ?? Infinity, b.dev ?? Infinity);
  if (dev !== 0) return dev;
  return compareLocal(a.local, b.local);
}

export function isPrerelease(v: Pep440Version): boolean {
  return v.pre !== null || v.dev !== null;
}

const withoutLocal = (v: Pep440Version): Pep440Version => (v.local === null ? v : { ...v, local: null });

const SPEC_RE = /^(===|~=|==|!=|<=|>=|<|>)\s*(\S+)$/;

export function parseSpecifier(input: string): Specifier | null {
  const m = SPEC_RE.exec(input.trim());
  if (!m) return null;
  const op = m[1] as Operator;
  let text = m[2]!;
  if (op === '===') return text.length <= MAX_VERSION_LENGTH ? { op, text: input.trim(), version: null, wildcard: false } : null;
  const wildcard = text.endsWith('.*');
  if (wildcard) {
    if (op !== '==' && op !== '!=') return null;
    text = text.slice(0, -2);
  }
  const version = parseVersion(text);
  if (!version) return null;
  if (op === '~=' && version.release.length < 2) return null;
  if (wildcard && (version.local !== null || version.dev !== null || version.post !== null)) return null;
  return { op, text: input.trim(), version, wildcard };
}

/** `">=3.0.0,<3.9.0"` → both specifiers; null if any part is malformed or the list is empty. */
export function parseRange(input: string): Range | null {
  if (typeof input !== 'string' || input.length > 256) return null;
  const parts = input.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.length > 8 || parts.some((p) => p === '')) return null;
  const specs = parts.map(parseSpecifier);
  return specs.every((s): s is Specifier => s !== null) ? specs : null;
}

function prefixMatches(v: Pep440Version, prefix: Pep440Version): boolean {
  if (v.epoch !== prefix.epoch) return false;
  const n = prefix.release.length;
  for (let i = 0; i < n; i++) if ((v.release[i] ?? 0) !== prefix.release[i]) return false;
  if (prefix.pre === null) return true;
  return v.pre !== null && v.pre[0] === prefix.pre[0] && v.pre[1] === prefix.pre[1];
}

/**
 * Plain ordering, as advisory databases compare versions: a pre-release of the fixed version
 * (`2.6.0rc1` against `<2.6.0`) counts as affected, because a candidate may predate the fix.
 * The candidate's local label is ignored unless the specifier has one (`2.5.1+cpu` is 2.5.1).
 */
export function satisfies(v: Pep440Version, spec: Specifier, raw?: string): boolean {
  if (spec.op === '===') return raw !== undefined && raw.trim().toLowerCase() === spec.text.slice(3).trim().toLowerCase();
  const target = spec.version!;
  const cand = target.local === null ? withoutLocal(v) : v;
  if (spec.wildcard) {
    const inPrefix = prefixMatches(cand, target);
    return spec.op === '==' ? inPrefix : !inPrefix;
  }
  const c = compareVersions(cand, target);
  switch (spec.op) {
    case '<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '>':
      return c > 0;
    case '>=':
      return c >= 0;
    case '==':
      return c === 0;
    case '!=':
      return c !== 0;
    case '~=': {
      const upper = { epoch: target.epoch, release: target.release.slice(0, -1), pre: null, post: null, dev: null, local: null };
      return c >= 0 && prefixMatches(cand, upper);
    }
  }
  return false;
}

export function inRange(v: Pep440Version, range: Range, raw?: string): boolean {
  return range.every((s) => satisfies(v, s, raw));
}
