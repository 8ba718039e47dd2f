/**
 * The two reversible filters 7-Zip and py7zr put in front of LZMA/LZMA2 by default: BCJ x86
 * (branch targets of E8/E9 call/jump instructions stored as absolute addresses, so repeated
 * calls compress better) and Delta (each byte stored as its difference to the byte `distance`
 * earlier). Both decode in place over a bounded working buffer (one input chunk plus at most
 * four carried-over bytes for BCJ, a 256-byte history for Delta), so memory does not grow with
 * the stream.
 */
import { corrupt, type BufferedInput, type DecoderStream } from './input.js';

const CHUNK = 64 * 1024;

/** An x86 address byte that the encoder treats as "plausibly a near call target": 0x00 or 0xFF. */
function nearByte(b: number): boolean {
  return b === 0 || b === 0xff;
}

/** Which previous-E8 masks still allow a conversion, and which byte of the target they test. */
const ALLOWED = [true, true, true, false, true, false, false, false];
const BIT_NUMBER = [0, 1, 2, 2, 3, 3, 3, 3];

/**
 * State carried between calls: `mask` remembers which of the last few bytes were E8/E9 opcodes
 * that were left alone (the encoder skips overlapping candidates the same way), `last` is the
 * absolute position of the previous E8/E9 seen.
 */
interface X86State {
  mask: number;
  last: number;
}

/**
 * Decodes buf in place, `pos` being its absolute position in the stream. Returns how many
 * leading bytes are final; the rest (fewer than five) must be seen again with more data.
 */
function x86Decode(state: X86State, buf: Uint8Array, pos: number): number {
  if (buf.length < 5) return 0;
  let mask = state.mask;
  let last = state.last;
  if (pos - last > 5) last = pos - 5;
  const limit = buf.length - 5;
  let i = 0;
  while (i <= limit) {
    const op = buf[i]!;
    if (op !== 0xe8 && op !== 0xe9) {
      i++;
      continue;
    }
    const gap = pos + i - last;
    last = pos + i;
    if (gap > 5) mask = 0;
    else for (let k = 0; k < gap; k++) mask = (mask & 0x77) << 1;
    const top = buf[i + 4]!;
    if (nearByte(top) && ALLOWED[(mask >>> 1) & 7] && mask >>> 1 < 0x10) {
      let src = (top * 0x1000000 + (buf[i + 3]! << 16) + (buf[i + 2]! << 8) + buf[i + 1]!) >>> 0;
      let dest: number;
      for (;;) {
        dest = (src - (pos + i + 5)) >>> 0;
        if (mask === 0) break;
        const n = BIT_NUMBER[mask >>> 1]!;
        if (!nearByte((dest >>> (24 - n * 8)) & 0xff)) break;
        src = (dest ^ (2 ** (32 - n * 8) - 1)) >>> 0;
      }
      buf[i + 4] = (dest >>> 24) & 1 ? 0xff : 0x00;
      buf[i + 3] = (dest >>> 16) & 0xff;
      buf[i + 2] = (dest >>> 8) & 0xff;
      buf[i + 1] = dest & 0xff;
      i += 5;
      mask = 0;
    } else {
      i++;
      mask |= 1;
      if (nearByte(top)) mask |= 0x10;
    }
  }
  state.mask = mask;
  state.last = last;
  return i;
}

/** 7z coder 03 03 01 03 (and the xz x86 filter): undoes the BCJ transform. */
export async function* bcjX86(input: BufferedInput, props: Uint8Array): DecoderStream {
  // A start offset property exists in the format but no writer we know of sets it.
  if (props.length !== 0 && props.length !== 4) throw corrupt('BCJ properties have an invalid length', { length: props.length });
  const start = props.length === 4 ? (props[0]! | (props[1]! << 8) | (props[2]! << 16) | (props[3]! << 24)) >>> 0 : 0;
  const state: X86State = { mask: 0, last: start - 5 };
  let carry = new Uint8Array(0);
  let pos = start;
  for (;;) {
    const got = await input.ensure(CHUNK);
    const n = Math.min(got, CHUNK);
    if (n === 0) {
      if (carry.length) yield carry;
      return;
    }
    const work = new Uint8Array(carry.length + n);
    work.set(carry, 0);
    work.set(input.buf.subarray(input.pos, input.pos + n), carry.length);
    input.pos += n;
    const done = x86Decode(state, work, pos);
    pos += done;
    carry = work.slice(done);
    if (done > 0) yield work.subarray(0, done);
  }
}

/** 7z coder 03 (Delta): one property byte, the distance minus one. */
export async function* delta(input: BufferedInput, props: Uint8Array): DecoderStream {
  if (props.length !== 1) throw corrupt('Delta properties have an invalid length', { length: props.length });
  const distance = props[0]! + 1;
  const history = new Uint8Array(256);
  let h = 0;
  for (;;) {
    const got = await input.ensure(CHUNK);
    const n = Math.min(got, CHUNK);
    if (n === 0) return;
    const out = input.buf.slice(input.pos, input.pos + n);
    input.pos += n;
    for (let i = 0; i < n; i++) {
      const v = (out[i]! + history[(h - distance) & 0xff]!) & 0xff;
      out[i] = v;
      history[h] = v;
      h = (h + 1) & 0xff;
    }
    yield out;
  }
}
