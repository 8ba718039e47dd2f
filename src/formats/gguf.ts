/**
 * GGUF (llama.cpp): header, every metadata key/value, the tensor table, and the chat templates
 * it carries (`tokenizer.chat_template`, `tokenizer.chat_template.<name>`), which Jinja2 renders
 * when the model is used (CVE-2024-34359), and instantiation targets (Hydra `_target_`,
 * Lightning `class_path`) in configs kept as metadata strings. Reads the header and metadata
 * only, never tensor data.
 *
 * We read GGUF ourselves rather than with @huggingface/gguf because the scanner needs:
 * any ByteSource (zip member, decompressing stream, HTTP range) instead of a file or URL; every
 * anomaly reported as a finding while parsing continues where it can (the library stops at the
 * first error or accepts what llama.cpp refuses: duplicate keys, misaligned or overlapping
 * tensors); bounds we choose (lengths of 2^62, counts of 10^12, arrays of 10^9 strings are
 * checked against the bytes that remain and skipped without allocation); and no materialised
 * token arrays (a 150k-token vocabulary costs a walk, not memory).
 */
import type { AnalysisContext, Analyzer, FactValue } from './types.js';
import { Cursor, CursorError } from './gguf/cursor.js';
import { FILE_TYPES, GGML_TYPES, GGUF_TYPE_ARRAY, GGUF_TYPE_STRING, GGUF_VALUE_TYPES } from './gguf/ggml.js';
import { checkTemplate, MAX_TEMPLATE_CHARS } from './jinja/check.js';
import { checkEmbeddedConfig } from './instantiation.js';

const MAGIC = [0x47, 0x47, 0x55, 0x46]; // "GGUF"
/** llama.cpp's GGML_MAX_DIMS and GGML_MAX_NAME. */
const MAX_DIMS = 4;
const MAX_NAME = 64;
/** Tensors kept for offset checks; real models have at most a few tens of thousands. */
const MAX_TENSORS = 1_000_000;
const MAX_ARRAY_NESTING = 4;
/** Array elements walked across the whole metadata (a 256k vocabulary with merges is ~10^6). */
const MAX_ELEMENTS = 50_000_000;
const KEEP_STRING = 4096;
const KEEP_KEY = 1024;
/**
 * Other string values are read this far and checked for instantiation targets (configs kept in
 * metadata). tokenizer.huggingface.json can be a few MiB; a target after this point is not seen.
 */
const KEEP_CONFIG = 4 * 1024 * 1024;

interface Tensor {
  name: string;
  offset: number;
  /** Bytes of data, or null when the type or shape is invalid. */
  bytes: number | null;
}

class Gguf {
  readonly cur: Cursor;
  version = 0;
  elements = 0;
  readonly keys = new Set<string>();
  readonly values = new Map<string, string | number | boolean>();
  readonly templates: string[] = [];
  readonly tensors: Tensor[] = [];

  constructor(
    readonly ctx: AnalysisContext,
    source: Parameters<Analyzer['analyze']>[0],
  ) {
    this.cur = new Cursor(source, source.size);
  }

  malformed(message: string, offset?: number, details: Record<string, string | number | boolean> = {}): void {
    this.ctx.emit({ rule: 'GGUF_MALFORMED', message, ...(offset !== undefined ? { offset } : {}), evidence: { details } });
  }

  /** Counts and lengths are u32 in GGUF v1, u64 from v2. */
  async count(what: string): Promise<number> {
    return this.version === 1 ? this.cur.u32(what) : this.cur.u64(what);
  }

  async string(what: string, keep: number): Promise<{ text: string; length: number; offset: number }> {
    const offset = this.cur.pos;
    const length = await this.count(`${what} length`);
    const bytes = await this.cur.prefix(length, keep, what);
    return { text: new TextDecoder('utf-8', { fatal: false }).decode(bytes), length, offset };
  }

