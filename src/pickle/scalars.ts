/**
 * Scalar opcodes: BININT, BININT1, BININT2, LONG1, BINFLOAT, NONE, NEWTRUE, NEWFALSE. Each pushes
 * one value decoded from at most 256 argument bytes and touches nothing else (no memo, no
 * events, no anomaly once its bytes are there).
 *
 * Opcode-dense pickles are mostly runs of them between a MARK and the APPENDS, SETITEMS or
 * TUPLE that consumes them (pickle writes big lists in batches of 1000), with a FRAME now and
 * then. The machine hands such a run to `scanScalarRun`, which walks it without building a
 * value per opcode, then decodes with `scalarValue` only the few values the consuming container
 * keeps (see containers.ts). Both paths decode through `scalarValue` (LONG1 one opcode at a time
 * is a payload, read through `leSigned` as here), so they cannot disagree.
 */
import { FALSE, NONE, TRUE, type Value } from './values.js';

/** Argument width of each scalar opcode; -1 = not a scalar; LONG1 = its 1-byte length prefix plus that many bytes. */
const WIDTH = new Int16Array(256).fill(-1);
WIDTH[0x4a] = 4; // BININT
WIDTH[0x4b] = 1; // BININT1
WIDTH[0x4d] = 2; // BININT2
WIDTH[0x47] = 8; // BINFLOAT
WIDTH[0x4e] = 0; // NONE
WIDTH[0x88] = 0; // NEWTRUE
WIDTH[0x89] = 0; // NEWFALSE
const LONG1 = 0x8a;
WIDTH[LONG1] = 1;
const FRAME = 0x95;
/** Bytes of a fixed-width scalar opcode with its argument; 0 for anything else (LONG1 included). */
const STEP = new Uint8Array(256);
for (let c = 0; c < 256; c++) if (WIDTH[c]! >= 0 && c !== LONG1) STEP[c] = 1 + WIDTH[c]!;

export function isScalar(code: number): boolean {
  return WIDTH[code]! >= 0;
}

/** Opcodes that pop a MARK and take a run of scalars as their items: APPENDS, ADDITEMS, SETITEMS, TUPLE, FROZENSET. */
export const RUN_CONSUMERS: readonly number[] = [0x65, 0x90, 0x75, 0x74, 0x91];

/** Argument bytes of a fixed-width scalar (not LONG1, whose width is in its argument). */
export function scalarWidth(code: number): number {
  return WIDTH[code]!;
}

/**
 * The value a scalar opcode pushes, from its argument at buf[at] (for LONG1: its length byte,
 * the whole integer buffered and at most limits.maxPickleStringBytes long, as the run walk
 * ensures; other LONG1s take the payload path and reach the same values there).
 */
export function scalarValue(code: number, buf: Uint8Array, at: number): Value {
  switch (code) {
    case 0x4b:
      return { k: 'int', v: buf[at]! };
    case 0x4d:
      return { k: 'int', v: buf[at]! | (buf[at + 1]! << 8) };
    case 0x4a: // signed 32-bit little-endian
      return { k: 'int', v: buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24) };
    case 0x47:
      return { k: 'float', v: new DataView(buf.buffer, buf.byteOffset + at, 8).getFloat64(0, false) };
    case 0x4e:
      return NONE;
    case 0x88:
      return TRUE;
    case 0x89:
      return FALSE;
    case LONG1: {
      const len = buf[at]!;
      return len <= 64 ? { k: 'int', v: leSigned(buf.subarray(at + 1, at + 1 + len)) } : { k: 'unknown', why: `${len}-byte integer` };
    }
    default:
      throw new RangeError(`opcode 0x${code.toString(16)} is not a scalar`);
  }
}

