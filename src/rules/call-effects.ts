/**
 * rules/call-effects.yaml: what some safe callables do besides building a fresh value. Some
 * return an object the whole process shares (logging.getLogger, SymPy's cached numbers), so a
 * BUILD or SETITEM on the result changes process state; some call a method looked up by name on
 * an argument (dict(x) calls x.keys()), so an attribute the pickle stored on that argument is
 * called. Loaded once and validated strictly: a bad entry is an error naming it.
 */
import { readCatalogue, parseCatalogueText } from './catalogue-data.js';
import { str, strList } from './tf-ops.js';

/** How an object is made: called (REDUCE, OBJ, INST) or created with cls.__new__ (NEWOBJ, copyreg.__newobj__). */
export type MadeBy = 'call' | 'new';

export interface SharedResult {
  readonly via: ReadonlySet<MadeBy>;
  readonly reason: string;
  readonly references: readonly string[];
}

export interface ArgumentMethods {
  /** How the callable is invoked for the lookup to happen (dict(x) copies x in __init__: not by __new__). */
  readonly via: ReadonlySet<MadeBy>;
  readonly arguments: readonly number[];
  /** Names tried in order; the first one the pickle stored is called. */
  readonly methods: readonly string[];
  readonly reason: string;
  readonly references: readonly string[];
}

/** A class's __getattr__ that serves attributes from data the pickle wrote (its items, or dicts of its state). */
export interface AttributeFallback {
  readonly from: 'items' | 'state_keys';
  /** Exact classes (from: items). */
  readonly classes: readonly string[];
  /** State keys whose dicts are searched, for any instance whose state has them (from: state_keys). */
  readonly stateKeys: readonly string[];
  /** Names the class defines: normal lookup finds them, __getattr__ is never asked. */
  readonly classAttributes: ReadonlySet<string>;
  readonly reason: string;
  readonly references: readonly string[];
}

/** The callable returns its argument at this position itself (when it is an object). */
export interface ReturnsArgument {
  readonly argument: number;
  readonly reason: string;
  readonly references: readonly string[];
}

export interface CallEffects {
  readonly version: string;
  readonly shared: ReadonlyMap<string, SharedResult>;
  readonly returnsArgument: ReadonlyMap<string, ReturnsArgument>;
  readonly argumentMethods: ReadonlyMap<string, ArgumentMethods>;
  readonly attributeFallbacks: readonly AttributeFallback[];
}

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => v !== null && typeof v === 'object' && !Array.isArray(v);
const DOTTED = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$/;
const IDENT = /^[A-Za-z_]\w*$/;

function records(file: string, doc: Rec, key: string, keys: readonly string[]): Array<{ where: string; raw: Rec }> {
  const list = doc[key] ?? []; // a section left out lists nothing
  if (!Array.isArray(list)) throw new Error(`${file}: "${key}" must be a list`);
  return list.map((raw: unknown, i) => {
    const where = `${key}[${i}]`;
    if (!isRec(raw)) throw new Error(`${file}: ${where}: must be a mapping`);
    for (const k of Object.keys(raw)) if (!keys.includes(k)) throw new Error(`${file}: ${where}: unknown key "${k}"`);
    return { where, raw };
  });
}

function dottedList(file: string, where: string, raw: Rec, key: string, nonEmpty: boolean): string[] {
  const names = strList(file, where, raw, key, nonEmpty);
  for (const g of names) if (!DOTTED.test(g)) throw new Error(`${file}: ${where}: "${g}" is not a dotted module.name`);
  return names;
}

function entries(file: string, doc: Rec, key: string, keys: readonly string[]): Array<{ where: string; raw: Rec; globals: string[] }> {
  return records(file, doc, key, keys).map(({ where, raw }) => ({ where, raw, globals: dottedList(file, where, raw, 'globals', true) }));
}

