import type { ByteRange, ByteSource } from './types.js';

/** A window [start, start+length) of another source: a stored archive member, a prepended region. */
export class SliceSource implements ByteSource {
  private fetched = 0;
  constructor(
    readonly name: string,
    private readonly parent: ByteSource,
    private readonly start: number,
    readonly size: number,
  ) {}
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset >= this.size || length <= 0) return new Uint8Array(0);
    const want = Math.min(length, this.size - offset);
    const out = await this.parent.read(this.start + offset, want);
    this.fetched += out.length;
    return out;
  }
  bytesRead(): number {
    return this.fetched;
  }
  prefetch(ranges: readonly ByteRange[]): void {
    // A stored zip inside a remote tar still gets its members fetched together.
    this.parent.prefetch?.(ranges.filter((r) => r.offset < this.size).map((r) => ({ offset: this.start + r.offset, length: Math.min(r.length, this.size - r.offset) })));
  }
}
