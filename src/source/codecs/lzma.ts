/**
 * LZMA, LZMA2, .xz and .lzma ("lzma-alone", Python's FORMAT_ALONE, joblib 'lzma') decoding.
 *
 * Why our own decoder: the npm options decode whole buffers (LZMA-JS) or serialise every
 * stream behind one global lock (xz-decompress: an .xz inside an .xz would deadlock), and
 * neither lets us stop after a bounded amount of output. This one is resumable at symbol
 * boundaries, so it produces output in small steps and holds only:
 *   - the dictionary, grown lazily up to min(declared dictionary size, MAX_DICT) — a header
 *     declaring 4 GiB costs nothing until that much output actually exists;
 *   - a bounded input look-ahead (64 KiB for LZMA1, one LZMA2 chunk ≤ 64 KiB packed);
 *   - the output step (≤ 256 KiB).
 * Checks (CRC32/CRC64/SHA-256 of .xz blocks) are skipped: we scan the data whatever it is.
 * Filters other than LZMA2 in .xz (BCJ, delta) are reported as 'unsupported'.
 */
import { SourceError } from '../types.js';
import { BufferedInput, corrupt, truncated, type DecoderStream } from './input.js';

/** Larger dictionaries are held only up to this size; a longer match distance is 'unsupported'. */
const MAX_DICT = 1024 * 1024 * 1024;
const STEP = 256 * 1024;
/** Upper bound of input bytes one LZMA symbol can consume (≈ 60 bit decodes, ≤ 1 byte each). */
const SYMBOL_INPUT = 64;
const END_MARKER = 0xffffffff;

/**
 * `range` and `code` are unsigned 32-bit quantities held as signed int32 (`| 0`): values past
 * 2^31 would otherwise make V8 keep both fields as boxed doubles, and every bit decode (hundreds
 * of millions for a large member) would load and store through them. Unsigned order is compared
 * with the sign bit flipped.
 */
const SIGN = -0x80000000;

class RangeDecoder {
  buf: Uint8Array = new Uint8Array(0);
  pos = 0;
  end = 0;
  range = 0;
  code = 0;
  overrun = false;