/** Two's-complement little-endian integer (LONG1, LONG4): a number when safe, else a bigint. */
export function leSigned(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

export interface RunLimits {
  /** limits.maxPickleArgumentBytes: a FRAME declaring more is fatal, so it ends the run. */
  maxArgumentBytes: number;
  /** limits.maxPickleStringBytes: a LONG1 longer than this takes the payload path. */
  maxStringBytes: number;
  /** Size of the source when known: a FRAME running past it is an anomaly, so it ends the run. */
  sourceSize: number | null;
}

export interface ScalarRun {
  /** Index in buf of the first opcode after the run. */
  end: number;
  /** That opcode, or -1 when it is not wholly readable here (end of buffer, or past the frame). */
  next: number;
  /** Scalars in the run (values it pushes). */
  values: number;
  /** Opcodes in the run: the scalars and the FRAMEs between them. */
  ops: number;
  /** Absolute end of the frame open after the run, or -1. */
  frameEnd: number;
}

/**
 * Walk the run of scalars (and FRAMEs) starting at buf[p], an opcode the machine has begun
 * (its frame bookkeeping done). The walk stops before anything the machine would treat
 * differently from "push one value": an opcode that is not a scalar, an argument past the bytes
 * buffered or past the open frame's end (straddling: the frame reader's business), and a FRAME
 * that would raise an anomaly (opened inside an open frame, too long, past the end of the
 * source). Opcodes are only read, nothing is consumed. The positions of the first
 * `at.length` scalars' arguments go to `at`, their opcodes to `codes`; the rest to `out`
 * (reused: this runs once per scalar opcode of a sparse pickle, so it allocates nothing).
 */
export function scanScalarRun(buf: Uint8Array, p: number, base: number, frameEnd: number, lim: RunLimits, at: Int32Array, codes: Uint8Array, out: ScalarRun): void {
  const have = buf.length;
  let limit = frameEnd >= 0 ? Math.min(have, frameEnd - base) : have;
  let i = p;
  let values = 0;
  let frames = 0;
  for (;;) {
    // The hot loop of a dense pickle: once the first values' positions are noted, and while 9
    // bytes (the widest fixed scalar) remain before the limit, only the opcode needs checking.
    if (values >= at.length) {
      const safe = limit - 9;
      while (i < safe) {
        const step = STEP[buf[i]!]!;
        if (step === 0) break;
        i += step;
        values++;
      }
    }
    if (i >= limit) {
      // An opcode starting exactly at the frame end closes the frame (FrameReader.beginOp).
      if (frameEnd >= 0 && i === frameEnd - base && i < have) {
        frameEnd = -1;
        limit = have;
        continue;
      }
      break;
    }
    const c = buf[i]!;
    let w = WIDTH[c]!;
    if (w >= 0) {
      if (c === LONG1) {
        if (i + 2 > limit) break;
        w = 1 + buf[i + 1]!;
        if (w - 1 > lim.maxStringBytes || w - 1 > lim.maxArgumentBytes) break;
      }
      if (i + 1 + w > limit) break;
      if (values < at.length) {
        at[values] = i + 1;
        codes[values] = c;
      }
      values++;
      i += 1 + w;
      continue;
    }
    if (c === FRAME && frameEnd < 0 && i + 9 <= have) {
      const len = (buf[i + 1]! | (buf[i + 2]! << 8) | (buf[i + 3]! << 16)) + buf[i + 4]! * 2 ** 24 + (buf[i + 5]! + buf[i + 6]! * 256 + buf[i + 7]! * 65536 + buf[i + 8]! * 2 ** 24) * 2 ** 32;
      const end = base + i + 9 + len;
      if (len > lim.maxArgumentBytes || (lim.sourceSize !== null && end > lim.sourceSize)) break;
      frameEnd = end;
      limit = Math.min(have, frameEnd - base);
      frames++;
      i += 9;
      continue;
    }
    break;
  }
  out.end = i;
  out.next = i < limit ? buf[i]! : -1;
  out.values = values;
  out.ops = values + frames;
  out.frameEnd = frameEnd;
}
