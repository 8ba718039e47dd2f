/**
 * Facts about Python globals generated from the real libraries by tools/introspect_globals.py and
 * committed as rules/globals-facts.json: which module attributes ARE other modules (`random._os` is
 * `os`), where re-exported callables are really defined, what kind of object a path names, and which
 * standard-library callables reach eval/exec/import/process sinks. docs/rules/globals.md explains how
 * they are generated and reviewed; src/rules/globals.ts uses them for matching.
 *
 * The JSON is parsed when the catalogue loads (its reaches verdicts become dangerous entries); the
 * larger lookup tables are built on first use, so a run that never classifies a global pays only
 * for the parse.
 */
import type { DangerRule } from './globals.js';

export type GlobalKind = 'class' | 'function' | 'module' | 'other';

export interface ReachFact {
  /** Dotted path a pickle can name (function, method or class). */
  path: string;
  kind: 'class' | 'function';
  /** Sink categories: eval, exec, import, process, native code. */
  reaches: string[];
  /** The sink called at `at` (e.g. builtins.exec). */
  sink: string;
  /** Source location of the sink call, e.g. `Lib/timeit.py:136`. */
  at: string;
  /** Callables between `path` and the function that calls the sink. */
  via: string[];
  defined: string;
  reference: string;
  verdict: 'dangerous' | 'reviewed-benign';
  /** critical, or high where a reviewed `high` entry covers the path and no eval/exec is reached. */
  severity: 'critical' | 'high';
  review?: string;
}

export interface FactsProvenance {
  command: string;
  python: string;
  platform: string;
  libraries: Record<string, string>;
}

export interface GlobalFacts {
  readonly generated: FactsProvenance;
  readonly reaches: readonly ReachFact[];
  readonly moduleAliasCount: number;
  readonly reexportCount: number;
  /** Real target of an attribute path (module alias or re-exported callable), if known. */
  rewrite(path: string): string | undefined;
  /** Deepest key of `rewrite`, in segments (bounds the prefix search). */
  readonly maxDepth: number;
  kind(path: string): GlobalKind | undefined;
}

const DOTTED = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const KINDS: readonly GlobalKind[] = ['class', 'function', 'module', 'other'];
const SINK_WORDS: Record<string, string> = {
  eval: 'evaluates code (eval)',
  exec: 'executes code (exec)',
  import: 'imports modules by name',
  process: 'starts processes',
  'native code': 'loads native libraries',
};

class FactsError extends Error {}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(file: string, where: string, msg: string): never {
  throw new FactsError(`${file}: ${where}: ${msg}`);
}

function dotted(file: string, where: string, v: unknown): string {
  if (typeof v !== 'string' || !DOTTED.test(v)) bad(file, where, `${JSON.stringify(v)} is not a dotted Python name`);
  return v;
}

function strings(file: string, where: string, v: unknown): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) bad(file, where, 'must be a list of strings');
  return v as string[];
}

function reachFact(file: string, i: number, raw: unknown): ReachFact {
  const where = `reaches[${i}]`;
  if (!isRecord(raw)) bad(file, where, 'must be an object');
  const path = dotted(file, where, raw.path);
  const kind = raw.kind;
  if (kind !== 'class' && kind !== 'function') bad(file, where, `kind must be class or function`);
  const verdict = raw.verdict;
  if (verdict !== 'dangerous' && verdict !== 'reviewed-benign') bad(file, where, 'verdict must be dangerous or reviewed-benign');
  if (verdict === 'reviewed-benign' && typeof raw.review !== 'string') bad(file, where, 'a reviewed-benign fact needs a review note');
  const severity = raw.severity;
  if (severity !== 'critical' && severity !== 'high') bad(file, where, 'severity must be critical or high');
  for (const k of ['sink', 'at', 'defined', 'reference'] as const) {
    if (typeof raw[k] !== 'string' || raw[k] === '') bad(file, where, `"${k}" must be a non-empty string`);
  }
  const fact: ReachFact = {
    path,
    kind,
    reaches: strings(file, where, raw.reaches),
    sink: raw.sink as string,
    at: raw.at as string,
    via: strings(file, where, raw.via),
    defined: raw.defined as string,
    reference: raw.reference as string,
    verdict,
    severity,
  };
  if (typeof raw.review === 'string') fact.review = raw.review;
  return fact;
}