  attach(buf: Uint8Array, pos: number, end: number): void {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  private next(): number {
    if (this.pos < this.end) return this.buf[this.pos++]!;
    this.overrun = true;
    return 0;
  }

  /** False when the first byte is not 0 or the code is out of range: not an LZMA stream. */
  init(): boolean {
    const b0 = this.next();
    this.range = -1;
    this.code = 0;
    for (let i = 0; i < 4; i++) this.code = (this.code << 8) | this.next();
    return b0 === 0 && this.code !== this.range && !this.overrun;
  }

  bit(p: Uint16Array, i: number): number {
    const prob = p[i]!;
    // range>>>11 < 2^21 and prob < 2^11: the product fits in 32 bits, read back as int32.
    const bound = Math.imul(this.range >>> 11, prob);
    let b: number;
    if ((this.code ^ SIGN) < (bound ^ SIGN)) {
      this.range = bound;
      p[i] = prob + ((2048 - prob) >>> 5);
      b = 0;
    } else {
      this.range = (this.range - bound) | 0;
      this.code = (this.code - bound) | 0;
      p[i] = prob - (prob >>> 5);
      b = 1;
    }
    if (this.range >>> 24 === 0) {
      this.range <<= 8;
      this.code = (this.code << 8) | this.next();
    }
    return b;
  }

  direct(n: number): number {
    let res = 0;
    for (let i = 0; i < n; i++) {
      this.range = this.range >>> 1;
      let b = 0;
      if ((this.code ^ SIGN) >= (this.range ^ SIGN)) {
        this.code = (this.code - this.range) | 0;
        b = 1;
      }
      res = ((res << 1) | b) >>> 0;
      if (this.range >>> 24 === 0) {
        this.range <<= 8;
        this.code = (this.code << 8) | this.next();
      }
    }
    return res;
  }

  /**
   * A literal's 8 bits (`sym` from 1 up to 0x100..0x1ff, or from a partly decoded matched
   * literal). The same arithmetic as bit(), on locals: literals are most of what a model's
   * weights decode to, and this loop is where large LZMA members spend their time.
   */
  literal(p: Uint16Array, base: number, from: number): number {
    let range = this.range;
    let code = this.code;
    let pos = this.pos;
    const buf = this.buf;
    const end = this.end;
    let sym = from;
    while (sym < 0x100) {
      const i = base + sym;
      const prob = p[i]!;
      const bound = Math.imul(range >>> 11, prob);
      if ((code ^ SIGN) < (bound ^ SIGN)) {
        range = bound;
        p[i] = prob + ((2048 - prob) >>> 5);
        sym <<= 1;
      } else {
        range = (range - bound) | 0;
        code = (code - bound) | 0;
        p[i] = prob - (prob >>> 5);
        sym = (sym << 1) | 1;
      }
      if (range >>> 24 === 0) {
        range <<= 8;
        let next = 0;
        if (pos < end) next = buf[pos++]!;
        else this.overrun = true;
        code = (code << 8) | next;
      }
    }
    this.range = range;
    this.code = code;
    this.pos = pos;
    return sym;
  }

  tree(p: Uint16Array, base: number, bits: number): number {
    let m = 1;
    for (let i = 0; i < bits; i++) m = (m << 1) | this.bit(p, base + m);
    return m - (1 << bits);
  }

  reverseTree(p: Uint16Array, base: number, bits: number): number {
    let m = 1;
    let sym = 0;
    for (let i = 0; i < bits; i++) {
      const b = this.bit(p, base + m);
      m = (m << 1) | b;
      sym |= b << i;
    }
    return sym;
  }
}

/** The sliding dictionary, grown lazily, plus the current output step. */
class Dictionary {
  buf: Uint8Array;
  pos = 0;
  full = false;
  /** Bytes since the last dictionary reset (position for pb/lp masks). */
  total = 0;
  readonly cap: number;
  out: Uint8Array = new Uint8Array(0);
  outPos = 0;
  outLimit = 0;

  constructor(readonly declared: number) {
    this.cap = Math.max(4096, Math.min(declared, MAX_DICT));
    this.buf = new Uint8Array(Math.min(this.cap, 1 << 20));
  }

  reset(): void {
    this.pos = 0;
    this.full = false;
    this.total = 0;
  }

  startStep(limit: number): void {
    if (this.out.length < limit) this.out = new Uint8Array(Math.max(limit, STEP));
    this.outPos = 0;
    this.outLimit = limit;
  }

  takeStep(): Uint8Array {
    return this.out.slice(0, this.outPos);
  }

  available(): number {
    return this.full ? this.buf.length : this.pos;
  }

  /** dist is 1-based: 1 = the last byte written. */
  get(dist: number): number {
    let i = this.pos - dist;
    if (i < 0) i += this.buf.length;
    return this.buf[i] ?? 0;
  }

