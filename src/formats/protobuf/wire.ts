/**
 * A minimal protobuf wire-format reader: tags, varints, fixed fields and length-delimited spans,
 * decoded by field number with no schema. Messages are walked lazily over a ByteSource through a
 * small read window, so a GraphDef's constants or an ONNX initializer's raw_data are skipped by
 * offset and never read. Hostile input (a 2^62 declared length, nesting past the limit, a varint
 * of eleven bytes, truncation) stops the walk with a WireError the analyzer turns into a finding.
 */
import type { ByteSource } from '../../source/types.js';

export type WireErrorKind = 'truncated' | 'varint-too-long' | 'length-out-of-bounds' | 'bad-wire-type' | 'bad-field-number' | 'too-deep' | 'budget';

export class WireError extends Error {
  constructor(
    readonly kind: WireErrorKind,
    message: string,
    readonly offset: number,
  ) {
    // Without a stack trace (never read: the error becomes a finding) it costs a tenth as much.
    // The sniffers no longer throw it (headPrefix reads failures as values).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = 'WireError';
  }
}

/** A message's bytes [start, end) in the source; `end` is Infinity for a top level of unknown size. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

interface FieldBase {
  field: number;
  /** Offset of the tag. */
  offset: number;
}
/** Varints above 2^53 lose precision; no field we read needs them exactly. */
export type VarintField = FieldBase & { wire: 'varint'; value: number };
export type LenField = FieldBase & { wire: 'len'; start: number; end: number };
export type FixedField = FieldBase & { wire: 'i64' | 'i32'; start: number };
export type WireField = VarintField | LenField | FixedField;

/** The C++ runtime's default recursion limit; loaders refuse anything deeper. */
export const DEFAULT_MAX_DEPTH = 100;

/** A varint's value and the position after it, or why it cannot be read. */
type VarintRead = { value: number; next: number } | 'truncated' | 'varint-too-long';

function readVarint(buf: Uint8Array, pos: number, limit: number): VarintRead {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos + i >= limit) return 'truncated';
    const b = buf[pos + i]!;
    value += (b & 0x7f) * mul;
    mul *= 128;
    if (b < 0x80) return { value, next: pos + i + 1 };
  }
  return 'varint-too-long';
}

function varintFailure(kind: 'truncated' | 'varint-too-long', offset: number): FieldFailure {
  return { kind, message: kind === 'truncated' ? 'varint runs past the end of its message' : 'varint longer than 10 bytes', offset };
}

/** Decode a varint at `pos` (absolute `base + pos` for messages); at most 10 bytes, as the spec allows. */
export function decodeVarint(buf: Uint8Array, pos: number, limit: number, base = 0): { value: number; next: number } {
  const r = readVarint(buf, pos, limit);
  if (typeof r === 'string') {
    const f = varintFailure(r, base + pos);
    throw new WireError(f.kind, f.message, f.offset);
  }
  return r;
}

/** What a WireError would say, as a value: a sniffer probing a file of another format meets it on most files. */
interface FieldFailure {
  kind: WireErrorKind;
  message: string;
  offset: number;
}

type FieldRead = { field: WireField; next: number } | FieldFailure;

function readField(buf: Uint8Array, pos: number, limit: number, base: number, msgEnd: number): FieldRead {
  const offset = base + pos;
  const tag = readVarint(buf, pos, limit);
  if (typeof tag === 'string') return varintFailure(tag, offset);
  const field = Math.floor(tag.value / 8);
  const wt = tag.value % 8;
  if (field < 1 || field > 0x1fffffff) return { kind: 'bad-field-number', message: `field number ${field} is out of range`, offset };
  let p = tag.next;
  switch (wt) {
    case 0: {
      const v = readVarint(buf, p, limit);
      if (typeof v === 'string') return varintFailure(v, base + p);
      return { field: { wire: 'varint', field, offset, value: v.value }, next: v.next };
    }
    case 1:
    case 5: {
      const n = wt === 1 ? 8 : 4;
      if (base + p + n > msgEnd) return { kind: 'truncated', message: `fixed${n * 8} field ${field} runs past the end of its message`, offset };
      return { field: { wire: wt === 1 ? 'i64' : 'i32', field, offset, start: base + p }, next: p + n };
    }
    case 2: {
      const len = readVarint(buf, p, limit);
      if (typeof len === 'string') return varintFailure(len, base + p);
      p = len.next;
      const start = base + p;
      if (len.value > msgEnd - start) {
        return { kind: 'length-out-of-bounds', message: `field ${field} declares ${len.value} bytes but its message has ${msgEnd - start} left`, offset };
      }
      return { field: { wire: 'len', field, offset, start, end: start + len.value }, next: p + len.value };
    }
    default:
      // Groups (3, 4) are obsolete and used by no message we read; 6 and 7 do not exist.
      return { kind: 'bad-wire-type', message: `field ${field} has wire type ${wt}`, offset };
  }
}

