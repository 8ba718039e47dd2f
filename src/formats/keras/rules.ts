/**
 * Loads rules/keras.yaml (safe namespaces, dangerous references, Python builtins) and
 * rules/keras-cves.yaml (loader vulnerabilities by version). The data is reviewed by people who
 * do not read TypeScript; this module only validates its shape and answers questions about it.
 */
import { parseCatalogueText, readCatalogue } from '../../rules/catalogue-data.js';
import type { Severity } from '../../core/findings.js';

export interface DangerousReference {
  name: string;
  severity: Severity;
  reason: string;
  references: string[];
}

export interface KerasCve {
  id: string;
  affected: string[];
  triggers: string[];
  formats?: string[];
  reason: string;
  references: string[];
}

/** A layer config key whose string value the layer opens as a file when it is rebuilt. */
export interface HostFileKey {
  key: string;
  reason: string;
  references: string[];
}

export interface KerasRules {
  safeRoots: string[];
  hostFileKeys: HostFileKey[];
  dangerous: Map<string, DangerousReference>;
  pythonBuiltins: { names: Set<string>; reason: string; references: string[] };
  moduleKeys: string[];
  cves: KerasCve[];
}

const SEVERITIES: readonly Severity[] = ['critical', 'high', 'medium', 'low', 'info'];

function strings(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new Error(`keras rules: ${what} must be a list of strings`);
  return v as string[];
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`keras rules: ${what} must be a mapping`);
  return v as Record<string, unknown>;
}

function text(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw new Error(`keras rules: ${what} must be a non-empty string`);
  return v;
}

export function parseKerasRules(kerasYaml: string, cvesYaml: string): KerasRules {
  return kerasRulesOf(parseCatalogueText('keras.yaml', kerasYaml), parseCatalogueText('keras-cves.yaml', cvesYaml));
}

function kerasRulesOf(kerasDoc: unknown, cvesDoc: unknown): KerasRules {
  const k = obj(kerasDoc, 'keras.yaml');
  const safeRoots = (k['safe_module_roots'] as unknown[]).map((e, i) => {
    const o = obj(e, `safe_module_roots[${i}]`);
    text(o['reason'], `safe_module_roots[${i}].reason`);
    return text(o['root'], `safe_module_roots[${i}].root`);
  });
  const dangerous = new Map<string, DangerousReference>();
  for (const [i, e] of (k['dangerous_references'] as unknown[]).entries()) {
    const o = obj(e, `dangerous_references[${i}]`);
    const severity = o['severity'] as Severity;
    if (!SEVERITIES.includes(severity)) throw new Error(`keras rules: dangerous_references[${i}].severity is not a severity`);
    const name = text(o['name'], `dangerous_references[${i}].name`);
    dangerous.set(name, { name, severity, reason: text(o['reason'], `dangerous_references[${i}].reason`), references: strings(o['references'], `dangerous_references[${i}].references`) });
  }
  const b = obj(k['python_builtins'], 'python_builtins');
  const pythonBuiltins = { names: new Set(strings(b['names'], 'python_builtins.names')), reason: text(b['reason'], 'python_builtins.reason'), references: strings(b['references'], 'python_builtins.references') };
  const c = obj(cvesDoc, 'keras-cves.yaml');
  const cves = (c['cves'] as unknown[]).map((e, i): KerasCve => {
    const o = obj(e, `cves[${i}]`);
    const affected = strings(o['affected'], `cves[${i}].affected`);
    for (const r of affected) if (parseRange(r) === null) throw new Error(`keras rules: cves[${i}].affected ${JSON.stringify(r)} is not a version range`);
    const cve: KerasCve = { id: text(o['id'], `cves[${i}].id`), affected, triggers: strings(o['triggers'], `cves[${i}].triggers`), reason: text(o['reason'], `cves[${i}].reason`), references: strings(o['references'], `cves[${i}].references`) };
    if (o['formats'] !== undefined) cve.formats = strings(o['formats'], `cves[${i}].formats`);
    return cve;
  });
  const hostFileKeys = (k['host_file_keys'] as unknown[]).map((e, i): HostFileKey => {
    const o = obj(e, `host_file_keys[${i}]`);
    return { key: text(o['key'], `host_file_keys[${i}].key`), reason: text(o['reason'], `host_file_keys[${i}].reason`), references: strings(o['references'], `host_file_keys[${i}].references`) };
  });
  return { safeRoots, hostFileKeys, dangerous, pythonBuiltins, moduleKeys: strings(k['module_keys'], 'module_keys'), cves };
}

let cached: KerasRules | null = null;

export function kerasRules(): KerasRules {
  if (!cached) {
    cached = kerasRulesOf(readCatalogue('keras.yaml').data, readCatalogue('keras-cves.yaml').data);
  }
  return cached;
}

/** True when `module` is a safe root or a dotted child of one. */
export function isSafeModule(rules: KerasRules, module: string): boolean {
  return rules.safeRoots.some((r) => module === r || module.startsWith(r + '.'));
}

type Cmp = { op: '<' | '<=' | '>' | '>=' | '=='; version: number[] };

function parseVersion(v: string): number[] | null {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(v.trim());
  if (!m) return null;
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

function parseRange(r: string): Cmp[] | null {
  const out: Cmp[] = [];
  for (const part of r.trim().split(/\s+/)) {
    const m = /^(<=|>=|<|>|==)(.+)$/.exec(part);
    const version = m ? parseVersion(m[2]!) : null;
    if (!m || !version) return null;
    out.push({ op: m[1] as Cmp['op'], version });
  }
  return out.length ? out : null;
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < 3; i++) if (a[i]! !== b[i]!) return a[i]! - b[i]!;
  return 0;
}

/** Whether a Keras version string falls in one of the ranges; null when the version is unreadable. */
export function versionAffected(version: string, ranges: readonly string[]): boolean | null {
  const v = parseVersion(version);
  if (!v) return null;
  return ranges.some((r) =>
    (parseRange(r) ?? []).every(({ op, version: w }) => {
      const c = compare(v, w);
      return op === '<' ? c < 0 : op === '<=' ? c <= 0 : op === '>' ? c > 0 : op === '>=' ? c >= 0 : c === 0;
    }),
  );
}

/** CVEs whose affected ranges include the version that saved the file. */
export function cvesForVersion(rules: KerasRules, version: string, format: 'keras' | 'h5'): KerasCve[] {
  return rules.cves.filter((c) => (!c.formats || c.formats.includes(format)) && versionAffected(version, c.affected) === true);
}

/** CVE ids describing the technique of a finding kind (for its references). */
export function cvesForRule(rules: KerasRules, rule: string, format: 'keras' | 'h5'): string[] {
  return rules.cves.filter((c) => c.triggers.includes(rule) && (!c.formats || c.formats.includes(format))).map((c) => c.id);
}
