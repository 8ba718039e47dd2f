/**
 * What the load does to objects it did not create, and through arguments it passes, as
 * rules/call-effects.yaml describes the safe callables:
 *
 * - PICKLE_GLOBAL_MUTATION: a BUILD (state set with __setstate__, a __dict__ update or setattr) or
 *   a SETITEM/SETITEMS on a module, class or function (a global or an attribute path), or on the
 *   result of a callable that returns a process-wide object (logging.getLogger, SymPy's cached
 *   numbers). pickle.dump never writes either: its BUILD and SETITEMS follow the call that made
 *   a new object, and the listed callables pickle themselves without state.
 * - the receivers of methods a callable looks up by name on its arguments (dict(x) calls
 *   x.keys()), for the collector to judge what the pickle stored there.
 */
import type { Evidence } from '../../core/findings.js';
import type { AnalysisContext } from '../types.js';
import type { StoreEvent } from '../../pickle/machine.js';
import { render, type Value } from '../../pickle/values.js';
import { canonicalPath, type Canonical } from '../../pickle/wrappers.js';
import type { AttributeFallback, CallEffects, MadeBy, SharedResult } from '../../rules/call-effects.js';

/** Findings of this rule per file: one per target and opcode, and at most this many. */
const MAX_MUTATIONS = 10;

type Call = Extract<Value, { k: 'call' }>;

/** How a call value was made: which callable (canonical path), with what arguments, by call or __new__. */
interface Made {
  path: string;
  args: readonly Value[];
  via: MadeBy;
}

/** A call rendered as made, without the state a BUILD has just recorded on it. */
function asMade(v: Call): string {
  return render({ k: 'call', fn: v.fn, args: v.args, op: v.op, offset: v.offset, ...(v.kwargs ? { kwargs: v.kwargs } : {}) });
}

const NEW_OPS = new Set(['NEWOBJ', 'NEWOBJ_EX']);
const NEWOBJ_HELPERS = new Set(['copyreg.__newobj__', 'copyreg.__newobj_ex__']);

export class CallEffectsJudge {
  private readonly seen = new Set<string>();

  constructor(
    private readonly ctx: AnalysisContext,
    private readonly effects: CallEffects,
    private readonly canonical: Canonical,
  ) {}

  /** Classes whose __getattr__ serves attributes from what the pickle wrote (instance-state.ts). */
  get fallbacks(): readonly AttributeFallback[] {
    return this.effects.attributeFallbacks;
  }

  /**
   * The callable that made `v` as the object model sees it: copyreg.__newobj__(cls, *args) and
   * _reconstructor(cls, base, state) are base.__new__(cls, ...), so they are judged as `new` of
   * cls (of base for _reconstructor, whose __new__ makes the object).
   */
  private made(v: Call): Made | null {
    const path = canonicalPath(v.fn, this.canonical);
    if (path === null) return null;
    if (NEWOBJ_HELPERS.has(path) || path === 'copyreg._reconstructor') {
      const cls = path === 'copyreg._reconstructor' ? v.args[1] : v.args[0];
      const clsPath = cls ? canonicalPath(cls, this.canonical) : null;
      if (clsPath === null || clsPath === 'builtins.object') return null;
      return { path: clsPath, args: v.args.slice(path === 'copyreg._reconstructor' ? 2 : 1), via: 'new' };
    }
    return { path, args: v.args, via: NEW_OPS.has(v.op) ? 'new' : 'call' };
  }

  /** The catalogue entry when `v` is an object the whole process shares; null when fresh or unknown. */
  shared(v: Value): { path: string; entry: SharedResult } | null {
    if (v.k !== 'call') return null;
    const m = this.made(v);
    const entry = m ? this.effects.shared.get(m.path) : undefined;
    return m && entry?.via.has(m.via) ? { path: m.path, entry } : null;
  }

