/**
 * Protocol-4 framing for the pickle machine: the reads an opcode makes for its argument, with the
 * frame boundaries a FRAME opcode declares. The machine keeps only what CPython's `load_*`
 * functions do with the stack and memo; everything about where an argument's bytes come from is
 * here.
 *
 * Two ways of reading, chosen per run. 'linear' reads the bytes in order (pickle.loads on bytes,
 * pickletools). 'file' follows the C unpickler reading from a file object (torch.load, joblib): a
 * FRAME is read whole, and an argument that does not fit in the rest of it is read from the bytes
 * after the frame, dropping the frame's tail. The two differ only when an argument straddles a
 * frame end, which is reported once per run as PICKLE_FRAME_VIOLATION.
 */
import type { Limits } from '../core/limits.js';
import type { PickleReader } from './reader.js';

export type FrameMode = 'linear' | 'file';

export const MAX_LINE = 16 * 1024 * 1024;

export type FrameAnomalyRule = 'PICKLE_TRUNCATED' | 'PICKLE_FRAME_VIOLATION' | 'PICKLE_ABSURD_LENGTH';

/** Where framing problems go: the machine's anomaly counter (a fatal one ends the run by throwing). */
export interface FrameHost {
  anomaly(rule: FrameAnomalyRule, message: string, fatal?: boolean): void;
  truncated(): never;
}

export interface Payload {
  head: Uint8Array;
  len: number;
  at: number;
}

export class FrameReader {
  /** Absolute offset where the current frame ends, or -1 outside any frame. */
  private frameEnd = -1;
  private violation = false;

  constructor(
    readonly r: PickleReader,
    private readonly limits: Limits,
    private readonly host: FrameHost,
    private readonly mode: FrameMode = 'linear',
  ) {}

  /** True when this run saw an argument straddle a frame end (the caller re-reads in file mode). */
  get straddled(): boolean {
    return this.violation;
  }

  /** Absolute end of the open frame, or -1 (for the scalar fast path, scalars.ts). */
  get openFrameEnd(): number {
    return this.frameEnd;
  }

  /**
   * The scalar fast path walked whole opcodes inside frames and opened the FRAMEs it met, having
   * checked that none of them straddles or raises an anomaly: take over its frame state.
   */
  adoptFrameEnd(end: number): void {
    this.frameEnd = end;
  }

  /** An opcode starts at `at`: a frame it has reached the end of is closed. */
  beginOp(at: number): void {
    if (this.frameEnd >= 0 && at >= this.frameEnd) this.frameEnd = -1;
  }

  /** An opcode that started at `at` is done: did its argument run past the frame end? */
  endOp(at: number): void {
    if (this.frameEnd >= 0 && this.r.pos > this.frameEnd && !this.violation) {
      this.violation = true;
      this.host.anomaly('PICKLE_FRAME_VIOLATION', `opcode at ${at} ends at ${this.r.pos}, past the frame ending at ${this.frameEnd} (the Python and C unpicklers disagree here)`);
    }
  }

  /**
   * FRAME (load_frame): C prefetches the frame and does not enforce its end; Python does.
   * `at` is the offset of the FRAME opcode itself.
   */
  frame(at: number): void {
    const r = this.r;
    this.needSync(8);
    const lo = this.uint(4);
    const len = this.uint(4) * 2 ** 32 + lo;
    if (this.frameEnd >= 0 && at < this.frameEnd && !this.violation) {
      this.violation = true;
      this.host.anomaly('PICKLE_FRAME_VIOLATION', 'a new FRAME starts before the current one ends');
    }
    if (len > this.limits.maxPickleArgumentBytes) this.host.anomaly('PICKLE_ABSURD_LENGTH', `FRAME length ${len}`, true);
    this.frameEnd = r.pos + len;
    const size = r.sourceSize;
    if (size !== null && this.frameEnd > size) {
      // The C unpickler fails to read the frame; pickle.py reads on: the two disagree.
      this.host.anomaly('PICKLE_FRAME_VIOLATION', `FRAME declares ${len} bytes but only ${size - r.pos} remain`);
    }
  }

  /**
   * joblib commits the pickle frame before writing an array (raw bytes or a nested pickle) and
   * reads it from the file itself, after any frame: what follows is outside framing. A frame
   * still open here is a stream joblib never writes, read differently by its unpickler.
   */
  leaveForRawData(): void {
    const r = this.r;
    if (this.frameEnd >= 0 && r.pos < this.frameEnd) {
      this.host.anomaly('PICKLE_FRAME_VIOLATION', `array data starts ${this.frameEnd - r.pos} bytes before the end of the current frame; joblib reads it from after the frame`);
    }
    this.frameEnd = -1;
  }

  async need(n: number): Promise<void> {
    if (this.r.available < n && !(await this.r.ensure(n))) this.host.truncated();
  }

