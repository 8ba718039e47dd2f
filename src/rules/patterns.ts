/**
 * A small loader for pattern catalogues (rules/templates.yaml, rules/python-calls.yaml): YAML
 * files of named sections, each a list of entries with a pattern, a severity, a reason and
 * references. The data is for reviewers; this module only validates it and matches names.
 * A broken catalogue is a programming error caught by the tests, so loading throws.
 */
import { SEVERITIES, type Severity } from '../core/findings.js';
import { readCatalogue } from './catalogue-data.js';

export interface PatternEntry {
  pattern: string;
  severity: Severity;
  reason: string;
  references: string[];
}

export interface PatternCatalogue {
  /** Content hash of the file, for cache keys and reports. */
  readonly version: string;
  readonly sections: ReadonlyMap<string, readonly PatternEntry[]>;
}

function fail(file: string, msg: string): never {
  throw new Error(`${file}: ${msg}`);
}

export function loadPatternCatalogue(file: string, sections: readonly string[]): PatternCatalogue {
  // Duplicate keys are an error: `yaml` rejects them by default, and the build with it.
  const { sha256, data } = readCatalogue(file);
  const doc = data as Record<string, unknown> | null;
  if (doc === null || typeof doc !== 'object') fail(file, 'not a YAML mapping');
  const out = new Map<string, PatternEntry[]>();
  for (const name of sections) {
    const list = doc[name] ?? [];
    if (!Array.isArray(list)) fail(file, `section ${name} is not a list`);
    out.set(
      name,
      list.map((raw: unknown, i: number) => {
        const e = raw as Partial<Record<keyof PatternEntry, unknown>>;
        const where = `${name}[${i}]`;
        if (typeof e.pattern !== 'string' || e.pattern === '') fail(file, `${where}: pattern must be a non-empty string`);
        if (typeof e.severity !== 'string' || !(SEVERITIES as readonly string[]).includes(e.severity)) fail(file, `${where}: bad severity`);
        if (typeof e.reason !== 'string' || e.reason.trim() === '') fail(file, `${where}: reason is required`);
        if (!Array.isArray(e.references) || e.references.length === 0 || !e.references.every((r) => typeof r === 'string')) {
          fail(file, `${where}: at least one reference is required`);
        }
        return { pattern: e.pattern, severity: e.severity as Severity, reason: e.reason.trim(), references: e.references as string[] };
      }),
    );
  }
  const version = sha256.slice(0, 12);
  return { version, sections: out };
}

/** Glob over whole names: `*` is any run of characters, everything else literal. */
export function globMatches(pattern: string, name: string): boolean {
  if (!pattern.includes('*')) return pattern === name;
  const parts = pattern.split('*');
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (name.length < first.length + last.length || !name.startsWith(first) || !name.endsWith(last)) return false;
  let at = first.length;
  const end = name.length - last.length;
  for (const mid of parts.slice(1, -1)) {
    const i = name.indexOf(mid, at);
    if (i < 0 || i + mid.length > end) return false;
    at = i + mid.length;
  }
  return true;
}

/** The most specific entry matching `name`: an exact pattern, else the glob with the most literal characters. */
export function bestMatch(entries: readonly PatternEntry[], name: string): PatternEntry | null {
  let best: PatternEntry | null = null;
  let bestScore = -1;
  for (const e of entries) {
    if (!globMatches(e.pattern, name)) continue;
    const score = e.pattern.includes('*') ? e.pattern.replace(/\*/g, '').length : Number.MAX_SAFE_INTEGER;
    if (score > bestScore) {
      best = e;
      bestScore = score;
    }
  }
  return best;
}
