/**
 * Judges the code dill and cloudpickle rebuild in one stream (see rebuild.ts for the helpers and
 * why): which functions and classes are rebuilt, the names their code uses, whether a class
 * defines methods the loader invokes by itself, and whether the load calls any of it. The
 * collector asks it about each helper call and each call of a rebuilt value, and turns the
 * summary into findings.
 */
import type { CallEvent } from '../../pickle/machine.js';
import type { Value } from '../../pickle/values.js';
import type { AnalysisContext } from '../types.js';
import { codeStrings, DANGEROUS_CODE_NAMES, TYPE_ROLES, type RebuildRole } from './rebuild.js';

/** Why a wrapper or rebuilt code could not be accepted, for the finding's reason. */
export interface Problem {
  why: string;
  chain?: string;
  offset: number;
  /** Code from the file runs inside the load itself. */
  runs?: boolean;
}

export interface RebuildHooks {
  /** A module imported by name into rebuilt code's globals (classified by the collector). */
  module(name: string, helper: string, ev: CallEvent, chain: string): void;
  /** Another type looked up by name (types.<name>) and called. */
  type(name: string, ev: CallEvent, chain: string): void;
}

/** Special methods Python calls implicitly while unpickling (BUILD, hashing keys, class creation). */
const IMPLICIT_DUNDERS = new Set([
  '__setstate__', '__new__', '__set_name__', '__init_subclass__', '__class_getitem__', '__hash__', '__del__',
  '__getattr__', '__getattribute__', '__setattr__', '__set__', '__get__', '__reduce__', '__reduce_ex__',
  '__instancecheck__', '__subclasscheck__', '__index__', '__setitem__', '__missing__', '__prepare__',
]);

export class RebuildJudge {
  /** Values produced by rebuild helpers, with their role. */
  private rebuilt = new WeakMap<object, { role: RebuildRole; name: string }>();
  /** Globals referenced as an argument a rebuild helper expects (type as the metaclass...). */
  readonly explained = new WeakSet<object>();
  private state = { code: 0, functions: [] as string[], classes: [] as string[], names: new Set<string>(), dangerous: new Set<string>(), incomplete: false, problems: [] as Problem[], offset: -1 };

  constructor(private readonly hooks: RebuildHooks) {}

  onHelper(role: RebuildRole, canonical: string, ev: CallEvent, chain: string): void {
    const call = ev.call;
    if (call.k !== 'call') return;
    if (this.state.offset < 0) this.state.offset = ev.offset;
    const args = call.args;
    const str = (v: Value | undefined) => (v?.k === 'str' ? v.v : '?');
    switch (role) {
      case 'code':
        this.rebuiltCode(args);
        break;
      case 'function': {
        const name = args[2]?.k === 'str' ? args[2].v : codeName(args[0]);
        this.rebuilt.set(call, { role, name });
        this.state.functions.push(name);
        break;
      }
      case 'class': {
        const name = str(args[1]);
        this.rebuilt.set(call, { role, name });
        this.state.classes.push(name);
        if (args[0]) this.explained.add(args[0]);
        // A rebuilt metaclass or base runs its own code while this class is created.
        for (const b of [args[0], ...(args[2]?.k === 'tuple' ? args[2].items : [])]) {
          const made = b ? this.rebuilt.get(b) : undefined;
          if (made?.role === 'class') this.state.problems.push({ why: `class ${name} is created from ${made.name}, itself rebuilt from bytecode (its metaclass or __init_subclass__ code runs during the load)`, chain, offset: ev.offset });
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
          this.state.problems.push({ why: `${canonical} imports a module named at load time`, chain, offset: ev.offset });
          break;
        }
        // A module in a rebuilt function's globals: importing a standard or installed module runs
        // nothing the file chose; what the code does with it shows in its names. Modules that
        // exist to run processes or native code count as dangerous names of the code.
        const root = mod.v.split('.')[0]!;
        if (this.state.names.size < 200) this.state.names.add(mod.v);
        if (DANGEROUS_CODE_NAMES.has(root)) this.state.dangerous.add(mod.v);
        this.hooks.module(mod.v, canonical, ev, chain);
        break;
      }
      case 'setattr': {
        const target = args[0];
        if (!(target && typeof target === 'object' && this.rebuilt.has(target))) {
          this.state.problems.push({ why: `${canonical} sets an attribute on something the pickle did not rebuild`, chain, offset: ev.offset });
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
      this.state.problems.push({ why: `the namespace of rebuilt class ${name} is not fully visible to the scanner`, chain, offset });
      return;
    }
    for (const [k, v] of ns.entries) {
      if (k.k === 'str' && IMPLICIT_DUNDERS.has(k.v) && v.k !== 'none') {
        this.state.problems.push({ why: `rebuilt class ${name} defines ${k.v}, which the load itself can invoke`, chain, offset });
      }
    }
  }

  private rebuiltCode(args: readonly Value[]): void {
    this.state.code++;
    const { strings, complete } = codeStrings(args);
    if (!complete) this.state.incomplete = true;
    for (const s of strings) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(s)) continue;
      if (this.state.names.size < 200) this.state.names.add(s);
      if (DANGEROUS_CODE_NAMES.has(s)) this.state.dangerous.add(s);
    }
  }

