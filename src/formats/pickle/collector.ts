/**
 * Turns the pickle machine's events into findings: classifies every global against the
 * catalogue, tells referenced from constructed from called, resolves attribute chains (getattr,
 * import_module, resolve_name) and wrappers (partial, attrgetter, methodcaller) to the dotted
 * name they reach, judges dill/cloudpickle rebuilt code (rebuild.ts), and records what calls a
 * computed callable.
 *
 * Severity of a global absent from the catalogue follows what the load does with it: called
 * with arguments (REDUCE, INST, OBJ: runs a function body or __init__) is medium; merely
 * referenced, or constructed with __new__ and given its state (NEWOBJ, copyreg.__newobj__,
 * copyreg._reconstructor over object, then BUILD), which is how every class instance is pickled,
 * is low. Dangerous globals keep their catalogue severity however they are used, except the
 * wrappers and rebuild helpers, which are reported only when what they reach is not acceptable.
 */
import type { FindingVerb, GlobalUse } from '../../core/findings.js';
import type { GlobalClassification } from '../../rules/globals.js';
import type { AnalysisContext } from '../types.js';
import type { AnomalyEvent, CallEvent, GlobalEvent, StoreEvent } from '../../pickle/machine.js';
import { render, type Value } from '../../pickle/values.js';
import { statesOf } from '../../pickle/machine.js';
import { ownAttribute } from './instance-state.js';
import { CallEffectsJudge } from './effects.js';
import { callEffectsCatalogue } from '../../rules/call-effects.js';
import { canonicalPath, partialParts, WRAPPERS } from '../../pickle/wrappers.js';
import { REBUILDERS } from './rebuild.js';
import { RebuildJudge, type Problem } from './rebuild-judge.js';
import { CallJudge, ConditionedCalls, newobjArguments } from './call-judge.js';
import { callConditionCatalogue } from '../../rules/call-conditions.js';

/** Canonical names whose first argument is serialized data that the call deserialises. */
const NESTED_LOADERS = new Set([
  'pickle.loads', 'pickle._loads', 'dill.loads', 'dill._dill.loads', 'cloudpickle.loads',
  'torch.storage._load_from_bytes', 'torch.serialization._load_from_bytes', 'joblib.numpy_pickle.loads',
  'numpy.loads', 'pandas.read_pickle',
]);

const MAX_ANOMALY_FINDINGS_PER_RULE = 10;
const MAX_COMPUTED_FINDINGS = 20;

export interface NestedData {
  offset: number;
  length: number;
  via: string;
}

/** How a global was used: the strongest use wins. */
type How = 'referenced' | 'constructed' | 'called';
const HOW_RANK: Record<How, number> = { referenced: 0, constructed: 1, called: 2 };

interface GlobalSeen {
  global: string;
  cls: GlobalClassification;
  how: How;
  opcode: string;
  offset: number;
  chain?: string;
  count: number;
  /** Every global value the machine resolved for it (to tell explained references apart). */
  values: Value[];
}

/** Reconstructors that create an instance of their first argument with __new__ only. */
const NEW_ONLY = new Set(['copyreg.__newobj__', 'copyreg.__newobj_ex__']);
const RECONSTRUCTOR = 'copyreg._reconstructor';

