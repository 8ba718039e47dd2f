/**
 * TensorFlow SavedModel (`saved_model.pb`): SavedModel → meta_graphs (MetaGraphDef) → graph_def
 * (GraphDef) → node (NodeDef) and library → function (FunctionDef) → node_def. A SavedModel is a
 * program: every op of a signature runs when the model is called, so the ops are the finding:
 * host access (rules/tf-ops.yaml) and ops outside the stock runtime (custom ops need native
 * libraries). Constants are inline in NodeDef attributes; they are skipped by offset, not read.
 *
 * Field numbers (tensorflow/core/protobuf/saved_model.proto, meta_graph.proto,
 * tensorflow/core/framework/graph.proto, node_def.proto, function.proto, attr_value.proto).
 */
import type { AnalysisContext, Analyzer, SniffInput } from './types.js';
import { gradeOp, tfOpCatalogue, tfOpCatalogueVersion, type TfOpRule } from '../rules/tf-ops.js';
import type { Severity } from '../core/findings.js';
import { decodeMessage, headFields, headPrefix, headText, visitFields, WireError, WireReader, type LenField, type Span, type WireField } from './protobuf/wire.js';
import { pathEscape, reportWireError } from './protobuf/report.js';

const OP_NAME = /^[A-Za-z_][A-Za-z0-9_>.-]{0,127}$/;
/** Attribute entries kept per node for catalogue ops (output_stream, debug_urls...). */
const MAX_ATTR_ENTRY = 64 * 1024;
const MAX_EXAMPLES = 5;
const NODE_TEXT = new Set([1, 2]);
const UTF8 = new TextDecoder('utf-8', { fatal: false });

/** Head check: field 1 a small schema version, field 2 a MetaGraphDef with GraphDef nodes or an op list. */
export function sniffSavedModel(input: SniffInput): number {
  const b = input.head;
  const end = input.size ?? Infinity;
  const named = /(^|[\\/])saved_model\.pb$/.test(input.name);
  const top = headPrefix(b, 0, end);
  const [v, mg] = top.fields;
  if (!v || v.field !== 1 || v.wire !== 'varint' || v.value < 1 || v.value > 8) return 0;
  // A hostile length right at the MetaGraphDef: only the name can make the call.
  if (!mg) return top.broken?.field === 2 && top.broken.wire === 2 && named ? 0.6 : 0;
  if (mg.field !== 2 || mg.wire !== 'len') return 0;
  const meta = headPrefix(b, mg.start, mg.end);
  if (meta.broken && (meta.broken.field < 1 || meta.broken.field > 10 || meta.broken.wire !== 2)) return 0;
  let evidence = false;
  for (const f of meta.fields) {
    if (f.wire !== 'len' || f.field > 10) return 0;
    if (f.field === 1) {
      // MetaInfoDef: the stripped op list names every op the graph uses.
      const info = headFields(b, f.start, f.end);
      if (!info) return 0;
      const ops = info.find((x): x is LenField => x.field === 2 && x.wire === 'len');
      const first = ops ? headFields(b, ops.start, ops.end)?.[0] : undefined;
      const name = first?.wire === 'len' && first.field === 1 ? headFields(b, first.start, first.end)?.[0] : undefined;
      if (name?.wire === 'len' && name.field === 1 && OP_NAME.test(headText(b, name))) evidence = true;
    } else if (f.field === 2) {
      const node = headFields(b, f.start, f.end)?.find((x): x is LenField => x.field === 1 && x.wire === 'len');
      const op = node ? headFields(b, node.start, node.end)?.find((x): x is LenField => x.field === 2 && x.wire === 'len') : undefined;
      if (op && OP_NAME.test(headText(b, op))) evidence = true;
    }
  }
  if (evidence) return 0.9;
  // Consistent as far as the head goes, but the evidence lies beyond it or behind a broken
  // length: the file name breaks the tie.
  return (mg.end > b.length || meta.broken) && named ? 0.6 : 0;
}

interface Site {
  op: string;
  node: string;
  fn?: string;
  offset: number;
  attrs?: Map<string, string[]>;
}

interface OpStats {
  count: number;
  first: Site;
}

class GraphWalk {
  readonly ops = new Map<string, OpStats>();
  readonly flagged: Site[] = [];
  readonly functions = new Set<string>();
  readonly tags: string[] = [];
  readonly assets: Array<{ filename: string; offset: number }> = [];
  tfVersion = '';
  nodes = 0;
  metaGraphs = 0;
  schemaVersion = 0;

  constructor(
    readonly r: WireReader,
    private readonly catalogue: ReadonlyMap<string, TfOpRule>,
  ) {}

