/**
 * Content sniffing for pickles: a synchronous walk over opcode *lengths* only (no semantics),
 * used on a file's head and on bytes that follow a STOP. Text and noise fail within a few bytes
 * (space, '#', '{' are not opcodes); protocol-0 pickles pass because their GLOBAL lines are
 * dotted identifiers.
 */
import { OPS, FIXED_WIDTH } from '../../pickle/opcodes.js';
import { decodeLatin1, isDottedIdentifier } from '../../pickle/text.js';

export interface WalkResult {
  ops: number;
  /** STOP reached without an invalid byte. */
  stopped: boolean;
  /** Ran off the end of the given bytes without an invalid byte. */
  exhausted: boolean;
  /** At least one GLOBAL / INST with identifier operands, or STACK_GLOBAL. */
  imports: number;
  proto: number | null;
}

export function walkOpcodes(b: Uint8Array, start = 0, maxOps = 4096): WalkResult {
  const res: WalkResult = { ops: 0, stopped: false, exhausted: false, imports: 0, proto: null };
  let p = start;
  while (res.ops < maxOps) {
    if (p >= b.length) {
      res.exhausted = true;
      return res;
    }
    const op = OPS[b[p]!];
    if (!op) return res;
    p++;
    res.ops++;
    switch (op.arg) {
      case 'line': {
        const nl = b.indexOf(0x0a, p);
        if (nl < 0) {
          res.exhausted = true;
          return res;
        }
        p = nl + 1;
        break;
      }
      case 'twolines': {
        const a = b.indexOf(0x0a, p);
        const c = a < 0 ? -1 : b.indexOf(0x0a, a + 1);
        if (c < 0) {
          res.exhausted = true;
          return res;
        }
        const mod = decodeLatin1(b.subarray(p, a));
        const name = decodeLatin1(b.subarray(a + 1, c));
        if (!isDottedIdentifier(mod) || !isDottedIdentifier(name)) return res;
        res.imports++;
        p = c + 1;
        break;
      }
      case 'len1':
      case 'len4':
      case 'len4s':
      case 'len8': {
        const w = FIXED_WIDTH[op.arg];
        if (p + w > b.length) {
          res.exhausted = true;
          return res;
        }
        let n = 0;
        let mul = 1;
        for (let i = 0; i < w; i++) {
          n += b[p + i]! * mul;
          mul *= 256;
        }
        p += w + n;
        break;
      }
      default:
        if (op.name === 'PROTO') {
          if (p >= b.length) {
            res.exhausted = true;
            return res;
          }
          if (b[p]! > 5) return res;
          res.proto ??= b[p]!;
        }
        if (op.name === 'STACK_GLOBAL') res.imports++;
        p += FIXED_WIDTH[op.arg];
    }
    if (op.name === 'STOP') {
      res.stopped = true;
      return res;
    }
  }
  res.exhausted = true;
  return res;
}

/** PyTorch's legacy (non-zip) format starts with this pickle of its magic number, protocol 2. */
export const TORCH_LEGACY_MAGIC = Uint8Array.from([
  0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
]);

export function startsWith(b: Uint8Array, prefix: Uint8Array, at = 0): boolean {
  if (b.length - at < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[at + i] !== prefix[i]) return false;
  return true;
}

/** Confidence that bytes at `start` begin a pickle a loader would run (0 = no). */
export function pickleConfidence(b: Uint8Array, start = 0): number {
  if (b.length - start < 1) return 0;
  if (b[start] === 0x80 && b.length - start >= 2 && b[start + 1]! <= 5) return 0.9;
  const w = walkOpcodes(b, start);
  if (w.stopped && w.ops >= 2) return 0.6;
  if (w.exhausted && w.ops >= 4 && b.length - start >= 64) return 0.6;
  // A payload followed by a broken stream still runs the payload (nullifAI).
  if (w.imports > 0 && w.ops >= 2) return 0.55;
  return 0;
}
