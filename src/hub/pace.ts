/**
 * Paces a body to a fixed rate, as a distant upstream's link would: benchmarks of the gateway's
 * first download compare it with a direct download over the same simulated link, where loopback
 * alone would make the network free and every local copy look expensive.
 */
import { Transform, type TransformCallback } from 'node:stream';

export class Pace extends Transform {
  private sent = 0;
  private readonly start = performance.now();
  constructor(private readonly bytesPerSecond: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.sent += chunk.length;
    // When this chunk's last byte is due at the configured rate; chunks are never held back longer.
    const due = this.start + (this.sent / this.bytesPerSecond) * 1000;
    const wait = due - performance.now();
    if (wait <= 1) return cb(null, chunk);
    setTimeout(() => cb(null, chunk), wait);
  }
}
