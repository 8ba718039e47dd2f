/**
 * Turns the pickle machine's events into findings: classifies every global against the
 * catalogue, tells imported from called, resolves attribute chains (getattr, import_module,
 * resolve_name) to the dotted name they reach, and records what calls a computed callable.
 */
import type { FindingVerb, GlobalUse } from '../../core/findings.js';
import type { GlobalClassification } from '../../rules/globals.js';
import type { AnalysisContext } from '../types.js';
import type { AnomalyEvent, CallEvent, GlobalEvent } from '../../pickle/machine.js';
import { dottedPath, render, type Value } from '../../pickle/values.js';

interface GlobalSeen {
  global: string;
  cls: GlobalClassification;
  use: GlobalUse;
  opcode: string;
  offset: number;
  chain?: string;
  count: number;
}

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

export class PickleCollector {
  private globals = new Map<string, GlobalSeen>();
  private anomalyCounts = new Map<string, number>();
  private anomalySeen = new Set<string>();
  private computed = 0;
  readonly nested: NestedData[] = [];

  constructor(private readonly ctx: AnalysisContext) {}

  private classify(module: string, name: string): GlobalClassification {
    return this.ctx.globals.classify(module, name);
  }

  private note(global: string, cls: GlobalClassification, use: GlobalUse, opcode: string, offset: number, chain?: string): void {
    const key = cls.canonical;
    const seen = this.globals.get(key);
    if (!seen) {
      const rec: GlobalSeen = { global, cls, use, opcode, offset, count: 1 };
      if (chain !== undefined) rec.chain = chain;
      this.globals.set(key, rec);
      return;
    }
    seen.count++;
    if (use === 'called' && seen.use !== 'called') {
      seen.use = 'called';
      seen.opcode = opcode;
      seen.offset = offset;
      if (chain !== undefined) seen.chain = chain;
    }
  }

  onGlobal(ev: GlobalEvent): void {
    this.note(`${ev.module}.${ev.name}`, this.classify(ev.module, ev.name), 'imported', ev.opcode, ev.offset);
  }

  onCall(ev: CallEvent): void {
    const callee = ev.callee;
    const chain = render(ev.call);
    if (ev.opcode === 'BUILD') {
      // BUILD calls __setstate__ on the instance: attribute it to the class that made it.
      if (callee.k === 'call' && callee.fn.k === 'global') {
        const g = callee.fn;
        this.note(`${g.module}.${g.name}`, this.classify(g.module, g.name), 'called', 'BUILD', ev.offset, chain);
      }
      return;
    }
    if (callee.k === 'global') {
      const cls = this.classify(callee.module, callee.name);
      this.note(`${callee.module}.${callee.name}`, cls, 'called', ev.opcode, ev.offset, chain);
      this.checkNested(cls.canonical, ev.call, ev.offset);
      return;
    }
    // The callable was computed at load time (getattr, import_module, resolve_name, a call
    // result): the indirection itself is the evasion technique, so it is always reported, and
    // where the chain names a global it is classified like a direct import.
    const path = dottedPath(callee);
    if (path !== null) {
      const dot = path.indexOf('.');
      const cls = dot < 0 ? this.classify(path, '') : this.classify(path.slice(0, dot), path.slice(dot + 1));
      if (cls.verdict !== 'safe') this.note(path, cls, 'called', `${ev.opcode} (resolved through ${describe(callee)})`, ev.offset, chain);
      this.checkNested(cls.canonical, ev.call, ev.offset);
    }
    this.computedCall(ev, chain);
  }

  private computedCall(ev: CallEvent, chain: string): void {
    if (++this.computed > MAX_COMPUTED_FINDINGS) return;
    this.ctx.emit({
      rule: 'PICKLE_COMPUTED_CALL',
      message: `calls a value computed at load time: ${chain}`,
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

  /** Emit one finding per distinct global (after all pickles of the stream, so uses are merged). */
  flush(): void {
    for (const g of this.globals.values()) {
      this.ctx.recordImport({ global: g.global, canonical: g.cls.canonical, verdict: g.cls.verdict, use: g.use, opcode: g.opcode, offset: g.offset });
      if (g.cls.verdict === 'safe') continue;
      const verb: FindingVerb = g.use === 'called' ? 'calls' : 'imports';
      const alias = g.global !== g.cls.canonical ? ` (named ${g.global})` : '';
      const known = g.cls.verdict === 'dangerous';
      const evidence = {
        global: g.global,
        canonical: g.cls.canonical,
        use: g.use,
        verb,
        phrase: `${verb} ${g.cls.canonical}${known ? '' : ', which is not known to be safe'}`,
        opcode: g.opcode,
        ...(g.chain !== undefined ? { chain: g.chain } : {}),
        ...(g.cls.matched !== undefined ? { matched: g.cls.matched } : {}),
        ...(g.cls.reason !== undefined ? { reason: g.cls.reason } : {}),
        details: { occurrences: g.count },
      };
      if (known) {
        this.ctx.emit({
          rule: 'PICKLE_DANGEROUS_GLOBAL',
          severity: g.cls.severity,
          message: `${verb} ${g.cls.canonical}${alias}`,
          offset: g.offset,
          evidence,
          references: g.cls.references,
        });
      } else {
        this.ctx.emit({
          rule: 'PICKLE_UNKNOWN_GLOBAL',
          severity: g.cls.severity,
          message: `${verb} ${g.cls.canonical}${alias}, which is not known to be safe`,
          offset: g.offset,
          evidence,
        });
      }
    }
    this.globals.clear();
  }
}

function describe(v: Value): string {
  if (v.k === 'attr') return `attribute '${v.name}' of ${render(v.obj)}`;
  if (v.k === 'call') return render(v);
  return v.k;
}