  /** Fixed-width arguments: the run loop already buffered them unless the data ends here. */
  needSync(n: number): void {
    if (this.mode === 'file') this.leaveFrameIfStraddling(n);
    if (this.r.available < n) this.host.truncated();
  }

  /**
   * File mode: an argument of n bytes that would cross the frame end is read after the frame.
   * Only called with the frame tail buffered (fixed widths: the run loop buffered 16 bytes).
   */
  private leaveFrameIfStraddling(n: number): boolean {
    const pos = this.r.pos;
    if (this.frameEnd < 0 || pos >= this.frameEnd || pos + n <= this.frameEnd) return false;
    const drop = this.frameEnd - pos;
    if (drop > this.r.available) return false;
    this.r.p += drop;
    this.frameEnd = -1;
    if (!this.violation) {
      this.violation = true;
      this.host.anomaly('PICKLE_FRAME_VIOLATION', `argument crosses the frame end at ${pos + drop}; a file-reading unpickler (torch.load) drops ${drop} frame bytes and reads it from after the frame`);
    }
    return true;
  }

  u8(): number {
    return this.r.buf[this.r.p++]!;
  }

  /** Little-endian unsigned integer of n bytes already checked by needSync. */
  uint(n: number): number {
    const b = this.r.buf;
    let p = this.r.p;
    let v = 0;
    let mul = 1;
    for (let i = 0; i < n; i++) {
      v += b[p++]! * mul;
      mul *= 256;
    }
    this.r.p = p;
    return v;
  }

  /** A line already in the buffer, or null when it needs a refill (nothing consumed then). */
  lineSync(): Uint8Array | null {
    const r = this.r;
    let idx = r.buf.indexOf(0x0a, r.p);
    if (idx < 0 || idx - r.p > MAX_LINE) return null;
    if (this.mode === 'file' && this.frameEnd >= 0 && r.pos < this.frameEnd && r.base + idx >= this.frameEnd) {
      // No newline inside the frame: C reads the line from after the frame.
      if (!this.leaveFrameIfStraddling(r.base + idx + 1 - r.pos)) return null;
      idx = r.buf.indexOf(0x0a, r.p);
      if (idx < 0 || idx - r.p > MAX_LINE) return null;
    }
    const out = r.buf.subarray(r.p, idx);
    r.p = idx + 1;
    return out;
  }

  async line(): Promise<Uint8Array> {
    let idx = await this.r.findNewline(MAX_LINE);
    if (idx >= 0 && this.mode === 'file' && this.frameEnd >= 0 && this.r.pos < this.frameEnd && this.r.base + idx >= this.frameEnd) {
      this.leaveFrameIfStraddling(this.r.base + idx + 1 - this.r.pos);
      idx = await this.r.findNewline(MAX_LINE);
    }
    if (idx === -2) this.host.anomaly('PICKLE_ABSURD_LENGTH', `line longer than ${MAX_LINE} bytes`, true);
    if (idx < 0) this.host.truncated();
    const out = this.r.buf.subarray(this.r.p, idx);
    this.r.p = idx + 1;
    return out;
  }

  /** A payload wholly in the buffer and short enough to keep, or null for the slow path. */
  payloadSync(len: number): Payload | null {
    const r = this.r;
    if (len > this.limits.maxPickleStringBytes || len > r.available) return null;
    if (this.mode === 'file' && this.frameEnd >= 0 && r.pos < this.frameEnd && r.pos + len > this.frameEnd) return null;
    const at = r.pos;
    const head = r.buf.subarray(r.p, r.p + len);
    r.p += len;
    return { head, len, at };
  }

  /** Read a length-prefixed payload, keeping at most maxPickleStringBytes of it. */
  async payload(len: number): Promise<Payload> {
    if (this.mode === 'file' && this.frameEnd >= 0 && this.r.pos < this.frameEnd && this.r.pos + len > this.frameEnd) {
      const drop = this.frameEnd - this.r.pos;
      await this.need(drop);
      this.leaveFrameIfStraddling(len);
    }
    const at = this.r.pos;
    if (len > this.limits.maxPickleArgumentBytes) {
      this.host.anomaly('PICKLE_ABSURD_LENGTH', `declared length ${len} exceeds the limit of ${this.limits.maxPickleArgumentBytes}`, true);
    }
    const keep = Math.min(len, this.limits.maxPickleStringBytes);
    await this.need(keep);
    const head = this.r.buf.slice(this.r.p, this.r.p + keep);
    this.r.p += keep;
    if (len > keep) {
      const ok = await this.r.skip(len - keep);
      if (!ok) {
        this.host.anomaly('PICKLE_ABSURD_LENGTH', `declared length ${len} runs past the end of the data`, true);
      }
    }
    return { head, len, at };
  }
}
