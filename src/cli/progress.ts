import { terminalSafe } from './render/escape.js';

/** A one-line progress bar on stderr, drawn only on a TTY and at most ~10 times a second. */
export class Progress {
  private last = 0;
  private drawn = false;
  constructor(private readonly stream: NodeJS.WriteStream) {}

  update(done: number, total: number | null, label: string): void {
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    const width = 24;
    const frac = total ? Math.min(1, done / total) : 0;
    const bar = total ? '█'.repeat(Math.round(frac * width)).padEnd(width, '░') : '░'.repeat(width);
    const count = total ? `${done}/${total}` : `${done}`;
    const cols = this.stream.columns ?? 80;
    const room = Math.max(10, cols - width - count.length - 12);
    const safe = terminalSafe(label);
    const name = safe.length > room ? `…${safe.slice(-room + 1)}` : safe;
    this.stream.write(`\r\x1b[2K${bar} ${count} files  ${name}`);
    this.drawn = true;
  }

  done(): void {
    if (this.drawn) this.stream.write('\r\x1b[2K');
    this.drawn = false;
  }
}
