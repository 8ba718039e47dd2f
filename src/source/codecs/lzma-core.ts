/**
 * The LZMA symbol decoder shared by LZMA1 and LZMA2: the range decoder, the sliding dictionary
 * and the literal, length and distance models. It decodes in steps that end at symbol
 * boundaries (lzma.ts feeds it input and takes its output), so a stream can be paused whenever
 * the input runs short or the output step is full.
 */
import { SourceError } from '../types.js';
import { corrupt, truncated } from './input.js';

/** Larger dictionaries are held only up to this size; a longer match distance is 'unsupported'. */
const MAX_DICT = 1024 * 1024 * 1024;
export const STEP = 256 * 1024;
/** Upper bound of input bytes one LZMA symbol can consume (≈ 60 bit decodes, ≤ 1 byte each). */
export const SYMBOL_INPUT = 64;
const END_MARKER = 0xffffffff;

/**
 * `range` and `code` are unsigned 32-bit quantities held as signed int32 (`| 0`): values past
 * 2^31 would otherwise make V8 keep both fields as boxed doubles, and every bit decode (hundreds
 * of millions for a large member) would load and store through them. Unsigned order is compared
 * with the sign bit flipped.
 */
const SIGN = -0x80000000;

export class RangeDecoder {
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
export class Dictionary {
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

export type StepResult = 'output' | 'input' | 'eos';

/** The LZMA symbol decoder (LZMA1 and the inside of LZMA2 chunks). */
export class LzmaCore {
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