export class PickleCollector {
  private globals = new Map<string, GlobalSeen>();
  private anomalyCounts = new Map<string, number>();
  private anomalySeen = new Set<string>();
  private computed = 0;
  readonly nested: NestedData[] = [];
  private canonCache = new Map<string, string>();
  /** Wrapper globals (canonical) whose use reached something dangerous or unresolvable. */
  private wrapperProblems = new Map<string, Problem>();
  /** partial instances built, judged at flush (BUILD may swap their function afterwards). */
  private partials: Array<{ inst: Extract<Value, { k: 'call' }>; offset: number }> = [];
  private readonly conditioned: ConditionedCalls;
  /** Mutations of objects the load did not create, and methods looked up on arguments (rules/call-effects.yaml). */
  private readonly effects: CallEffectsJudge;
  /** `__main__` globals called only the way an Enum member is rebuilt (see scriptEnumUse). */
  private readonly scriptEnums = new Set<string>();
  private readonly rebuild = new RebuildJudge({
    module: (name, helper, ev, chain) => {
      const cls = this.classifyPath(name);
      if (cls.verdict === 'unknown') this.note(name, cls, 'referenced', `${ev.opcode} (${helper})`, ev.offset, chain);
    },
    type: (name, ev, chain) => {
      const cls = this.classify('types', name);
      if (cls.verdict !== 'safe') this.note(`types.${name}`, cls, this.howOf(ev.opcode, ev.call), `${ev.opcode} (${render(ev.callee)})`, ev.offset, chain);
    },
  });

  constructor(private readonly ctx: AnalysisContext) {
    this.effects = new CallEffectsJudge(ctx, callEffectsCatalogue(), this.canonical);
    this.conditioned = new ConditionedCalls(new CallJudge(callConditionCatalogue(), this.canonical, (m, n) => this.classify(m, n).verdict === 'safe'));
  }

  /**
   * A direct call of an unknown global that rules/call-conditions.yaml lists is judged by its
   * arguments: a harmless call is recorded as a reference. Null when the global has no condition.
   */
  private conditionedUse(cls: GlobalClassification, args: readonly Value[], kwargs: Value | undefined, chain: string, offset: number, opcode: string): How | null {
    if (cls.verdict !== 'unknown') return null;
    const ok = this.conditioned.record(cls.canonical, args, kwargs, { chain, offset, opcode });
    return ok === null ? null : ok ? 'referenced' : 'called';
  }

  /**
   * `__main__.Mode(value)`: how pickle rebuilds a member of an Enum the training script defined.
   * `__main__` is the loading script, not the file, so the callable is whatever that script calls
   * Mode; the file can only hope it is dangerous. A CapWords name that nothing in a dangerous
   * module is called, given one constant, is therefore judged a construction (low); any other
   * shape, or a name such as Popen or system, stays a call.
   */
  private scriptEnumUse(cls: GlobalClassification, call: Extract<Value, { k: 'call' }>): How | null {
    if (cls.verdict !== 'unknown' || !isScriptEnumCall(cls.canonical, call)) return null;
    const name = cls.canonical.slice(MAIN_PREFIX.length);
    if (this.ctx.globals.dangerousName?.(name) ?? true) return null;
    this.scriptEnums.add(cls.canonical);
    return 'constructed';
  }

  /** Canonical dotted name, for the machine's wrapper recognition (cached: called per call). */
  readonly canonical = (module: string, name: string): string => {
    const key = `${module}\u0000${name}`;
    let c = this.canonCache.get(key);
    if (c === undefined) {
      c = this.classify(module, name).canonical;
      this.canonCache.set(key, c);
    }
    return c;
  };

  private classify(module: string, name: string): GlobalClassification {
    return this.ctx.globals.classify(module, name);
  }

  private classifyPath(path: string): GlobalClassification {
    const dot = path.indexOf('.');
    if (dot >= 0) return this.classify(path.slice(0, dot), path.slice(dot + 1));
    // A bare module name (subimport('os')): a dangerous module matches by prefix through any
    // attribute; the placeholder attribute is dropped from the name reported.
    const cls = this.classify(path, '__name__');
    return { ...cls, canonical: cls.canonical.replace(/\.__name__$/, '') };
  }

  private pathOf(v: Value): string | null {
    return canonicalPath(v, this.canonical);
  }

  private note(global: string, cls: GlobalClassification, how: How, opcode: string, offset: number, chain?: string, value?: Value): void {
    const key = cls.canonical;
    let seen = this.globals.get(key);
    if (!seen) {
      seen = { global, cls, how, opcode, offset, count: 0, values: [] };
      if (chain !== undefined) seen.chain = chain;
      this.globals.set(key, seen);
    } else if (HOW_RANK[how] > HOW_RANK[seen.how]) {
      seen.how = how;
      seen.opcode = opcode;
      seen.offset = offset;
      if (chain !== undefined) seen.chain = chain;
    }
    seen.count++;
    if (value && seen.values.length < 64) seen.values.push(value);
  }

