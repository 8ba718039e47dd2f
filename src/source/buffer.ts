import type { ByteSource } from './types.js';

/** An in-memory source (scanBytes, small decoded members, tests). */
export class BufferSource implements ByteSource {
  readonly size: number;
  private fetched = 0;
  constructor(
    readonly name: string,
    private readonly bytes: Uint8Array,
  ) {
    this.size = bytes.length;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    const start = Math.max(0, Math.min(offset, this.size));
    const end = Math.max(start, Math.min(this.size, offset + Math.max(0, length)));
    this.fetched += end - start;
    return this.bytes.subarray(start, end);
  }
  bytesRead(): number {
    return this.fetched;
  }
}
