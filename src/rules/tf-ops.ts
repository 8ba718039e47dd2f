/**
 * The TensorFlow op catalogues: rules/tf-ops.yaml (ops that reach the host, with severities and
 * the places where benign models carry them), rules/tf-standard-ops.txt (every op of the stock
 * runtime; anything else is a custom op needing a native library) and rules/tflite-custom-ops.yaml
 * (TFLite custom codes the stock interpreter registers itself). Loaded once, validated strictly:
 * a broken catalogue is an error at start-up, never a silently empty list.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SEVERITIES, type Severity } from '../core/findings.js';
import { packageRoot } from '../core/package.js';
import { documentOf, parseCatalogueText } from './catalogue-data.js';
import { combinedDigest } from './source-digests.js';

export interface TfOpRule {
  op: string;
  severity: Severity;
  reason: string;
  references: string[];
  expectedIn?: { functions: RegExp[]; nodes: RegExp[] };
  expectedSeverity?: Severity;
  onlyWhenAttr?: { name: string; prefixes: string[] };
  evidenceAttrs: string[];
}

export interface TfOpCatalogue {
  readonly version: string;
  readonly ops: ReadonlyMap<string, TfOpRule>;
  /** Every op name the stock TensorFlow runtime registers. */
  readonly standard: ReadonlySet<string>;
  /** TFLite custom codes registered by the stock TFLite interpreter. */
  readonly tfliteBuiltinCustom: ReadonlySet<string>;
}

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => v !== null && typeof v === 'object' && !Array.isArray(v);

function fail(file: string, where: string, msg: string): never {
  throw new Error(`${file}: ${where}: ${msg}`);
}

export function str(file: string, where: string, o: Rec, key: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v.trim() === '') fail(file, where, `"${key}" must be a non-empty string`);
  return v;
}

export function strList(file: string, where: string, o: Rec, key: string, nonEmpty: boolean): string[] {
  const v = o[key] ?? [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string') || (nonEmpty && v.length === 0)) fail(file, where, `"${key}" must be a ${nonEmpty ? 'non-empty ' : ''}list of strings`);
  return v as string[];
}

function severity(file: string, where: string, o: Rec, key: string): Severity {
  const v = o[key];
  if (typeof v !== 'string' || !(SEVERITIES as readonly string[]).includes(v)) fail(file, where, `"${key}" must be one of ${SEVERITIES.join(', ')}`);
  return v as Severity;
}

function keys(file: string, where: string, o: Rec, allowed: string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) fail(file, where, `unknown key "${k}"`);
}

export function parseTfOps(text: string, file = 'rules/tf-ops.yaml'): TfOpRule[] {
  return tfOpsOf(parseCatalogueText('tf-ops.yaml', text), file);
}

function tfOpsOf(doc: unknown, file: string): TfOpRule[] {
  if (!isRec(doc) || doc['version'] !== 1 || !Array.isArray(doc['ops'])) fail(file, 'top level', 'needs version: 1 and an ops list');
  const seen = new Set<string>();
  return (doc['ops'] as unknown[]).map((raw, i) => {
    const where = `ops[${i}]`;
    if (!isRec(raw)) fail(file, where, 'must be a mapping');
    keys(file, where, raw, ['op', 'severity', 'reason', 'references', 'expected_in', 'expected_severity', 'only_when_attr', 'evidence_attrs']);
    const op = str(file, where, raw, 'op');
    if (seen.has(op)) fail(file, where, `duplicate op ${op}`);
    seen.add(op);
    const rule: TfOpRule = {
      op,
      severity: severity(file, where, raw, 'severity'),
      reason: str(file, where, raw, 'reason'),
      references: strList(file, where, raw, 'references', true),
      evidenceAttrs: strList(file, where, raw, 'evidence_attrs', false),
    };
    const exp = raw['expected_in'];
    if (exp !== undefined) {
      if (!isRec(exp)) fail(file, where, '"expected_in" must be a mapping');
      keys(file, `${where}.expected_in`, exp, ['functions', 'nodes']);
      const re = (k: string) => strList(file, `${where}.expected_in`, exp, k, false).map((p) => new RegExp(p));
      rule.expectedIn = { functions: re('functions'), nodes: re('nodes') };
      rule.expectedSeverity = severity(file, where, raw, 'expected_severity');
    } else if (raw['expected_severity'] !== undefined) fail(file, where, '"expected_severity" needs "expected_in"');
    const when = raw['only_when_attr'];
    if (when !== undefined) {
      if (!isRec(when)) fail(file, where, '"only_when_attr" must be a mapping');
      rule.onlyWhenAttr = { name: str(file, `${where}.only_when_attr`, when, 'name'), prefixes: strList(file, `${where}.only_when_attr`, when, 'prefixes', true) };
    }
    return rule;
  });
}