/**
 * Decode one field at `pos` of `buf` whose message ends at `limit` (buffer positions; `base` makes
 * offsets absolute). A length-delimited field must fit in what remains of its message.
 */
export function decodeField(buf: Uint8Array, pos: number, limit: number, base = 0, msgEnd = base + limit): { field: WireField; next: number } {
  const r = readField(buf, pos, limit, base, msgEnd);
  if ('kind' in r) throw new WireError(r.kind, r.message, r.offset);
  return r;
}

/** All fields of a small message held in memory (an attribute, a map entry, a sniffed head). */
export function decodeMessage(buf: Uint8Array, base = 0): WireField[] {
  const out: WireField[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const { field, next } = decodeField(buf, pos, buf.length, base);
    out.push(field);
    pos = next;
  }
  return out;
}

export interface WireReaderOptions {
  maxDepth?: number;
  /** Polled every few thousand fields; true stops the walk with a 'budget' error. */
  expired?: () => boolean;
}

const MIN_WINDOW = 4096;
const MAX_WINDOW = 256 * 1024;
const TEXT = new TextDecoder('utf-8', { fatal: false });

/**
 * Walks messages of one source. The window grows while reads are sequential and shrinks after a
 * jump, so skipping many large fields costs a few KiB per field, not a full window.
 */
export class WireReader {
  private win: Uint8Array = new Uint8Array(0);
  private winStart = 0;
  private windowSize = MIN_WINDOW;
  private fieldsSeen = 0;
  readonly maxDepth: number;
  private readonly expired: () => boolean;

  constructor(
    private readonly source: ByteSource,
    opts: WireReaderOptions = {},
  ) {
    this.maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.expired = opts.expired ?? (() => false);
  }

  /** The whole source as the top-level message. */
  root(): Span {
    return { start: 0, end: this.source.size ?? Infinity };
  }

  /** Ensure [pos, pos+n) is in the window as far as the data goes; returns the bytes available. */
  private async cover(pos: number, n: number): Promise<number> {
    const have = this.winStart + this.win.length - pos;
    if (pos >= this.winStart && have >= n) return have;
    const sequential = pos >= this.winStart && pos <= this.winStart + this.win.length;
    this.windowSize = sequential ? Math.min(MAX_WINDOW, this.windowSize * 2) : MIN_WINDOW;
    this.win = await this.source.read(pos, Math.max(n, this.windowSize));
    this.winStart = pos;
    return this.win.length;
  }

  /** Fields of the message in `span`, in file order. `depth` is the message's nesting level. */
  async *fields(span: Span, depth: number): AsyncGenerator<WireField> {
    if (depth > this.maxDepth) throw new WireError('too-deep', `messages nested deeper than ${this.maxDepth} levels`, span.start);
    let pos = span.start;
    while (pos < span.end) {
      if (++this.fieldsSeen % 4096 === 0 && this.expired()) throw new WireError('budget', 'time budget exhausted while reading protobuf fields', pos);
      const avail = await this.cover(pos, Math.min(24, span.end - pos));
      if (avail === 0) {
        // Only a top level of unknown size may end where the data ends, and only at a field boundary.
        if (span.end !== Infinity || (pos > 0 && (await this.source.read(pos - 1, 1)).length === 0)) {
          throw new WireError('truncated', `data ends at or before ${pos}, inside a message declared to end at ${span.end}`, pos);
        }
        return;
      }
      const rel = pos - this.winStart;
      const limit = rel + Math.min(avail, span.end - pos);
      const { field, next } = decodeField(this.win, rel, limit, this.winStart, span.end);
      pos = this.winStart + next;
      yield field;
    }
  }

  /** Bytes of a length-delimited field, at most `cap` of them. */
  async bytes(f: LenField, cap: number): Promise<{ bytes: Uint8Array; truncated: boolean }> {
    const len = f.end - f.start;
    const want = Math.min(len, cap);
    let out: Uint8Array;
    if (f.start >= this.winStart && f.start + want <= this.winStart + this.win.length) out = this.win.subarray(f.start - this.winStart, f.start - this.winStart + want);
    else out = await this.source.read(f.start, want);
    if (out.length < want) throw new WireError('truncated', `field ${f.field} declares ${len} bytes but the data ends after ${out.length}`, f.offset);
    return { bytes: out, truncated: want < len };
  }

  /**
   * The whole body of a small message (at most `cap` bytes) through the read window, for decoding
   * in one synchronous pass; null when it is larger and must be walked lazily.
   */
  async small(f: LenField, cap = 64 * 1024): Promise<Uint8Array | null> {
    const n = f.end - f.start;
    if (n > cap) return null;
    const avail = await this.cover(f.start, n);
    if (avail < n) throw new WireError('truncated', `field ${f.field} declares ${n} bytes but the data ends after ${avail}`, f.offset);
    const rel = f.start - this.winStart;
    return this.win.subarray(rel, rel + n);
  }

