/**
 * ONNX (ModelProto): ir_version, opset_import, producer, graph (GraphProto: node, initializer,
 * sparse_initializer, subgraphs in AttributeProto.g / .graphs for If/Loop/Scan), training_info
 * graphs and model-local functions. What matters for safety: external-data locations (a loader
 * opens them relative to the model directory, so `..` or an absolute path reads or maps any host
 * file), operators of custom domains (native libraries), and tensor sizes that do not add up.
 * Initializer raw_data is skipped by offset, never read.
 *
 * Field numbers: onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
 * SparseTensorProto, StringStringEntryProto, OperatorSetIdProto, TrainingInfoProto, FunctionProto).
 */
import type { AnalysisContext, Analyzer, SniffInput } from './types.js';
import { onnxDomainCatalogue, onnxDomainCatalogueVersion } from '../rules/onnx-domains.js';
import { asSigned64, headPrefix, headText, repeatedVarints, WireError, WireReader, type LenField, type WireField } from './protobuf/wire.js';
import { pathEscape, reportWireError } from './protobuf/report.js';

/** IR versions published so far go to 11 (onnx 1.23 writes 11, knows 14); leave room for a few more. */
const MAX_IR_VERSION = 20;
/** ModelProto fields and their wire types; anything else at the top level is not ONNX. */
const MODEL_FIELDS: Record<number, WireField['wire']> = { 1: 'varint', 2: 'len', 3: 'len', 4: 'len', 5: 'varint', 6: 'len', 7: 'len', 8: 'len', 14: 'len', 20: 'len', 25: 'len', 26: 'len' };
const GRAPH_FIELDS = new Set([1, 2, 5, 10, 11, 12, 13, 14, 15, 16]);
/** Bits per element of TensorProto.DataType values with a fixed size (STRING = 8 has none). */
const DTYPE_BITS: Record<number, number> = {
  1: 32, 2: 8, 3: 8, 4: 16, 5: 16, 6: 32, 7: 64, 9: 8, 10: 16, 11: 64, 12: 32, 13: 64, 14: 64, 15: 128, 16: 16,
  17: 8, 18: 8, 19: 8, 20: 8, 21: 4, 22: 4, 23: 4, 24: 8, 25: 2, 26: 2,
};
/** No single tensor is larger than this (1 PiB); a declared size above it is an absurd length. */
const MAX_TENSOR_BYTES = 2 ** 50;
const MAX_REPORTED = 50;

export function sniffOnnx(input: SniffInput): number {
  const b = input.head;
  const top = headPrefix(b, 0, input.size ?? Infinity);
  const ir = top.fields[0];
  if (!ir || ir.field !== 1 || ir.wire !== 'varint' || ir.value < 1 || ir.value > MAX_IR_VERSION) return 0;
  for (const f of top.fields.slice(1)) {
    if (MODEL_FIELDS[f.field] !== f.wire) return 0;
    // producer_name, producer_version, domain: short printable strings in real models.
    if (f.wire === 'len' && f.field >= 2 && f.field <= 4 && (f.end - f.start > 1024 || !/^[\x20-\x7e]*$/.test(headText(b, f, 1024)))) return 0;
    if (f.field === 7 && f.wire === 'len') {
      const g = headPrefix(b, f.start, f.end);
      if (!g.fields.every((x) => GRAPH_FIELDS.has(x.field) && x.wire === 'len')) return 0;
      if (g.broken) return GRAPH_FIELDS.has(g.broken.field) && g.broken.wire === 2 ? 0.85 : 0;
      return g.fields.length > 0 ? 0.9 : 0;
    }
  }
  // A graph whose own length is hostile, after a valid ir_version and valid strings.
  if (top.broken) return top.broken.field === 7 && top.broken.wire === 2 && top.fields.length >= 2 ? 0.8 : 0;
  const last = top.fields[top.fields.length - 1]!;
  return last.wire === 'len' && last.end > b.length && /\.onnx$/i.test(input.name) ? 0.6 : 0;
}

interface NodeSite {
  node: string;
  graph: string;
  offset: number;
}

function len(f: WireField): LenField {
  if (f.wire !== 'len') throw new WireError('bad-wire-type', `field ${f.field} should be length-delimited but has wire type ${f.wire}`, f.offset);
  return f;
}

class OnnxWalk {
  irVersion = 0;
  producer = '';
  producerVersion = '';
  readonly opsets: string[] = [];
  nodes = 0;
  initializers = 0;
  graphs = 0;
  maxNesting = 0;
  readonly ops = new Map<string, { domain: string; op: string; count: number; first: NodeSite }>();
  readonly functions = new Set<string>();
  readonly externalFiles = new Set<string>();
  private reported = 0;

  constructor(
    private readonly r: WireReader,
    private readonly ctx: AnalysisContext,
  ) {}