  onGlobal(ev: GlobalEvent): void {
    this.note(`${ev.module}.${ev.name}`, this.classify(ev.module, ev.name), 'referenced', ev.opcode, ev.offset, undefined, ev.value);
  }

  /** A value reached through a wrapper or getattr: classify where it points. */
  private reached(v: Value, how: How, opcode: string, offset: number, chain: string, wrapper: string | undefined): GlobalClassification | null {
    const path = this.pathOf(v);
    if (path === null) {
      const method = wrapper !== undefined && WRAPPERS.get(wrapper) === 'getattr' ? this.instanceAttribute(v) : null;
      if (method !== null) return this.reachedInstanceAttribute(method, v, how, opcode, offset, chain, wrapper!);
      if (wrapper) this.wrapperProblems.set(wrapper, { why: `reaches a value the scanner cannot resolve: ${render(v)}`, chain, offset });
      return null;
    }
    if (REBUILDERS.has(path)) return null;
    const cls = this.classifyPath(path);
    if (cls.verdict !== 'safe' && v.k !== 'global') this.note(path, cls, how, `${opcode} (resolved through ${describe(v)})`, offset, chain);
    if (wrapper && cls.verdict === 'dangerous' && !this.wrapperProblems.has(wrapper)) {
      this.wrapperProblems.set(wrapper, { why: `reaches ${cls.canonical}`, chain, offset });
    }
    return cls;
  }

