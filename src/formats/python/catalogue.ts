/**
 * The Python-call catalogue (rules/python-calls.yaml), loaded once. Patterns match whole
 * resolved dotted names (see the file's header).
 */
import { bestMatch, loadPatternCatalogue, type PatternEntry } from '../../rules/patterns.js';

type Section = 'calls' | 'torchscript_host_ops' | 'torchscript_namespaces';
const SECTIONS: readonly Section[] = ['calls', 'torchscript_host_ops', 'torchscript_namespaces'];

export interface PythonCatalogue {
  readonly version: string;
  /** The dangerous-call entry for a resolved call name. */
  matchCall(resolved: string, bare: boolean): PatternEntry | null;
  match(section: Section, name: string): PatternEntry | null;
  /** True for operator/class namespaces that ship with PyTorch. */
  isCoreNamespace(ns: string): boolean;
}

let cached: PythonCatalogue | null = null;

export function pythonCatalogue(): PythonCatalogue {
  if (cached) return cached;
  const cat = loadPatternCatalogue('python-calls.yaml', SECTIONS);
  const calls = cat.sections.get('calls') ?? [];
  // Bare-name patterns (eval, exec) only match calls written as a bare name; dotted ones only dotted calls.
  const bareCalls = calls.filter((e) => !e.pattern.includes('.'));
  const dottedCalls = calls.filter((e) => e.pattern.includes('.'));
  const memo = new Map<string, PatternEntry | null>();
  const core = new Set((cat.sections.get('torchscript_namespaces') ?? []).map((e) => e.pattern));
  cached = {
    version: cat.version,
    matchCall: (resolved, bare) => {
      const key = `${bare ? 1 : 0}${resolved}`;
      let hit = memo.get(key);
      if (hit === undefined) {
        hit = bestMatch(bare || !resolved.includes('.') ? bareCalls : dottedCalls, resolved);
        if (memo.size < 100_000) memo.set(key, hit);
      }
      return hit;
    },
    match: (section, name) => bestMatch(cat.sections.get(section) ?? [], name),
    isCoreNamespace: (ns) => core.has(ns),
  };
  return cached;
}