export function parseStandardOps(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t && !t.startsWith('#')) out.add(t);
  }
  return out;
}

export function parseTfliteCustom(text: string, file = 'rules/tflite-custom-ops.yaml'): Set<string> {
  return tfliteCustomOf(parseCatalogueText('tflite-custom-ops.yaml', text), file);
}

function tfliteCustomOf(doc: unknown, file: string): Set<string> {
  if (!isRec(doc) || doc['version'] !== 1 || !Array.isArray(doc['builtin_custom_ops'])) fail(file, 'top level', 'needs version: 1 and a builtin_custom_ops list');
  return new Set(
    (doc['builtin_custom_ops'] as unknown[]).map((raw, i) => {
      if (!isRec(raw)) fail(file, `builtin_custom_ops[${i}]`, 'must be a mapping');
      str(file, `builtin_custom_ops[${i}]`, raw, 'reason');
      strList(file, `builtin_custom_ops[${i}]`, raw, 'references', true);
      return str(file, `builtin_custom_ops[${i}]`, raw, 'name');
    }),
  );
}

let cached: TfOpCatalogue | null = null;
let texts: [ops: string, standard: string, tflite: string] | null = null;
let version: string | null = null;

function sourceTexts(): [string, string, string] {
  const root = packageRoot();
  texts ??= ['tf-ops.yaml', 'tf-standard-ops.txt', 'tflite-custom-ops.yaml'].map((f) => readFileSync(join(root, 'rules', f), 'utf8')) as [string, string, string];
  return texts;
}

/** The catalogue's version alone, from its files' bytes: analyzer versions need no parsing. */
export function tfOpCatalogueVersion(): string {
  if (version) return version;
  const files = ['tf-ops.yaml', 'tf-standard-ops.txt', 'tflite-custom-ops.yaml'];
  version = `1+${combinedDigest(sourceTexts().map((t, i) => ({ file: files[i]!, bytes: t }))).slice(0, 12)}`;
  return version;
}

export function tfOpCatalogue(): TfOpCatalogue {
  if (cached) return cached;
  const [ops, standard, tflite] = sourceTexts();
  cached = {
    version: tfOpCatalogueVersion(),
    ops: new Map(tfOpsOf(documentOf('tf-ops.yaml', ops), 'rules/tf-ops.yaml').map((r) => [r.op, r])),
    standard: parseStandardOps(standard),
    tfliteBuiltinCustom: tfliteCustomOf(documentOf('tflite-custom-ops.yaml', tflite), 'rules/tflite-custom-ops.yaml'),
  };
  return cached;
}

/** Severity of an op occurrence, or null when the catalogue says it is not reported there. */
export function gradeOp(rule: TfOpRule, where: { fn?: string; node: string }, attr?: (name: string) => string[]): { severity: Severity; expected: boolean } | null {
  if (rule.onlyWhenAttr) {
    const values = attr?.(rule.onlyWhenAttr.name) ?? [];
    if (!values.some((v) => rule.onlyWhenAttr!.prefixes.some((p) => v.startsWith(p)))) return null;
  }
  if (rule.expectedIn && rule.expectedSeverity) {
    const hit = where.fn !== undefined ? rule.expectedIn.functions.some((r) => r.test(where.fn!)) : rule.expectedIn.nodes.some((r) => r.test(where.node));
    if (hit) return { severity: rule.expectedSeverity, expected: true };
  }
  return { severity: rule.severity, expected: false };
}
