/**
 * XXH32 (seed 0 by default), incremental: the LZ4 frame format checks its header, its blocks
 * and its whole content with it. Written from the published algorithm description; the state
 * is four 32-bit lanes and a 16-byte carry, whatever the input length.
 */
const P1 = 2654435761;
const P2 = 2246822519;
const P3 = 3266489917;
const P4 = 668265263;
const P5 = 374761393;

function rotl(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

function round(acc: number, lane: number): number {
  return Math.imul(rotl((acc + Math.imul(lane, P2)) >>> 0, 13), P1) >>> 0;
}

function u32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

export class Xxh32 {
  private v1: number;
  private v2: number;
  private v3: number;
  private v4: number;
  private total = 0;
  private readonly carry = new Uint8Array(16);
  private carried = 0;

  constructor(private readonly seed = 0) {
    this.v1 = (seed + P1 + P2) >>> 0;
    this.v2 = (seed + P2) >>> 0;
    this.v3 = seed >>> 0;
    this.v4 = (seed - P1) >>> 0;
  }

  update(b: Uint8Array): this {
    this.total += b.length;
    let i = 0;
    if (this.carried) {
      const n = Math.min(16 - this.carried, b.length);
      this.carry.set(b.subarray(0, n), this.carried);
      this.carried += n;
      i = n;
      if (this.carried < 16) return this;
      this.stripe(this.carry, 0);
      this.carried = 0;
    }
    for (; i + 16 <= b.length; i += 16) this.stripe(b, i);
    if (i < b.length) {
      this.carry.set(b.subarray(i), 0);
      this.carried = b.length - i;
    }
    return this;
  }

  digest(): number {
    let h: number;
    if (this.total >= 16) h = (rotl(this.v1, 1) + rotl(this.v2, 7) + rotl(this.v3, 12) + rotl(this.v4, 18)) >>> 0;
    else h = (this.seed + P5) >>> 0;
    // The specification adds the length modulo 2^32.
    h = (h + (this.total % 0x100000000)) >>> 0;
    let i = 0;
    for (; i + 4 <= this.carried; i += 4) h = Math.imul(rotl((h + Math.imul(u32(this.carry, i), P3)) >>> 0, 17), P4) >>> 0;
    for (; i < this.carried; i++) h = Math.imul(rotl((h + Math.imul(this.carry[i]!, P5)) >>> 0, 11), P1) >>> 0;
    h ^= h >>> 15;
    h = Math.imul(h, P2) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, P3) >>> 0;
    h ^= h >>> 16;
    return h >>> 0;
  }

  private stripe(b: Uint8Array, at: number): void {
    this.v1 = round(this.v1, u32(b, at));
    this.v2 = round(this.v2, u32(b, at + 4));
    this.v3 = round(this.v3, u32(b, at + 8));
    this.v4 = round(this.v4, u32(b, at + 12));
  }
}

export function xxh32(b: Uint8Array, seed = 0): number {
  return new Xxh32(seed).update(b).digest();
}