  async scalar(type: number, what: string): Promise<number | boolean> {
    const c = this.cur;
    switch (type) {
      case 0: return c.u8(what);
      case 1: return ((await c.u8(what)) << 24) >> 24;
      case 2: { const b = await c.bytes(2, what); return new DataView(b.buffer, b.byteOffset, 2).getUint16(0, c.littleEndian); }
      case 3: { const b = await c.bytes(2, what); return new DataView(b.buffer, b.byteOffset, 2).getInt16(0, c.littleEndian); }
      case 4: return c.u32(what);
      case 5: return c.i32(what);
      case 6: { const b = await c.bytes(4, what); return new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, c.littleEndian); }
      case 7: return (await c.u8(what)) !== 0;
      case 10: { const b = await c.bytes(8, what); return Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, c.littleEndian)); }
      case 11: return Number(await c.i64(what));
      case 12: { const b = await c.bytes(8, what); return new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, c.littleEndian); }
      default: throw new CursorError('absurd', `${what} has unknown value type ${type}`, c.pos);
    }
  }

  /** Walks an array without keeping it: fixed-size elements are skipped in one step. */
  async array(key: string, depth: number): Promise<void> {
    const at = this.cur.pos;
    const type = await this.cur.u32(`${key}: array element type`);
    const n = await this.count(`${key}: array length`);
    const info = GGUF_VALUE_TYPES[type];
    if (!info) throw new CursorError('absurd', `${key}: array of unknown value type ${type}`, at);
    if (type === GGUF_TYPE_ARRAY && depth >= MAX_ARRAY_NESTING) throw new CursorError('absurd', `${key}: arrays nested deeper than ${MAX_ARRAY_NESTING}`, at);
    // Every element takes at least one byte (strings eight): a count beyond what remains is a lie.
    const minimum = info.size ?? (this.version === 1 ? 4 : 8);
    if (n * minimum > this.cur.remaining()) throw new CursorError('absurd', `${key}: array of ${n} ${info.name} elements cannot fit in the ${this.cur.remaining()} bytes that remain`, at);
    if (info.size !== null) {
      this.cur.skip(n * info.size, `${key}: array data`);
      return;
    }
    for (let i = 0; i < n; i++) {
      if (++this.elements > MAX_ELEMENTS) throw new CursorError('absurd', `metadata holds more than ${MAX_ELEMENTS} array elements`, this.cur.pos);
      if ((i & 0xffff) === 0xffff && this.ctx.expired()) throw new CursorError('truncated', `time budget spent inside ${key}`, this.cur.pos);
      if (type === GGUF_TYPE_STRING) this.cur.skip(await this.count(`${key}[${i}] length`), `${key}[${i}]`);
      else await this.array(`${key}[${i}]`, depth + 1);
    }
  }

  async keyValue(index: number): Promise<void> {
    const start = this.cur.pos;
    const key = (await this.string(`metadata key ${index}`, KEEP_KEY)).text;
    if (this.keys.has(key)) this.malformed(`duplicate metadata key ${JSON.stringify(key)}: llama.cpp refuses the file, other readers keep one of the values`, start, { key });
    this.keys.add(key);
    const type = await this.cur.u32(`${key}: value type`);
    const isTemplate = key === 'tokenizer.chat_template' || key.startsWith('tokenizer.chat_template.');
    if (type === GGUF_TYPE_STRING) {
      const s = await this.string(key, isTemplate ? MAX_TEMPLATE_CHARS : KEEP_CONFIG);
      if (isTemplate) {
        this.templates.push(key);
        checkTemplate(this.ctx, s.text, { label: key, offset: s.offset, declaredLength: s.length });
        return;
      }
      if (key.startsWith('general.')) this.values.set(key, s.text.slice(0, KEEP_STRING));
      checkEmbeddedConfig(this.ctx, s.text, `metadata ${JSON.stringify(key.slice(0, 100))}`);
      return;
    }
    if (isTemplate) this.malformed(`${key} is a ${GGUF_VALUE_TYPES[type]?.name ?? `type ${type}`}, not a string`, start, { key });
    if (type === GGUF_TYPE_ARRAY) return this.array(key, 0);
    const v = await this.scalar(type, key);
    if (key.startsWith('general.') || key.endsWith('.context_length')) this.values.set(key, v);
  }

  async tensorInfo(index: number): Promise<void> {
    const start = this.cur.pos;
    const name = (await this.string(`tensor ${index} name`, KEEP_KEY)).text;
    const label = JSON.stringify(name.slice(0, 80));
    if (Buffer.byteLength(name) >= MAX_NAME) this.malformed(`tensor ${label}: name of ${Buffer.byteLength(name)} bytes exceeds llama.cpp's ${MAX_NAME - 1}`, start, { tensor: name.slice(0, 80) });
    const nDims = await this.cur.u32(`tensor ${label}: n_dims`);
    if (nDims > MAX_DIMS) throw new CursorError('absurd', `tensor ${label} declares ${nDims} dimensions (at most ${MAX_DIMS})`, start);
    const dims: bigint[] = [];
    for (let d = 0; d < nDims; d++) dims.push(this.version === 1 ? BigInt(await this.cur.u32(`tensor ${label}: dim`)) : await this.cur.i64(`tensor ${label}: dim`));
    const type = await this.cur.u32(`tensor ${label}: type`);
    const offset = await this.cur.u64(`tensor ${label}: offset`);
    let bytes: number | null = null;
    const ggml = GGML_TYPES.get(type);
    const elements = dims.reduce((a, b) => a * b, 1n);
    if (dims.some((d) => d < 0n)) this.malformed(`tensor ${label} has a negative dimension [${dims.join(', ')}]`, start, { tensor: name.slice(0, 80) });
    else if (elements > BigInt(Number.MAX_SAFE_INTEGER)) this.malformed(`tensor ${label} has an absurd shape [${dims.join(', ')}]`, start, { tensor: name.slice(0, 80) });
    else if (!ggml) this.malformed(`tensor ${label} has unknown or removed ggml type ${type}`, start, { tensor: name.slice(0, 80), type });
    else if (nDims > 0 && dims[0]! % BigInt(ggml.blockSize) !== 0n) this.malformed(`tensor ${label}: first dimension ${dims[0]} is not a multiple of the ${ggml.name} block size ${ggml.blockSize}`, start, { tensor: name.slice(0, 80) });
    else bytes = (Number(elements) / ggml.blockSize) * ggml.typeSize;
    if (this.tensors.length < MAX_TENSORS) this.tensors.push({ name, offset, bytes });
  }

  /** Offsets as llama.cpp checks them: aligned, in order, contiguous, within the file. */
  checkData(alignment: number, dataStart: number): void {
    const size = this.cur.size;
    const seen = new Set<string>();
    let expected = 0;
    let orderReported = false;
    for (const t of this.tensors) {
      const label = JSON.stringify(t.name.slice(0, 80));
      if (seen.has(t.name)) this.malformed(`duplicate tensor name ${label}`, undefined, { tensor: t.name.slice(0, 80) });
      seen.add(t.name);
      if (t.offset % alignment !== 0) this.malformed(`tensor ${label}: offset ${t.offset} is not a multiple of the alignment ${alignment}`, undefined, { tensor: t.name.slice(0, 80) });
      if (t.bytes === null) continue;
      if (t.offset !== expected && !orderReported) {
        orderReported = true;
        this.malformed(`tensor ${label} starts at data offset ${t.offset}, llama.cpp expects ${expected} (tensors must be contiguous, in table order)`, undefined, { tensor: t.name.slice(0, 80), offset: t.offset, expected });
      }
      expected = t.offset + Math.ceil(t.bytes / alignment) * alignment;
      if (size !== null && dataStart + t.offset + t.bytes > size) {
        this.malformed(`tensor ${label}: data [${dataStart + t.offset}, ${dataStart + t.offset + t.bytes}) runs past the end of the file (${size} bytes)`, undefined, { tensor: t.name.slice(0, 80) });
      }
    }
    const spans = this.tensors.filter((t) => t.bytes !== null && t.bytes > 0).sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < spans.length; i++) {
      const p = spans[i - 1]!;
      const t = spans[i]!;
      if (t.offset < p.offset + p.bytes!) {
        this.malformed(`tensors ${JSON.stringify(p.name.slice(0, 80))} and ${JSON.stringify(t.name.slice(0, 80))} overlap`, undefined, { tensor: t.name.slice(0, 80) });
        break;
      }
    }
  }

  async run(): Promise<void> {
    const c = this.cur;
    const magic = await c.bytes(4, 'magic');
    if (!MAGIC.every((b, i) => magic[i] === b)) return this.malformed('not a GGUF file (bad magic)', 0);
    const versionBytes = await c.bytes(4, 'version');
    const le = new DataView(versionBytes.buffer, versionBytes.byteOffset, 4).getUint32(0, true);
    const be = new DataView(versionBytes.buffer, versionBytes.byteOffset, 4).getUint32(0, false);
    if (le < 1 || le > 3) {
      if (be < 2 || be > 3) return this.malformed(`unsupported GGUF version ${le}`, 4, { version: le });
      c.littleEndian = false;
    }
    this.version = c.littleEndian ? le : be;
    this.ctx.fact('gguf.version', this.version);
    if (!c.littleEndian) this.ctx.fact('gguf.byte_order', 'big-endian');
    const tensorCount = await this.count('tensor count');
    const kvCount = await this.count('metadata key/value count');
    this.ctx.fact('gguf.tensors', tensorCount);
    this.ctx.fact('gguf.metadata_keys', kvCount);
    // Smallest possible entries: a key/value is a length, a type and one byte; a tensor a name length, n_dims, type and offset.
    const minKv = (this.version === 1 ? 4 : 8) + 4 + 1;
    const minTensor = (this.version === 1 ? 4 : 8) + 4 + 4 + 8;
    if (kvCount * minKv > c.remaining()) return this.malformed(`metadata count ${kvCount} cannot fit in the ${c.remaining()} bytes that follow`, 16, { kvCount });
    if (tensorCount * minTensor > c.remaining() || tensorCount > MAX_TENSORS) return this.malformed(`tensor count ${tensorCount} cannot fit in the file or exceeds ${MAX_TENSORS}`, 8, { tensorCount });
    for (let i = 0; i < kvCount; i++) {
      if (this.ctx.expired()) return this.ctx.incomplete(`time budget spent after ${i} of ${kvCount} metadata entries`, c.pos);
      await this.keyValue(i);
    }
    for (let i = 0; i < tensorCount; i++) {
      if ((i & 0xfff) === 0xfff && this.ctx.expired()) return this.ctx.incomplete(`time budget spent after ${i} of ${tensorCount} tensor entries`, c.pos);
      await this.tensorInfo(i);
    }
    let alignment = 32;
    const declared = this.values.get('general.alignment');
    if (declared !== undefined) {
      if (typeof declared !== 'number' || !Number.isInteger(declared) || declared <= 0 || (declared & (declared - 1)) !== 0) this.malformed(`general.alignment ${String(declared)} is not a power of two`);
      else alignment = declared;
    }
    this.checkData(alignment, Math.ceil(c.pos / alignment) * alignment);
  }

  facts(): void {
    const fact = (k: string, v: FactValue | undefined) => v !== undefined && this.ctx.fact(k, v);
    const arch = this.values.get('general.architecture');
    fact('gguf.architecture', typeof arch === 'string' ? arch : undefined);
    const name = this.values.get('general.name');
    fact('gguf.name', typeof name === 'string' ? name : undefined);
    const ft = this.values.get('general.file_type');
    if (typeof ft === 'number') fact('gguf.quantisation', FILE_TYPES.get(ft) ?? `file_type ${ft}`);
    const ctxLen = typeof arch === 'string' ? this.values.get(`${arch}.context_length`) : undefined;
    if (typeof ctxLen === 'number') fact('gguf.context_length', ctxLen);
    if (this.templates.length) fact('chat_templates', this.templates);
  }
}

export const ggufAnalyzer: Analyzer = {
  id: 'gguf',
  version: '4',
  description: 'GGUF v1-v3 (llama.cpp): header, metadata, tensor table (types, shapes, alignment, offsets), chat templates, instantiation targets in metadata configs',
  sniff(input) {
    return MAGIC.every((b, i) => input.head[i] === b) ? { format: 'gguf', confidence: 0.95 } : null;
  },
  async analyze(source, ctx) {
    const g = new Gguf(ctx, source);
    try {
      await g.run();
    } catch (e) {
      if (!(e instanceof CursorError)) throw e;
      g.malformed(e.kind === 'truncated' ? `truncated: ${e.message}` : e.message, e.offset);
    } finally {
      g.facts();
    }
  },
};