  put(b: number): void {
    this.buf[this.pos++] = b;
    this.total++;
    this.out[this.outPos++] = b;
    if (this.pos === this.buf.length) {
      if (this.buf.length < this.cap) {
        const grown = new Uint8Array(Math.min(this.cap, this.buf.length * 2));
        grown.set(this.buf);
        this.buf = grown;
      } else {
        this.pos = 0;
        this.full = true;
      }
    }
  }
}

class LenDecoder {
  choice = new Uint16Array(2);
  low = new Uint16Array(16 << 3);
  mid = new Uint16Array(16 << 3);
  high = new Uint16Array(256);
  reset(): void {
    for (const a of [this.choice, this.low, this.mid, this.high]) a.fill(1024);
  }
  decode(rc: RangeDecoder, posState: number): number {
    if (rc.bit(this.choice, 0) === 0) return rc.tree(this.low, posState << 3, 3);
    if (rc.bit(this.choice, 1) === 0) return 8 + rc.tree(this.mid, posState << 3, 3);
    return 16 + rc.tree(this.high, 0, 8);
  }
}

export interface LzmaProps {
  lc: number;
  lp: number;
  pb: number;
}

export function decodePropsByte(b: number): LzmaProps | null {
  if (b >= 9 * 5 * 5) return null;
  const lc = b % 9;
  const rest = Math.floor(b / 9);
  return { lc, lp: rest % 5, pb: Math.floor(rest / 5) };
}

type StepResult = 'output' | 'input' | 'eos';

/** The LZMA symbol decoder (LZMA1 and the inside of LZMA2 chunks). */
class LzmaCore {
  private lc = 0;
  private lp = 0;
  private pb = 0;
  private literal = new Uint16Array(0x300);
  private isMatch = new Uint16Array(12 << 4);
  private isRep = new Uint16Array(12);
  private isRepG0 = new Uint16Array(12);
  private isRepG1 = new Uint16Array(12);
  private isRepG2 = new Uint16Array(12);
  private isRep0Long = new Uint16Array(12 << 4);
  private posSlot = new Uint16Array(4 << 6);
  private posSpecial = new Uint16Array(1 + 128 - 14);
  private align = new Uint16Array(16);
  private len = new LenDecoder();
  private repLen = new LenDecoder();
  private state = 0;
  private rep0 = 0;
  private rep1 = 0;
  private rep2 = 0;
  private rep3 = 0;
  /** Bytes of the current match still to copy when the output step filled up. */
  pending = 0;

  constructor(readonly dict: Dictionary) {}

  setProps(p: LzmaProps): void {
    this.lc = p.lc;
    this.lp = p.lp;
    this.pb = p.pb;
    this.literal = new Uint16Array(0x300 << (p.lc + p.lp));
  }

  resetState(): void {
    for (const a of [this.literal, this.isMatch, this.isRep, this.isRepG0, this.isRepG1, this.isRepG2, this.isRep0Long, this.posSlot, this.posSpecial, this.align]) a.fill(1024);
    this.len.reset();
    this.repLen.reset();
    this.state = 0;
    this.rep0 = this.rep1 = this.rep2 = this.rep3 = 0;
    this.pending = 0;
  }

  private copyPending(): void {
    const d = this.dict;
    const dist = this.rep0 + 1;
    while (this.pending > 0 && d.outPos < d.outLimit) {
      d.put(d.get(dist));
      this.pending--;
    }
  }