  async savedModel(span: Span): Promise<void> {
    for await (const f of this.r.fields(span, 0)) {
      if (f.field === 1 && f.wire === 'varint') this.schemaVersion = f.value;
      else if (f.field === 2) await this.metaGraph(len(f), 1);
    }
  }

  private async metaGraph(f: LenField, depth: number): Promise<void> {
    this.metaGraphs++;
    for await (const g of this.r.fields(this.r.span(f), depth)) {
      if (g.field === 1) await this.metaInfo(len(g), depth + 1);
      else if (g.field === 2) await this.graph(len(g), depth + 1);
      else if (g.field === 6) {
        for await (const a of this.r.fields(this.r.span(len(g)), depth + 1)) {
          if (a.field === 2) this.assets.push({ filename: await this.r.text(len(a)), offset: a.offset });
        }
      }
    }
  }

  private async metaInfo(f: LenField, depth: number): Promise<void> {
    for await (const g of this.r.fields(this.r.span(f), depth)) {
      if (g.field === 4 && this.tags.length < 32) this.tags.push(await this.r.text(len(g), 256));
      else if (g.field === 5) this.tfVersion = await this.r.text(len(g), 64);
    }
  }

  private async graph(f: LenField, depth: number): Promise<void> {
    for await (const g of this.r.fields(this.r.span(f), depth)) {
      if (g.field === 1) await this.node(len(g), depth + 1, undefined);
      else if (g.field === 2) {
        for await (const fn of this.r.fields(this.r.span(len(g)), depth + 1)) {
          if (fn.field === 1) await this.function(len(fn), depth + 2);
        }
      }
    }
  }

  private async function(f: LenField, depth: number): Promise<void> {
    let name = '';
    const body: Site[] = [];
    for await (const g of this.r.fields(this.r.span(f), depth)) {
      if (g.field === 1) {
        for await (const s of this.r.fields(this.r.span(len(g)), depth + 1)) if (s.field === 1) name = await this.r.text(len(s), 1024);
      } else if (g.field === 3) {
        const site = await this.node(len(g), depth + 1, '');
        if (site) body.push(site);
      }
    }
    // The signature may follow the body: name the function's sites once it is known.
    this.functions.add(name);
    for (const s of body) s.fn = name;
  }

  /** Reads one NodeDef; returns the site when it is kept (catalogue op or first of its op). */
  private async node(f: LenField, depth: number, fn: string | undefined): Promise<Site | null> {
    this.nodes++;
    let name = '';
    let op = '';
    const attrEntries: LenField[] = [];
    await visitFields(this.r, f, depth, NODE_TEXT, (g, text) => {
      // Non-repeated fields: the last occurrence wins, as in the C++ parser.
      if (g.field === 1) name = text;
      else if (g.field === 2) op = text;
      else if (g.field === 5 && g.wire === 'len' && g.end - g.start <= MAX_ATTR_ENTRY && attrEntries.length < 256) attrEntries.push(g);
      if ((g.field === 1 || g.field === 2) && g.wire !== 'len') len(g);
    }, 1024);
    const site: Site = { op, node: name, offset: f.offset, ...(fn !== undefined ? { fn } : {}) };
    const stats = this.ops.get(op);
    if (stats) stats.count++;
    else this.ops.set(op, { count: 1, first: site });
    const rule = this.catalogue.get(op);
    if (!rule) return stats ? null : site;
    const wanted = new Set([...(rule.onlyWhenAttr ? [rule.onlyWhenAttr.name] : []), ...rule.evidenceAttrs]);
    if (wanted.size) site.attrs = await this.attrs(attrEntries, wanted);
    this.flagged.push(site);
    return site;
  }

  /** String values of the wanted attributes (AttrValue.s or AttrValue.list.s). */
  private async attrs(entries: LenField[], wanted: Set<string>): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const e of entries) {
      const buf = (await this.r.bytes(e, MAX_ATTR_ENTRY)).bytes;
      const fields = decodeMessage(buf, e.start);
      const text = (x: WireField | undefined) => (x?.wire === 'len' ? UTF8.decode(buf.subarray(x.start - e.start, x.end - e.start)).slice(0, 512) : '');
      const key = text(fields.find((x) => x.field === 1));
      const value = fields.find((x) => x.field === 2);
      if (!wanted.has(key) || value?.wire !== 'len') continue;
      const vals: string[] = [];
      for (const v of decodeMessage(buf.subarray(value.start - e.start, value.end - e.start), value.start)) {
        if (v.field === 2) vals.push(text(v));
        else if (v.field === 1 && v.wire === 'len') {
          for (const s of decodeMessage(buf.subarray(v.start - e.start, v.end - e.start), v.start)) if (s.field === 2 && vals.length < 16) vals.push(text(s));
        }
      }
      out.set(key, vals);
    }
    return out;
  }
}