  /**
   * BUILD on `target`: a global, an attribute path or a shared object is mutated. On any other
   * instance, a slot state that sets `__dict__` to a module-level or shared dict makes that dict
   * the instance's namespace (setattr(obj, '__dict__', d) keeps d itself), so the next BUILD
   * writes into it: copyreg._extension_registry through a fresh argparse.Namespace. pickle.dump
   * never writes `__dict__` as a slot (copyreg._slotnames leaves it out).
   */
  onBuild(target: Value, state: Value | undefined, offset: number, chain: string): void {
    this.judge(target, 'BUILD', offset, chain);
    const slots = state?.k === 'tuple' && state.len === 2 ? state.items[1] : undefined;
    // setattr runs for every pair in order: any `__dict__` pair that names a shared dict counts.
    const d = slots?.k === 'dict' ? slots.entries.find(([key, v]) => key.k === 'str' && key.v === '__dict__' && (v.k === 'global' || v.k === 'attr' || this.shared(v) !== null))?.[1] : undefined;
    if (d === undefined) return;
    const path = canonicalPath(d, this.canonical);
    const name = path ?? render(d);
    this.emit(`${name}|__dict__`, {
      message: `makes ${name} the __dict__ of ${target.k === 'call' ? asMade(target) : render(target)} with BUILD (later state is written into it, for the whole process)`,
      offset,
      evidence: { ...(path !== null ? { canonical: path } : {}), opcode: 'BUILD', chain },
    });
  }

  onStore(ev: StoreEvent): void {
    this.judge(ev.target, ev.opcode, ev.offset, render(ev.target));
  }

  /**
   * What a value is when a callable returned one of its arguments itself (rules/call-effects.yaml
   * returns_argument: numpy's scalar(dtype('O'), obj) is obj). Followed a few steps.
   */
  resolved(v: Value): Value {
    for (let i = 0; i < 4 && v.k === 'call'; i++) {
      const m = this.made(v);
      const r = m?.via === 'call' ? this.effects.returnsArgument.get(m.path) : undefined;
      const a = r !== undefined ? m!.args[r.argument] : undefined;
      if (a === undefined || (a.k !== 'global' && a.k !== 'attr' && a.k !== 'call')) break;
      v = a;
    }
    return v;
  }

  private judge(original: Value, opcode: string, offset: number, chain: string): void {
    const target = this.resolved(original);
    const what = opcode === 'BUILD' ? 'attributes' : 'items';
    if (target.k === 'global' || target.k === 'attr') {
      const path = canonicalPath(target, this.canonical);
      const name = path ?? render(target);
      this.emit(`${name}|${opcode}`, {
        message: `sets ${what} of ${name} with ${opcode} (changes a module, class or function for the whole process)`,
        offset,
        evidence: { ...(path !== null ? { canonical: path } : {}), opcode, chain },
      });
      return;
    }
    const s = this.shared(target);
    if (s === null || target.k !== 'call') return;
    const made = asMade(target);
    this.emit(`${made}|${opcode}`, {
      message: `sets ${what} of ${made} with ${opcode}: ${s.path} returns an object the whole process shares, so the load changes it for every user`,
      offset,
      evidence: { canonical: s.path, opcode, chain, reason: s.entry.reason },
      references: [...s.entry.references],
    });
  }

  private emit(key: string, f: { message: string; offset: number; evidence: Evidence; references?: string[] }): void {
    if (this.seen.has(key) || this.seen.size >= MAX_MUTATIONS) return;
    this.seen.add(key);
    this.ctx.emit({ rule: 'PICKLE_GLOBAL_MUTATION', ...f });
  }

  /**
   * Instances whose methods `call` looks up by name (dict(x) calls x.keys()), with the names tried
   * in order. Only instances the pickle made (calls) can carry attributes it stored.
   */
  argumentReceivers(call: Value): Array<{ receiver: Call; names: readonly string[] }> {
    if (call.k !== 'call') return [];
    const m = this.made(call);
    const entry = m ? this.effects.argumentMethods.get(m.path) : undefined;
    if (!m || !entry || !entry.via.has(m.via)) return [];
    const out: Array<{ receiver: Call; names: readonly string[] }> = [];
    for (const i of entry.arguments) {
      const a = m.args[i] !== undefined ? this.resolved(m.args[i]!) : undefined;
      if (a?.k === 'call') out.push({ receiver: a, names: entry.methods });
    }
    return out;
  }
}
