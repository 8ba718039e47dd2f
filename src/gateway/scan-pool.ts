/**
 * Scans run off the event loop in worker threads, so a long pickle never stalls requests.
 * A worker that dies fails its job (the caller fails closed) and is replaced. Workers start with
 * the pool and warm up (catalogues and parsers loaded, src/scan/warm.ts); `ready()` resolves once
 * every first worker has reported so, and the gateway waits for it before it listens.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { packageRoot } from '../core/package.js';
import type { Limits } from '../core/limits.js';
import { Engine } from '../scan/engine.js';
import { warmEngine, type WarmReport } from '../scan/warm.js';
import { scanBlobFile } from './scan-blob.js';
import type { FileReport } from '../scan/report.js';

interface Pending {
  path: string;
  displayName: string;
  resolve: (r: FileReport) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: { id: number; job: Pending } | null;
  /** What the worker loaded before reporting ready; null until then. */
  warm: WarmReport | null;
}

/** The pool could not start: a worker failed before it was ready. */
export class ScanPoolStartError extends Error {}

export class ScanPool {
  private slots: Slot[] = [];
  private queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  private readonly inProcess: Engine | null;
  private readonly inProcessWarm: WarmReport | null = null;
  private readonly script: string;
  private readonly started: Promise<void>;
  private startSettled = false;
  private settleStart: { resolve: () => void; reject: (e: Error) => void } = { resolve: () => undefined, reject: () => undefined };

  constructor(
    size: number,
    private readonly limits: Partial<Limits> = {},
  ) {
    this.script = join(packageRoot(), 'dist', 'src', 'gateway', 'scan-worker.js');
    // Without a build (running from TypeScript sources), scan on the main thread.
    this.inProcess = existsSync(this.script) ? null : new Engine({ limits });
    this.started = new Promise<void>((resolve, reject) => (this.settleStart = { resolve, reject }));
    // A pool whose start fails and that nobody awaits must not crash the process.
    this.started.catch(() => undefined);
    if (this.inProcess) {
      this.inProcessWarm = warmEngine(this.inProcess);
      this.settle();
    } else for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  /** Resolves when every worker the pool started with is warm; rejects when one failed first. */
  ready(): Promise<void> {
    return this.started;
  }

  /** Workers and how many are warm, with what each loaded (the in-process engine counts as one). */
  warmth(): { workers: number; ready: number; loaded: WarmReport[] } {
    const loaded = this.inProcess ? [this.inProcessWarm!] : this.slots.flatMap((s) => (s.warm ? [s.warm] : []));
    return { workers: this.inProcess ? 1 : this.slots.length, ready: loaded.length, loaded };
  }

  private settle(error?: Error): void {
    if (this.startSettled) return;
    if (error) {
      this.startSettled = true;
      this.settleStart.reject(error);
    } else if (this.inProcess || this.slots.every((s) => s.warm)) {
      this.startSettled = true;
      this.settleStart.resolve();
    }
  }

  /** Engine identity of the scans this pool produces (for cache keys). */
  static engineInfo(limits: Partial<Limits> = {}): Engine['info'] {
    return new Engine({ limits }).info;
  }

  get pending(): number {
    return this.queue.length + this.slots.filter((s) => s.busy).length;
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(this.script, { workerData: { limits: this.limits } }), busy: null, warm: null };
    slot.worker.on('message', (msg: { id: number; report?: FileReport; error?: string; ready?: WarmReport }) => {
      if (msg.ready) {
        slot.warm = msg.ready;
        this.settle();
        return;
      }
      const b = slot.busy;
      if (!b || b.id !== msg.id) return;
      slot.busy = null;
      if (msg.report) b.job.resolve(msg.report);
      else b.job.reject(new Error(`scan failed: ${msg.error ?? 'unknown error'}`));
      this.pump();
    });
    const onDeath = (why: string) => {
      // Before the pool is ready, a dead worker is a failed start (a broken catalogue, say),
      // reported rather than replaced in a loop.
      if (!slot.warm && !this.startSettled) {
        this.settle(new ScanPoolStartError(`scan worker failed to start: ${why}`));
        return;
      }
      const b = slot.busy;
      slot.busy = null;
      b?.job.reject(new Error(`scan worker died: ${why}`));
      const i = this.slots.indexOf(slot);
      if (i >= 0 && !this.closed) {
        this.slots[i] = this.spawn();
        this.pump();
      }
    };
    slot.worker.on('error', (e) => onDeath(e.message));
    slot.worker.on('exit', (code) => {
      if (!this.closed) onDeath(`exit code ${code}`);
    });
    return slot;
  }

  scan(path: string, displayName: string): Promise<FileReport> {
    if (this.closed) return Promise.reject(new Error('scan pool is closed'));
    if (this.inProcess) {
      return scanBlobFile(this.inProcess, path, displayName);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ path, displayName, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (slot.busy || this.queue.length === 0) continue;
      const job = this.queue.shift()!;
      const id = this.nextId++;
      slot.busy = { id, job };
      slot.worker.postMessage({ id, path: job.path, displayName: job.displayName });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue) p.reject(new Error('scan pool closed'));
    this.queue = [];
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