function len(f: WireField): LenField {
  if (f.wire !== 'len') throw new WireError('bad-wire-type', `field ${f.field} should be length-delimited but has wire type ${f.wire}`, f.offset);
  return f;
}

const where = (s: Site) => (s.fn !== undefined ? `node '${s.node}' in function ${s.fn}` : `graph node '${s.node}'`);

function reportOps(ctx: AnalysisContext, walk: GraphWalk, label: string): void {
  const cat = tfOpCatalogue();
  const groups = new Map<string, { rule: TfOpRule; severity: Severity; expected: boolean; sites: Site[] }>();
  for (const s of walk.flagged) {
    const rule = cat.ops.get(s.op)!;
    const g = gradeOp(rule, { node: s.node, ...(s.fn !== undefined ? { fn: s.fn } : {}) }, (n) => s.attrs?.get(n) ?? []);
    if (!g) continue;
    const key = `${s.op}|${g.severity}`;
    const group = groups.get(key) ?? { rule, severity: g.severity, expected: g.expected, sites: [] };
    group.sites.push(s);
    groups.set(key, group);
  }
  for (const { rule, severity, expected, sites } of groups.values()) {
    const first = sites[0]!;
    const more = sites.length > 1 ? ` (and ${sites.length - 1} more)` : '';
    const attrText = [...(first.attrs ?? [])].map(([k, v]) => `${k}=${v.join(',')}`).join(' ');
    ctx.emit({
      rule: 'TF_HOST_OP',
      severity,
      message: expected
        ? `${label} op ${rule.op} in ${where(first)}${more}: expected in TensorFlow's checkpoint saver`
        : `${label} op ${rule.op} in ${where(first)}${more}${attrText ? ` [${attrText}]` : ''}: ${rule.reason}`,
      offset: first.offset,
      evidence: {
        matched: rule.op,
        reason: rule.reason,
        details: { count: sites.length, examples: sites.slice(0, MAX_EXAMPLES).map(where).join('; '), ...(attrText ? { attrs: attrText.slice(0, 500) } : {}) },
      },
      references: rule.references,
    });
  }
  for (const [op, { count, first }] of walk.ops) {
    if (cat.standard.has(op) || walk.functions.has(op) || cat.ops.has(op)) continue;
    ctx.emit({
      rule: 'TF_CUSTOM_OP',
      message: op === '' ? `node without an op in ${where(first)}` : `custom op ${JSON.stringify(op.slice(0, 128))} in ${where(first)}${count > 1 ? ` (${count} nodes)` : ''}: not a stock TensorFlow op, it needs a native op library`,
      offset: first.offset,
      evidence: { matched: op.slice(0, 128), details: { count, examples: where(first) } },
      references: ['https://www.tensorflow.org/guide/create_op'],
    });
  }
}

export const savedModelAnalyzer: Analyzer = {
  id: 'savedmodel',
  get version() {
    return `1/${tfOpCatalogueVersion()}`;
  },
  description: 'TensorFlow SavedModel saved_model.pb: graph and function ops (host access, custom ops), assets, TF version',
  sniff(input) {
    const c = sniffSavedModel(input);
    return c > 0 ? { format: 'tf-savedmodel', confidence: c } : null;
  },
  async analyze(source, ctx) {
    const r = new WireReader(source, { expired: ctx.expired });
    const walk = new GraphWalk(r, tfOpCatalogue().ops);
    try {
      await walk.savedModel(r.root());
    } catch (e) {
      reportWireError(ctx, e, 'SavedModel protobuf');
    }
    // What was read before an error is still reported.
    reportOps(ctx, walk, 'SavedModel');
    for (const a of walk.assets) {
      const why = pathEscape(a.filename);
      if (why) {
        ctx.emit({
          rule: 'TF_ASSET_PATH_TRAVERSAL',
          message: `asset file name ${JSON.stringify(a.filename.slice(0, 200))} ${why}: the loader joins it to the assets/ directory and reads it`,
          offset: a.offset,
          evidence: { details: { filename: a.filename.slice(0, 500) } },
        });
      }
    }
    ctx.fact('savedmodel.schema_version', walk.schemaVersion);
    ctx.fact('savedmodel.meta_graphs', walk.metaGraphs);
    if (walk.tags.length) ctx.fact('savedmodel.tags', walk.tags);
    if (walk.tfVersion) ctx.fact('tensorflow.version', walk.tfVersion);
    ctx.fact('tf.nodes', walk.nodes);
    ctx.fact('tf.functions', walk.functions.size);
    const counts = [...walk.ops].sort((a, b) => b[1].count - a[1].count).slice(0, 60);
    ctx.fact('tf.ops', counts.map(([op, s]) => `${op.slice(0, 64)}=${s.count}`));
  },
};
