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

  target(value: unknown, where: string, via: 'hydra' | 'class_path' = 'hydra'): void {
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

/** Walks a parsed config; false when it is deeper or larger than the limits. */
export function walkTargets(check: TargetCheck, v: unknown, path: string, depth: number, budget: { nodes: number }, topLevel: boolean): boolean {
  const rules = check.rules;
  if (--budget.nodes < 0 || depth > MAX_DEPTH) return false;
  if (Array.isArray(v)) return v.every((x, i) => walkTargets(check, x, `${path}[${i}]`, depth + 1, budget, topLevel));
  if (v === null || typeof v !== 'object') return true;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const here = path ? `${path}.${k}` : k;
    if (rules.targetKeys.includes(k) || (topLevel && depth === 0 && rules.topLevelKeys.includes(k))) check.target(x, here);
    else if (rules.classPathKeys.includes(k)) check.target(x, here, 'class_path');
    if (!walkTargets(check, x, here, depth + 1, budget, topLevel)) return false;
  }
  return true;
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