  /**
   * getattr(<instance of C>, 'name') with a plain attribute name: how pickle writes a bound method
   * (statsmodels' ETS results keep `model.loglike`). It reaches C's attribute `name` (judged as the
   * path C.name, so a catalogued danger on it still counts) or, when the instance's own state set
   * that attribute, that value (any global in it was imported and judged by itself). Reading the
   * attribute runs at most a property of C on the instance's state, as __setstate__ does when C is
   * built, so an unknown C.name is a reference (low), not a call; calling the result is a call of
   * a computed value (PICKLE_COMPUTED_CALL). Dunder names (__class__, __globals__, __reduce__...)
   * stay unresolved: they lead out of the instance.
   */
  private instanceAttribute(v: Value): { path: string; own: Value | undefined } | null {
    if (v.k !== 'attr' || v.obj.k !== 'call') return null;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(v.name) || (v.name.startsWith('__') && v.name.endsWith('__'))) return null;
    const cls = this.constructedClass(v.obj);
    if (cls === null) return null;
    const st = v.obj.state;
    const dict = st?.k === 'dict' ? st : st?.k === 'tuple' && st.items[0]?.k === 'dict' ? st.items[0] : undefined;
    const own = dict?.entries.find(([key]) => key.k === 'str' && key.v === v.name)?.[1];
    return { path: `${this.canonical(cls.module, cls.name)}.${v.name}`, own };
  }

  private reachedInstanceAttribute(m: { path: string; own: Value | undefined }, v: Value, how: How, opcode: string, offset: number, chain: string, wrapper: string): GlobalClassification | null {
    if (m.own !== undefined && (m.own.k === 'global' || m.own.k === 'attr')) return this.reached(m.own, how, opcode, offset, chain, wrapper);
    // Plain data the state set (a number, a string, a container): reading it runs nothing.
    if (m.own !== undefined && m.own.k !== 'call') return null;
    const cls = this.classifyPath(m.path);
    if (cls.verdict === 'dangerous') {
      if (!this.wrapperProblems.has(wrapper)) this.wrapperProblems.set(wrapper, { why: `reaches ${cls.canonical}`, chain, offset });
      return cls;
    }
    if (cls.verdict !== 'safe') this.note(m.path, cls, 'referenced', `${opcode} (an attribute of ${render(v)})`, offset, chain);
    return cls;
  }

  /**
   * NEWOBJ without arguments is cls.__new__(cls): an empty instance. With arguments, __new__ runs
   * on values the file chose (sympy's Function.__new__ parses strings with eval), so it counts
   * as a call.
   */
  private howOf(opcode: string, call?: Value): How {
    if (opcode !== 'NEWOBJ' && opcode !== 'NEWOBJ_EX') return 'called';
    if (call?.k !== 'call' || call.args.length > 0) return 'called';
    return !call.kwargs || (call.kwargs.k === 'dict' && call.kwargs.len === 0) ? 'constructed' : 'called';
  }

  onCall(ev: CallEvent): void {
    const callee = ev.callee;
    const chain = render(ev.call);
    if (ev.opcode === 'BUILD') {
      // BUILD gives an instance its state (__setstate__ or a __dict__ update): attribute it to
      // the class that made the instance, as a construction.
      const cls = callee.k === 'call' ? this.constructedClass(callee) : null;
      const state = ev.call.k === 'call' ? ev.call.args[0] : undefined;
      if (cls) {
        const c = this.classify(cls.module, cls.name);
        this.note(`${cls.module}.${cls.name}`, c, 'constructed', 'BUILD', ev.offset, chain);
        if (c.verdict === 'unknown' && state) this.conditioned.recordState(c.canonical, state, { chain, offset: ev.offset, opcode: 'BUILD' }, this.classOfInstance);
      }
      this.effects.onBuild(callee, state, ev.offset, chain);
      if (ev.implicit) this.implicitCall(ev);
      return;
    }
    if (ev.implicit && ev.implicit.receiver.k === 'call') {
      this.implicitCall(ev);
      return;
    }
    const via = ev.via;
    if (callee.k === 'global') {
      const cls = this.classify(callee.module, callee.name);
      const canonical = cls.canonical;
      if (WRAPPERS.has(canonical)) {
        this.onWrapperCall(canonical, ev, chain);
        return;
      }
      const role = REBUILDERS.get(canonical);
      if (role !== undefined) {
        this.rebuild.onHelper(role, canonical, ev, chain);
        return;
      }
      let how: How = this.constructs(canonical, ev) ? 'referenced' : this.howOf(ev.opcode, ev.call);
      if (how === 'called' && !via && ev.call.k === 'call') how = this.scriptEnumUse(cls, ev.call) ?? this.conditionedUse(cls, ev.call.args, ev.call.kwargs, chain, ev.offset, ev.opcode) ?? how;
      this.note(`${callee.module}.${callee.name}`, cls, how, ev.opcode + (via ? ` through ${via}` : ''), ev.offset, chain);
      if (via) {
        if (cls.verdict === 'dangerous' && !this.wrapperProblems.has(via)) this.wrapperProblems.set(via, { why: `calls ${canonical}`, chain, offset: ev.offset });
        if (cls.verdict !== 'safe') this.computedCall(ev, chain);
      }
      this.checkNested(canonical, ev.call, ev.offset);
      this.argumentMethods(ev);
      return;
    }
    if (ev.result !== undefined && via) {
      // An attrgetter/itemgetter applied: it evaluates to what it reaches, which is judged.
      this.reached(ev.result, 'referenced', ev.opcode, ev.offset, chain, via);
      return;
    }
    if (callee.k === 'call') {
      const r = this.rebuild.onCallOf(callee, ev, chain);
      if (r === 'runs') this.computedCall(ev, chain);
      if (r !== 'no') return;
    }
    // The callable was computed at load time (getattr, import_module, resolve_name, a call
    // result). Where the chain names a global it is classified like a direct import; the call is
    // reported as computed unless it resolves to a global known to be safe (then the indirection
    // hides nothing: it is how some libraries pickle classmethods, e.g. zoneinfo.ZoneInfo._unpickle).
    const path = this.pathOf(callee);
    const role = path !== null ? REBUILDERS.get(path) : undefined;
    if (path !== null && role !== undefined) {
      this.rebuild.onHelper(role, path, ev, chain);
      return;
    }
    if (path !== null) {
      const cls = this.classifyPath(path);
      if (cls.verdict !== 'safe') this.note(path, cls, this.howOf(ev.opcode), `${ev.opcode} (resolved through ${describe(callee)})`, ev.offset, chain);
      if (via && cls.verdict === 'dangerous' && !this.wrapperProblems.has(via)) this.wrapperProblems.set(via, { why: `calls ${cls.canonical}`, chain, offset: ev.offset });
      this.checkNested(cls.canonical, ev.call, ev.offset);
      if (cls.verdict === 'safe') return;
    } else if (via && !this.wrapperProblems.has(via)) {
      this.wrapperProblems.set(via, { why: 'calls a value the scanner cannot resolve', chain, offset: ev.offset });
    }
    this.computedCall(ev, chain);
  }

  /**
   * A method the loader looks up on an instance and calls (BUILD: __setstate__; APPENDS: extend,
   * else append; APPEND: append; ADDITEMS: add). The class's own method is part of how the class
   * is rebuilt, judged with its construction (a deque's extend); an attribute the pickle itself
   * put on the instance (an earlier BUILD's state, a SimpleNamespace's mapping) is a call of that
   * value, judged as any call: `ns.__setstate__ = f` then BUILD is f(state).
   */
  private implicitCall(ev: CallEvent): void {
    const { name, receiver: made, states } = ev.implicit!;
    // numpy's scalar(dtype('O'), obj) is obj: the method is looked up on obj (returns_argument).
    const receiver = this.effects.resolved(made);
    if (receiver.k !== 'call') return;
    const names = ev.implicit!.names ?? (name === 'extend' ? ['extend', 'append'] : [name]);
    const own = ownAttribute(receiver, names, receiver === made ? (states ?? statesOf(receiver)) : statesOf(receiver), this.canonical, this.effects.fallbacks);
    if (own === null) return;
    const args = ev.opcode === 'BUILD' ? (ev.call.k === 'call' ? ev.call.args : []) : ev.call.k === 'call' ? ev.call.args : [];
    const call: Value = { k: 'call', fn: own, args, op: ev.opcode, offset: ev.offset };
    this.onCall({ callee: own, call, opcode: `${ev.opcode} (${names.join('/')} set on ${render(receiver)} by the pickle)`, offset: ev.offset });
  }

  /**
   * A safe callable that looks a method up by name on an argument and calls it (dict(x) calls
   * x.keys(); rules/call-effects.yaml): a method the pickle stored on that instance is called.
   */
  private argumentMethods(ev: CallEvent): void {
    for (const { receiver, names } of this.effects.argumentReceivers(ev.call)) {
      const fn: Value = { k: 'attr', obj: receiver, name: names[0]!, offset: ev.offset };
      this.implicitCall({ ...ev, implicit: { name: names[0]!, names, receiver }, call: { k: 'call', fn, args: [], op: ev.opcode, offset: ev.offset } });
    }
  }

  /** SETITEM(S) into a global, an attribute path or a call's result (effects.ts judges it). */
  onStore(ev: StoreEvent): void {
    this.effects.onStore(ev);
  }

  /** copyreg.__newobj__(cls) / _reconstructor(cls, object, None) create cls without calling it. */
  private constructs(canonical: string, ev: CallEvent): boolean {
    if (ev.call.k !== 'call') return false;
    const cls = ev.call.args[0];
    if (cls?.k !== 'global') return false;
    if (NEW_ONLY.has(canonical)) {
      // __newobj__(cls, *args) / __newobj_ex__(cls, args, kwargs): arguments reach cls.__new__.
      const rest = ev.call.args.slice(1);
      const bare = canonical === 'copyreg.__newobj__' ? rest.length === 0 : rest.every((a) => (a.k === 'tuple' || a.k === 'dict') && a.len === 0);
      const c = this.classify(cls.module, cls.name);
      const opcode = `${ev.opcode} (${canonical})`;
      let how: How = bare ? 'constructed' : 'called';
      if (!bare && !ev.via) {
        const { args, kwargs } = newobjArguments(canonical, rest);
        how = this.conditionedUse(c, args, kwargs, render(ev.call), ev.offset, opcode) ?? how;
      }
      this.note(`${cls.module}.${cls.name}`, c, how, opcode, ev.offset, render(ev.call));
      return true;
    }
    if (canonical === RECONSTRUCTOR) {
      // _reconstructor(cls, base, state) calls base.__init__(obj, state) unless base is object.
      const base = ev.call.args[1];
      const basePath = base ? this.pathOf(base) : null;
      this.note(`${cls.module}.${cls.name}`, this.classify(cls.module, cls.name), 'constructed', `${ev.opcode} (${canonical})`, ev.offset, render(ev.call));
      if (base?.k === 'global' && basePath !== 'builtins.object') this.note(`${base.module}.${base.name}`, this.classify(base.module, base.name), 'called', `${ev.opcode} (${canonical} base)`, ev.offset, render(ev.call));
      return true;
    }
    return false;
  }

  /** Canonical name of the class an object the pickle built was made from, or null. */
  private readonly classOfInstance = (v: Value): string | null => {
    if (v.k !== 'call') return null;
    const cls = this.constructedClass(v);
    return cls ? this.canonical(cls.module, cls.name) : null;
  };

  /** The class an instance was made from (for BUILD). */
  private constructedClass(inst: Extract<Value, { k: 'call' }>): Extract<Value, { k: 'global' }> | null {
    const fn = inst.fn;
    if (fn.k !== 'global') return null;
    const canonical = this.canonical(fn.module, fn.name);
    if (NEW_ONLY.has(canonical) || canonical === RECONSTRUCTOR) {
      const cls = inst.args[0];
      return cls?.k === 'global' ? cls : null;
    }
    if (WRAPPERS.has(canonical) || REBUILDERS.has(canonical)) return null;
    return fn;
  }

  private onWrapperCall(canonical: string, ev: CallEvent, chain: string): void {
    const kind = WRAPPERS.get(canonical)!;
    const call = ev.call;
    if (ev.result !== undefined) {
      // getattr(obj, 'name'): judged by the attribute it reaches.
      this.reached(ev.result, 'referenced', ev.opcode, ev.offset, chain, canonical);
      const dflt = call.k === 'call' ? call.args[2] : undefined;
      if (dflt && this.isRebuildPath(this.pathOf(ev.result))) this.rebuild.explained.add(dflt);
      return;
    }
    if (call.k !== 'call') return;
    if (kind === 'partial') {
      this.partials.push({ inst: call, offset: ev.offset });
      return;
    }
    if (kind === 'getattr') {
      this.wrapperProblems.set(canonical, { why: 'the attribute name is computed at load time', chain, offset: ev.offset });
      return;
    }
    if (kind === 'create_array') return;
    if (kind === 'rebuild_from_type') {
      // The tensor subclass it converts to: created without __init__, then given the state.
      const t = call.args[1];
      if (t?.k === 'global') this.note(`${t.module}.${t.name}`, this.classify(t.module, t.name), 'constructed', `${ev.opcode} (${canonical})`, ev.offset, chain);
      else this.wrapperProblems.set(canonical, { why: 'converts to a type the scanner cannot resolve', chain, offset: ev.offset });
      return;
    }
    // attrgetter/itemgetter/methodcaller instances: judged when applied (machine reports `via`).
    if (!call.args.every((a) => a.k === 'str' || a.k === 'int') && !this.wrapperProblems.has(canonical)) {
      this.wrapperProblems.set(canonical, { why: 'built with arguments the scanner cannot read', chain, offset: ev.offset });
    }
  }

  private isRebuildPath(path: string | null): boolean {
    return path !== null && REBUILDERS.has(path);
  }

  private computedCall(ev: CallEvent, chain: string): void {
    if (++this.computed > MAX_COMPUTED_FINDINGS) return;
    this.ctx.emit({
      rule: 'PICKLE_COMPUTED_CALL',
      message: `calls a value computed at load time: ${chain}${ev.via ? ` (through ${ev.via})` : ''}`,
      offset: ev.offset,
      evidence: { opcode: ev.opcode, chain, verb: 'calls', phrase: `calls a value computed at load time: ${chain}` },
    });
  }

  private checkNested(canonical: string, call: Value, offset: number): void {
    if (!NESTED_LOADERS.has(canonical) || call.k !== 'call') return;
    const arg = call.args[0];
    if (arg && (arg.k === 'bytes' || arg.k === 'str') && arg.at !== undefined) {
      this.nested.push({ offset: arg.at, length: arg.len, via: canonical });
      this.ctx.emit({
        rule: 'PICKLE_NESTED_PICKLE',
        message: `passes ${arg.len} bytes embedded in the pickle to ${canonical}; they are scanned as a nested stream`,
        offset,
        evidence: {
          canonical,
          use: 'called',
          verb: 'passes',
          phrase: `passes ${arg.len} bytes embedded in the pickle to ${canonical}; they are scanned as a nested stream`,
          details: { embeddedOffset: arg.at, embeddedBytes: arg.len },
        },
      });
    }
  }

  onAnomaly(ev: AnomalyEvent): void {
    // A re-read of the same pickle (file-mode frames) reports the same anomalies again.
    const key = `${ev.rule}|${ev.offset}|${ev.message}`;
    if (this.anomalySeen.has(key)) return;
    this.anomalySeen.add(key);
    const n = (this.anomalyCounts.get(ev.rule) ?? 0) + 1;
    this.anomalyCounts.set(ev.rule, n);
    if (n > MAX_ANOMALY_FINDINGS_PER_RULE) return;
    this.ctx.emit({ rule: ev.rule, message: ev.message, offset: ev.offset, evidence: { details: { fatal: ev.fatal } } });
  }

  /** partial(func, ...): judged by the function it holds after any BUILD. */
  private judgePartials(): void {
    for (const { inst, offset } of this.partials) {
      const func = partialParts(inst).func;
      const chain = render(inst);
      if (!func) {
        this.wrapperProblems.set('functools.partial', { why: 'wraps nothing the scanner can see', chain, offset });
        continue;
      }
      this.reached(func, 'referenced', 'REDUCE', offset, chain, 'functools.partial');
    }
    this.partials = [];
  }

  /** Emit one finding per distinct global (after all pickles of the stream, so uses are merged). */
  flush(): void {
    this.judgePartials();
    const rebuildProblem = this.rebuild.summary(this.ctx);
    this.conditioned.formulasAgainst(
      [...this.globals.values()].filter((g) => g.cls.verdict !== 'safe' && (g.how === 'referenced' || g.cls.harmlessUnlessCalled !== undefined)).map((g) => g.cls.canonical),
    );
    for (const g of this.globals.values()) {
      let use: GlobalUse = g.how === 'referenced' ? 'imported' : 'called';
      this.ctx.recordImport({ global: g.global, canonical: g.cls.canonical, verdict: g.cls.verdict, use, opcode: g.opcode, offset: g.offset });
      if (g.cls.verdict === 'safe') continue;
      const canonical = g.cls.canonical;
      let extra = '';
      if (WRAPPERS.has(canonical)) {
        const p = this.wrapperProblems.get(canonical);
        if (!p) continue;
        extra = `; ${p.why}`;
        g.how = 'called';
        use = 'called';
        if (p.chain) g.chain = p.chain;
      } else if (REBUILDERS.has(canonical) || (g.how === 'referenced' && g.values.length === g.count && g.values.every((v) => this.rebuild.explained.has(v)))) {
        // Rebuild helpers, and what they take as arguments (type as a metaclass, setattr as a
        // getattr default), are acceptable exactly when the rebuilt code is.
        if (!rebuildProblem) continue;
        extra = `; ${rebuildProblem.why}`;
      }
      const cond = g.cls.verdict === 'unknown' ? this.conditioned.get(canonical) : undefined;
      if (cond && !cond.violation && cond.accepted > 0 && g.how !== 'called') continue; // every call met its condition
      if (cond?.violation) {
        extra = `; ${cond.violation.why}`;
        g.chain = cond.violation.chain;
        g.offset = cond.violation.offset;
        g.opcode = cond.violation.opcode;
      }
      if (g.how !== 'called' && this.scriptEnums.has(canonical)) extra = `; called with one constant, as pickle rebuilds an Enum member, and nothing dangerous has this name: it is whatever the loading script defines`;
      const verb: FindingVerb = g.how === 'called' ? 'calls' : g.how === 'constructed' ? 'constructs' : 'imports';
      const known = g.cls.verdict === 'dangerous';
      const alias = g.global !== canonical ? ` (named ${g.global})` : '';
      const evidence = {
        global: g.global,
        canonical,
        use,
        verb,
        phrase: `${verb} ${canonical}${known ? '' : ', which is not known to be safe'}`,
        opcode: g.opcode,
        ...(g.chain !== undefined ? { chain: g.chain } : {}),
        ...(g.cls.matched !== undefined ? { matched: g.cls.matched } : {}),
        ...(g.cls.reason !== undefined ? { reason: g.cls.reason } : {}),
        details: { occurrences: g.count, how: g.how },
      };
      if (known) {
        // A call wrapper made with __new__ and given its state is not called by doing so: what it
        // wraps is judged on its own, and calling it during the load is a computed call.
        const inert = g.how === 'constructed' && g.cls.harmlessUnlessCalled !== undefined;
        this.ctx.emit({
          rule: 'PICKLE_DANGEROUS_GLOBAL',
          severity: inert ? 'low' : g.cls.severity,
          message: `${verb} ${canonical}${alias}${inert ? ' without calling it' : ''}${extra}`,
          offset: g.offset,
          evidence: inert ? { ...evidence, reason: g.cls.harmlessUnlessCalled } : evidence,
          references: g.cls.references,
        });
      } else {
        const entry = cond?.entry;
        this.ctx.emit({
          rule: 'PICKLE_UNKNOWN_GLOBAL',
          severity: cond?.violation ? cond.violation.severity : g.how === 'called' ? 'medium' : 'low',
          message: `${verb} ${canonical}${alias}, which is not known to be safe${extra}`,
          offset: g.offset,
          evidence: entry ? { ...evidence, reason: entry.reason } : evidence,
          ...(entry ? { references: [...entry.references] } : {}),
        });
      }
    }
    this.globals.clear();
    this.conditioned.clear();
    this.scriptEnums.clear();
  }
}

const MAIN_PREFIX = '__main__.';
const CAP_WORDS = /^[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$/;

/** One positional constant (int, float, bool, None or str), no keywords, on a CapWords `__main__` name. */
function isScriptEnumCall(canonical: string, call: Extract<Value, { k: 'call' }>): boolean {
  if (!canonical.startsWith(MAIN_PREFIX) || !CAP_WORDS.test(canonical.slice(MAIN_PREFIX.length))) return false;
  if (call.kwargs && !(call.kwargs.k === 'dict' && call.kwargs.len === 0)) return false;
  if (call.args.length !== 1) return false;
  const k = call.args[0]!.k;
  return k === 'int' || k === 'float' || k === 'bool' || k === 'none' || k === 'str';
}

function describe(v: Value): string {
  if (v.k === 'attr') return `attribute '${v.name}' of ${render(v.obj)}`;
  if (v.k === 'call') return render(v);
  return v.k;
}