  /**
   * Decodes until the output step is full, the input runs low (`needInput` and fewer than
   * SYMBOL_INPUT bytes left), or the end marker. Truncated or invalid data throws 'corrupt'.
   */
  step(rc: RangeDecoder, needInput: boolean): StepResult {
    const d = this.dict;
    const pbMask = (1 << this.pb) - 1;
    const lpMask = (1 << this.lp) - 1;
    for (;;) {
      if (this.pending > 0) this.copyPending();
      if (d.outPos >= d.outLimit) return 'output';
      if (needInput && rc.end - rc.pos < SYMBOL_INPUT) return 'input';
      const posState = d.total & pbMask;
      const st = this.state;
      if (rc.bit(this.isMatch, (st << 4) + posState) === 0) {
        const prev = d.total > 0 ? d.get(1) : 0;
        const base = 0x300 * (((d.total & lpMask) << this.lc) + (prev >>> (8 - this.lc)));
        let sym = 1;
        if (st >= 7) {
          let matchByte = d.get(this.rep0 + 1);
          do {
            const matchBit = (matchByte >>> 7) & 1;
            matchByte <<= 1;
            const b = rc.bit(this.literal, base + ((1 + matchBit) << 8) + sym);
            sym = (sym << 1) | b;
            if (matchBit !== b) break;
          } while (sym < 0x100);
        }
        if (sym < 0x100) sym = rc.literal(this.literal, base, sym);
        d.put(sym - 0x100);
        this.state = st < 4 ? 0 : st < 10 ? st - 3 : st - 6;
        if (rc.overrun) throw truncated('an LZMA literal', rc.pos);
        continue;
      }
      let len: number;
      if (rc.bit(this.isRep, st) !== 0) {
        if (d.total === 0) throw corrupt('LZMA repeat match before any data');
        if (rc.bit(this.isRepG0, st) === 0) {
          if (rc.bit(this.isRep0Long, (st << 4) + posState) === 0) {
            this.state = st < 7 ? 9 : 11;
            d.put(d.get(this.rep0 + 1));
            if (rc.overrun) throw truncated('an LZMA match', rc.pos);
            continue;
          }
        } else {
          let dist: number;
          if (rc.bit(this.isRepG1, st) === 0) dist = this.rep1;
          else {
            if (rc.bit(this.isRepG2, st) === 0) dist = this.rep2;
            else {
              dist = this.rep3;
              this.rep3 = this.rep2;
            }
            this.rep2 = this.rep1;
          }
          this.rep1 = this.rep0;
          this.rep0 = dist;
        }
        len = this.repLen.decode(rc, posState);
        this.state = st < 7 ? 8 : 11;
      } else {
        this.rep3 = this.rep2;
        this.rep2 = this.rep1;
        this.rep1 = this.rep0;
        len = this.len.decode(rc, posState);
        this.state = st < 7 ? 7 : 10;
        this.rep0 = this.distance(rc, len);
        if (this.rep0 === END_MARKER) {
          if (rc.overrun) throw truncated('the LZMA end marker', rc.pos);
          return 'eos';
        }
      }
      if (rc.overrun) throw truncated('an LZMA match', rc.pos);
      if (this.rep0 >= d.available()) {
        if (d.full && d.cap < d.declared) {
          throw new SourceError('unsupported', 'LZMA match reaches further back than the dictionary we hold', {
            distance: this.rep0 + 1,
            held: d.cap,
          });
        }
        throw corrupt('LZMA match distance points before the start of data', { distance: this.rep0 + 1 });
      }
      this.pending = len + 2;
    }
  }

  private distance(rc: RangeDecoder, len: number): number {
    const lenState = len < 3 ? len : 3;
    const slot = rc.tree(this.posSlot, lenState << 6, 6);
    if (slot < 4) return slot;
    const direct = (slot >>> 1) - 1;
    let dist = ((2 | (slot & 1)) << direct) >>> 0;
    if (slot < 14) return (dist + rc.reverseTree(this.posSpecial, dist - slot, direct)) >>> 0;
    dist = (dist + ((rc.direct(direct - 4) << 4) >>> 0)) >>> 0;
    return (dist + rc.reverseTree(this.align, 0, 4)) >>> 0;
  }
}

export interface AloneHeader {
  props: LzmaProps;
  dictSize: number;
  /** null = unknown (all ones): the stream must end with an end marker. */
  size: number | null;
}

/** Parses the 13-byte .lzma header; null when it is not plausible. */
export function parseAloneHeader(h: Uint8Array): AloneHeader | null {
  if (h.length < 13) return null;
  const props = decodePropsByte(h[0]!);
  if (!props) return null;
  const dictSize = (h[1]! | (h[2]! << 8) | (h[3]! << 16) | (h[4]! << 24)) >>> 0;
  const lo = (h[5]! | (h[6]! << 8) | (h[7]! << 16) | (h[8]! << 24)) >>> 0;
  const hi = (h[9]! | (h[10]! << 8) | (h[11]! << 16) | (h[12]! << 24)) >>> 0;
  let size: number | null;
  if (lo === 0xffffffff && hi === 0xffffffff) size = null;
  else if (hi >= 1 << 21) return null; // beyond 2^53: no real stream declares that
  else size = hi * 2 ** 32 + lo;
  return { props, dictSize, size };
}

/** liblzma's "picky" .lzma check (FORMAT_AUTO uses it): dictionary 2^n or 2^n + 2^(n-1). */
export function isPickyDictSize(d: number): boolean {
  if (d === 0xffffffff) return true;
  if (d < 4096) return false;
  let n = 0;
  while (2 ** (n + 1) <= d) n++;
  return d === 2 ** n || d === 2 ** n + 2 ** (n - 1);
}

const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];

