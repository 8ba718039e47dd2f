/**
 * Admission for upstream downloads. Any client can name any public file, and a HEAD answered
 * "still scanning" (503, not audited) leaves its download running: without a bound, a flood of
 * HEADs for distinct multi-GB files would start that many downloads at once, filling the cache
 * disk and the upstream link. At most `max` downloads run per process; up to `queueMax` more
 * wait their turn in order; beyond that a request is refused (503, Retry-After) with the reason.
 */

export class DownloadsBusy extends Error {
  override readonly name = 'DownloadsBusy';
  readonly kind = 'downloads-busy';
}

export class DownloadSlots {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly max: number,
    readonly queueMax: number,
  ) {}

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves to the slot's release once the download may start; throws DownloadsBusy when the queue is full. */
  async acquire(): Promise<() => void> {
    if (this.active < this.max) {
      this.active++;
      return this.releaser();
    }
    if (this.waiting.length >= this.queueMax) {
      throw new DownloadsBusy(`modelgate is busy: ${this.active} downloads running and ${this.waiting.length} waiting (maxDownloads ${this.max}, downloadQueueMax ${this.queueMax}); retry shortly`);
    }
    // The slot is handed over by its releaser, never returned and retaken: no one can cut in.
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    return this.releaser();
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    };
  }
}
