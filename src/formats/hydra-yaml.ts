/**
 * Hydra / OmegaConf YAML configs (NeMo's model_config.yaml, wherever it sits: a .nemo tar, a
 * gzipped tar, a repository). `_target_` names a callable that hydra.utils.instantiate imports
 * and calls; the top-level `target` of a NeMo config names the model class restore_from
 * imports. Targets outside the allowlist in rules/hydra.yaml are findings (CVE-2025-23304).
 * Lightning CLI configs (`class_path` with `init_args`) are judged the same way. The text is
 * also scanned line by line for target values and Python YAML tags, so a parser difference
 * (duplicate keys, anchors) cannot hide one from the tree walk. The judging is shared with the
 * weight formats that carry such configs in their metadata (./instantiation.ts).
 */
import { lazyModule } from '../core/lazy.js';
import type { Analyzer, Claim, SniffInput } from './types.js';
import { hydraRules, PYTHON_TAG, TARGET_LINE, TargetCheck, WALK_LIMITS, walkTargets } from './instantiation.js';

export { hydraRules } from './instantiation.js';

/** Loaded when a config is met, not at start-up (src/core/lazy.ts). */
const yaml = lazyModule<typeof import('yaml')>('yaml');

const MAX_TEXT = 16 * 1024 * 1024;
const SNIFF_TARGET = /^[ \t]*(?:-[ \t]+)?["']?(_target_|__target__)["']?[ \t]*:/m;
/** Lightning CLI / jsonargparse configs: a dotted class_path with init_args beside it. */
const SNIFF_CLASS_PATH = /^[ \t]*(?:-[ \t]+)?class_path[ \t]*:[ \t]*["']?[A-Za-z_][\w]*(\.[A-Za-z_]\w*)+["']?[ \t]*$/m;
const SNIFF_INIT_ARGS = /^[ \t]*init_args[ \t]*:/m;

function sniffHydra(input: SniffInput): Claim | null {
  const h = input.head;
  if (h.length === 0 || h.includes(0)) return null;
  const text = new TextDecoder('utf-8', { fatal: false }).decode(h.subarray(0, 64 * 1024));
  const classPath = SNIFF_CLASS_PATH.test(text) && SNIFF_INIT_ARGS.test(text);
  if (!SNIFF_TARGET.test(text) && !/["']_target_["']\s*:/.test(text) && !classPath) return null;
  return { format: 'hydra-yaml', confidence: 0.7 };
}

export const hydraYamlAnalyzer: Analyzer = {
  id: 'hydra-yaml',
  version: '4',
  description: 'Hydra/OmegaConf YAML configs (NeMo model_config.yaml) and Lightning CLI configs: _target_, NeMo target and class_path values checked against an allowlist; Python YAML tags',
  sniff: sniffHydra,
  async analyze(source, ctx) {
    const rules = hydraRules();
    const bytes = await source.read(0, MAX_TEXT + 1);
    if (bytes.length > MAX_TEXT) {
      ctx.emit({ rule: 'HYDRA_CONFIG_MALFORMED', message: `YAML config is larger than ${MAX_TEXT} bytes; only its first ${MAX_TEXT} bytes were checked` });
      ctx.incomplete('YAML config above the size limit');
    }
    const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, MAX_TEXT));
    // NeMo's restore_from instantiates the model_config.yaml of a .nemo archive (or of one unpacked).
    const name = ctx.path[ctx.path.length - 1] ?? '';
    const onLoad = ctx.path.slice(0, -1).some((p) => /\.nemo$/i.test(p)) || /(^|[/\\])model_config\.ya?ml$/i.test(name);
    const check = new TargetCheck(ctx, rules, '', onLoad);
    for (const m of new Set([...text.matchAll(PYTHON_TAG)].map((x) => x[0]))) {
      check.pythonTag(m);
    }
    let doc: unknown;
    let parsed = true;
    try {
      doc = yaml().parse(text, { maxAliasCount: 100, uniqueKeys: false, prettyErrors: false, logLevel: 'error' });
    } catch (e) {
      parsed = false;
      ctx.emit({ rule: 'HYDRA_CONFIG_MALFORMED', message: `YAML config does not parse: ${(e as Error).message.split('\n')[0]}; its _target_ lines were still checked` });
    }
    if (parsed && !walkTargets(check, doc, '', 0, { nodes: WALK_LIMITS.nodes }, true)) {
      ctx.emit({ rule: 'HYDRA_CONFIG_MALFORMED', message: `YAML config nests deeper than ${WALK_LIMITS.depth} or has more than ${WALK_LIMITS.nodes} nodes; the rest was not walked` });
      ctx.incomplete('YAML config above the nesting or node limit');
    }
    // Line by line after the tree walk (which names the full key path): anything the parse missed.
    for (const m of text.matchAll(TARGET_LINE)) if (m[2]!.trim() !== '') check.target(m[2]!.trim(), m[1]!, m[1] === 'class_path' ? 'class_path' : 'hydra');
  },
};