/** Parse and validate the facts JSON; throws an Error naming the offending part. */
export function parseGlobalFacts(text: string, file = 'globals-facts.json'): GlobalFacts {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new FactsError(`${file}: invalid JSON: ${(e as Error).message}`);
  }
  if (!isRecord(doc)) bad(file, 'top level', 'must be an object');
  const gen = doc.generated;
  if (!isRecord(gen) || typeof gen.python !== 'string' || typeof gen.command !== 'string' || !isRecord(gen.libraries)) {
    bad(file, 'generated', 'must give command, python and libraries');
  }
  const libraries: Record<string, string> = {};
  for (const [k, v] of Object.entries(gen.libraries)) libraries[k] = String(v);
  const generated: FactsProvenance = {
    command: gen.command,
    python: gen.python,
    platform: typeof gen.platform === 'string' ? gen.platform : '',
    libraries,
  };
  const aliases = doc.moduleAliases;
  const reexports = doc.reexports;
  const kinds = doc.kinds;
  if (!isRecord(aliases)) bad(file, 'moduleAliases', 'must be an object');
  if (!isRecord(reexports)) bad(file, 'reexports', 'must be an object');
  if (!isRecord(kinds)) bad(file, 'kinds', 'must be an object');
  if (!Array.isArray(doc.reaches)) bad(file, 'reaches', 'must be a list');
  const reaches = doc.reaches.map((r, i) => reachFact(file, i, r));

  // Shapes are checked here; every name is checked by checkFactNames (run by the tests and the
  // generator), not on each load: the per-name pass costs as much as JSON.parse itself.
  let aliasCount = 0;
  let maxDepth = 0;
  for (const [target, paths] of Object.entries(aliases)) {
    if (!Array.isArray(paths)) bad(file, `moduleAliases.${target}`, 'must be a list of strings');
    aliasCount += paths.length;
    // the longest key bounds the prefix search (native split: this code runs once, cold)
    for (const p of paths) {
      if (typeof p !== 'string') bad(file, `moduleAliases.${target}`, 'must be a list of strings');
      const depth = p.split('.').length;
      if (depth > maxDepth) maxDepth = depth;
    }
  }
  let reexportCount = 0;
  for (const [mod, names] of Object.entries(reexports)) {
    if (!isRecord(names)) bad(file, `reexports.${mod}`, 'must be an object');
    for (const d of Object.values(names)) if (typeof d !== 'string') bad(file, `reexports.${mod}`, 'definitions must be strings');
    reexportCount += Object.keys(names).length;
    maxDepth = Math.max(maxDepth, mod.split('.').length + 1);
  }
  // kinds only feed the optional `kind` field: their shape is checked by checkFactNames
  for (const k of Object.keys(kinds)) if (!KINDS.includes(k as GlobalKind)) bad(file, 'kinds', `unknown kind "${k}"`);
  const reexportsOf = reexports as Record<string, Record<string, string>>;
  const kindsOf = kinds as Record<string, Record<string, string[]>>;
  let aliasMap: Map<string, string> | undefined;
  let kindSets: [GlobalKind, Map<string, Set<string>>][] | undefined;
  const own = <T>(o: Record<string, T>, k: string): T | undefined => (Object.hasOwn(o, k) ? o[k] : undefined);

  const moduleOf = (): Map<string, string> => {
    if (!aliasMap) {
      aliasMap = new Map();
      for (const [target, paths] of Object.entries(aliases)) for (const p of paths as string[]) aliasMap.set(p, target);
    }
    return aliasMap;
  };

  return {
    generated,
    reaches,
    moduleAliasCount: aliasCount,
    reexportCount,
    maxDepth,
    rewrite(path: string): string | undefined {
      const m = moduleOf().get(path);
      if (m !== undefined) return m;
      const dot = path.lastIndexOf('.');
      if (dot < 0) return undefined;
      const names = own(reexportsOf, path.slice(0, dot));
      return names ? own(names, path.slice(dot + 1)) : undefined;
    },
    kind(path: string): GlobalKind | undefined {
      if (moduleOf().has(path)) return 'module';
      const dot = path.lastIndexOf('.');
      kindSets ??= Object.entries(kindsOf).map(([k, groups]) => [
        k as GlobalKind,
        new Map(Object.entries(groups).map(([mod, names]) => [mod, new Set(Array.isArray(names) ? names : [])])),
      ]);
      const mod = dot < 0 ? '' : path.slice(0, dot);
      const name = path.slice(dot + 1);
      for (const [k, groups] of kindSets) if (groups.get(mod)?.has(name)) return k;
      return undefined;
    },
  };
}

/** Every dotted name in the facts text is a Python dotted name; returns the offending ones. */
export function checkFactNames(text: string): string[] {
  const doc = JSON.parse(text) as {
    moduleAliases: Record<string, string[]>;
    reexports: Record<string, Record<string, string>>;
    kinds: Record<string, Record<string, string[]>>;
  };
  const bad: string[] = [];
  const check = (where: string, v: string) => {
    if (!DOTTED.test(v)) bad.push(`${where}: ${JSON.stringify(v)}`);
  };
  for (const [t, paths] of Object.entries(doc.moduleAliases)) {
    check('moduleAliases', t);
    for (const p of paths) check(`moduleAliases.${t}`, p);
  }
  for (const [m, names] of Object.entries(doc.reexports)) {
    check('reexports', m);
    for (const [n, d] of Object.entries(names)) {
      check(`reexports.${m}`, n);
      check(`reexports.${m}.${n}`, d);
    }
  }
  for (const [k, groups] of Object.entries(doc.kinds)) {
    for (const [m, names] of Object.entries(groups)) {
      if (m !== '') check(`kinds.${k}`, m); // '' groups top-level names (`os`)
      for (const n of names) check(`kinds.${k}.${m}`, n);
    }
  }
  return bad;
}

/** The dangerous entries the reviewed reaches facts stand for (calling them runs code or a process). */
export function reachRules(facts: GlobalFacts): DangerRule[] {
  return facts.reaches
    .filter((r) => r.verdict === 'dangerous')
    .map((r) => {
      const what = r.reaches.map((s) => SINK_WORDS[s] ?? s).join(', ');
      const via = r.via.length > 0 ? ` through ${r.via.join(' -> ')}` : '';
      return {
        match: r.path,
        severity: r.severity,
        reason: `${what}: calls ${r.sink} at ${r.at}${via} (standard-library source analysis, rules/globals-facts.json)`,
        references: [r.reference],
      };
    });
}

/** An empty fact set (for catalogues loaded without a facts file). */
export function noFacts(): GlobalFacts {
  return parseGlobalFacts('{"generated":{"command":"","python":"","libraries":{}},"moduleAliases":{},"reexports":{},"kinds":{},"reaches":[]}', '(none)');
}