export function hasXzMagic(b: Uint8Array, at = 0): boolean {
  for (let i = 0; i < 6; i++) if (b[at + i] !== XZ_MAGIC[i]) return false;
  return true;
}

/** Streams one LZMA1 range-coded stream (after its header) from the buffered input. */
async function* lzma1Body(input: BufferedInput, props: LzmaProps, dictSize: number, size: number | null): DecoderStream {
  const dict = new Dictionary(dictSize);
  const core = new LzmaCore(dict);
  core.setProps(props);
  core.resetState();
  const rc = new RangeDecoder();
  await input.ensure(SYMBOL_INPUT * 4);
  rc.attach(input.buf, input.pos, input.end);
  if (!rc.init()) throw corrupt('LZMA stream does not start like range-coded data', { offset: input.offset() });
  input.pos = rc.pos;
  let produced = 0;
  for (;;) {
    if (size !== null && produced >= size) return;
    const want = size === null ? STEP : Math.min(STEP, size - produced);
    dict.startStep(want);
    let result: StepResult;
    for (;;) {
      rc.attach(input.buf, input.pos, input.end);
      result = core.step(rc, !input.eof);
      input.pos = rc.pos;
      if (result !== 'input') break;
      await input.ensure(64 * 1024);
    }
    produced += dict.outPos;
    if (dict.outPos > 0) yield dict.takeStep();
    if (result === 'eos') {
      if (size !== null && produced !== size) throw corrupt('LZMA end marker before the declared size', { declared: size, produced });
      return;
    }
  }
}

/** Streams the LZMA2 chunks of one .xz block. */
async function* lzma2Body(input: BufferedInput, dictSize: number): DecoderStream {
  const dict = new Dictionary(dictSize);
  const core = new LzmaCore(dict);
  const rc = new RangeDecoder();
  let needDictReset = true;
  let needProps = true;
  for (;;) {
    const control = await input.byte('an LZMA2 chunk header');
    if (control === 0x00) return;
    if (control === 0x01 || control === 0x02) {
      const h = await input.take(2, 'an LZMA2 chunk header');
      const n = ((h[0]! << 8) | h[1]!) + 1;
      if (control === 0x01) {
        dict.reset();
        needDictReset = false;
      } else if (needDictReset) throw corrupt('LZMA2 stream does not start with a dictionary reset');
      const data = await input.take(n, 'an uncompressed LZMA2 chunk');
      dict.startStep(n);
      for (let i = 0; i < n; i++) dict.put(data[i]!);
      yield dict.takeStep();
      continue;
    }
    if (control < 0x80) throw corrupt('invalid LZMA2 control byte', { control, offset: input.offset() - 1 });
    const reset = (control >>> 5) & 3;
    const h = await input.take(reset >= 2 ? 5 : 4, 'an LZMA2 chunk header');
    let unpacked = (control & 0x1f) * 65536 + ((h[0]! << 8) | h[1]!) + 1;
    const packed = ((h[2]! << 8) | h[3]!) + 1;
    if (reset === 3) {
      dict.reset();
      needDictReset = false;
    } else if (needDictReset) throw corrupt('LZMA2 stream does not start with a dictionary reset');
    if (reset >= 2) {
      const p = decodePropsByte(h[4]!);
      if (!p || p.lc + p.lp > 4) throw corrupt('invalid LZMA2 properties', { props: h[4]! });
      core.setProps(p);
      needProps = false;
    } else if (needProps) throw corrupt('LZMA2 chunk without properties');
    if (reset >= 1) core.resetState();
    if ((await input.ensure(packed)) < packed) throw truncated('an LZMA2 chunk', input.offset());
    const start = input.pos;
    rc.attach(input.buf, start, start + packed);
    if (!rc.init()) throw corrupt('LZMA2 chunk does not start like range-coded data', { offset: input.offset() });
    while (unpacked > 0) {
      dict.startStep(Math.min(STEP, unpacked));
      // The whole chunk is in memory: an overrun is a real truncation, never a refill.
      const r = core.step(rc, false);
      if (r === 'eos') throw corrupt('end marker inside an LZMA2 chunk');
      unpacked -= dict.outPos;
      if (dict.outPos > 0) yield dict.takeStep();
    }
    if (core.pending > 0) throw corrupt('LZMA2 match crosses a chunk boundary');
    // The generator may have paused: the buffer is unchanged because only we touch the input.
    input.pos = start + packed;
  }
}

