/**
 * Policy dry runs in the background: a run over a week of a busy audit log replays tens of
 * thousands of decisions (seconds), longer than a request should take. The console starts one
 * and sends the browser to its page, which shows progress until the result is there.
 *
 * One run at a time per gateway process (each replays on the event loop that also serves
 * downloads, and pauses for it every few decisions); results stay in memory for a while, a
 * bounded number of them, and are lost on restart (they are cheap to run again, and a candidate
 * policy is not worth storing). Another replica of the gateway knows nothing of this one's runs.
 */
import { randomBytes } from 'node:crypto';
import type { Policy } from '../policy/types.js';
import type { Store } from '../store/types.js';
import { dryRun, type DryRunProgress, type DryRunResult } from './dry-run.js';

export type DryRunState = 'running' | 'done' | 'failed';

export interface DryRunJob {
  id: string;
  /** The admin who started it. */
  by: string;
  /** The candidate as given (shown again in the form) and its version. */
  text: string;
  candidateVersion: string;
  days: number;
  startedAt: string;
  finishedAt: string | null;
  state: DryRunState;
  progress: DryRunProgress;
  result: DryRunResult | null;
  /** Why a failed run stopped. */
  error: string | null;
}

export interface DryRunJobOptions {
  /** How long a finished run's result is kept. */
  keepMs?: number;
  /** Finished runs kept at most (the oldest go first). */
  keep?: number;
  /** Longest stretch of replaying before the event loop gets a turn. */
  sliceMs?: number;
  now?: () => number;
}

export const DRY_RUN_KEEP_MS = 30 * 60_000;
export const DRY_RUN_KEEP = 10;
const SLICE_MS = 10;

class Stopped extends Error {}

export class DryRunJobs {
  private readonly jobs = new Map<string, DryRunJob>();
  private running: { job: DryRunJob; work: Promise<void> } | null = null;
  private closing = false;
  private readonly keepMs: number;
  private readonly keep: number;
  private readonly sliceMs: number;
  private readonly now: () => number;

  constructor(
    private readonly store: Store,
    opts: DryRunJobOptions = {},
  ) {
    this.keepMs = opts.keepMs ?? DRY_RUN_KEEP_MS;
    this.keep = opts.keep ?? DRY_RUN_KEEP;
    this.sliceMs = opts.sliceMs ?? SLICE_MS;
    this.now = opts.now ?? Date.now;
  }

  /** The run going on, if any. */
  get current(): DryRunJob | null {
    return this.running?.job ?? null;
  }

  /**
   * Starts a run, or returns `{ busy }` naming the run already going on (the same candidate and
   * days asked again simply join it: a double-clicked button).
   */
  start(candidate: Policy, text: string, days: number, by: string): { job: DryRunJob } | { busy: DryRunJob } {
    const cur = this.running?.job;
    if (cur) return cur.text === text && cur.days === days ? { job: cur } : { busy: cur };
    if (this.closing) throw new Error('the gateway is shutting down');
    this.prune();
    const job: DryRunJob = {
      id: randomBytes(12).toString('base64url'),
      by,
      text,
      candidateVersion: candidate.version,
      days,
      startedAt: new Date(this.now()).toISOString(),
      finishedAt: null,
      state: 'running',
      progress: { read: 0, estimate: 0, examined: 0 },
      result: null,
      error: null,
    };
    this.jobs.set(job.id, job);
    let sliceStart = performance.now();
    const pause = async (p: DryRunProgress) => {
      job.progress = { ...p };
      if (this.closing) throw new Stopped('the gateway shut down during the run');
      if (performance.now() - sliceStart < this.sliceMs) return;
      // setImmediate, not a resolved promise: I/O callbacks (requests, download chunks) run first.
      await new Promise<void>((r) => setImmediate(r));
      sliceStart = performance.now();
    };
    const work = (async () => {
      // The first slice waits too, so the request that started the run is answered first.
      await new Promise<void>((r) => setImmediate(r));
      try {
        job.result = await dryRun(this.store, candidate, { days, pause });
        job.state = 'done';
      } catch (e) {
        job.state = 'failed';
        job.error = (e as Error).message || String(e);
      } finally {
        job.finishedAt = new Date(this.now()).toISOString();
        this.running = null;
      }
    })();
    this.running = { job, work };
    return { job };
  }

  get(id: string): DryRunJob | null {
    this.prune();
    return this.jobs.get(id) ?? null;
  }

  /** Resolves when no run goes on (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running.work;
  }

  /** Stops the run going on at its next pause (before the store closes under it). */
  async close(): Promise<void> {
    this.closing = true;
    await this.idle();
  }

  /** Finished runs past their time, then the oldest beyond the count. */
  private prune(): void {
    const t = this.now();
    const finished = [...this.jobs.values()].filter((j) => j.finishedAt !== null);
    for (const j of finished) if (t - Date.parse(j.finishedAt!) > this.keepMs) this.jobs.delete(j.id);
    const left = finished.filter((j) => this.jobs.has(j.id));
    for (const j of left.slice(0, Math.max(0, left.length - this.keep))) this.jobs.delete(j.id);
  }
}
