/**
 * The globals catalogue: which Python globals a pickle may name safely, which are dangerous,
 * and everything else is unknown (suspicious). The data lives in rules/globals.yaml at the
 * package root; this module loads it and matches names against it. docs/rules/globals.md
 * explains the rules for reviewers.
 *
 * Matching, in order (security-critical: every step errs towards "not safe"):
 *  1. Strip surrounding whitespace. A module or name with a character outside [A-Za-z0-9_.] or an
 *     empty dotted segment is malformed: it is never safe; a sanitised probe (NFKC, every run of
 *     other characters read as a dot) is still checked against the dangerous entries.
 *  2. Aliases rewrite the longest matching leading segment prefix (posix -> os,
 *     __builtin__.reduce -> functools.reduce), once.
 *  3. Dangerous entries match by segment prefix, on the full path and on every suffix of it, each
 *     suffix checked both as written and after its own alias rewrite (protocol-4 dotted names are
 *     resolved with getattr, so `pathlib` + `os.system` is os.system). Dangerous attribute names
 *     (`__globals__`, `loads`...) match any segment after the first.
 *  4. Safe entries match the canonical full path exactly; `module.*` covers one further public
 *     segment and `prefix.**` a whole namespace Python cannot import (TorchScript's `__torch__`).
 *     A dangerous hit on the full path or an attribute always wins. A hit on a proper suffix only
 *     is outweighed by an EXACT safe entry, never by a pattern: the full path of an exact entry
 *     names one vetted object (e.g. `numpy.random._pickle.__randomstate_ctor`, whose `_pickle.*`
 *     suffix would otherwise read as the pickle module). Tests keep that shadowed set explicit.
 *  5. Anything else is unknown (medium).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { packageRoot } from '../core/package.js';
import { COMPILED_DIR, compiledDocument, parseCatalogueText } from './catalogue-data.js';
import { combinedDigest, type DigestPart } from './source-digests.js';
import { compiledFacts, FACTS_TABLES, tablesReader, type CompiledFacts } from './globals-facts-compiled.js';
import type { Severity } from '../core/findings.js';
import { DangerousNames } from './dangerous-names.js';
import { noFacts, parseGlobalFacts, reachRules, type GlobalFacts, type GlobalKind } from './globals-facts.js';

export type { GlobalFacts, GlobalKind, ReachFact } from './globals-facts.js';

export type GlobalVerdict = 'safe' | 'dangerous' | 'unknown';

export interface GlobalClassification {
  verdict: GlobalVerdict;
  /** critical/high for dangerous (from the entry), medium for unknown, info for safe. */
  severity: Severity;
  /** Dotted path after alias normalisation, e.g. `posix.system` -> `os.system`. */
  canonical: string;
  /** The catalogue pattern that matched (e.g. `os` or `builtins.eval`), when one did. */
  matched?: string;
  reason?: string;
  references: string[];
  /** What the canonical path names in the libraries the facts were generated from, when known. */
  kind?: GlobalKind;
  /**
   * Set when the only dangerous readings come from reaches facts (the global's code reaches
   * eval/exec/import/processes when CALLED): importing or referencing it runs nothing. dill and
   * cloudpickle by-value classes reference such globals (dataclasses._create_fn in a rebuilt
   * function's globals, typing.NamedTuple in __orig_bases__) without calling them.
   */
  onlyWhenCalled?: true;
  /**
   * The dangerous entry's reason why constructing exactly this class runs nothing (its
   * `harmless_unless_called`): set only when the path is the entry itself, not a longer one.
   */
  harmlessUnlessCalled?: string;
}

export interface GlobalCatalogue {
  /** Content version of the rule data (goes into cache keys). */
  readonly version: string;
  /** Classify `module` + `name` as a pickle GLOBAL / STACK_GLOBAL would resolve them. */
  classify(module: string, name: string): GlobalClassification;
  /**
   * Whether `name` is the name of something a module the catalogue calls dangerous defines
   * (`Popen`, `system`): what a pickle's `__main__.<name>` could be in the loading script. Absent
   * means unknown: callers treat every name as dangerous.
   */
  dangerousName?(name: string): boolean;
}

/** Severities a dangerous entry may carry. */
export type DangerSeverity = 'critical' | 'high';

export interface AliasRule {
  from: string;
  to: string;
  reason: string;
  references: string[];
}

export interface DangerRule {
  match: string;
  severity: DangerSeverity;
  reason: string;
  references: string[];
  /** Exact paths under `match` that are safe after review (constructing them runs nothing). */
  carveOuts?: CarveOut[];
  /**
   * Why an instance of exactly `match` made without calling it (`__new__`, then its state) runs
   * nothing: a call wrapper whose wrapped callable is judged on its own, and whose calls during
   * the load the machine reports as computed calls.
   */
  harmlessUnlessCalled?: string;
}

/** One exact global under a dangerous prefix, reviewed safe; longer paths through it stay dangerous. */
export interface CarveOut {
  match: string;
  reason: string;
  references: string[];
}

