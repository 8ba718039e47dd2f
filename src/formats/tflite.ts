/**
 * TensorFlow Lite (FlatBuffer, file identifier `TFL3` at offset 4): the root Model table's
 * operator_codes and the operators of every subgraph. Builtin operators are kernels of the
 * interpreter itself; a CUSTOM operator names a kernel the application must register (native code
 * that does not come with TFLite), and a Flex operator (custom code "Flex" + a TensorFlow op name)
 * runs a full TensorFlow kernel through the Flex delegate, including the ops that touch the host.
 * Weight buffers are never read.
 *
 * Table and field indices: tensorflow/lite/schema/schema.fbs (Model: version 0, operator_codes 1,
 * subgraphs 2, description 3; OperatorCode: deprecated_builtin_code 0, custom_code 1, version 2,
 * builtin_code 3; SubGraph: operators 3, name 4; Operator: opcode_index 0, custom_options 5).
 */
import type { AnalysisContext, Analyzer } from './types.js';
import { gradeOp, tfOpCatalogue, tfOpCatalogueVersion } from '../rules/tf-ops.js';
import { FlatError, FlatReader } from './flatbuffer.js';

const CUSTOM = 32;
const MAX_OPCODES = 100_000;
const MAX_SUBGRAPHS = 10_000;
const MAX_OPERATORS = 10_000_000;
const MAX_OPTIONS = 64 * 1024;

interface OpCode {
  builtin: number;
  custom: string | null;
  uses: number;
  /** First operator using it: subgraph and operator index. */
  first?: string;
  /** custom_options of the first use, for Flex ops whose attributes decide (PrintV2 to a file). */
  options?: Uint8Array;
}

const ascii = (b: Uint8Array) => Array.from(b, (c) => (c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '\0')).join('');

/**
 * A Flex op's custom_options is a FlexBuffer holding the op name and its serialized NodeDef; the
 * attribute strings appear verbatim. Reading them as printable runs errs towards reporting.
 */
function optionStrings(options: Uint8Array | undefined, prefixes: readonly string[]): string[] {
  if (!options) return [];
  return ascii(options)
    .split('\0')
    .flatMap((run) => prefixes.map((p) => run.indexOf(p)).filter((i) => i >= 0).map((i) => run.slice(i, i + 300)))
    .slice(0, 8);
}

interface Walked {
  codes: OpCode[];
  subgraphs: number;
  operators: number;
  version: number;
  description: string;
}

/** Fills `out` as it goes, so what was read before an error is still reported. */
async function walk(r: FlatReader, ctx: AnalysisContext, out: Walked): Promise<void> {
  const model = await r.root();
  out.version = await r.scalar(model, 0, 'u32', 0);
  out.description = (await r.string(model, 3, 256)) ?? '';
  const codes = out.codes;
  const cv = await r.vector(model, 1, 4, MAX_OPCODES);
  for (let i = 0; cv && i < cv.length; i++) {
    const t = await r.vectorTable(cv, i);
    const deprecated = await r.scalar(t, 0, 'i8', 0);
    const builtin = await r.scalar(t, 3, 'i32', 0);
    // The interpreter takes the larger of the two (deprecated_builtin_code stops at 127).
    codes.push({ builtin: Math.max(builtin, deprecated), custom: await r.string(t, 1, 512), uses: 0 });
  }
  const sv = await r.vector(model, 2, 4, MAX_SUBGRAPHS);
  out.subgraphs = sv?.length ?? 0;
  for (let s = 0; sv && s < sv.length; s++) {
    const sg = await r.vectorTable(sv, s);
    const name = (await r.string(sg, 4, 128)) || `subgraph ${s}`;
    const ov = await r.vector(sg, 3, 4, MAX_OPERATORS);
    for (let k = 0; ov && k < ov.length; k++) {
      if (++out.operators % 4096 === 0 && ctx.expired()) {
        ctx.incomplete(`time budget exhausted after ${out.operators} TFLite operators`);
        return;
      }
      if (out.operators > MAX_OPERATORS) throw new FlatError('too-many', `more than ${MAX_OPERATORS} operators`, ov.start);
      const op = await r.vectorTable(ov, k);
      const index = await r.scalar(op, 0, 'u32', 0);
      const code = codes[index];
      if (!code) {
        ctx.emit({ rule: 'TFLITE_MALFORMED', message: `operator ${k} of ${name} uses opcode index ${index}, but the model declares ${codes.length} operator codes`, offset: op.pos });
        continue;
      }
      if (code.uses++ === 0) {
        code.first = `${name} › operator ${k}`;
        if (code.builtin === CUSTOM) code.options = (await r.ubytes(op, 5, MAX_OPTIONS)) ?? undefined;
      }
    }
  }
}

