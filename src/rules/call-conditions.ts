/**
 * rules/call-conditions.yaml: globals whose danger depends on the arguments the load passes
 * them (sympy functions sympify strings with eval; dateutil's tzfile opens a path). Loaded once
 * and validated strictly: a bad entry is an error naming it, never a silently shorter list.
 * The pickle collector checks the arguments (formats/pickle/call-judge.ts).
 */
import type { Severity } from '../core/findings.js';
import { parseCatalogueText, readCatalogue } from './catalogue-data.js';
import { str, strList } from './tf-ops.js';

export const CALL_CONDITIONS = ['sympified-values', 'first-argument-none', 'patsy-formula-state', 'scipy-argparser-state', 'datasets-builder-state', 'datasets-table-state'] as const;
export type CallConditionKind = (typeof CALL_CONDITIONS)[number];
/**
 * Conditions on the state BUILD hands an instance's __setstate__, not on the arguments of a call:
 * a direct call of such a global is judged as any unknown call.
 */
export const STATE_CONDITIONS: ReadonlySet<CallConditionKind> = new Set(['patsy-formula-state', 'scipy-argparser-state', 'datasets-builder-state', 'datasets-table-state']);

export interface CallCondition {
  readonly condition: CallConditionKind;
  /** Module prefixes (ending in '.') whose objects may be arguments (sympified-values). */
  readonly argumentModules: readonly string[];
  /** Classes whose argument-less instances may be arguments (sympified-values). */
  readonly argumentInstances: ReadonlySet<string>;
  /** Functions a formula may call (patsy-formula-state): `C`, `np.log`... */
  readonly formulaFunctions: ReadonlySet<string>;
  /**
   * State keys that bring any unknown class under this entry when its BUILD state sets them
   * (a subclass the loading script defines is named `__main__.X`, which no list can hold).
   */
  readonly stateKeys: readonly string[];
  /** Table methods a state's replays may name (datasets-table-state). */
  readonly replayMethods: ReadonlySet<string>;
  /** Severity of a call whose arguments are seen to be harmful. */
  readonly violated: Severity;
  readonly reason: string;
  readonly references: readonly string[];
}

export interface CallConditionCatalogue {
  readonly version: string;
  readonly byGlobal: ReadonlyMap<string, CallCondition>;
  /** State key -> the state entry listing it under `state_keys`. */
  readonly byStateKey: ReadonlyMap<string, CallCondition>;
}

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => v !== null && typeof v === 'object' && !Array.isArray(v);
const KEYS = ['globals', 'condition', 'argument_modules', 'argument_instances', 'formula_functions', 'state_keys', 'replay_methods', 'violated', 'reason', 'references'];
const VIOLATED: readonly Severity[] = ['critical', 'high', 'medium'];

export function parseCallConditions(text: string, file = 'rules/call-conditions.yaml'): Map<string, CallCondition> {
  return callConditionsOf(parseCatalogueText('call-conditions.yaml', text), file);
}

function callConditionsOf(doc: unknown, file: string): Map<string, CallCondition> {
  if (!isRec(doc) || doc['version'] !== 1 || !Array.isArray(doc['conditions'])) throw new Error(`${file}: needs version: 1 and a conditions list`);
  const out = new Map<string, CallCondition>();
  (doc['conditions'] as unknown[]).forEach((raw, i) => {
    const where = `conditions[${i}]`;
    if (!isRec(raw)) throw new Error(`${file}: ${where}: must be a mapping`);
    for (const k of Object.keys(raw)) if (!KEYS.includes(k)) throw new Error(`${file}: ${where}: unknown key "${k}"`);
    const kind = raw['condition'];
    if (typeof kind !== 'string' || !(CALL_CONDITIONS as readonly string[]).includes(kind)) throw new Error(`${file}: ${where}: "condition" must be one of ${CALL_CONDITIONS.join(', ')}`);
    const violated = raw['violated'];
    if (typeof violated !== 'string' || !(VIOLATED as readonly string[]).includes(violated)) throw new Error(`${file}: ${where}: "violated" must be one of ${VIOLATED.join(', ')}`);
    const modules = strList(file, where, raw, 'argument_modules', kind === 'sympified-values');
    if (modules.some((m) => !m.endsWith('.'))) throw new Error(`${file}: ${where}: argument_modules entries end with '.'`);
    const entry: CallCondition = {
      condition: kind as CallConditionKind,
      argumentModules: modules,
      argumentInstances: new Set(strList(file, where, raw, 'argument_instances', false)),
      formulaFunctions: new Set(strList(file, where, raw, 'formula_functions', kind === 'patsy-formula-state')),
      stateKeys: strList(file, where, raw, 'state_keys', false),
      replayMethods: new Set(strList(file, where, raw, 'replay_methods', kind === 'datasets-table-state')),
      violated: violated as Severity,
      reason: str(file, where, raw, 'reason'),
      references: strList(file, where, raw, 'references', true),
    };
    for (const g of strList(file, where, raw, 'globals', true)) {
      if (!/^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)+$/.test(g)) throw new Error(`${file}: ${where}: "${g}" is not a dotted module.name`);
      if (out.has(g)) throw new Error(`${file}: ${where}: "${g}" listed twice`);
      out.set(g, entry);
    }
  });
  return out;
}

/** The entries' state keys, each to its entry; a key under two entries, or on a call condition, is an error. */
export function stateKeysOf(byGlobal: ReadonlyMap<string, CallCondition>): Map<string, CallCondition> {
  const out = new Map<string, CallCondition>();
  for (const entry of new Set(byGlobal.values())) {
    for (const key of entry.stateKeys) {
      if (!STATE_CONDITIONS.has(entry.condition)) throw new Error(`rules/call-conditions.yaml: state_keys belong to state conditions, not ${entry.condition}`);
      if (out.has(key)) throw new Error(`rules/call-conditions.yaml: state key "${key}" listed twice`);
      out.set(key, entry);
    }
  }
  return out;
}

let cached: CallConditionCatalogue | null = null;

export function callConditionCatalogue(): CallConditionCatalogue {
  if (cached) return cached;
  const { sha256, data } = readCatalogue('call-conditions.yaml');
  const byGlobal = callConditionsOf(data, 'rules/call-conditions.yaml');
  cached = { version: `1+${sha256.slice(0, 12)}`, byGlobal, byStateKey: stateKeysOf(byGlobal) };
  return cached;
}