  /** A string field decoded as UTF-8 (invalid sequences replaced), at most `cap` bytes. */
  async text(f: LenField, cap = 4096): Promise<string> {
    return TEXT.decode((await this.bytes(f, cap)).bytes);
  }

  /** The field as a nested message span. */
  span(f: LenField): Span {
    return { start: f.start, end: f.end };
  }
}

/** Packed or unpacked repeated varints (e.g. ONNX dims) from a field already decoded. */
export async function repeatedVarints(r: WireReader, f: WireField, cap = 64): Promise<number[]> {
  if (f.wire === 'varint') return [f.value];
  if (f.wire !== 'len') throw new WireError('bad-wire-type', `field ${f.field} should hold varints`, f.offset);
  const { bytes } = await r.bytes(f, cap * 10);
  const out: number[] = [];
  let pos = 0;
  while (pos < bytes.length && out.length < cap) {
    const v = decodeVarint(bytes, pos, bytes.length, f.start);
    out.push(v.value);
    pos = v.next;
  }
  return out;
}

/** int64 values are two's complement in 10-byte varints; read them back as signed. */
export function asSigned64(v: number): number {
  return v >= 2 ** 63 ? v - 2 ** 64 : v;
}

/** A field whose tag decodes but whose body breaks the wire format (e.g. a 2^62 length). */
export interface BrokenField {
  field: number;
  wire: number;
  offset: number;
  error: WireErrorKind;
}

/**
 * For sniffing: the fields of the message [start, end) as far as `buf` (a file's head) holds them.
 * A field cut by the end of `buf` ends the list (its data may lie beyond). A field that breaks the
 * wire format, or overruns its message, ends the list too and is described in `broken`, so a
 * sniffer can still claim a hostile file whose structure is right up to the bomb.
 */
export function headPrefix(buf: Uint8Array, start: number, end: number): { fields: WireField[]; broken: BrokenField | null } {
  const fields: WireField[] = [];
  let pos = start;
  while (pos < end && pos < buf.length) {
    // Not decodeField: on a file of another format the first field is usually broken, and a
    // thrown and caught WireError per probe cost more than the probe (three sniffers per file).
    const r = readField(buf, pos, Math.min(end, buf.length), 0, end);
    if (!('kind' in r)) {
      fields.push(r.field);
      pos = r.next;
      continue;
    }
    if (r.kind === 'truncated' && end > buf.length) break;
    const tag = readVarint(buf, pos, Math.min(end, buf.length));
    const broken: BrokenField = typeof tag === 'string' ? { field: 0, wire: -1, offset: pos, error: r.kind } : { field: Math.floor(tag.value / 8), wire: tag.value % 8, offset: pos, error: r.kind };
    return { fields, broken };
  }
  return { fields, broken: null };
}

/** headPrefix, but null when anything in the message is broken. */
export function headFields(buf: Uint8Array, start: number, end: number): WireField[] | null {
  const r = headPrefix(buf, start, end);
  return r.broken ? null : r.fields;
}

/** Text of a LEN field inside `buf`, a message body that starts at absolute offset `base`. */
export function textIn(buf: Uint8Array, f: LenField, base: number, cap = 4096): string {
  return TEXT.decode(buf.subarray(f.start - base, Math.min(f.end, f.start + cap) - base));
}

/** A LEN field's bytes as far as `buf` holds them, decoded as UTF-8 text (for sniffing). */
export function headText(buf: Uint8Array, f: LenField, cap = 256): string {
  return TEXT.decode(buf.subarray(f.start, Math.min(f.end, f.start + cap, buf.length)));
}

/**
 * Visits the fields of the message in `f`: decoded in one synchronous pass when it is small (the
 * common case: a node, an attribute), walked lazily when it is large (a node holding a constant,
 * a tensor holding raw_data). Fields whose number is in `textFields` come with their UTF-8 text
 * (at most `cap` bytes), others with ''. `visit` may return a promise (to descend); it is awaited.
 */
export async function visitFields(
  r: WireReader,
  f: LenField,
  depth: number,
  textFields: ReadonlySet<number>,
  visit: (g: WireField, text: string) => void | Promise<void>,
  cap = 4096,
): Promise<void> {
  if (depth > r.maxDepth) throw new WireError('too-deep', `messages nested deeper than ${r.maxDepth} levels`, f.start);
  const body = await r.small(f);
  if (body) {
    for (const g of decodeMessage(body, f.start)) {
      const t = g.wire === 'len' && textFields.has(g.field) ? textIn(body, g, f.start, cap) : '';
      const p = visit(g, t);
      if (p) await p;
    }
    return;
  }
  for await (const g of r.fields(r.span(f), depth)) {
    const t = g.wire === 'len' && textFields.has(g.field) ? await r.text(g, cap) : '';
    const p = visit(g, t);
    if (p) await p;
  }
}
