/**
 * rules/globals-facts.json in a form that loads in a few milliseconds, written by the build
 * (src/rules/compile.ts): dist/rules/globals-facts.json.json holds the small parts as JSON
 * (provenance, counts, the reaches facts) and where each piece of the lookup tables lies in
 * dist/rules/globals-facts.tables. Parsing the 1.3 MB JSON and building its maps was the largest
 * cost of a small pickle scan after start-up (about 50 ms of CPU, most of it allocating ~40,000
 * strings). The tables are split into buckets by the first segment of the path (a lookup reads
 * only its bucket, ~15 KB, from the file), each a sorted string searched by bisection without
 * being split or indexed: `|path target|path target|...|`.
 *
 * It answers exactly as parseGlobalFacts does: the tables are built from the same precedence
 * rules (a module alias before a re-export; `module` for a module alias, else the first kind
 * listing the name), and only with keys a lookup can reach (a name is split at its last dot).
 * test/rules/compiled-catalogues.test.ts checks every key, and misses, against the parsed JSON.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { checkFactNames, parseGlobalFacts, type FactsProvenance, type GlobalFacts, type GlobalKind, type ReachFact } from './globals-facts.js';

/** The tables text beside the compiled header, in dist/rules. */
export const FACTS_TABLES = 'globals-facts.tables';

/** Where one bucket's table lies in the tables text: [offset, length]. */
export type Slice = [number, number];

export interface CompiledFacts {
  generated: FactsProvenance;
  reaches: ReachFact[];
  moduleAliasCount: number;
  reexportCount: number;
  maxDepth: number;
  buckets: number;
  /** Per bucket, `|path target|...|` sorted by path: module aliases (target marked `=`), and re-exports no alias shadows. */
  rewrites: Slice[];
  /** Per bucket, `|path kind|...|` sorted by path, module aliases left out (the rewrites table has them). */
  kinds: Slice[];
  /** Length of the tables text, checked before it is read. */
  tablesLength: number;
}

const BUCKETS = 64;

/** The bucket of a path: FNV-1a of its first segment, so a module's names share one bucket. */
export function bucketOf(path: string, buckets: number): number {
  const dot = path.indexOf('.');
  const end = dot < 0 ? path.length : dot;
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) {
    h ^= path.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % buckets;
}

const SEP = '|';
/** Marks a rewrite that is a module alias (kind `module`), e.g. `random._os =os`. */
const ALIAS = '=';

/** Where a lookup splits a path: module and name at the last dot ('' module when there is none). */
function split(path: string): [string, string] {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? ['', path] : [path.slice(0, dot), path.slice(dot + 1)];
}

function join(mod: string, name: string): string {
  return mod === '' ? name : `${mod}.${name}`;
}

/** The bucketed tables of `entries`, appended to `out`; returns each bucket's slice. */
function tables(entries: Map<string, string>, out: string[], at: { offset: number }): Slice[] {
  const byBucket: string[][] = Array.from({ length: BUCKETS }, () => []);
  for (const k of entries.keys()) byBucket[bucketOf(k, BUCKETS)]!.push(k);
  return byBucket.map((keys): Slice => {
    const t = SEP + keys.sort().map((k) => `${k} ${entries.get(k)!}${SEP}`).join('');
    out.push(t);
    const slice: Slice = [at.offset, t.length];
    at.offset += t.length;
    return slice;
  });
}

/**
 * The compiled form of the facts text: the header and the tables text (ASCII). Throws as
 * parseGlobalFacts does, or on a name that is not dotted.
 */