function fallbacksOf(file: string, doc: Rec): AttributeFallback[] {
  return records(file, doc, 'attribute_fallbacks', ['classes', 'state_keys', 'from', 'class_attributes', 'reason', 'references']).map(({ where, raw }) => {
    const from = raw['from'];
    if (from !== 'items' && from !== 'state_keys') throw new Error(`${file}: ${where}: "from" is items or state_keys`);
    const classes = dottedList(file, where, raw, 'classes', from === 'items');
    const stateKeys = strList(file, where, raw, 'state_keys', from === 'state_keys');
    if ((from === 'items' && stateKeys.length) || (from === 'state_keys' && classes.length)) throw new Error(`${file}: ${where}: "classes" go with from: items, "state_keys" with from: state_keys`);
    return { from, classes, stateKeys, classAttributes: new Set(strList(file, where, raw, 'class_attributes', false)), reason: str(file, where, raw, 'reason'), references: strList(file, where, raw, 'references', true) };
  });
}

function madeBy(file: string, where: string, raw: Rec): ReadonlySet<MadeBy> {
  const via = strList(file, where, raw, 'via', true);
  if (!via.every((v) => v === 'call' || v === 'new')) throw new Error(`${file}: ${where}: "via" lists call and/or new`);
  return new Set(via as MadeBy[]);
}

function once<T>(file: string, where: string, out: Map<string, T>, name: string, value: T): void {
  if (out.has(name)) throw new Error(`${file}: ${where}: "${name}" listed twice`);
  out.set(name, value);
}

function callEffectsOf(doc: unknown, file: string): Omit<CallEffects, 'version'> {
  if (!isRec(doc) || doc['version'] !== 1) throw new Error(`${file}: needs version: 1`);
  for (const k of Object.keys(doc)) if (!['version', 'shared_results', 'returns_argument', 'argument_methods', 'attribute_fallbacks'].includes(k)) throw new Error(`${file}: unknown top-level key "${k}"`);
  const shared = new Map<string, SharedResult>();
  for (const { where, raw, globals } of entries(file, doc, 'shared_results', ['globals', 'via', 'reason', 'references'])) {
    const entry: SharedResult = { via: madeBy(file, where, raw), reason: str(file, where, raw, 'reason'), references: strList(file, where, raw, 'references', true) };
    for (const g of globals) once(file, where, shared, g, entry);
  }
  const returnsArgument = new Map<string, ReturnsArgument>();
  for (const { where, raw, globals } of entries(file, doc, 'returns_argument', ['globals', 'argument', 'reason', 'references'])) {
    const at = raw['argument'];
    if (!Number.isInteger(at) || (at as number) < 0) throw new Error(`${file}: ${where}: "argument" must be an index`);
    const entry: ReturnsArgument = { argument: at as number, reason: str(file, where, raw, 'reason'), references: strList(file, where, raw, 'references', true) };
    for (const g of globals) once(file, where, returnsArgument, g, entry);
  }
  const argumentMethods = new Map<string, ArgumentMethods>();
  for (const { where, raw, globals } of entries(file, doc, 'argument_methods', ['globals', 'via', 'arguments', 'methods', 'reason', 'references'])) {
    const args = raw['arguments'];
    if (!Array.isArray(args) || args.length === 0 || !args.every((a) => Number.isInteger(a) && (a as number) >= 0)) throw new Error(`${file}: ${where}: "arguments" must be a non-empty list of indexes`);
    const methods = strList(file, where, raw, 'methods', true);
    // Dunder names are looked up on the type, never on the instance: listing one is a mistake.
    if (!methods.every((m) => IDENT.test(m) && !(m.startsWith('__') && m.endsWith('__')))) throw new Error(`${file}: ${where}: "methods" are plain (non-dunder) attribute names`);
    const entry: ArgumentMethods = { via: madeBy(file, where, raw), arguments: args as number[], methods, reason: str(file, where, raw, 'reason'), references: strList(file, where, raw, 'references', true) };
    for (const g of globals) once(file, where, argumentMethods, g, entry);
  }
  return { shared, returnsArgument, argumentMethods, attributeFallbacks: fallbacksOf(file, doc) };
}

export function parseCallEffects(text: string, file = 'rules/call-effects.yaml'): Omit<CallEffects, 'version'> {
  return callEffectsOf(parseCatalogueText('call-effects.yaml', text), file);
}

let cached: CallEffects | null = null;

export function callEffectsCatalogue(): CallEffects {
  if (cached) return cached;
  const { sha256, data } = readCatalogue('call-effects.yaml');
  cached = { version: `1+${sha256.slice(0, 12)}`, ...callEffectsOf(data, 'rules/call-effects.yaml') };
  return cached;
}
