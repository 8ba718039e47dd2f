/**
 * The bytes a range source has fetched, as non-overlapping blocks evicted least recently used
 * first, plus the ranges still in flight: a read is served from here when it can be, waits for
 * a fetch already under way when one covers it, and asks only for the gaps.
 */

export interface Interval {
  start: number;
  /** Exclusive. */
  end: number;
}

interface Block extends Interval {
  data: Uint8Array;
  used: number;
}

export class BlockCache {
  private blocks: Block[] = [];
  private bytes = 0;
  private clock = 0;

  constructor(private readonly limit: number) {}

  /** Adds fetched bytes; the caller fetched only gaps, so blocks never overlap. */
  insert(start: number, data: Uint8Array): void {
    if (data.length === 0) return;
    const b: Block = { start, end: start + data.length, data, used: ++this.clock };
    let i = this.blocks.findIndex((x) => x.start > start);
    if (i < 0) i = this.blocks.length;
    this.blocks.splice(i, 0, b);
    this.bytes += data.length;
    while (this.bytes > this.limit && this.blocks.length > 1) {
      let victim = 0;
      for (let j = 1; j < this.blocks.length; j++) if (this.blocks[j]!.used < this.blocks[victim]!.used) victim = j;
      if (this.blocks[victim] === b) break;
      this.bytes -= this.blocks[victim]!.data.length;
      this.blocks.splice(victim, 1);
    }
  }

  /** Parts of [start, end) covered neither by cached blocks nor by `busy` ranges. */
  gaps(start: number, end: number, busy: readonly Interval[] = []): Interval[] {
    const covered = [...this.blocks, ...busy].filter((c) => c.end > start && c.start < end).sort((a, b) => a.start - b.start);
    const out: Interval[] = [];
    let at = start;
    for (const c of covered) {
      if (c.start > at) out.push({ start: at, end: Math.min(c.start, end) });
      at = Math.max(at, c.end);
      if (at >= end) break;
    }
    if (at < end) out.push({ start: at, end });
    return out;
  }

  /** Where the next covered byte at or after `at` is (so read-ahead stops short of it), or null. */
  nextCovered(at: number, busy: readonly Interval[] = []): number | null {
    let best: number | null = null;
    for (const c of [...this.blocks, ...busy]) if (c.start >= at && (best === null || c.start < best)) best = c.start;
    return best;
  }

  /** The bytes of [start, end) when all are cached, else null. */
  get(start: number, end: number): Uint8Array | null {
    if (this.gaps(start, end).length > 0) return null;
    const parts = this.blocks.filter((b) => b.end > start && b.start < end);
    if (parts.length === 1) {
      const b = parts[0]!;
      b.used = ++this.clock;
      return b.data.subarray(start - b.start, end - b.start);
    }
    const out = new Uint8Array(end - start);
    for (const b of parts) {
      b.used = ++this.clock;
      const from = Math.max(start, b.start);
      const to = Math.min(end, b.end);
      out.set(b.data.subarray(from - b.start, to - b.start), from - start);
    }
    return out;
  }

  size(): number {
    return this.bytes;
  }
}