function report(ctx: AnalysisContext, codes: OpCode[]): string[] {
  const cat = tfOpCatalogue();
  const customs: string[] = [];
  for (const c of codes) {
    if (c.builtin !== CUSTOM) continue;
    const name = c.custom ?? '';
    customs.push(name.slice(0, 128));
    if (c.uses === 0) continue;
    const where = `${c.first} (${c.uses} use${c.uses > 1 ? 's' : ''})`;
    if (name.startsWith('Flex')) {
      const tfOp = name.slice(4);
      const rule = cat.ops.get(tfOp);
      const attrPrefixes = rule?.onlyWhenAttr?.prefixes ?? [];
      const grade = rule ? gradeOp(rule, { node: '' }, () => optionStrings(c.options, attrPrefixes)) : null;
      if (rule && grade) {
        const attrs = optionStrings(c.options, attrPrefixes);
        ctx.emit({
          rule: 'TF_HOST_OP',
          severity: grade.severity,
          message: `TFLite Flex op ${name} at ${where}${attrs.length ? ` [${attrs.join(', ')}]` : ''}: ${rule.reason}`,
          evidence: { matched: tfOp, reason: rule.reason, details: { custom_code: name.slice(0, 128), uses: c.uses } },
          references: rule.references,
        });
      }
      const stock = cat.standard.has(tfOp);
      ctx.emit({
        rule: 'TFLITE_FLEX_OP',
        message: `TFLite Flex op ${name} at ${where}: runs the TensorFlow kernel ${tfOp} through the Flex delegate${stock ? '' : ' (not a stock TensorFlow op: it needs a custom op library)'}`,
        evidence: { matched: tfOp.slice(0, 128), details: { custom_code: name.slice(0, 128), uses: c.uses, stock_tensorflow_op: stock } },
        references: ['https://www.tensorflow.org/lite/guide/ops_select'],
      });
      continue;
    }
    if (cat.tfliteBuiltinCustom.has(name)) continue;
    ctx.emit({
      rule: 'TFLITE_CUSTOM_OP',
      message: `TFLite custom op ${JSON.stringify(name.slice(0, 128))} at ${where}: the application must register a native kernel for it`,
      evidence: { matched: name.slice(0, 128), details: { uses: c.uses } },
      references: ['https://www.tensorflow.org/lite/guide/ops_custom'],
    });
  }
  return customs;
}

export const tfliteAnalyzer: Analyzer = {
  id: 'tflite',
  get version() {
    return `1/${tfOpCatalogueVersion()}`;
  },
  description: 'TensorFlow Lite FlatBuffer: custom ops, Flex (select TF) ops and the host-touching TF ops among them',
  sniff(input) {
    const h = input.head;
    if (h.length < 8 || h[4] !== 0x54 || h[5] !== 0x46 || h[6] !== 0x4c || h[7] !== 0x33) return null;
    const root = (h[0]! | (h[1]! << 8) | (h[2]! << 16)) + h[3]! * 2 ** 24;
    // The root offset must point inside the file, past the identifier.
    if (root < 8 || (input.size !== null && root + 4 > input.size)) return null;
    return { format: 'tflite', confidence: 0.9 };
  },
  async analyze(source, ctx) {
    const r = new FlatReader(source, source.size);
    const result: Walked = { codes: [], subgraphs: 0, operators: 0, version: 0, description: '' };
    try {
      await walk(r, ctx, result);
    } catch (e) {
      if (!(e instanceof FlatError)) throw e;
      ctx.emit({ rule: 'TFLITE_MALFORMED', message: `TFLite FlatBuffer: ${e.message}`, offset: e.offset, evidence: { details: { error: e.kind } } });
      ctx.incomplete(`TFLite FlatBuffer could not be read (${e.kind})`, e.offset);
    }
    const customs = report(ctx, result.codes);
    ctx.fact('tflite.schema_version', result.version);
    if (result.description) ctx.fact('tflite.description', result.description);
    ctx.fact('tflite.subgraphs', result.subgraphs);
    ctx.fact('tflite.operators', result.operators);
    ctx.fact('tflite.operator_codes', result.codes.length);
    if (customs.length) ctx.fact('tflite.custom_codes', customs.slice(0, 100));
  },
};
