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
import type { GlobalUse } from '../../core/findings.js';
import type { GlobalClassification } from '../../rules/globals.js';
import type { AnalysisContext } from '../types.js';
import type { AnomalyEvent, CallEvent, GlobalEvent } from '../../pickle/machine.js';
import { dottedPath, render, type Value } from '../../pickle/values.js';
import { canonicalPath, partialParts, WRAPPERS } from '../../pickle/wrappers.js';
import { codeStrings, DANGEROUS_CODE_NAMES, REBUILDERS, TYPE_ROLES, type RebuildRole } from './rebuild.js';

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

/** Special methods Python calls implicitly while unpickling (BUILD, hashing keys, class creation). */
const IMPLICIT_DUNDERS = new Set([
  '__setstate__', '__new__', '__set_name__', '__init_subclass__', '__class_getitem__', '__hash__', '__del__',
  '__getattr__', '__getattribute__', '__setattr__', '__set__', '__get__', '__reduce__', '__reduce_ex__',
  '__instancecheck__', '__subclasscheck__', '__index__', '__setitem__', '__missing__', '__prepare__',
]);

/** Reconstructors that create an instance of their first argument with __new__ only. */
const NEW_ONLY = new Set(['copyreg.__newobj__', 'copyreg.__newobj_ex__']);
const RECONSTRUCTOR = 'copyreg._reconstructor';

/** Why a wrapper or rebuild helper could not be accepted, for the finding's reason. */
interface Unjustified {
  why: string;
  /** Code from the file runs inside the load itself. */
  runs?: boolean;
  chain?: string;
  offset: number;
}

export class PickleCollector {
  private globals = new Map<string, GlobalSeen>();
  private anomalyCounts = new Map<string, number>();
  private anomalySeen = new Set<string>();
  private computed = 0;
  readonly nested: NestedData[] = [];
  private canonCache = new Map<string, string>();
  /** Wrapper globals (canonical) whose use reached something dangerous or unresolvable. */
  private wrapperProblems = new Map<string, Unjustified>();
  /** partial instances built, judged at flush (BUILD may swap their function afterwards). */
  private partials: Array<{ inst: Extract<Value, { k: 'call' }>; offset: number }> = [];
  /** Values produced by rebuild helpers, with their role. */
  private rebuilt = new WeakMap<object, { role: RebuildRole; name: string }>();
  /** Globals referenced as an argument a rebuild helper expects (type as the metaclass...). */
  private explained = new WeakSet<object>();
  private rebuild = { code: 0, functions: [] as string[], classes: [] as string[], names: new Set<string>(), dangerous: new Set<string>(), incomplete: false, problems: [] as Unjustified[], offset: -1 };

