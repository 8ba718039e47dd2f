/**
 * safetensors: an 8-byte little-endian header length, a JSON header, then raw tensor data.
 * Safe by design (no code), but a loader trusts the header: validate it the way the reference
 * implementation does, so a malformed file is a finding rather than "clean". Reads the header only.
 * `__metadata__` strings are free text that tools fill with configs (NeMo, training frameworks):
 * a Hydra `_target_` or Lightning `class_path` in them is judged like one in a config file.
 */
import type { Analyzer, AnalysisContext } from './types.js';
import { checkEmbeddedConfig, checkMetadataObject } from './instantiation.js';

/** The reference implementation refuses headers above 100 MB. */
const MAX_HEADER = 100_000_000;

/** Bits per element of each dtype the format defines. */
const DTYPE_BITS: Record<string, number> = {
  BOOL: 8, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8, I16: 16, U16: 16, F16: 16, BF16: 16,
  I32: 32, U32: 32, F32: 32, F64: 64, I64: 64, U64: 64, C64: 64, F4: 4, F6_E2M3: 6, F6_E3M2: 6,
};

/** Top-level keys of a JSON object, in order, to catch duplicates JSON.parse would silently merge. */
function topLevelKeys(text: string): string[] | null {
  const keys: string[] = [];
  let depth = 0;
  let i = 0;
  let expectKey = false;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) return null;
      if (depth === 1 && expectKey) {
        keys.push(JSON.parse(text.slice(i, j + 1)) as string);
        expectKey = false;
      }
      i = j + 1;
      continue;
    }
    if (c === '{' || c === '[') {
      depth++;
      if (depth === 1 && c === '{') expectKey = true;
    } else if (c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 1) expectKey = true;
    i++;
  }
  return keys;
}

function malformed(ctx: AnalysisContext, message: string, offset?: number): void {
  ctx.emit({ rule: 'SAFETENSORS_MALFORMED', message, ...(offset !== undefined ? { offset } : {}) });
}

export const safetensorsAnalyzer: Analyzer = {
  id: 'safetensors',
  version: '4',
  description: 'safetensors header validation (size cap, JSON, duplicate keys, dtypes, shapes, offsets); instantiation targets in __metadata__ configs',
  sniff(input) {
    const b = input.head;
    if (b.length < 10 || b[6] !== 0 || b[7] !== 0) return null;
    const n = b[0]! + b[1]! * 2 ** 8 + b[2]! * 2 ** 16 + b[3]! * 2 ** 24 + b[4]! * 2 ** 32 + b[5]! * 2 ** 40;
    if (n < 2 || b[8] !== 0x7b) return null;
    return { format: 'safetensors', confidence: 0.85 };
  },
  async analyze(source, ctx) {
    const pre = await source.read(0, 8);
    const n = Number(new DataView(pre.buffer, pre.byteOffset, 8).getBigUint64(0, true));
    if (n > MAX_HEADER) return malformed(ctx, `header length ${n} exceeds the ${MAX_HEADER}-byte limit loaders enforce`);
    if (source.size !== null && 8 + n > source.size) return malformed(ctx, `header length ${n} runs past the end of the file (${source.size} bytes)`);
    const text = new TextDecoder('utf-8', { fatal: false }).decode(await source.read(8, n));
    let header: unknown;
    try {
      header = JSON.parse(text);
    } catch (e) {
      return malformed(ctx, `header is not valid JSON: ${(e as Error).message}`, 8);
    }
    if (header === null || typeof header !== 'object' || Array.isArray(header)) return malformed(ctx, 'header is not a JSON object', 8);
    const keys = topLevelKeys(text) ?? [];
    const seen = new Set<string>();
    for (const k of keys) {
      if (seen.has(k)) malformed(ctx, `duplicate key ${JSON.stringify(k)} in the header (readers disagree on which one wins)`, 8);
      seen.add(k);
    }
    const dataLen = source.size === null ? null : source.size - 8 - n;
    const spans: Array<[number, number, string]> = [];
    let count = 0;
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (raw === null || typeof raw !== 'object' || Object.values(raw as object).some((v) => typeof v !== 'string')) {
          malformed(ctx, '__metadata__ must map strings to strings');
        } else {
          const meta = raw as Record<string, string>;
          ctx.fact('safetensors.metadata', Object.entries(meta).slice(0, 20).map(([k, v]) => `${k}=${v.slice(0, 80)}`));
          checkMetadataObject(ctx, meta, '__metadata__');
          for (const [k, v] of Object.entries(meta)) checkEmbeddedConfig(ctx, v, `__metadata__[${JSON.stringify(k.slice(0, 100))}]`);
        }
        continue;
      }
      count++;
      const t = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const bits = typeof t.dtype === 'string' ? DTYPE_BITS[t.dtype] : undefined;
      const shape = Array.isArray(t.shape) && t.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0) ? (t.shape as number[]) : null;
      const offs = Array.isArray(t.data_offsets) && t.data_offsets.length === 2 && t.data_offsets.every((d) => Number.isSafeInteger(d) && (d as number) >= 0) ? (t.data_offsets as [number, number]) : null;
      if (bits === undefined) malformed(ctx, `tensor ${JSON.stringify(name)} has unknown dtype ${JSON.stringify(t.dtype)}`);
      if (!shape) malformed(ctx, `tensor ${JSON.stringify(name)} has an invalid shape`);
      if (!offs || offs[1] < offs[0]) {
        malformed(ctx, `tensor ${JSON.stringify(name)} has invalid data_offsets`);
        continue;
      }
      spans.push([offs[0], offs[1], name]);
      if (bits !== undefined && shape) {
        const want = (shape.reduce((a, b) => a * b, 1) * bits) / 8;
        if (want !== offs[1] - offs[0]) malformed(ctx, `tensor ${JSON.stringify(name)}: dtype ${String(t.dtype)} × shape [${shape.join(', ')}] is ${want} bytes, but its offsets span ${offs[1] - offs[0]}`);
      }
    }
    spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let end = 0;
    for (const [s, e, name] of spans) {
      if (s < end) malformed(ctx, `tensor ${JSON.stringify(name)} overlaps the previous tensor (offset ${s} < ${end})`);
      else if (s > end) malformed(ctx, `gap of ${s - end} bytes before tensor ${JSON.stringify(name)} (data is not contiguous)`);
      end = Math.max(end, e);
    }
    if (dataLen !== null && end !== dataLen) {
      malformed(ctx, end > dataLen ? `tensor data ends at ${end}, past the ${dataLen} data bytes in the file` : `${dataLen - end} bytes of data after the last tensor`);
    }
    ctx.fact('safetensors.tensors', count);
  },
};
