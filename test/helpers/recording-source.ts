/** A byte source that records every read, as an HTTP range source would issue them. */
import { BufferSource } from '../../src/source/buffer.js';
import type { ByteSource } from '../../src/source/types.js';

export class RecordingSource implements ByteSource {
  readonly reads: Array<[number, number]> = [];
  private readonly inner: BufferSource;
  readonly size: number;
  constructor(
    readonly name: string,
    data: Uint8Array,
  ) {
    this.inner = new BufferSource(name, data);
    this.size = data.length;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    this.reads.push([offset, length]);
    return this.inner.read(offset, length);
  }
  bytesRead(): number {
    return this.inner.bytesRead();
  }
}