  constructor(private readonly ctx: AnalysisContext) {}

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
      if (cls) this.note(`${cls.module}.${cls.name}`, this.classify(cls.module, cls.name), 'constructed', 'BUILD', ev.offset, chain);
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
        this.onRebuild(role, canonical, ev, chain);
        return;
      }
      this.note(`${callee.module}.${callee.name}`, cls, this.constructs(canonical, ev) ? 'referenced' : this.howOf(ev.opcode, ev.call), ev.opcode + (via ? ` through ${via}` : ''), ev.offset, chain);
      if (via) {
        if (cls.verdict === 'dangerous' && !this.wrapperProblems.has(via)) this.wrapperProblems.set(via, { why: `calls ${canonical}`, chain, offset: ev.offset });
        if (cls.verdict !== 'safe') this.computedCall(ev, chain);
      }
      this.checkNested(canonical, ev.call, ev.offset);
      return;
    }
    if (ev.result !== undefined && via) {
      // An attrgetter/itemgetter applied: it evaluates to what it reaches, which is judged.
      this.reached(ev.result, 'referenced', ev.opcode, ev.offset, chain, via);
      return;
    }
    if (callee.k === 'call' && this.onRebuiltCall(callee, ev, chain)) return;
    // The callable was computed at load time (getattr, import_module, resolve_name, a call
    // result). Where the chain names a global it is classified like a direct import; the call is
    // reported as computed unless it resolves to a global known to be safe (then the indirection
    // hides nothing: it is how some libraries pickle classmethods, e.g. zoneinfo.ZoneInfo._unpickle).
    const path = this.pathOf(callee);
    const role = path !== null ? REBUILDERS.get(path) : undefined;
    if (path !== null && role !== undefined) {
      this.onRebuild(role, path, ev, chain);
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

  /** copyreg.__newobj__(cls) / _reconstructor(cls, object, None) create cls without calling it. */
  private constructs(canonical: string, ev: CallEvent): boolean {
    if (ev.call.k !== 'call') return false;
    const cls = ev.call.args[0];
    if (cls?.k !== 'global') return false;
    if (NEW_ONLY.has(canonical)) {
      // __newobj__(cls, *args) / __newobj_ex__(cls, args, kwargs): arguments reach cls.__new__.
      const rest = ev.call.args.slice(1);
      const bare = canonical === 'copyreg.__newobj__' ? rest.length === 0 : rest.every((a) => (a.k === 'tuple' || a.k === 'dict') && a.len === 0);
      this.note(`${cls.module}.${cls.name}`, this.classify(cls.module, cls.name), bare ? 'constructed' : 'called', `${ev.opcode} (${canonical})`, ev.offset, render(ev.call));
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
      if (dflt && this.isRebuildPath(this.pathOf(ev.result))) this.explained.add(dflt);
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

  private onRebuild(role: RebuildRole, canonical: string, ev: CallEvent, chain: string): void {
    const call = ev.call;
    if (call.k !== 'call') return;
    if (this.rebuild.offset < 0) this.rebuild.offset = ev.offset;
    const args = call.args;
    const str = (v: Value | undefined) => (v?.k === 'str' ? v.v : '?');
    switch (role) {
      case 'code':
        this.rebuiltCode(args);
        break;
      case 'function': {
        const name = args[2]?.k === 'str' ? args[2].v : codeName(args[0]);
        this.rebuilt.set(call, { role, name });
        this.rebuild.functions.push(name);
        break;
      }
      case 'class': {
        const name = str(args[1]);
        this.rebuilt.set(call, { role, name });
        this.rebuild.classes.push(name);
        if (args[0]) this.explained.add(args[0]);
        // A rebuilt metaclass or base runs its own code while this class is created.
        for (const b of [args[0], ...(args[2]?.k === 'tuple' ? args[2].items : [])]) {
          const made = b ? this.rebuilt.get(b) : undefined;
          if (made?.role === 'class') this.rebuild.problems.push({ why: `class ${name} is created from ${made.name}, itself rebuilt from bytecode (its metaclass or __init_subclass__ code runs during the load)`, chain, offset: ev.offset });
        }
        // dill passes the class namespace directly.
        if (canonical.startsWith('dill.') && args[3]) this.classNamespace(name, args[3], chain, ev.offset);
        break;
      }
      case 'setstate':
        // cloudpickle's _class_setstate(cls, (namespace, slots)) fills the class after creation.
        if (canonical.endsWith('._class_setstate') && args[0] && args[1]) {
          const made = this.rebuilt.get(args[0]);
          const st = args[1];
          this.classNamespace(made?.name ?? '?', st.k === 'tuple' ? (st.items[0] ?? st) : st, chain, ev.offset);
        }
        break;
      case 'cell':
        this.rebuilt.set(call, { role, name: 'cell' });
        break;
      case 'type': {
        const name = str(args[0]);
        this.rebuilt.set(call, { role, name });
        break;
      }
      case 'import': {
        const mod = args[0];
        if (mod?.k !== 'str') {
          this.rebuild.problems.push({ why: `${canonical} imports a module named at load time`, chain, offset: ev.offset });
          break;
        }
        // A module in a rebuilt function's globals: importing a standard or installed module runs
        // nothing the file chose; what the code does with it shows in its names. Modules that
        // exist to run processes or native code count as dangerous names of the code.
        const root = mod.v.split('.')[0]!;
        if (this.rebuild.names.size < 200) this.rebuild.names.add(mod.v);
        if (DANGEROUS_CODE_NAMES.has(root)) this.rebuild.dangerous.add(mod.v);
        const cls = this.classifyPath(mod.v);
        if (cls.verdict === 'unknown') this.note(mod.v, cls, 'referenced', `${ev.opcode} (${canonical})`, ev.offset, chain);
        break;
      }
      case 'setattr': {
        const target = args[0];
        if (!(target && typeof target === 'object' && this.rebuilt.has(target))) {
          this.rebuild.problems.push({ why: `${canonical} sets an attribute on something the pickle did not rebuild`, chain, offset: ev.offset });
        }
        break;
      }
      default:
        break;
    }
  }

  /**
   * Methods the loader itself may invoke on a rebuilt class or its instances (BUILD calls
   * __setstate__, a dict key is hashed, class creation calls __set_name__...): if the namespace
   * defines one as code, that code can run during the load. A namespace not fully visible is
   * treated the same way.
   */
  private classNamespace(name: string, ns: Value, chain: string, offset: number): void {
    if (ns.k !== 'dict' || ns.entries.length < ns.len) {
      this.rebuild.problems.push({ why: `the namespace of rebuilt class ${name} is not fully visible to the scanner`, chain, offset });
      return;
    }
    for (const [k, v] of ns.entries) {
      if (k.k === 'str' && IMPLICIT_DUNDERS.has(k.v) && v.k !== 'none') {
        this.rebuild.problems.push({ why: `rebuilt class ${name} defines ${k.v}, which the load itself can invoke`, chain, offset });
      }
    }
  }

  private rebuiltCode(args: readonly Value[]): void {
    this.rebuild.code++;
    const { strings, complete } = codeStrings(args);
    if (!complete) this.rebuild.incomplete = true;
    for (const s of strings) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(s)) continue;
      if (this.rebuild.names.size < 200) this.rebuild.names.add(s);
      if (DANGEROUS_CODE_NAMES.has(s)) this.rebuild.dangerous.add(s);
    }
  }

  /** A call of something a rebuild helper produced. Returns false when it is not one. */
  private onRebuiltCall(callee: Extract<Value, { k: 'call' }>, ev: CallEvent, chain: string): boolean {
    const made = this.rebuilt.get(callee);
    if (!made) return false;
    if (made.role === 'type') {
      const role = TYPE_ROLES[made.name];
      if (role === 'code') this.rebuiltCode(ev.call.k === 'call' ? ev.call.args : []);
      if (role) {
        if (ev.call.k === 'call' && role === 'function') {
          const name = ev.call.args[2]?.k === 'str' ? ev.call.args[2].v : codeName(ev.call.args[0]);
          this.rebuilt.set(ev.call, { role, name });
          this.rebuild.functions.push(name);
        } else if (ev.call.k === 'call' && role !== 'code') this.rebuilt.set(ev.call, { role, name: role });
        return true;
      }
      // Any other type (MappingProxyType, SimpleNamespace...) is classified like types.<name>.
      const cls = this.classify('types', made.name);
      if (cls.verdict !== 'safe') this.note(`types.${made.name}`, cls, this.howOf(ev.opcode), `${ev.opcode} (${describe(callee)})`, ev.offset, chain);
      return true;
    }
    if (made.role === 'class' && (ev.opcode === 'NEWOBJ' || ev.opcode === 'NEWOBJ_EX')) return true;
    if (made.role === 'cell') return true;
    // A rebuilt function called, or a rebuilt class called (its __init__ runs): code from the
    // pickle runs during the load.
    this.rebuild.problems.push({ why: `calls ${made.role} ${made.name}, rebuilt from bytecode in the pickle, during the load`, chain, offset: ev.offset, runs: true });
    this.computedCall(ev, chain);
    return true;
  }

  private computedCall(ev: CallEvent, chain: string): void {
    if (++this.computed > MAX_COMPUTED_FINDINGS) return;
    this.ctx.emit({
      rule: 'PICKLE_COMPUTED_CALL',
      message: `calls a value computed at load time: ${chain}${ev.via ? ` (through ${ev.via})` : ''}`,
      offset: ev.offset,
      evidence: { opcode: ev.opcode, chain },
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
        evidence: { canonical, use: 'called', details: { embeddedOffset: arg.at, embeddedBytes: arg.len } },
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

  /** The rebuild summary: what code the pickle carries, and whether any of it is a problem. */
  private judgeRebuild(): Unjustified | null {
    const r = this.rebuild;
    if (r.offset < 0 && r.code === 0) return null;
    const problems = [...r.problems];
    if (r.dangerous.size) problems.push({ why: `the rebuilt code uses ${[...r.dangerous].sort().join(', ')}`, offset: r.offset });
    if (r.incomplete) problems.push({ why: 'the rebuilt code objects are not fully visible to the scanner', offset: r.offset });
    const what = [
      r.functions.length ? `${r.functions.length} function${r.functions.length > 1 ? 's' : ''} (${[...new Set(r.functions)].slice(0, 8).join(', ')})` : '',
      r.classes.length ? `${r.classes.length} class${r.classes.length > 1 ? 'es' : ''} (${[...new Set(r.classes)].slice(0, 8).join(', ')})` : '',
    ].filter(Boolean).join(' and ');
    const names = [...r.names].slice(0, 40).join(', ');
    this.ctx.emit({
      rule: 'PICKLE_CODE_REBUILT',
      severity: problems.some((p) => p.runs) ? 'critical' : problems.length ? 'high' : 'low',
      message: `rebuilds ${what || `${r.code} code object${r.code === 1 ? '' : 's'}`} from bytecode (dill/cloudpickle); it runs when called${problems.length ? `; ${problems.map((p) => p.why).join('; ')}` : ', and the load does not call it'}`,
      offset: r.offset,
      evidence: { details: { codeObjects: r.code, names }, ...(problems[0]?.chain ? { chain: problems[0].chain } : {}) },
    });
    return problems[0] ?? null;
  }

  /** Emit one finding per distinct global (after all pickles of the stream, so uses are merged). */
  flush(): void {
    this.judgePartials();
    const rebuildProblem = this.judgeRebuild();
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
      } else if (REBUILDERS.has(canonical) || (g.how === 'referenced' && g.values.length === g.count && g.values.every((v) => this.explained.has(v)))) {
        // Rebuild helpers, and what they take as arguments (type as a metaclass, setattr as a
        // getattr default), are acceptable exactly when the rebuilt code is.
        if (!rebuildProblem) continue;
        extra = `; ${rebuildProblem.why}`;
      }
      const verb = g.how === 'called' ? 'calls' : g.how === 'constructed' ? 'constructs' : 'imports';
      const alias = g.global !== canonical ? ` (named ${g.global})` : '';
      const evidence = {
        global: g.global,
        canonical,
        use,
        opcode: g.opcode,
        ...(g.chain !== undefined ? { chain: g.chain } : {}),
        ...(g.cls.matched !== undefined ? { matched: g.cls.matched } : {}),
        ...(g.cls.reason !== undefined ? { reason: g.cls.reason } : {}),
        details: { occurrences: g.count, how: g.how },
      };
      if (g.cls.verdict === 'dangerous') {
        this.ctx.emit({
          rule: 'PICKLE_DANGEROUS_GLOBAL',
          severity: g.cls.severity,
          message: `${verb} ${canonical}${alias}${extra}`,
          offset: g.offset,
          evidence,
          references: g.cls.references,
        });
      } else {
        this.ctx.emit({
          rule: 'PICKLE_UNKNOWN_GLOBAL',
          severity: g.how === 'called' ? 'medium' : 'low',
          message: `${verb} ${canonical}${alias}, which is not known to be safe`,
          offset: g.offset,
          evidence,
        });
      }
    }
    this.globals.clear();
  }
}

/** A code object's name: the second string among its constructor's arguments (filename, name, qualname). */
function codeName(code: Value | undefined): string {
  if (code?.k !== 'call') return '?';
  const strs = code.args.filter((a): a is Extract<Value, { k: 'str' }> => a.k === 'str');
  return strs[1]?.v ?? '?';
}

function describe(v: Value): string {
  if (v.k === 'attr') return `attribute '${v.name}' of ${render(v.obj)}`;
  if (v.k === 'call') return render(v);
  return v.k;
}