  async model(): Promise<void> {
    for await (const f of this.r.fields(this.r.root(), 0)) {
      switch (f.field) {
        case 1:
          if (f.wire === 'varint') this.irVersion = f.value;
          break;
        case 2:
          this.producer = await this.r.text(len(f), 256);
          break;
        case 3:
          this.producerVersion = await this.r.text(len(f), 256);
          break;
        case 7:
          await this.graph(len(f), 1, 1, 'main graph');
          break;
        case 8: {
          let domain = '';
          let version = 0;
          for await (const g of this.r.fields(this.r.span(len(f)), 1)) {
            if (g.field === 1) domain = await this.r.text(len(g), 256);
            else if (g.field === 2 && g.wire === 'varint') version = g.value;
          }
          if (this.opsets.length < 64) this.opsets.push(`${domain || 'ai.onnx'}=${version}`);
          break;
        }
        case 20:
          for await (const g of this.r.fields(this.r.span(len(f)), 1)) {
            if (g.field === 1 || g.field === 2) await this.graph(len(g), 2, 1, g.field === 1 ? 'training initialization' : 'training algorithm');
          }
          break;
        case 25:
          await this.function(len(f), 1);
          break;
      }
    }
  }

  private async function(f: LenField, depth: number): Promise<void> {
    let name = '';
    let domain = '';
    const nodes: LenField[] = [];
    for await (const g of this.r.fields(this.r.span(f), depth)) {
      if (g.field === 1) name = await this.r.text(len(g), 1024);
      else if (g.field === 10) domain = await this.r.text(len(g), 1024);
      else if (g.field === 7) nodes.push(len(g));
    }
    this.functions.add(`${domain}|${name}`);
    for (const n of nodes) await this.node(n, depth + 1, 1, `function ${domain ? `${domain}.` : ''}${name}`);
  }

  private async graph(f: LenField, depth: number, nesting: number, label: string): Promise<void> {
    this.graphs++;
    this.maxNesting = Math.max(this.maxNesting, nesting);
    let name = '';
    const nodes: LenField[] = [];
    for await (const g of this.r.fields(this.r.span(f), depth)) {
      if (g.field === 2) name = await this.r.text(len(g), 256);
      else if (g.field === 1) nodes.push(len(g));
      else if (g.field === 5) {
        this.initializers++;
        await this.tensor(len(g), depth + 1, `initializer of ${label}`);
      } else if (g.field === 15) {
        this.initializers++;
        for await (const s of this.r.fields(this.r.span(len(g)), depth + 1)) {
          if (s.field === 1 || s.field === 2) await this.tensor(len(s), depth + 2, `sparse initializer of ${label}`);
        }
      }
    }
    const where = name ? `${label} '${name.slice(0, 100)}'` : label;
    for (const n of nodes) await this.node(n, depth + 1, nesting, where);
  }

  private async node(f: LenField, depth: number, nesting: number, graph: string): Promise<void> {
    this.nodes++;
    let name = '';
    let op = '';
    let domain = '';
    const attrs: LenField[] = [];
    for await (const g of this.r.fields(this.r.span(f), depth)) {
      if (g.field === 3) name = await this.r.text(len(g), 512);
      else if (g.field === 4) op = await this.r.text(len(g), 512);
      else if (g.field === 7) domain = await this.r.text(len(g), 512);
      else if (g.field === 5) attrs.push(len(g));
    }
    const key = `${domain}|${op}`;
    const stats = this.ops.get(key);
    if (stats) stats.count++;
    else this.ops.set(key, { domain, op, count: 1, first: { node: name, graph, offset: f.offset } });
    const inner = `${graph} › ${op}${name ? ` '${name.slice(0, 100)}'` : ''}`;
    for (const a of attrs) {
      for await (const g of this.r.fields(this.r.span(a), depth + 1)) {
        if (g.field === 6 || g.field === 11) await this.graph(len(g), depth + 2, nesting + 1, `subgraph of ${inner}`);
        else if (g.field === 5 || g.field === 10) await this.tensor(len(g), depth + 2, `attribute tensor of ${inner}`);
        else if (g.field === 22 || g.field === 23) {
          for await (const s of this.r.fields(this.r.span(len(g)), depth + 2)) {
            if (s.field === 1 || s.field === 2) await this.tensor(len(s), depth + 3, `sparse attribute tensor of ${inner}`);
          }
        }
      }
    }
  }

