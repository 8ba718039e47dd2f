/**
 * Judges a call of a global listed in rules/call-conditions.yaml by the arguments the load
 * passes it: a sympy function given only numbers and sympy objects computes; given a string it
 * runs eval. The arguments are the machine's symbolic values, so every argument must be seen:
 * a container or argument list larger than the machine samples fails the condition (unverified),
 * never passes it.
 */
import { atLeast, type Severity } from '../../core/findings.js';
import { STATE_CONDITIONS, type CallCondition, type CallConditionCatalogue } from '../../rules/call-conditions.js';
import { CALL_ARGS } from '../../pickle/machine.js';
import { render, type Value } from '../../pickle/values.js';
import { judgeFormulaState } from './formula-state.js';
import { judgeArgparserState, updatedValue } from './argparser-state.js';
import type { StateVerdict } from './state-lookup.js';
import { judgeDatasetsBuilderState, judgeDatasetsTableState } from './datasets-state.js';

export type CallVerdict = { ok: true } | { ok: false; why: string; seen: boolean };

const OK: CallVerdict = { ok: true };
const MAX_DEPTH = 64;
const MAX_CACHED = 100_000;
const NEWOBJ = 'copyreg.__newobj__';

export class CallJudge {
  /** Per entry (the accepted argument classes differ), per value: expressions share subtrees. */
  private cache = new Map<CallCondition, Map<Value, CallVerdict>>();
  private cached = 0;

  constructor(
    private readonly catalogue: CallConditionCatalogue,
    private readonly canonical: (module: string, name: string) => string,
    private readonly isSafe: (module: string, name: string) => boolean,
  ) {}

  /** The entry judging calls of `canonical` (entries on BUILD states are left out). */
  condition(canonical: string): CallCondition | undefined {
    const entry = this.catalogue.byGlobal.get(canonical);
    return entry && !STATE_CONDITIONS.has(entry.condition) ? entry : undefined;
  }

  /**
   * The entry judging the state BUILD hands an instance of `canonical`: the one listing the
   * class, else one whose state key the state sets (any class: `__main__` subclasses too).
   */
  stateCondition(canonical: string, state?: Value): CallCondition | undefined {
    const entry = this.catalogue.byGlobal.get(canonical);
    if (entry) return STATE_CONDITIONS.has(entry.condition) ? entry : undefined;
    if (!state) return undefined;
    for (const [key, keyed] of this.catalogue.byStateKey) if (updatedValue(state, key)) return keyed;
    return undefined;
  }

  judge(entry: CallCondition, args: readonly Value[], kwargs: Value | undefined, depth = 0): CallVerdict {
    if (args.length >= CALL_ARGS) return { ok: false, why: 'more arguments than the scanner keeps', seen: false };
    if (entry.condition === 'first-argument-none') {
      const first = args[0];
      if (kwargs && !(kwargs.k === 'dict' && kwargs.len === 0)) return { ok: false, why: 'keyword arguments', seen: false };
      if (first?.k === 'none') return OK;
      if (first?.k === 'str' || first?.k === 'bytes') return { ok: false, why: `its first argument is a path, which it opens: ${render(first)}`, seen: true };
      return { ok: false, why: `its first argument is ${first ? render(first) : 'missing'}, not None`, seen: false };
    }
    for (const a of args) {
      const v = this.value(entry, a, depth);
      if (!v.ok) return v;
    }
    if (kwargs && kwargs.k !== 'none') {
      const v = this.value(entry, kwargs, depth);
      if (!v.ok) return v;
    }
    return OK;
  }

  private value(entry: CallCondition, v: Value, depth: number): CallVerdict {
    if (depth > MAX_DEPTH) return { ok: false, why: 'arguments nested too deeply', seen: false };
    let m = this.cache.get(entry);
    if (!m) this.cache.set(entry, (m = new Map()));
    const hit = m.get(v);
    if (hit) return hit;
    const r = this.valueNow(entry, v, depth);
    if (++this.cached > MAX_CACHED) {
      this.cache.clear();
      this.cached = 0;
    } else m.set(v, r);
    return r;
  }

  private valueNow(entry: CallCondition, v: Value, depth: number): CallVerdict {
    switch (v.k) {
      case 'none':
      case 'bool':
      case 'int':
      case 'float':
        return OK;
      case 'str':
      case 'bytes':
        return { ok: false, why: `passes ${render(v)}, which sympify parses with eval`, seen: true };
      case 'tuple':
      case 'list':
      case 'set':
        if (v.items.length < v.len) return { ok: false, why: 'passes a container larger than the scanner keeps', seen: false };
        for (const x of v.items) {
          const r = this.value(entry, x, depth + 1);
          if (!r.ok) return r;
        }
        return OK;
      case 'dict':
        if (v.entries.length < v.len) return { ok: false, why: 'passes a dict larger than the scanner keeps', seen: false };
        for (const [k, x] of v.entries) {
          const a = this.value(entry, k, depth + 1);
          if (!a.ok) return a;
          const b = this.value(entry, x, depth + 1);
          if (!b.ok) return b;
        }
        return OK;
      case 'call':
        return this.object(entry, v, depth);
      default:
        return { ok: false, why: `passes ${render(v)}, which the scanner cannot judge`, seen: false };
    }
  }

