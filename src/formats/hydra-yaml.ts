/**
 * Hydra / OmegaConf YAML configs (NeMo's model_config.yaml, wherever it sits: a .nemo tar, a
 * gzipped tar, a repository). `_target_` names a callable that hydra.utils.instantiate imports
 * and calls; the top-level `target` of a NeMo config names the model class restore_from
 * imports. Targets outside the allowlist in rules/hydra.yaml are findings (CVE-2025-23304).
 * The text is also scanned line by line for `_target_:` values and Python YAML tags, so a
 * parser difference (duplicate keys, anchors) cannot hide one from the tree walk.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { packageRoot } from '../core/package.js';
import type { Severity } from '../core/findings.js';
import type { AnalysisContext, Analyzer, Claim, SniffInput } from './types.js';

const MAX_TEXT = 16 * 1024 * 1024;
const MAX_DEPTH = 200;
const MAX_NODES = 1_000_000;
const TARGET_LINE = /^[ \t]*(?:-[ \t]+)?["']?(_target_|__target__)["']?[ \t]*:[ \t]*["']?([^"'#\r\n]*?)["']?[ \t]*(?:#.*)?$/gm;
const PYTHON_TAG = /!!?python\/[A-Za-z_/]+(?::[\w.]+)?/g;

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
interface HydraRules {
  allowed: Allowed[];
  denied: Denied[];
  targetKeys: string[];
  topLevelKeys: string[];
}

let cached: HydraRules | null = null;

export function hydraRules(): HydraRules {
  if (cached) return cached;
  const raw = parseYaml(readFileSync(join(packageRoot(), 'rules', 'hydra.yaml'), 'utf8')) as Record<string, unknown>;
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
  };
  return cached;
}

const under = (path: string, prefix: string) => path === prefix || path.startsWith(prefix + '.');

function sniffHydra(input: SniffInput): Claim | null {
  const h = input.head;
  if (h.length === 0 || h.includes(0)) return null;
  const text = new TextDecoder('utf-8', { fatal: false }).decode(h.subarray(0, 64 * 1024));
  // A non-global copy: test() on the shared global regex would move its lastIndex.
  if (!new RegExp(TARGET_LINE.source, 'm').test(text) && !/["']_target_["']\s*:/.test(text)) return null;
  return { format: 'hydra-yaml', confidence: 0.7 };
}

class Check {
  private seen = new Set<string>();
  constructor(
    private readonly ctx: AnalysisContext,
    private readonly rules: HydraRules,
  ) {}

  target(value: unknown, where: string): void {
    if (typeof value !== 'string') {
      this.report(`${where} is not a string (${value === null ? 'null' : typeof value}); instantiate would fail or resolve it unpredictably`, 'medium', where, String(value));
      return;
    }
    const t = value.trim();
    if (this.seen.has(t)) return;
    this.seen.add(t);
    const denied = this.rules.denied.find((d) => under(t, d.match));
    if (denied) return this.report(`${where} instantiates ${t}: ${denied.reason}`, denied.severity, where, t, denied.reason, denied.references);
    if (this.rules.allowed.some((a) => under(t, a.prefix))) return;
    const at = t.lastIndexOf('.');
    const g = at > 0 ? this.ctx.globals.classify(t.slice(0, at), t.slice(at + 1)) : this.ctx.globals.classify('builtins', t);
    const sev: Severity = g.verdict === 'dangerous' ? 'critical' : 'high';
    const known = g.verdict === 'dangerous' ? ' (a known code-execution callable)' : '';
    this.report(`${where} instantiates ${t}${known}, outside the Hydra allowlist: hydra.utils.instantiate imports and calls it`, sev, where, t, g.reason, g.references, g.canonical);
  }

  private report(message: string, severity: Severity, where: string, target: string, reason?: string, refs: string[] = [], canonical?: string): void {
    this.ctx.emit({
      rule: 'HYDRA_UNSAFE_TARGET',
      severity,
      message,
      evidence: { global: target, ...(canonical ? { canonical } : {}), ...(reason ? { reason } : {}), details: { key: where, target } },
      references: [...new Set([...refs, 'CVE-2025-23304'])],
    });
  }
}

function walk(check: Check, rules: HydraRules, v: unknown, path: string, depth: number, budget: { nodes: number }): boolean {
  if (--budget.nodes < 0 || depth > MAX_DEPTH) return false;
  if (Array.isArray(v)) return v.every((x, i) => walk(check, rules, x, `${path}[${i}]`, depth + 1, budget));
  if (v === null || typeof v !== 'object') return true;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const here = path ? `${path}.${k}` : k;
    if (rules.targetKeys.includes(k) || (depth === 0 && rules.topLevelKeys.includes(k))) check.target(x, here);
    if (!walk(check, rules, x, here, depth + 1, budget)) return false;
  }
  return true;
}

export const hydraYamlAnalyzer: Analyzer = {
  id: 'hydra-yaml',
  version: '1',
  description: 'Hydra/OmegaConf YAML configs (NeMo model_config.yaml): _target_ and NeMo target values checked against an allowlist; Python YAML tags',
  sniff: sniffHydra,
  async analyze(source, ctx) {
    const rules = hydraRules();
    const bytes = await source.read(0, MAX_TEXT + 1);
    if (bytes.length > MAX_TEXT) {
      ctx.emit({ rule: 'HYDRA_CONFIG_MALFORMED', message: `YAML config is larger than ${MAX_TEXT} bytes; only its first ${MAX_TEXT} bytes were checked` });
      ctx.incomplete('YAML config above the size limit');
    }
    const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, MAX_TEXT));
    const check = new Check(ctx, rules);
    for (const m of new Set([...text.matchAll(PYTHON_TAG)].map((x) => x[0]))) {
      ctx.emit({ rule: 'HYDRA_UNSAFE_TARGET', severity: 'critical', message: `YAML uses the Python tag ${m}, which unsafe YAML loaders turn into a Python call`, evidence: { details: { tag: m } } });
    }
    let doc: unknown;
    let parsed = true;
    try {
      doc = parseYaml(text, { maxAliasCount: 100, uniqueKeys: false, prettyErrors: false, logLevel: 'error' });
    } catch (e) {
      parsed = false;
      ctx.emit({ rule: 'HYDRA_CONFIG_MALFORMED', message: `YAML config does not parse: ${(e as Error).message.split('\n')[0]}; its _target_ lines were still checked` });
    }
    if (parsed && !walk(check, rules, doc, '', 0, { nodes: MAX_NODES })) {
      ctx.emit({ rule: 'HYDRA_CONFIG_MALFORMED', message: `YAML config nests deeper than ${MAX_DEPTH} or has more than ${MAX_NODES} nodes; the rest was not walked` });
      ctx.incomplete('YAML config above the nesting or node limit');
    }
    // Line by line after the tree walk (which names the full key path): anything the parse missed.
    for (const m of text.matchAll(TARGET_LINE)) if (m[2]!.trim() !== '') check.target(m[2]!.trim(), m[1]!);
  },
};