  private async tensor(f: LenField, depth: number, where: string): Promise<void> {
    const dims: number[] = [];
    let dtype = 0;
    let name = '';
    let raw: LenField | null = null;
    let external = false;
    const ext = new Map<string, string>();
    for await (const g of this.r.fields(this.r.span(f), depth)) {
      if (g.field === 1) dims.push(...(await repeatedVarints(this.r, g, 64)).map(asSigned64));
      else if (g.field === 2 && g.wire === 'varint') dtype = g.value;
      else if (g.field === 8) name = await this.r.text(len(g), 512);
      else if (g.field === 9) raw = len(g);
      else if (g.field === 14 && g.wire === 'varint') external = g.value === 1;
      else if (g.field === 13) {
        let k = '';
        let v = '';
        for await (const e of this.r.fields(this.r.span(len(g)), depth + 1)) {
          if (e.field === 1) k = await this.r.text(len(e), 256);
          else if (e.field === 2) v = await this.r.text(len(e), 4096);
        }
        ext.set(k, v);
      }
    }
    const label = `tensor '${name.slice(0, 100)}' (${where})`;
    let elements = 1;
    for (const d of dims) elements *= d;
    const bits = DTYPE_BITS[dtype];
    const want = bits === undefined || dims.some((d) => d < 0) ? null : Math.ceil((elements * bits) / 8);
    if (dims.some((d) => d < 0)) this.anomaly(`${label} has a negative dimension [${dims.join(', ')}]`, f.offset);
    else if (want !== null && want > MAX_TENSOR_BYTES) this.anomaly(`${label} declares ${want} bytes (dims [${dims.join(', ')}])`, f.offset);
    else if (raw && want !== null && raw.end - raw.start !== want) {
      this.anomaly(`${label}: dims [${dims.join(', ')}] × ${bits} bits is ${want} bytes but raw_data holds ${raw.end - raw.start}`, raw.offset);
    }
    if (!external && ext.size === 0) return;
    const location = ext.get('location');
    if (location === undefined) {
      this.anomaly(`${label} stores its data externally but names no location`, f.offset);
      return;
    }
    if (this.externalFiles.size < 32) this.externalFiles.add(location.slice(0, 256));
    const why = pathEscape(location);
    if (why) {
      this.ctx.emit({
        rule: 'ONNX_EXTERNAL_DATA_PATH',
        message: `${label} reads its data from ${JSON.stringify(location.slice(0, 200))}, which ${why}: outside the model directory`,
        offset: f.offset,
        evidence: { details: { tensor: name.slice(0, 200), location: location.slice(0, 500) } },
        references: ['CVE-2022-25882', 'CVE-2024-27318', 'CVE-2025-51480'],
      });
    }
    for (const key of ['offset', 'length']) {
      const v = ext.get(key);
      if (v === undefined) continue;
      const n = /^\d{1,20}$/.test(v) ? Number(v) : NaN;
      if (!Number.isFinite(n) || n > MAX_TENSOR_BYTES) this.anomaly(`${label} has external data ${key} ${JSON.stringify(v.slice(0, 40))}`, f.offset);
      else if (key === 'length' && want !== null && n !== want) this.anomaly(`${label}: dims [${dims.join(', ')}] × ${bits} bits is ${want} bytes but its external length is ${n}`, f.offset);
    }
  }

  private anomaly(message: string, offset: number): void {
    if (++this.reported > MAX_REPORTED) return;
    this.ctx.emit({ rule: 'ONNX_TENSOR_SIZE_ANOMALY', message, offset });
  }
}

export const onnxAnalyzer: Analyzer = {
  id: 'onnx',
  get version() {
    return `1/${onnxDomainCatalogueVersion()}`;
  },
  description: 'ONNX ModelProto: external-data locations, custom operator domains, tensor sizes, nested graphs, opsets',
  sniff(input) {
    const c = sniffOnnx(input);
    return c > 0 ? { format: 'onnx', confidence: c } : null;
  },
  async analyze(source, ctx) {
    const r = new WireReader(source, { expired: ctx.expired });
    const walk = new OnnxWalk(r, ctx);
    try {
      await walk.model();
    } catch (e) {
      reportWireError(ctx, e, 'ONNX protobuf');
    }
    const standard = onnxDomainCatalogue().standard;
    const byDomain = new Map<string, Array<{ op: string; count: number; first: NodeSite }>>();
    for (const s of walk.ops.values()) {
      if (standard.has(s.domain) || walk.functions.has(`${s.domain}|${s.op}`)) continue;
      byDomain.set(s.domain, [...(byDomain.get(s.domain) ?? []), s]);
    }
    for (const [domain, ops] of byDomain) {
      const first = ops[0]!.first;
      const names = ops.map((o) => o.op.slice(0, 80));
      ctx.emit({
        rule: 'ONNX_CUSTOM_DOMAIN',
        message: `custom operator domain ${JSON.stringify(domain.slice(0, 100))} (${names.slice(0, 10).join(', ')}) first used by node '${first.node.slice(0, 100)}' in ${first.graph}: it needs a native custom-op library`,
        offset: first.offset,
        evidence: { matched: domain.slice(0, 200), details: { ops: names.slice(0, 50).join(', '), nodes: ops.reduce((a, o) => a + o.count, 0) } },
      });
    }
    ctx.fact('onnx.ir_version', walk.irVersion);
    if (walk.producer) ctx.fact('onnx.producer', `${walk.producer} ${walk.producerVersion}`.trim());
    ctx.fact('onnx.opsets', walk.opsets);
    ctx.fact('onnx.nodes', walk.nodes);
    ctx.fact('onnx.initializers', walk.initializers);
    ctx.fact('onnx.graphs', walk.graphs);
    ctx.fact('onnx.max_graph_nesting', walk.maxNesting);
    if (walk.externalFiles.size) ctx.fact('onnx.external_data', [...walk.externalFiles]);
  },
};
