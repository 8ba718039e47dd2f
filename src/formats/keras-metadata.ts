/**
 * `keras_metadata.pb`, written beside saved_model.pb by tf.keras (Keras 2) SavedModels:
 * SavedMetadata { repeated SavedObject nodes = 1 }, SavedObject { node_id = 2, node_path = 3,
 * identifier = 4 ("_tf_keras_layer"...), metadata = 5 (the layer's config as JSON) }.
 * tf.keras revives layers from these configs when it loads the model, so a Lambda layer here is
 * Python bytecode (marshal) that runs when the model is called, as in a .h5 or .keras file.
 */
import type { AnalysisContext, Analyzer, FindingDraft, SniffInput } from './types.js';
import { checkKerasConfig, parseConfig, type Json } from './keras/config.js';
import { kerasRules } from './keras/rules.js';
import { headFields, headText, WireError, WireReader, type LenField, type WireField } from './protobuf/wire.js';
import { reportWireError } from './protobuf/report.js';

/** Layer configs are small; a metadata string beyond this is not read (and says so). */
const MAX_METADATA = 32 * 1024 * 1024;

export function sniffKerasMetadata(input: SniffInput): number {
  const b = input.head;
  const top = headFields(b, 0, input.size ?? Infinity);
  const first = top?.[0];
  if (!first || first.field !== 1 || first.wire !== 'len') return 0;
  const obj = headFields(b, first.start, first.end);
  if (!obj || obj.some((f) => f.field < 2 || f.field > 6 || (f.field === 2) !== (f.wire === 'varint'))) return 0;
  const id = obj.find((f): f is LenField => f.field === 4 && f.wire === 'len');
  return id && headText(b, id, 64).startsWith('_tf_keras_') ? 0.9 : 0;
}

/**
 * tf.keras writes tuples in metadata as {"class_name": "__tuple__", "items": [...]} and its
 * json_utils decoder turns them back into tuples before the layers are revived; do the same, so
 * a Lambda's (bytecode, defaults, closure) reads as it does in an .h5 config. Depth-capped: the
 * config check reports anything deeper.
 */
function untuple(v: Json, depth = 0): Json {
  if (v === null || typeof v !== 'object' || depth > 256) return v;
  if (Array.isArray(v)) return v.map((x) => untuple(x, depth + 1));
  if (v['class_name'] === '__tuple__' && Array.isArray(v['items'])) return v['items'].map((x) => untuple(x, depth + 1));
  const out: { [k: string]: Json } = {};
  for (const [k, x] of Object.entries(v)) out[k] = untuple(x, depth + 1);
  return out;
}

function len(f: WireField): LenField {
  if (f.wire !== 'len') throw new WireError('bad-wire-type', `field ${f.field} should be length-delimited`, f.offset);
  return f;
}

/**
 * The root node's metadata holds the whole model config, and every layer node its own again:
 * the same layer would be reported once per node that describes it. Findings are keyed by rule,
 * the layer's own name (last path segment) and what was found, and reported once.
 */
function dedupContext(ctx: AnalysisContext): AnalysisContext {
  const seen = new Set<string>();
  const view: AnalysisContext = Object.create(ctx) as AnalysisContext;
  return Object.assign(view, {
    emit(d: FindingDraft) {
      const det = d.evidence?.details ?? {};
      const layer = String(det['layer'] ?? '').split(' › ').pop();
      const key = [d.rule, d.severity ?? '', layer, det['kind'], det['module'], det['name'], det['function'], det['bytecodeBytes'], d.evidence?.global].join('|');
      if (seen.has(key)) return;
      seen.add(key);
      ctx.emit(d);
    },
  });
}

export const kerasMetadataAnalyzer: Analyzer = {
  id: 'keras-metadata',
  version: '2',
  description: 'tf.keras keras_metadata.pb beside a SavedModel: Lambda layers (marshalled bytecode or named functions)',
  sniff(input) {
    const c = sniffKerasMetadata(input);
    return c > 0 ? { format: 'keras-metadata', confidence: c } : null;
  },
  async analyze(source, ctx) {
    const r = new WireReader(source, { expired: ctx.expired });
    const rules = kerasRules();
    const checked = dedupContext(ctx);
    let nodes = 0;
    const identifiers = new Set<string>();
    const classes = new Set<string>();
    try {
      for await (const f of r.fields(r.root(), 0)) {
        if (f.field !== 1) continue;
        nodes++;
        let path = '';
        let meta: LenField | null = null;
        for await (const g of r.fields(r.span(len(f)), 1)) {
          if (g.field === 3) path = await r.text(len(g), 1024);
          else if (g.field === 4 && identifiers.size < 64) identifiers.add(await r.text(len(g), 128));
          else if (g.field === 5) meta = len(g);
        }
        if (!meta || meta.end === meta.start) continue;
        const { bytes, truncated } = await r.bytes(meta, MAX_METADATA);
        if (truncated) {
          ctx.incomplete(`metadata of ${path || 'a node'} is larger than ${MAX_METADATA} bytes`, meta.start);
          continue;
        }
        // tf.keras 2 wrote these configs: the same shape as a legacy .h5 model_config.
        const check = { ctx: checked, rules, format: 'h5' as const, where: `keras_metadata.pb node ${path.slice(0, 200) || nodes - 1}` };
        const config = parseConfig(check, new TextDecoder('utf-8', { fatal: false }).decode(bytes));
        if (config === null) continue;
        const summary = await checkKerasConfig(check, untuple(config));
        for (const c of summary.layerClasses) if (classes.size < 100) classes.add(c);
      }
    } catch (e) {
      reportWireError(ctx, e, 'keras_metadata.pb protobuf');
    }
    ctx.fact('keras_metadata.nodes', nodes);
    if (identifiers.size) ctx.fact('keras_metadata.identifiers', [...identifiers]);
    if (classes.size) ctx.fact('keras_metadata.classes', [...classes]);
  },
};