  /**
   * A call of something a rebuild helper produced: 'no' when it is not one, 'runs' when code
   * from the file runs inside the load (the caller reports the computed call), 'ok' otherwise.
   */
  onCallOf(callee: Extract<Value, { k: 'call' }>, ev: CallEvent, chain: string): 'no' | 'ok' | 'runs' {
    const made = this.rebuilt.get(callee);
    if (!made) return 'no';
    if (made.role === 'type') {
      const role = TYPE_ROLES[made.name];
      if (role === 'code') this.rebuiltCode(ev.call.k === 'call' ? ev.call.args : []);
      if (role) {
        if (ev.call.k === 'call' && role === 'function') {
          const name = ev.call.args[2]?.k === 'str' ? ev.call.args[2].v : codeName(ev.call.args[0]);
          this.rebuilt.set(ev.call, { role, name });
          this.state.functions.push(name);
        } else if (ev.call.k === 'call' && role !== 'code') this.rebuilt.set(ev.call, { role, name: role });
        return 'ok';
      }
      // Any other type (MappingProxyType, SimpleNamespace...) is classified like types.<name>.
      this.hooks.type(made.name, ev, chain);
      return 'ok';
    }
    if (made.role === 'class' && (ev.opcode === 'NEWOBJ' || ev.opcode === 'NEWOBJ_EX')) return 'ok';
    if (made.role === 'cell') return 'ok';
    // A rebuilt function called, or a rebuilt class called (its __init__ runs): code from the
    // pickle runs during the load.
    this.state.problems.push({ why: `calls ${made.role} ${made.name}, rebuilt from bytecode in the pickle, during the load`, chain, offset: ev.offset, runs: true });
    return 'runs';
  }

  /** The rebuild summary: what code the pickle carries, and whether any of it is a problem. */
  summary(ctx: AnalysisContext): Problem | null {
    const r = this.state;
    if (r.offset < 0 && r.code === 0) return null;
    const problems = [...r.problems];
    if (r.dangerous.size) problems.push({ why: `the rebuilt code uses ${[...r.dangerous].sort().join(', ')}`, offset: r.offset });
    if (r.incomplete) problems.push({ why: 'the rebuilt code objects are not fully visible to the scanner', offset: r.offset });
    const what = [
      r.functions.length ? `${r.functions.length} function${r.functions.length > 1 ? 's' : ''} (${[...new Set(r.functions)].slice(0, 8).join(', ')})` : '',
      r.classes.length ? `${r.classes.length} class${r.classes.length > 1 ? 'es' : ''} (${[...new Set(r.classes)].slice(0, 8).join(', ')})` : '',
    ].filter(Boolean).join(' and ');
    const names = [...r.names].slice(0, 40).join(', ');
    ctx.emit({
      rule: 'PICKLE_CODE_REBUILT',
      severity: problems.some((p) => p.runs) ? 'critical' : problems.length ? 'high' : 'low',
      message: `rebuilds ${what || `${r.code} code object${r.code === 1 ? '' : 's'}`} from bytecode (dill/cloudpickle); it runs when called${problems.length ? `; ${problems.map((p) => p.why).join('; ')}` : ', and the load does not call it'}`,
      offset: r.offset,
      evidence: { details: { codeObjects: r.code, names }, ...(problems[0]?.chain ? { chain: problems[0].chain } : {}) },
    });
    return problems[0] ?? null;
  }

}

/** A code object's name: the second string among its constructor's arguments (filename, name, qualname). */
function codeName(code: Value | undefined): string {
  if (code?.k !== 'call') return '?';
  const strs = code.args.filter((a): a is Extract<Value, { k: 'str' }> => a.k === 'str');
  return strs[1]?.v ?? '?';
}

