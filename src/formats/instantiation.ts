/**
 * Instantiation targets: config values a framework imports by dotted path and calls. Hydra's
 * `_target_` (hydra.utils.instantiate, NeMo restore_from), the top-level `target` of a NeMo
 * model config, and jsonargparse / Lightning CLI `class_path` (with its `init_args`). The same
 * configs travel outside YAML files: NeMo and other tools put them in safetensors `__metadata__`
 * and GGUF metadata strings, where a loader that rebuilds the model from its own weights file
 * instantiates them. One check, rules/hydra.yaml, for every place such a config may sit.
 */
import { lazyModule } from '../core/lazy.js';
import type { Severity } from '../core/findings.js';
import { readCatalogue } from '../rules/catalogue-data.js';
import type { AnalysisContext } from './types.js';

const MAX_DEPTH = 200;
const MAX_NODES = 1_000_000;
export const TARGET_LINE = /^[ \t]*(?:-[ \t]+)?["']?(_target_|__target__|class_path)["']?[ \t]*:[ \t]*["']?([^"'#\r\n,}]*?)["']?[ \t]*(?:#.*)?,?$/gm;
export const PYTHON_TAG = /!!?python\/[A-Za-z_/]+(?::[\w.]+)?/g;
/** Configs above this are matched line by line only (and the file marked incomplete). */
const MAX_PARSED = 16 * 1024 * 1024;
/** Cheap test before parsing a metadata string as a config. */
const MAY_HOLD_TARGET = /_target_|class_path|!!?python\//;
/** Loaded when a config is met, not at start-up (src/core/lazy.ts). */
const yaml = lazyModule<typeof import('yaml')>('yaml');

interface Allowed {
  prefix: string;
  reason: string;
}
interface Denied {
  match: string;
  severity: Severity;
  reason: string;
  references: string[];
}
export interface HydraRules {
  allowed: Allowed[];
  denied: Denied[];
  targetKeys: string[];
  topLevelKeys: string[];
  /** Keys whose dotted value jsonargparse imports and instantiates (Lightning CLI). */
  classPathKeys: string[];
}

let cached: HydraRules | null = null;

export function hydraRules(): HydraRules {
  if (cached) return cached;
  const raw = readCatalogue('hydra.yaml').data as Record<string, unknown>;
  const list = (k: string) => {
    const v = raw[k];
    if (!Array.isArray(v)) throw new Error(`hydra rules: ${k} must be a list`);
    return v as Array<Record<string, unknown>>;
  };
  cached = {
    allowed: list('allowed_prefixes').map((e) => ({ prefix: String(e['prefix']), reason: String(e['reason']) })),
    denied: list('denied').map((e) => ({ match: String(e['match']), severity: e['severity'] as Severity, reason: String(e['reason']), references: (e['references'] as string[]) ?? [] })),
    targetKeys: list('target_keys').map(String),
    topLevelKeys: list('top_level_target_keys').map(String),
    classPathKeys: list('class_path_keys').map(String),
  };
  return cached;
}

const under = (path: string, prefix: string) => path === prefix || path.startsWith(prefix + '.');
const hasDunder = (path: string) => path.split('.').some((seg) => seg.length > 4 && seg.startsWith('__') && seg.endsWith('__'));

/**
 * Judges targets and reports each distinct one once per source. Severities follow what the
 * loader does with the value:
 *  - Hydra `_target_` in a config file: imported and called with the node's values; a catalogued
 *    code-execution callable is critical, a global the catalogue trusts with any arguments is
 *    fine. Anything else outside the allowlist is medium where a model loader instantiates the
 *    config by itself (a NeMo model_config.yaml: as an unknown global a pickle calls), low in any
 *    other config (the author's own classes, instantiated only by a script that asks);
 *  - Hydra `_target_` in weight-format metadata: the same call once a tool instantiates it, but
 *    no weights loader does so by itself; catalogued dangers stay critical, an unknown target
 *    (usually the author's own class) is low;
 *  - `class_path`: jsonargparse imports it and instantiates it only when it is a subclass of the
 *    argument's declared type, so a catalogued callable is high (imported, called only where the
 *    declared type admits any callable) and an unknown class low.
 */
export class TargetCheck {
  private seen = new Set<string>();
  constructor(
    private readonly ctx: AnalysisContext,
    readonly rules: HydraRules,
    /** Where the config sits, for messages and evidence (`__metadata__["config"]`); empty for a config file. */
    private readonly source = '',
    /** A config a model loader instantiates by itself (NeMo's restore_from); else only a script that asks does. */
    private readonly onLoad = false,
  ) {}

  target(value: unknown, where: string, via: 'hydra' | 'class_path' = 'hydra', scope?: Scope): void {
    if (typeof value !== 'string') {
      if (via === 'class_path') return; // jsonargparse accepts only strings here; anything else fails to parse
      this.report(`${this.at(where)} is not a string (${value === null ? 'null' : typeof value}); instantiate would fail or resolve it unpredictably`, 'medium', where, String(value));
      return;
    }
    const t = value.trim();
    // A bare class_path is resolved among the subclasses of the declared type, not imported.
    if (via === 'class_path' && !t.includes('.')) return;
    if (this.seen.has(t)) return;
    this.seen.add(t);
    if (via === 'hydra' && t.includes('${')) return this.interpolated(t, where, scope);
    const denied = this.rules.denied.find((d) => under(t, d.match));
    if (denied) return this.report(`${this.at(where)} instantiates ${t}: ${denied.reason}`, denied.severity, where, t, denied.reason, denied.references);
    const at = t.lastIndexOf('.');
    const g = at > 0 ? this.ctx.globals.classify(t.slice(0, at), t.slice(at + 1)) : this.ctx.globals.classify('builtins', t);
    const dangerous = g.verdict === 'dangerous';
    // The allowlist speaks for the callable a target reaches, not for the path it is written
    // through: Hydra's locate imports what it can and takes attributes of the rest, so
    // torch.nn.parallel.distributed.os.system is os.system. A code-execution reading (critical)
    // is never allowlisted, and a dunder segment (__getattribute__, __globals__) leaves the
    // reviewed API.
    if (!(dangerous && g.severity === 'critical') && this.allowed(t) && this.allowed(g.canonical ?? t)) return;
    // Catalogued as harmless whatever the arguments (as the pickle judgement trusts it).
    if (g.verdict === 'safe' && !hasDunder(t)) return;
    const sev: Severity = via === 'class_path' ? (dangerous ? 'high' : 'low') : dangerous ? 'critical' : this.onLoad ? 'medium' : 'low';
    const known = dangerous ? ' (a known code-execution callable)' : '';
    const how =
      via === 'class_path'
        ? 'jsonargparse (Lightning CLI) imports it and instantiates it when it fits the declared type'
        : this.onLoad || dangerous
          ? 'hydra.utils.instantiate imports and calls it'
          : 'hydra.utils.instantiate imports and calls it when a script instantiates this config (no model loader does so by itself)';
    this.report(`${this.at(where)} instantiates ${t}${known}, outside the allowlist: ${how}`, sev, where, t, g.reason, g.references, g.canonical);
  }

  /**
   * OmegaConf resolves `${...}` before Hydra imports the target, so `_target_: ${cls}` beside
   * `cls: os.system` is os.system. References to other nodes are followed and the target they
   * spell is judged; a resolver (`${oc.env:...}`, `${oc.decode:...}`, or one the loading script
   * registers) computes it at instantiate time, out of the scanner's sight: high.
   */
  private interpolated(t: string, where: string, scope: Scope | undefined): void {
    const resolved = scope ? resolveInterpolation(t, scope, 0) : null;
    if (resolved !== null && !resolved.includes('${')) {
      this.seen.delete(resolved);
      return this.target(resolved, `${where} (${t})`, 'hydra');
    }
    this.report(`${this.at(where)} instantiates ${t}, a target computed by interpolation at instantiate time (a resolver, or a reference the scanner cannot follow): hydra.utils.instantiate imports and calls whatever it yields`, 'high', where, t);
  }

  private allowed(path: string): boolean {
    return !hasDunder(path) && this.rules.allowed.some((a) => under(path, a.prefix));
  }

  pythonTag(tag: string): void {
    this.ctx.emit({
      rule: 'HYDRA_UNSAFE_TARGET',
      severity: 'critical',
      message: `${this.source ? `${this.source} uses` : 'YAML uses'} the Python tag ${tag}, which unsafe YAML loaders turn into a Python call`,
      evidence: { details: { tag, ...(this.source ? { source: this.source } : {}) } },
    });
  }

  private at(where: string): string {
    return this.source ? `${this.source} › ${where}` : where;
  }

  private report(message: string, severity: Severity, where: string, target: string, reason?: string, refs: string[] = [], canonical?: string): void {
    this.ctx.emit({
      rule: 'HYDRA_UNSAFE_TARGET',
      severity,
      message,
      evidence: { global: target, ...(canonical ? { canonical } : {}), ...(reason ? { reason } : {}), details: { key: where, target, ...(this.source ? { source: this.source } : {}) } },
      references: [...new Set([...refs, 'CVE-2025-23304'])],
    });
  }
}

/** Where a value sits in its config: the containers from the root down to the one holding it. */
export interface Scope {
  chain: readonly unknown[];
}

/** Walks a parsed config; false when it is deeper or larger than the limits. */
export function walkTargets(check: TargetCheck, v: unknown, path: string, depth: number, budget: { nodes: number }, topLevel: boolean, chain: unknown[] = []): boolean {
  const rules = check.rules;
  if (--budget.nodes < 0 || depth > MAX_DEPTH) return false;
  if (v === null || typeof v !== 'object') return true;
  // One stack of containers for the whole walk: a scope is read only while its node is visited.
  chain.push(v);
  try {
    if (Array.isArray(v)) return v.every((x, i) => walkTargets(check, x, `${path}[${i}]`, depth + 1, budget, topLevel, chain));
    const scope: Scope = { chain };
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const here = path ? `${path}.${k}` : k;
      if (rules.targetKeys.includes(k) || (topLevel && depth === 0 && rules.topLevelKeys.includes(k))) check.target(x, here, 'hydra', scope);
      else if (rules.classPathKeys.includes(k)) check.target(x, here, 'class_path');
      if (!walkTargets(check, x, here, depth + 1, budget, topLevel, chain)) return false;
    }
    return true;
  } finally {
    chain.pop();
  }
}

const MAX_INTERPOLATION_DEPTH = 16;
/** An innermost `${...}` (no `$`, `{` or `}` inside), and an escaped one OmegaConf leaves as text. */
const INNERMOST = /\$\{([^${}]*)\}/;

/**
 * The string OmegaConf makes of `s` by resolving node references (`${a.b}`, `${.sibling}`,
 * `${..uncle}`, `${a[0]}`, nested `${a.${b}}`) and `oc.select`; null where it needs any other
 * resolver, a missing node, a non-scalar value or an escape (`\${`).
 */
export function resolveInterpolation(s: string, scope: Scope, depth: number): string | null {
  if (depth > MAX_INTERPOLATION_DEPTH || s.includes('\\${')) return null;
  let out = s;
  for (let guard = 0; out.includes('${'); guard++) {
    if (guard > 64) return null;
    const m = INNERMOST.exec(out);
    if (!m) return null;
    const body = m[1]!.trim();
    let value: string | null;
    if (body.startsWith('oc.select:')) {
      const [key, ...dflt] = body.slice('oc.select:'.length).split(',');
      const v = lookup(key!.trim(), scope);
      value = v !== undefined ? scalar(v, scope, depth) : dflt.length ? dflt.join(',').trim() : null;
    } else if (body.includes(':')) {
      return null;
    } else {
      const v = lookup(body, scope);
      value = v === undefined ? null : scalar(v, scope, depth);
    }
    if (value === null) return null;
    out = out.slice(0, m.index) + value + out.slice(m.index + m[0].length);
  }
  return out;
}

function scalar(v: unknown, scope: Scope, depth: number): string | null {
  if (typeof v === 'string') return v.includes('${') ? resolveInterpolation(v, { chain: scope.chain.slice(0, 1) }, depth + 1) : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return null;
}

/** The node a reference names: absolute from the root, or relative (one dot: the holding container). */
function lookup(ref: string, scope: Scope): unknown {
  const lead = /^\.*/.exec(ref)![0].length;
  const chain = scope.chain;
  let node: unknown = lead === 0 ? chain[0] : chain[chain.length - lead];
  if (node === undefined) return undefined;
  const rest = ref.slice(lead).replace(/\[(\d+)\]/g, '.$1');
  for (const seg of rest.split('.').filter((x) => x !== '')) {
    if (Array.isArray(node) && /^\d+$/.test(seg)) node = node[Number(seg)];
    else if (node !== null && typeof node === 'object' && !Array.isArray(node) && Object.prototype.hasOwnProperty.call(node, seg)) node = (node as Record<string, unknown>)[seg];
    else return undefined;
  }
  return node;
}

export const WALK_LIMITS = { depth: MAX_DEPTH, nodes: MAX_NODES };

/** JSON, else YAML; null when neither parses (the line match still sees its targets). */
function parseLoose(text: string): { doc: unknown } | null {
  try {
    return { doc: JSON.parse(text) as unknown };
  } catch {
    try {
      return { doc: yaml().parse(text, { maxAliasCount: 100, uniqueKeys: false, prettyErrors: false, logLevel: 'silent' }) as unknown };
    } catch {
      return null;
    }
  }
}

/**
 * A string found in a weight format's metadata that may be a config (JSON or YAML): parsed and
 * walked when it mentions a target key or a Python tag; its target lines are also matched one by
 * one, so a string that does not parse still has its targets judged.
 */
export function checkEmbeddedConfig(ctx: AnalysisContext, text: string, source: string): void {
  if (!MAY_HOLD_TARGET.test(text)) return;
  const check = new TargetCheck(ctx, hydraRules(), source);
  for (const m of new Set([...text.matchAll(PYTHON_TAG)].map((x) => x[0]))) check.pythonTag(m);
  let parsed: { doc: unknown } | null = null;
  if (text.length > MAX_PARSED) ctx.incomplete(`${source}: a config of ${text.length} characters was matched line by line, not parsed`);
  else parsed = parseLoose(text);
  if (parsed && !walkTargets(check, parsed.doc, '', 0, { nodes: MAX_NODES }, false)) ctx.incomplete(`${source}: config nests deeper than ${MAX_DEPTH} or has more than ${MAX_NODES} nodes`);
  for (const m of text.matchAll(TARGET_LINE)) if (m[2]!.trim() !== '') check.target(m[2]!.trim(), m[1]!, m[1] === 'class_path' ? 'class_path' : 'hydra');
  // JSON written on one line: "key": "value" pairs anywhere in the text.
  for (const m of text.matchAll(/"(_target_|__target__|class_path)"\s*:\s*"([^"\\]{1,512})"/g)) check.target(m[2]!.trim(), m[1]!, m[1] === 'class_path' ? 'class_path' : 'hydra');
}

/** Walks a metadata map that is itself a config (keys at its top level). */
export function checkMetadataObject(ctx: AnalysisContext, meta: Record<string, unknown>, source: string): void {
  const rules = hydraRules();
  if (!Object.keys(meta).some((k) => rules.targetKeys.includes(k) || rules.classPathKeys.includes(k))) return;
  walkTargets(new TargetCheck(ctx, rules, source), meta, '', 0, { nodes: MAX_NODES }, false);
}