export function compileFacts(text: string, file = 'globals-facts.json'): { header: CompiledFacts; tables: string } {
  const facts = parseGlobalFacts(text, file);
  // The separators (space, |) can never occur in a dotted name; checked, since the tables rely on it.
  const badNames = checkFactNames(text);
  if (badNames.length) throw new Error(`${file}: not dotted Python names: ${badNames.slice(0, 5).join(', ')}`);
  const doc = JSON.parse(text) as {
    moduleAliases: Record<string, string[]>;
    reexports: Record<string, Record<string, string>>;
    kinds: Record<string, Record<string, unknown>>;
  };
  const aliases = new Map<string, string>();
  for (const [target, paths] of Object.entries(doc.moduleAliases)) for (const p of paths) aliases.set(p, target);
  const rewrites = new Map([...aliases].map(([p, target]) => [p, ALIAS + target]));
  for (const [mod, names] of Object.entries(doc.reexports)) {
    for (const [name, def] of Object.entries(names)) {
      const key = join(mod, name);
      const [m, n] = split(key);
      // A lookup of a path without a dot never reaches a re-export.
      if (mod !== '' && m === mod && n === name && !rewrites.has(key)) rewrites.set(key, def);
    }
  }
  const kinds = new Map<string, string>();
  for (const [kind, groups] of Object.entries(doc.kinds)) {
    for (const [mod, names] of Object.entries(groups)) {
      if (!Array.isArray(names)) continue;
      for (const name of names as string[]) {
        const key = join(mod, name);
        const [m, n] = split(key);
        if (m === mod && n === name && !aliases.has(key) && !kinds.has(key)) kinds.set(key, kind);
      }
    }
  }
  const out: string[] = [];
  const at = { offset: 0 };
  const header: CompiledFacts = {
    generated: facts.generated,
    reaches: [...facts.reaches],
    moduleAliasCount: facts.moduleAliasCount,
    reexportCount: facts.reexportCount,
    maxDepth: facts.maxDepth,
    buckets: BUCKETS,
    rewrites: tables(rewrites, out, at),
    kinds: tables(kinds, out, at),
    tablesLength: 0,
  };
  header.tablesLength = at.offset;
  return { header, tables: out.join('') };
}

/**
 * Bisection over `|key value|...|` records sorted by key, straight on the string: each step
 * finds the record around the middle character by the separators on either side (as look(1)
 * does on a sorted file), so nothing is split or indexed first.
 */
function lookup(t: string, key: string): string | undefined {
  // Invariant: t[lo] and t[hi] are separators, and a record equal to key can only lie between them.
  let lo = 0;
  let hi = t.length - 1;
  while (lo < hi) {
    const start = t.lastIndexOf(SEP, (lo + hi) >>> 1);
    const end = t.indexOf(SEP, start + 1);
    if (end < 0 || end > hi) return undefined; // not a table written by compileFacts
    const space = t.indexOf(' ', start + 1);
    const k = t.slice(start + 1, space);
    if (k === key) return t.slice(space + 1, end);
    if (k < key) lo = end;
    else hi = start;
  }
  return undefined;
}

/** Answers remembered per path: a classification asks about every prefix of every suffix. */
const MEMO_LIMIT = 100_000;

function memo(slices: Slice[], buckets: number, read: (slice: Slice) => string): (path: string) => string | undefined {
  const seen = new Map<string, string | undefined>();
  const loaded: Array<string | undefined> = [];
  return (path) => {
    if (seen.has(path)) return seen.get(path);
    // Bounded: a hostile pickle naming endless distinct paths only restarts the memo.
    if (seen.size >= MEMO_LIMIT) seen.clear();
    const b = bucketOf(path, buckets);
    const v = lookup((loaded[b] ??= read(slices[b]!)), path);
    seen.set(path, v);
    return v;
  };
}

/** GlobalFacts answering from the compiled form; `read` returns a slice of the tables text. */
export function compiledFacts(c: CompiledFacts, read: (slice: Slice) => string): GlobalFacts {
  const rewrite = memo(c.rewrites, c.buckets, read);
  const kind = memo(c.kinds, c.buckets, read);
  return {
    generated: c.generated,
    reaches: c.reaches,
    moduleAliasCount: c.moduleAliasCount,
    reexportCount: c.reexportCount,
    maxDepth: c.maxDepth,
    rewrite: (path) => {
      const v = rewrite(path);
      return v !== undefined && v.startsWith(ALIAS) ? v.slice(1) : v;
    },
    kind: (path) => (rewrite(path)?.startsWith(ALIAS) ? 'module' : (kind(path) as GlobalKind | undefined)),
  };
}

/**
 * Reads slices of the tables file (ASCII, written by the build) on demand; null when it is missing
 * or not the length its header records (then the facts JSON is parsed instead). The file stays
 * open for the life of the process, as the catalogue does.
 */
export function tablesReader(path: string, length: number): ((slice: Slice) => string) | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  if (fstatSync(fd).size !== length) {
    closeSync(fd);
    return null;
  }
  return ([offset, len]) => {
    const buf = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const n = readSync(fd, buf, got, len - got, offset + got);
      if (n === 0) throw new Error(`${path}: ends before offset ${offset + len}`);
      got += n;
    }
    return buf.toString('latin1');
  };
}