export interface SafeRule {
  /**
   * Exact canonical dotted paths; `module.*` (one further public segment); or `prefix.**` (any
   * deeper path, only for namespaces Python cannot import, such as TorchScript's `__torch__`).
   */
  match: string[];
  reason: string;
  references: string[];
  seenIn: string[];
  note?: string;
}

/** The parsed rule data, exposed for tests, documentation and tooling. */
export interface GlobalRules {
  version: number;
  aliases: AliasRule[];
  dangerous: DangerRule[];
  dangerousAttributes: DangerRule[];
  safe: SafeRule[];
}

export interface LoadedGlobalCatalogue extends GlobalCatalogue {
  readonly rules: GlobalRules;
  /** Generated facts (rules/globals-facts.json): module aliases, re-exports, kinds, reaches. */
  readonly facts: GlobalFacts;
  /** Where the data was read from. */
  readonly source: string;
  /** Canonical dotted path (aliases applied); hostile input is returned trimmed, unchanged. */
  canonical(module: string, name: string): string;
}

// ---------------------------------------------------------------------------------------------
// Loading and validation

const SEGMENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const INPUT_SEGMENT = /^[A-Za-z0-9_]+$/;

export { packageRoot };

export function defaultGlobalsPath(): string {
  return join(packageRoot(), 'rules', 'globals.yaml');
}

export function defaultFactsPath(): string {
  return join(packageRoot(), 'rules', 'globals-facts.json');
}

/** Most rewrites one path may go through (alias, then module attribute, then re-export...). */
const MAX_REWRITES = 8;

/** Classifications a catalogue keeps (YamlGlobalCatalogue.classified): far more than any real scan meets. */
const MAX_CLASSIFIED = 4096;

class RuleError extends Error {}

/** The dotted part of a safe pattern (`a.b.*` and `a.b.**` -> `a.b`). */
function patternBody(pattern: string): string {
  if (pattern.endsWith('.**')) return pattern.slice(0, -3);
  if (pattern.endsWith('.*')) return pattern.slice(0, -2);
  return pattern;
}