async function vli(input: BufferedInput, what: string): Promise<number> {
  let v = 0;
  for (let i = 0; i < 9; i++) {
    const b = await input.byte(what);
    v += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) {
      if (v > Number.MAX_SAFE_INTEGER) throw corrupt(`${what} is too large`);
      return v;
    }
  }
  throw corrupt(`${what} is not a valid variable-length integer`);
}

const CHECK_SIZES = [0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64];

function vliFrom(b: Uint8Array, at: { i: number }, what: string): number {
  let v = 0;
  for (let k = 0; k < 9; k++) {
    const x = b[at.i++];
    if (x === undefined) throw corrupt(`${what} runs past the block header`);
    v += (x & 0x7f) * 2 ** (7 * k);
    if ((x & 0x80) === 0) return v;
  }
  throw corrupt(`${what} is not a valid variable-length integer`);
}

/** One .xz stream: header, blocks, index, footer. */
async function* xzStream(input: BufferedInput): DecoderStream {
  const start = input.offset();
  const h = await input.take(12, 'the xz stream header');
  if (!hasXzMagic(h)) throw corrupt('not an xz stream', { offset: start });
  if (h[6] !== 0 || (h[7]! & 0xf0) !== 0) throw new SourceError('unsupported', 'unknown xz stream flags', { flags: (h[6]! << 8) | h[7]! });
  const checkSize = CHECK_SIZES[h[7]! & 0x0f]!;
  for (;;) {
    const blockStart = input.offset();
    const first = await input.byte('an xz block header');
    if (first === 0) break; // index indicator
    const headerSize = (first + 1) * 4;
    const rest = await input.take(headerSize - 1, 'an xz block header');
    const flags = rest[0]!;
    if ((flags & 0x3c) !== 0) throw new SourceError('unsupported', 'unknown xz block flags', { flags });
    const at = { i: 1 };
    if (flags & 0x40) vliFrom(rest, at, 'xz compressed size');
    if (flags & 0x80) vliFrom(rest, at, 'xz uncompressed size');
    const filters: number[] = [];
    let dictByte = -1;
    for (let f = 0; f <= (flags & 3); f++) {
      const id = vliFrom(rest, at, 'xz filter id');
      const propSize = vliFrom(rest, at, 'xz filter properties size');
      if (id === 0x21 && propSize === 1) dictByte = rest[at.i] ?? -1;
      at.i += propSize;
      filters.push(id);
    }
    if (filters.length !== 1 || filters[0] !== 0x21) {
      throw new SourceError('unsupported', `xz filter chain ${filters.map((f) => '0x' + f.toString(16)).join('+')} is not supported (only LZMA2)`, {
        filters: filters.join(','),
      });
    }
    if (dictByte < 0 || dictByte > 40) throw corrupt('invalid LZMA2 dictionary size', { props: dictByte });
    const dictSize = dictByte === 40 ? 0xffffffff : (2 | (dictByte & 1)) * 2 ** (Math.floor(dictByte / 2) + 11);
    yield* lzma2Body(input, dictSize);
    const unpadded = input.offset() - blockStart;
    await input.skip((4 - (unpadded % 4)) % 4 + checkSize, 'xz block padding and check');
  }
  // Index: count, (unpadded size, uncompressed size) records, padding, CRC32.
  const indexStart = input.offset() - 1;
  const count = await vli(input, 'xz index record count');
  for (let i = 0; i < count; i++) {
    await vli(input, 'xz index record');
    await vli(input, 'xz index record');
  }
  const used = input.offset() - indexStart;
  await input.skip((4 - (used % 4)) % 4 + 4, 'xz index padding');
  const footer = await input.take(12, 'the xz stream footer');
  if (footer[10] !== 0x59 || footer[11] !== 0x5a) throw corrupt('xz stream footer magic missing', { offset: input.offset() - 2 });
}

