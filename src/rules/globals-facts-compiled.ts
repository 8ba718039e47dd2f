/**
 * rules/globals-facts.json in a form that loads in a few milliseconds, written by the build
 * (src/rules/compile.ts) to dist/rules/globals-facts.json.json. Parsing the 1.3 MB JSON and
 * building its maps was the largest cost of a small pickle scan after start-up (about 50 ms of
 * CPU, most of it allocating ~40,000 strings). The compiled form keeps the small parts as JSON
 * (provenance, counts, the reaches facts) and the two lookup tables as one sorted string each,
 * searched by bisection without being split or indexed: `|path target|path target|...|`.
 *
 * It answers exactly as parseGlobalFacts does: the tables are built from the same precedence
 * rules (a module alias before a re-export; `module` for a module alias, else the first kind
 * listing the name), and only with keys a lookup can reach (a name is split at its last dot).
 * test/rules/compiled-catalogues.test.ts checks every key, and misses, against the parsed JSON.
 */
import { checkFactNames, parseGlobalFacts, type FactsProvenance, type GlobalFacts, type GlobalKind, type ReachFact } from './globals-facts.js';

export interface CompiledFacts {
  generated: FactsProvenance;
  reaches: ReachFact[];
  moduleAliasCount: number;
  reexportCount: number;
  maxDepth: number;
  /** `|path target|...|` sorted by path: module aliases (target marked `=`), and re-exports no alias shadows. */
  rewrites: string;
  /** `|path kind|...|` sorted by path, module aliases left out (the rewrites table has them). */
  kinds: string;
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

function table(entries: Map<string, string>): string {
  const keys = [...entries.keys()].sort();
  return SEP + keys.map((k) => `${k} ${entries.get(k)!}${SEP}`).join('');
}

/** The compiled form of the facts text; throws as parseGlobalFacts does, or on a name that is not dotted. */
export function compileFacts(text: string, file = 'globals-facts.json'): CompiledFacts {
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
  return {
    generated: facts.generated,
    reaches: [...facts.reaches],
    moduleAliasCount: facts.moduleAliasCount,
    reexportCount: facts.reexportCount,
    maxDepth: facts.maxDepth,
    rewrites: table(rewrites),
    kinds: table(kinds),
  };
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

function memo(table: string): (path: string) => string | undefined {
  const seen = new Map<string, string | undefined>();
  return (path) => {
    if (seen.has(path)) return seen.get(path);
    // Bounded: a hostile pickle naming endless distinct paths only restarts the memo.
    if (seen.size >= MEMO_LIMIT) seen.clear();
    const v = lookup(table, path);
    seen.set(path, v);
    return v;
  };
}

/** GlobalFacts answering from the compiled form. */
export function compiledFacts(c: CompiledFacts): GlobalFacts {
  const rewrite = memo(c.rewrites);
  const kind = memo(c.kinds);
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