function fail(file: string, where: string, msg: string): never {
  throw new RuleError(`${file}: ${where}: ${msg}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(entry: unknown): string {
  if (isRecord(entry)) {
    const m = entry.match ?? entry.from;
    if (typeof m === 'string') return ` (${JSON.stringify(m)})`;
    if (Array.isArray(m) && typeof m[0] === 'string') return ` (${JSON.stringify(m[0])}...)`;
  }
  return '';
}

function checkKeys(file: string, where: string, e: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(e)) if (!allowed.includes(k)) fail(file, where, `unknown key "${k}"`);
}

function needString(file: string, where: string, e: Record<string, unknown>, key: string): string {
  const v = e[key];
  if (typeof v !== 'string' || v.trim() === '') fail(file, where, `"${key}" must be a non-empty string`);
  return v.trim();
}

function needRefs(file: string, where: string, e: Record<string, unknown>): string[] {
  const v = e.references;
  if (!Array.isArray(v) || v.length === 0) fail(file, where, '"references" must be a non-empty list');
  return v.map((r, i) => {
    if (typeof r !== 'string' || r.trim() === '') fail(file, where, `references[${i}] must be a non-empty string`);
    return r.trim();
  });
}

/** SEGMENTs joined by dots: one test instead of a split and a test per segment (every entry, every start). */
const DOTTED = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$/;

function needDotted(file: string, where: string, value: string, what: string): string {
  if (!DOTTED.test(value)) fail(file, where, `${what} "${value}" is not a dotted Python name`);
  return value;
}

function needSeverity(file: string, where: string, e: Record<string, unknown>): DangerSeverity {
  const s = e.severity;
  if (s !== 'critical' && s !== 'high') fail(file, where, `"severity" must be critical or high, got ${JSON.stringify(s)}`);
  return s;
}

function needList(file: string, doc: Record<string, unknown>, key: string, optional = false): unknown[] {
  const v = doc[key];
  if (v === undefined && optional) return [];
  if (!Array.isArray(v)) fail(file, key, 'must be a list');
  return v;
}

/** Parse and validate the YAML text; throws an Error naming the offending entry. */
export function parseGlobalRules(text: string, file = 'globals.yaml'): GlobalRules {
  let doc: unknown;
  try {
    // js-yaml (catalogue-data.ts): it rejects duplicate keys, as reviewers expect.
    doc = parseCatalogueText('globals.yaml', text, file);
  } catch (e) {
    throw new RuleError(`${file}: invalid YAML: ${(e as Error).message}`);
  }
  return globalRulesOf(doc, file);
}

/** Validate the parsed document (from the YAML, or its compiled form: catalogue-data.ts). */
function globalRulesOf(doc: unknown, file: string): GlobalRules {
  if (!isRecord(doc)) fail(file, 'top level', 'must be a mapping');
  checkKeys(file, 'top level', doc, ['version', 'aliases', 'dangerous', 'dangerous_attributes', 'safe']);
  const version = doc.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    fail(file, 'version', 'must be a positive integer');
  }

  const aliases = needList(file, doc, 'aliases').map((raw, i): AliasRule => {
    const where = `aliases[${i}]${describe(raw)}`;
    if (!isRecord(raw)) fail(file, where, 'must be a mapping');
    checkKeys(file, where, raw, ['from', 'to', 'reason', 'references', 'note']);
    return {
      from: needDotted(file, where, needString(file, where, raw, 'from'), 'from'),
      to: needDotted(file, where, needString(file, where, raw, 'to'), 'to'),
      reason: needString(file, where, raw, 'reason'),
      references: needRefs(file, where, raw),
    };
  });

  const danger = (key: string, attribute: boolean) =>
    needList(file, doc, key, attribute).map((raw, i): DangerRule => {
      const where = `${key}[${i}]${describe(raw)}`;
      if (!isRecord(raw)) fail(file, where, 'must be a mapping');
      checkKeys(file, where, raw, attribute ? ['match', 'severity', 'reason', 'references', 'note'] : ['match', 'severity', 'reason', 'references', 'note', 'carve_outs', 'harmless_unless_called']);
      const match = needString(file, where, raw, 'match');
      if (attribute) {
        if (!SEGMENT.test(match)) fail(file, where, `attribute "${match}" must be a single identifier`);
      } else {
        needDotted(file, where, match, 'match');
      }
      const rule: DangerRule = { match, severity: needSeverity(file, where, raw), reason: needString(file, where, raw, 'reason'), references: needRefs(file, where, raw) };
      if (raw.harmless_unless_called !== undefined) rule.harmlessUnlessCalled = needString(file, where, raw, 'harmless_unless_called');
      if (raw.carve_outs !== undefined) {
        if (!Array.isArray(raw.carve_outs) || raw.carve_outs.length === 0) fail(file, where, '"carve_outs" must be a non-empty list');
        rule.carveOuts = raw.carve_outs.map((c: unknown, j): CarveOut => {
          const at = `${where} carve_outs[${j}]${describe(c)}`;
          if (!isRecord(c)) fail(file, at, 'must be a mapping');
          checkKeys(file, at, c, ['match', 'reason', 'references']);
          const m = needDotted(file, at, needString(file, at, c, 'match'), 'match');
          // Exact names strictly inside the entry: a carve-out never widens into a pattern.
          if (!m.startsWith(`${match}.`)) fail(file, at, `"${m}" is not under ${match}`);
          return { match: m, reason: needString(file, at, c, 'reason'), references: needRefs(file, at, c) };
        });
      }
      return rule;
    });
  const dangerous = danger('dangerous', false);
  const dangerousAttributes = danger('dangerous_attributes', true);

  const safe = needList(file, doc, 'safe').map((raw, i): SafeRule => {
    const where = `safe[${i}]${describe(raw)}`;
    if (!isRecord(raw)) fail(file, where, 'must be a mapping');
    checkKeys(file, where, raw, ['match', 'reason', 'references', 'seen_in', 'note']);
    const m = raw.match;
    const list = typeof m === 'string' ? [m] : m;
    if (!Array.isArray(list) || list.length === 0) fail(file, where, '"match" must be a dotted name or a non-empty list of them');
    const match = list.map((x, j) => {
      if (typeof x !== 'string') fail(file, where, `match[${j}] must be a string`);
      const v = x.trim();
      const body = patternBody(v);
      needDotted(file, where, body, `match[${j}]`);
      if (body === v && !v.includes('.')) fail(file, where, `match[${j}] "${v}" must be module-qualified`);
      return v;
    });
    const seen = raw.seen_in;
    if (seen !== undefined && (!Array.isArray(seen) || !seen.every((s) => typeof s === 'string'))) {
      fail(file, where, '"seen_in" must be a list of strings');
    }
    const note = raw.note;
    if (note !== undefined && typeof note !== 'string') fail(file, where, '"note" must be a string');
    return {
      match,
      reason: needString(file, where, raw, 'reason'),
      references: needRefs(file, where, raw),
      seenIn: (seen as string[] | undefined) ?? [],
      ...(typeof note === 'string' ? { note } : {}),
    };
  });

  // duplicates are almost always editing mistakes
  const dup = (key: string, values: string[]) => {
    const seen = new Set<string>();
    for (const v of values) {
      if (seen.has(v)) fail(file, key, `duplicate entry "${v}"`);
      seen.add(v);
    }
  };
  dup('aliases', aliases.map((a) => a.from));
  dup('dangerous', dangerous.map((d) => d.match));
  dup('dangerous_attributes', dangerousAttributes.map((d) => d.match));
  dup('safe', safe.flatMap((s) => s.match));

  return { version, aliases, dangerous, dangerousAttributes, safe };
}

// ---------------------------------------------------------------------------------------------
// Matching structures

interface TrieNode<T> {
  children: Map<string, TrieNode<T>>;
  value?: T;
}

/** The node at `segs`, made on the way when missing. */
function trieNode<T>(root: TrieNode<T>, segs: readonly string[]): TrieNode<T> {
  let node = root;
  for (const s of segs) {
    let next = node.children.get(s);
    if (!next) {
      next = { children: new Map() };
      node.children.set(s, next);
    }
    node = next;
  }
  return node;
}

function trieInsert<T>(root: TrieNode<T>, segs: readonly string[], value: T): void {
  trieNode(root, segs).value = value;
}

/** Insert unless the node already holds a value; true when inserted. */
function trieInsertIfAbsent<T>(root: TrieNode<T>, segs: readonly string[], value: T): boolean {
  const node = trieNode(root, segs);
  if (node.value !== undefined) return false;
  node.value = value;
  return true;
}

interface DangerHit {
  rule: DangerRule;
  /** Canonical path of the (suffix) candidate that matched; computed only for the reported hit. */
  canonical: () => string;
  /** 0 = the whole path; > 0 = a suffix starting at that segment; -1 = an attribute hit. */
  at: number;
  matched: string;
  /** Found only on the path resolved through the generated facts (module attribute, re-export). */
  viaFacts?: boolean;
}

const RANK: Record<DangerSeverity, number> = { critical: 2, high: 1 };

interface SafeInfo {
  rule: SafeRule;
  pattern: string;
}

class YamlGlobalCatalogue implements LoadedGlobalCatalogue {
  readonly version: string;
  private readonly aliasTrie: TrieNode<AliasRule> = { children: new Map() };
  private readonly dangerTrie: TrieNode<DangerRule> = { children: new Map() };
  private readonly attributes = new Map<string, DangerRule>();
  private readonly safeExact = new Map<string, SafeInfo>();
  /** Carve-outs by exact path, with the dangerous entries that list them. */
  private readonly carved = new Map<string, { carve: CarveOut; owners: Set<DangerRule> }>();
  private readonly safeWildcard = new Map<string, SafeInfo>();
  private readonly safeSubtree = new Map<string, SafeInfo>();
  /** Dangerous entries from the reviewed reaches facts, by path. */
  private readonly reachRules = new Map<string, DangerRule>();

  private factsState: GlobalFacts | undefined;
  private names: DangerousNames | undefined;
  /**
   * Classifications already made, by trimmed module and name. A classification depends on
   * nothing else (the rules and facts never change once loaded), and the same globals come back
   * in every pickle of a directory (numpy, torch, collections) and many times within one file;
   * each costs an alias, facts and trie walk, most of it interpreted code in a short scan.
   * Bounded: a hostile pickle can name any number of globals, so the map is emptied when full.
   */
  private readonly classified = new Map<string, GlobalClassification>();

  /**
   * `loadFacts` is called on first use (the first classification), not here: parsing the 1.3 MB
   * facts file is most of the catalogue's load cost, and runs that never meet a pickle skip it.
   * `checked`: these rules passed checkConsistency at build time (compiled from the same bytes,
   * src/rules/compile.ts), so the check, a third of the load cost, is not run again.
   */
  constructor(
    readonly rules: GlobalRules,
    readonly source: string,
    contentHash: string,
    private readonly loadFacts: () => GlobalFacts = noFacts,
    checked = false,
  ) {
    this.version = `${rules.version}+${contentHash.slice(0, 12)}`;
    for (const a of rules.aliases) trieInsert(this.aliasTrie, a.from.split('.'), a);
    for (const d of rules.dangerous) {
      trieInsert(this.dangerTrie, d.match.split('.'), d);
      for (const c of d.carveOuts ?? []) {
        const had = this.carved.get(c.match);
        if (had) had.owners.add(d);
        else this.carved.set(c.match, { carve: c, owners: new Set([d]) });
      }
    }
    for (const d of rules.dangerousAttributes) this.attributes.set(d.match, d);
    for (const s of rules.safe) {
      for (const pattern of s.match) {
        if (pattern.endsWith('.**')) this.safeSubtree.set(patternBody(pattern), { rule: s, pattern });
        else if (pattern.endsWith('.*')) this.safeWildcard.set(patternBody(pattern), { rule: s, pattern });
        else this.safeExact.set(pattern, { rule: s, pattern });
      }
    }
    if (!checked) this.checkConsistency();
  }

  /** The generated facts, loaded (and their reaches verdicts added to the dangerous entries) once. */
  get facts(): GlobalFacts {
    if (this.factsState) return this.factsState;
    const facts = this.loadFacts();
    // A reviewed YAML entry for the same path keeps its own words; otherwise the fact's.
    for (const r of reachRules(facts)) {
      if (trieInsertIfAbsent(this.dangerTrie, r.match.split('.'), r)) this.reachRules.set(r.match, r);
    }
    this.factsState = facts;
    return facts;
  }

  /** Longest alias whose `from` is a segment prefix of `segs[start..]`. */
  private aliasAt(segs: readonly string[], start: number): { rule: AliasRule; len: number } | undefined {
    let node: TrieNode<AliasRule> | undefined = this.aliasTrie;
    let best: { rule: AliasRule; len: number } | undefined;
    for (let i = start; i < segs.length && node; i++) {
      node = node.children.get(segs[i]!);
      if (node?.value) best = { rule: node.value, len: i - start + 1 };
    }
    return best;
  }

  /** Rewrite the longest aliased leading prefix of `segs` (one rewrite, no chains). */
  aliasSegments(segs: readonly string[], start = 0): string[] {
    const a = this.aliasAt(segs, start);
    if (!a) return segs.slice(start);
    return [...a.rule.to.split('.'), ...segs.slice(start + a.len)];
  }

  /** Longest generated rewrite (module alias or re-export) whose key is a prefix of `segs`. */
  private factAt(segs: readonly string[]): { to: string; len: number } | undefined {
    const facts = this.factsState;
    if (!facts) return undefined;
    let best: { to: string; len: number } | undefined;
    let key = '';
    const n = Math.min(segs.length, facts.maxDepth);
    for (let i = 0; i < n; i++) {
      key = i === 0 ? segs[0]! : `${key}.${segs[i]!}`;
      const to = facts.rewrite(key);
      if (to !== undefined) best = { to, len: i + 1 };
    }
    return best;
  }

  /**
   * The real object a path names: the YAML aliases and the generated facts (an attribute that IS
   * another module, a re-exported callable) applied repeatedly, longest prefix first, until
   * nothing applies (bounded; a cycle stops at the first repeat).
   */
  resolveSegments(segs: readonly string[], start = 0): string[] {
    let cur = segs.slice(start);
    const seen = new Set<string>();
    for (let round = 0; round < MAX_REWRITES; round++) {
      const y = this.aliasAt(cur, 0);
      const f = this.factAt(cur);
      let to: string;
      let len: number;
      if (f && (!y || f.len > y.len)) ({ to, len } = f);
      else if (y) ({ to, len } = { to: y.rule.to, len: y.len });
      else break;
      const key = `${to}|${cur.length - len}`;
      if (seen.has(key)) break;
      seen.add(key);
      cur = [...to.split('.'), ...cur.slice(len)];
    }
    return cur;
  }

  /**
   * Most severe dangerous prefix of the sequence `head` followed by `segs[start..]`, walking the
   * trie without copying (the walk stops at the trie's depth, so long hostile paths stay linear).
   */
  private prefixHit(head: readonly string[], segs: readonly string[], start: number): DangerRule | undefined {
    let node: TrieNode<DangerRule> | undefined = this.dangerTrie;
    let best: DangerRule | undefined;
    const total = head.length + segs.length - start;
    for (let k = 0; k < total && node; k++) {
      const seg = k < head.length ? head[k]! : segs[start + k - head.length]!;
      node = node.children.get(seg);
      const v = node?.value;
      // on equal severity keep the longer (more specific) entry
      if (v && (!best || RANK[v.severity] >= RANK[best.severity])) best = v;
    }
    return best;
  }

  /**
   * Dangerous readings of `segs`: attribute hits (at -1), whole-path hits (at 0), then suffix hits.
   * Unless `all` is set, stops as soon as a critical hit makes further suffixes irrelevant, so
   * hostile paths with thousands of segments stay cheap.
   */
  private dangerHits(segs: readonly string[], all = false): DangerHit[] {
    const hits: DangerHit[] = [];
    const canonicalStr = this.aliasSegments(segs).join('.');
    const canonical = canonicalStr.split('.');
    const withFacts = (this.factsState?.maxDepth ?? 0) > 0;
    const resolved = withFacts ? this.resolveSegments(segs) : canonical;
    const seenAttr = new Set<string>();
    for (const list of [segs, canonical, resolved]) {
      for (let j = 1; j < list.length; j++) {
        const a = this.attributes.get(list[j]!);
        if (a && !seenAttr.has(a.match)) {
          seenAttr.add(a.match);
          hits.push({ rule: a, canonical: () => canonicalStr, at: -1, matched: `*.${a.match}` });
        }
      }
    }
    const none: readonly string[] = [];
    for (let i = 0; i < segs.length; i++) {
      if (!all && i > 0 && hits.some((h) => h.at >= 0 && h.rule.severity === 'critical')) break;
      const alias = this.aliasAt(segs, i);
      const raw = this.prefixHit(none, segs, i);
      const viaAlias = alias ? this.prefixHit(alias.rule.to.split('.'), segs, i + alias.len) : undefined;
      if (viaAlias) {
        hits.push({ rule: viaAlias, canonical: () => this.aliasSegments(segs, i).join('.'), at: i, matched: viaAlias.match });
      }
      if (raw && raw !== viaAlias) hits.push({ rule: raw, canonical: () => segs.slice(i).join('.'), at: i, matched: raw.match });
      // The real object behind the path (facts applied): reported only when it adds severity, so
      // names already dangerous as written keep their familiar canonical name.
      if (withFacts) {
        const resolved = this.resolveSegments(segs, i);
        const viaFacts = this.prefixHit(resolved, none, 0);
        const written = viaAlias ?? raw;
        if (viaFacts && (!written || RANK[viaFacts.severity] > RANK[written.severity])) {
          hits.push({ rule: viaFacts, canonical: () => resolved.join('.'), at: i, matched: viaFacts.match, viaFacts: true });
        }
      }
    }
    return hits;
  }

  /** Safe entry for a canonical path: exact first, then `module.*`, then a `prefix.**` subtree. */
  private safeLookup(canonical: readonly string[]): SafeInfo | undefined {
    const exact = this.safeExact.get(canonical.join('.'));
    if (exact) return exact;
    if (canonical.length >= 2) {
      const last = canonical[canonical.length - 1]!;
      const w = last.startsWith('_') ? undefined : this.safeWildcard.get(canonical.slice(0, -1).join('.'));
      if (w) return w;
    }
    let prefix = '';
    for (let i = 0; i < canonical.length - 1; i++) {
      prefix = i === 0 ? canonical[0]! : `${prefix}.${canonical[i]!}`;
      const t = this.safeSubtree.get(prefix);
      if (t) return t;
    }
    return undefined;
  }

  /**
   * The reading to report: most severe first; on a tie the whole-path reading, then the longest
   * suffix, then an attribute hit (a named object says more than "reaches __globals__").
   */
  private static worst(hits: DangerHit[]): DangerHit {
    const kind = (h: DangerHit) => (h.at === 0 ? 3 : h.at > 0 ? 2 : 1);
    let best = hits[0]!;
    for (const h of hits.slice(1)) {
      const dr = RANK[h.rule.severity] - RANK[best.rule.severity];
      if (dr > 0 || (dr === 0 && kind(h) > kind(best))) best = h;
    }
    return best;
  }

  private static report(hit: DangerHit, prefix = ''): GlobalClassification {
    const canonical = hit.canonical();
    if (hit.at > 0 && prefix === '') prefix = `reached through a module attribute (${canonical}): `;
    const unlessCalled = hit.rule.harmlessUnlessCalled !== undefined && canonical === hit.rule.match ? hit.rule.harmlessUnlessCalled : undefined;
    return {
      verdict: 'dangerous',
      severity: hit.rule.severity,
      canonical,
      matched: hit.matched,
      reason: prefix + hit.rule.reason,
      references: [...hit.rule.references],
      ...(unlessCalled !== undefined ? { harmlessUnlessCalled: unlessCalled } : {}),
    };
  }

  dangerousName(name: string): boolean {
    this.names ??= new DangerousNames(this.rules.dangerous, [...reachRules(this.facts)].map((r) => r.match), this.facts);
    return this.names.has(name);
  }

  classify(module: string, name: string): GlobalClassification {
    void this.facts; // loads the facts on first use
    const m = String(module).trim();
    const n = String(name).trim();
    // The length keeps the key unambiguous whatever the strings hold (NUL included).
    const key = `${m.length}:${m}${n}`;
    let c = this.classified.get(key);
    if (c === undefined) {
      c = this.classifyTrimmed(m, n);
      if (this.classified.size >= MAX_CLASSIFIED) this.classified.clear();
      this.classified.set(key, c);
    }
    // A copy, as each call made before: callers may keep or change what they are given.
    return { ...c, references: [...c.references] };
  }

  private classifyTrimmed(m: string, n: string): GlobalClassification {
    const parsed = splitInput(m, n);
    if (!parsed) return this.classifyMalformed(m, n);

    const canonical = this.resolveSegments(parsed);
    const canonicalStr = canonical.join('.');
    const kind = this.kindOf(canonicalStr, parsed);
    const hits = this.dangerHits(parsed);
    // A hit on the whole path or an attribute makes it dangerous whatever else matches; the worst
    // reading (e.g. the critical os.system inside pathlib.os.system) is the one reported.
    const onlyCalls = hits.length > 0 && hits.every((h) => this.reachRules.get(h.rule.match) === h.rule);
    const withKind = (c: GlobalClassification): GlobalClassification => ({
      ...c,
      ...(kind ? { kind } : {}),
      ...(onlyCalls && c.verdict === 'dangerous' ? { onlyWhenCalled: true as const } : {}),
    });
    if (hits.some((h) => h.at <= 0)) {
      const carved = this.carveOut(parsed, canonicalStr, hits);
      if (carved) return withKind(carved);
      return withKind(this.reportHit(YamlGlobalCatalogue.worst(hits), parsed));
    }

    // Only an exact entry may outweigh a suffix-only reading; patterns (`.*`, `.**`) never do.
    // The path as written (aliases only) and its real definition are both looked up: either
    // names the same object.
    const written = this.aliasSegments(parsed);
    const writtenStr = written.join('.');
    const safeWritten = this.safeLookup(written);
    const safeReal = writtenStr === canonicalStr ? undefined : this.safeLookup(canonical);
    const pick = [
      { safe: safeWritten, path: writtenStr },
      { safe: safeReal, path: canonicalStr },
    ].find((s) => s.safe && (hits.length === 0 || s.safe.pattern === s.path));
    if (pick?.safe) {
      return withKind({
        verdict: 'safe',
        severity: 'info',
        canonical: pick.path,
        matched: pick.safe.pattern,
        reason: pick.safe.rule.reason,
        references: [...pick.safe.rule.references],
      });
    }
    if (hits.length > 0) return withKind(this.reportHit(YamlGlobalCatalogue.worst(hits), parsed));
    return withKind({
      verdict: 'unknown',
      severity: 'medium',
      canonical: canonicalStr,
      reason: 'not in the catalogue of globals known to be safe',
      references: [],
    });
  }

  /**
   * A reviewed exact global under a dangerous prefix (pathlib.PosixPath under pathlib). Safe only
   * when the path is exactly the carve-out, as written or as resolved, and every dangerous reading
   * is a whole-path hit of an entry that lists it: no attribute hit, no suffix hit, no reading
   * found only through the facts. pathlib.PosixPath.write_text is longer, so it stays dangerous.
   */
  private carveOut(parsed: readonly string[], resolved: string, hits: readonly DangerHit[]): GlobalClassification | undefined {
    if (this.carved.size === 0) return undefined;
    const written = this.aliasSegments(parsed).join('.');
    const entry = this.carved.get(written) ?? this.carved.get(resolved);
    if (!entry) return undefined;
    if (!hits.every((h) => h.at === 0 && !h.viaFacts && entry.owners.has(h.rule))) return undefined;
    return {
      verdict: 'safe',
      severity: 'info',
      canonical: entry.carve.match,
      matched: `carve-out of ${[...entry.owners].map((o) => o.match).join(', ')}`,
      reason: entry.carve.reason,
      references: [...entry.carve.references],
    };
  }

  /** Kind of the object named: of its real definition, else of the path as written. */
  private kindOf(canonical: string, parsed: readonly string[]): GlobalKind | undefined {
    return this.facts.kind(canonical) ?? this.facts.kind(parsed.join('.'));
  }

  /** Report a hit, saying so when the path only reaches its target through generated facts. */
  private reportHit(hit: DangerHit, parsed: readonly string[]): GlobalClassification {
    if (hit.viaFacts) {
      const from = hit.at === 0 ? parsed.join('.') : parsed.slice(hit.at).join('.');
      return YamlGlobalCatalogue.report(hit, `${from} is ${hit.canonical()} (module attribute or re-export, rules/globals-facts.json): `);
    }
    return YamlGlobalCatalogue.report(hit);
  }

  private classifyMalformed(m: string, n: string): GlobalClassification {
    const shown = `${m}.${n}`;
    const probe = `${m}.${n}`
      .normalize('NFKC')
      .split(/[^A-Za-z0-9_]+/)
      .filter((s) => s.length > 0);
    if (probe.length > 0) {
      const hits = this.dangerHits(probe);
      if (hits.length > 0) {
        return YamlGlobalCatalogue.report(YamlGlobalCatalogue.worst(hits), `malformed global name ${JSON.stringify(shown)} reads as dangerous: `);
      }
    }
    return {
      verdict: 'unknown',
      severity: 'medium',
      canonical: shown,
      reason: `malformed global name ${JSON.stringify(shown)} (characters outside [A-Za-z0-9_.] or empty segments)`,
      references: [],
    };
  }

  canonical(module: string, name: string): string {
    const m = String(module).trim();
    const n = String(name).trim();
    const parsed = splitInput(m, n);
    return parsed ? this.aliasSegments(parsed).join('.') : `${m}.${n}`;
  }

  /**
   * Data invariants the matcher relies on. Throws naming the entry:
   * - alias targets are canonical (no chains) and a safe entry is written canonically;
   * - no safe entry is reached by a dangerous prefix on its full path or by an attribute.
   */
  private checkConsistency(): void {
    const file = this.source;
    for (const a of this.rules.aliases) {
      const again = this.aliasSegments(a.to.split('.')).join('.');
      if (again !== a.to) fail(file, `aliases (${JSON.stringify(a.from)})`, `target ${a.to} is itself aliased to ${again}`);
    }
    for (const [path, { owners }] of this.carved) {
      const segs = path.split('.');
      if (this.aliasSegments(segs).join('.') !== path) fail(file, `carve-out (${JSON.stringify(path)})`, 'not canonical: aliases rewrite it');
      if (this.safeExact.has(path)) fail(file, `carve-out (${JSON.stringify(path)})`, 'also a safe entry; list it in one place');
      for (const h of this.dangerHits(segs, true)) {
        if (h.at !== 0 || !owners.has(h.rule)) fail(file, `carve-out (${JSON.stringify(path)})`, `also matched by dangerous entry ${h.matched}, which does not carve it out`);
      }
    }
    for (const s of this.rules.safe) {
      for (const pattern of s.match) {
        const body = patternBody(pattern);
        const segs = body.split('.');
        const canon = this.aliasSegments(segs).join('.');
        if (canon !== body) fail(file, `safe (${JSON.stringify(pattern)})`, `not canonical: aliases rewrite it to ${canon}`);
        const strong = this.dangerHits(segs).filter((h) => h.at <= 0);
        if (strong.length > 0) {
          fail(file, `safe (${JSON.stringify(pattern)})`, `also matched by dangerous entry ${strong[0]!.matched}`);
        }
      }
    }
  }

  /**
   * Safe entries the facts make dangerous on their full path (a reaches verdict on a safe entry,
   * or a safe entry that is really a dangerous object). A reviewer must decide each, so the test
   * suite requires this list to be empty; it is not run at load time because it costs more than
   * the rest of loading (every CLI run loads the catalogue).
   */
  factsConflicts(): { safe: string; dangerous: string; canonical: string }[] {
    void this.facts;
    const out: { safe: string; dangerous: string; canonical: string }[] = [];
    for (const s of this.rules.safe) {
      for (const pattern of s.match) {
        for (const h of this.dangerHits(patternBody(pattern).split('.')).filter((x) => x.at <= 0)) {
          out.push({ safe: pattern, dangerous: h.matched, canonical: h.canonical() });
        }
      }
    }
    return out;
  }

  /** Safe entries that some dangerous entry matches on a proper suffix (kept explicit by tests). */
  shadowedSafeEntries(): { safe: string; dangerous: string; suffix: string }[] {
    void this.facts;
    const out: { safe: string; dangerous: string; suffix: string }[] = [];
    for (const s of this.rules.safe) {
      for (const pattern of s.match) {
        if (patternBody(pattern) !== pattern) continue;
        for (const h of this.dangerHits(pattern.split('.'), true)) {
          if (h.at > 0) out.push({ safe: pattern, dangerous: h.matched, suffix: h.canonical() });
        }
      }
    }
    return out;
  }
}

/** Split trimmed module and name into segments, or undefined when either is malformed. */
function splitInput(m: string, n: string): string[] | undefined {
  if (m === '' || n === '') return undefined;
  const segs = [...m.split('.'), ...n.split('.')];
  for (const s of segs) if (!INPUT_SEGMENT.test(s)) return undefined;
  return segs;
}

export type GlobalCatalogueImpl = YamlGlobalCatalogue;

/**
 * Load and validate a catalogue (default: rules/globals.yaml and rules/globals-facts.json at the
 * package root). Without `factsPath`, an explicit YAML path uses the `globals-facts.json` beside it
 * when there is one; `null` loads the YAML alone (tests of the matching rules). The default
 * catalogue always needs its facts file, so a missing one is an error, never a silent downgrade.
 */
export function loadGlobalCatalogue(
  path?: string,
  factsPath?: string | null,
): LoadedGlobalCatalogue & Pick<YamlGlobalCatalogue, 'shadowedSafeEntries' | 'factsConflicts'> {
  const file = resolve(path ?? defaultGlobalsPath());
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read globals catalogue ${file}: ${(e as Error).message}`, { cause: e });
  }
  // The shipped catalogue loads from its compiled form when current, without a YAML parser.
  const compiled = path === undefined ? compiledDocument('globals.yaml', text) : null;
  const rules = compiled ? globalRulesOf(compiled.data, file) : parseGlobalRules(text, file);
  // What the version hashes: the YAML, and the facts after a separator when there are facts.
  const hashed: DigestPart[] = [{ file: 'globals.yaml', bytes: text }];
  let facts: (() => GlobalFacts) | undefined;
  const sibling = join(dirname(file), 'globals-facts.json');
  const fp = factsPath !== undefined ? factsPath : path === undefined ? defaultFactsPath() : existsSync(sibling) ? sibling : null;
  if (fp !== null) {
    // Bytes: hashing needs no decoding, and only the uncompiled path needs the text.
    let factsBytes: Buffer;
    try {
      factsBytes = readFileSync(resolve(fp));
    } catch (e) {
      throw new Error(`cannot read globals facts ${fp}: ${(e as Error).message}`, { cause: e });
    }
    const factsFile = fp;
    // The shipped facts load from their compiled index when current (globals-facts-compiled.ts).
    const shipped = resolve(fp) === defaultFactsPath();
    facts = () => {
      const compiled = shipped ? compiledDocument('globals-facts.json', factsBytes) : null;
      const header = compiled?.data as CompiledFacts | undefined;
      const read = header ? tablesReader(join(packageRoot(), COMPILED_DIR, FACTS_TABLES), header.tablesLength) : null;
      return header && read ? compiledFacts(header, read) : parseGlobalFacts(factsBytes.toString('utf8'), factsFile);
    };
    // the version goes into cache keys: new facts must invalidate cached verdicts
    hashed.push('\0facts\0', { file: 'globals-facts.json', bytes: factsBytes });
  }
  return new YamlGlobalCatalogue(rules, file, combinedDigest(hashed), facts, compiled !== null);
}

let cached: ReturnType<typeof loadGlobalCatalogue> | undefined;

/** The catalogue shipped with the package, loaded once. */
export function defaultGlobalCatalogue(): ReturnType<typeof loadGlobalCatalogue> {
  cached ??= loadGlobalCatalogue(undefined, defaultFactsPath());
  return cached;
}

/** Canonical dotted name of a global for reports (`posix`,`system` -> `os.system`). */
export function canonicalName(module: string, name: string): string {
  return defaultGlobalCatalogue().canonical(module, name);
}