  /** An object the pickle built: by which class, with which arguments. */
  private object(entry: CallCondition, v: Extract<Value, { k: 'call' }>, depth: number): CallVerdict {
    if (v.fn.k !== 'global') return { ok: false, why: `passes ${render(v)}, built by a computed callable`, seen: false };
    let cls = v.fn;
    let args = v.args;
    let kwargs = v.kwargs;
    if (this.canonical(cls.module, cls.name) === NEWOBJ) {
      const first = args[0];
      if (first?.k !== 'global') return { ok: false, why: `passes ${render(v)}`, seen: false };
      cls = first;
      args = args.slice(1);
      kwargs = undefined;
    }
    const path = this.canonical(cls.module, cls.name);
    if (!entry.argumentModules.some((m) => path.startsWith(m))) return { ok: false, why: `passes an object of ${path}, which sympify would call into`, seen: false };
    if (this.isSafe(cls.module, cls.name)) return OK;
    const own = this.condition(path);
    if (own) return this.judge(own, args, kwargs, depth + 1);
    const bare = args.length === 0 && (!kwargs || (kwargs.k === 'dict' && kwargs.len === 0));
    if (bare && entry.argumentInstances.has(path)) return OK;
    return { ok: false, why: `passes an object of ${path}, which is not known to be safe`, seen: false };
  }
}

/** The judge of one state condition's kind. */
function judgeState(entry: CallCondition, state: Value, classOf: (v: Value) => string | null): StateVerdict {
  switch (entry.condition) {
    case 'scipy-argparser-state':
      return judgeArgparserState(state);
    case 'datasets-builder-state':
      return judgeDatasetsBuilderState(state);
    case 'datasets-table-state':
      return judgeDatasetsTableState(entry, state);
    default:
      return judgeFormulaState(entry, state, classOf);
  }
}

/** What a call of a conditioned global was: where, and which opcode made it. */
export interface CallSite {
  chain: string;
  offset: number;
  opcode: string;
}

/** Calls of one conditioned global in a stream: how many met the condition, the worst that did not. */
export interface Conditioned {
  entry: CallCondition;
  accepted: number;
  violation?: CallSite & { why: string; severity: Severity };
}

export class ConditionedCalls {
  private readonly seen = new Map<string, Conditioned>();
  /** Classes given a formula state that was accepted (see formulasAgainst). */
  private readonly evaluated = new Map<string, { entry: CallCondition; site: CallSite }>();

  constructor(private readonly judge: CallJudge) {}

  /** Judges one call of `canonical`: true when harmless, false when not, null when it has no condition. */
  record(canonical: string, args: readonly Value[], kwargs: Value | undefined, site: CallSite): boolean | null {
    const entry = this.judge.condition(canonical);
    if (!entry) return null;
    let c = this.seen.get(canonical);
    if (!c) this.seen.set(canonical, (c = { entry, accepted: 0 }));
    const v = this.judge.judge(entry, args, kwargs);
    if (v.ok) {
      c.accepted++;
      return true;
    }
    this.violate(c, entry, v, site);
    return false;
  }

  /**
   * Judges the state one BUILD hands an instance of `canonical` (null when no entry judges its
   * states). A harmless state is not counted as accepted: the construction stays reported as one.
   */
  recordState(canonical: string, state: Value, site: CallSite, classOf: (v: Value) => string | null): boolean | null {
    const entry = this.judge.stateCondition(canonical, state);
    if (!entry) return null;
    const v = judgeState(entry, state, classOf);
    if (v.ok) {
      if (v.evaluates && !this.evaluated.has(canonical)) this.evaluated.set(canonical, { entry, site });
      return true;
    }
    let c = this.seen.get(canonical);
    if (!c) this.seen.set(canonical, (c = { entry, accepted: 0 }));
    this.violate(c, entry, v, site);
    return false;
  }

  /**
   * A formula accepted above still has its names looked up in the data the file supplies first
   * (a column `np` is a Series whose `log` attribute is the cell labelled `log`): when the file
   * also holds callables the scanner cannot place (`loose`: globals it only references, call
   * wrappers it rebuilt), the accepted formulas cannot be verified.
   */
  formulasAgainst(loose: readonly string[]): void {
    if (loose.length === 0) return;
    const shown = loose.slice(0, 3).join(', ') + (loose.length > 3 ? ` and ${loose.length - 3} more` : '');
    for (const [canonical, { entry, site }] of this.evaluated) {
      let c = this.seen.get(canonical);
      if (!c) this.seen.set(canonical, (c = { entry, accepted: 0 }));
      this.violate(c, entry, { why: `its state's formula is evaluated with its names looked up in the file's own data first, and the file also holds callables the scanner cannot place (${shown})`, seen: false }, site);
    }
  }

  private violate(c: Conditioned, entry: CallCondition, v: { why: string; seen: boolean }, site: CallSite): void {
    // The entry's severity when the harmful value is seen; medium when it cannot be verified.
    const severity: Severity = v.seen ? entry.violated : 'medium';
    if (!c.violation || (severity !== c.violation.severity && atLeast(severity, c.violation.severity))) c.violation = { ...site, why: v.why, severity };
  }

  get(canonical: string): Conditioned | undefined {
    return this.seen.get(canonical);
  }

  clear(): void {
    this.seen.clear();
    this.evaluated.clear();
  }
}

/**
 * The arguments copyreg.__newobj__(cls, *args) / __newobj_ex__(cls, args, kwargs) pass to
 * cls.__new__ (`rest` is what follows cls). A sampled or unreadable argument tuple becomes an
 * unknown value, so the condition fails rather than passing on what was not seen.
 */
export function newobjArguments(canonical: string, rest: readonly Value[]): { args: readonly Value[]; kwargs: Value | undefined } {
  if (canonical === 'copyreg.__newobj__') return { args: rest, kwargs: undefined };
  const t = rest[0];
  if (t?.k !== 'tuple') return { args: [{ k: 'unknown', why: 'arguments are not a tuple' }], kwargs: rest[1] };
  if (t.items.length < t.len) return { args: [{ k: 'unknown', why: 'arguments sampled' }], kwargs: rest[1] };
  return { args: t.items, kwargs: rest[1] };
}