async function* aloneStream(input: BufferedInput): DecoderStream {
  const h = parseAloneHeader(await input.take(13, 'the .lzma header'));
  if (!h) throw corrupt('invalid .lzma header');
  yield* lzma1Body(input, h.props, h.dictSize, h.size);
}

/**
 * Python's LZMAFile (FORMAT_AUTO, which joblib uses to read both 'xz' and 'lzma') decodes
 * concatenated streams and ignores trailing bytes that do not start a new stream; we do the same.
 * xz stream padding (zero bytes between streams) is skipped.
 */
export async function* lzmaAuto(input: BufferedInput, first: 'xz' | 'lzma-alone'): DecoderStream {
  let kind: 'xz' | 'lzma-alone' | null = first;
  while (kind) {
    yield* kind === 'xz' ? xzStream(input) : aloneStream(input);
    while ((await input.ensure(4)) >= 4 && input.buf[input.pos] === 0 && input.buf[input.pos + 1] === 0 && input.buf[input.pos + 2] === 0 && input.buf[input.pos + 3] === 0) input.pos += 4;
    await input.ensure(13);
    const view = input.buf.subarray(input.pos, input.end);
    if (hasXzMagic(view)) kind = 'xz';
    else {
      const h = parseAloneHeader(view);
      kind = h && isPickyDictSize(h.dictSize) && view[13] === 0 ? 'lzma-alone' : null;
    }
  }
}

/**
 * Zip method 14: 2-byte version, 2-byte properties length, 5 properties bytes, then LZMA1 data.
 * The size comes from the central directory unless flag bit 1 says an end marker is used.
 */
export async function* zipLzma(input: BufferedInput, size: number | null): DecoderStream {
  const h = await input.take(4, 'the zip LZMA header');
  const propLen = h[2]! | (h[3]! << 8);
  if (propLen < 5) throw corrupt('zip LZMA properties too short', { length: propLen });
  const p = await input.take(propLen, 'the zip LZMA properties');
  const props = decodePropsByte(p[0]!);
  if (!props) throw corrupt('invalid LZMA properties', { props: p[0]! });
  const dictSize = (p[1]! | (p[2]! << 8) | (p[3]! << 16) | (p[4]! << 24)) >>> 0;
  yield* lzma1Body(input, props, dictSize, size);
}

/**
 * 7z coder 03 01 01: raw LZMA1 data; the five property bytes (lc/lp/pb, dictionary size) sit in
 * the coder's properties, and the size comes from the folder's unpack sizes.
 */
export async function* rawLzma(input: BufferedInput, propBytes: Uint8Array, size: number | null): DecoderStream {
  if (propBytes.length < 5) throw corrupt('LZMA coder properties too short', { length: propBytes.length });
  const props = decodePropsByte(propBytes[0]!);
  if (!props) throw corrupt('invalid LZMA properties', { props: propBytes[0]! });
  const dictSize = (propBytes[1]! | (propBytes[2]! << 8) | (propBytes[3]! << 16) | (propBytes[4]! << 24)) >>> 0;
  yield* lzma1Body(input, props, dictSize, size);
}

/** 7z coder 21: raw LZMA2 chunks; the one property byte encodes the dictionary size as in .xz. */
export async function* rawLzma2(input: BufferedInput, propBytes: Uint8Array): DecoderStream {
  const dictByte = propBytes[0] ?? -1;
  if (propBytes.length < 1 || dictByte > 40) throw corrupt('invalid LZMA2 dictionary size', { props: dictByte });
  const dictSize = dictByte === 40 ? 0xffffffff : (2 | (dictByte & 1)) * 2 ** (Math.floor(dictByte / 2) + 11);
  yield* lzma2Body(input, dictSize);
}
