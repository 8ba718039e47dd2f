/**
 * Scans run off the event loop in worker threads, so a long pickle never stalls requests.
 * A worker that dies fails its job (the caller fails closed) and is replaced.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { packageRoot } from '../core/package.js';
import type { Limits } from '../core/limits.js';
import { Engine } from '../scan/engine.js';
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
}

export class ScanPool {
  private slots: Slot[] = [];
  private queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  private readonly inProcess: Engine | null;
  private readonly script: string;

  constructor(
    size: number,
    private readonly limits: Partial<Limits> = {},
  ) {
    this.script = join(packageRoot(), 'dist', 'src', 'gateway', 'scan-worker.js');
    // Without a build (running from TypeScript sources), scan on the main thread.
    this.inProcess = existsSync(this.script) ? null : new Engine({ limits });
    if (!this.inProcess) for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  /** Engine identity of the scans this pool produces (for cache keys). */
  static engineInfo(limits: Partial<Limits> = {}): Engine['info'] {
    return new Engine({ limits }).info;
  }

  get pending(): number {
    return this.queue.length + this.slots.filter((s) => s.busy).length;
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(this.script, { workerData: { limits: this.limits } }), busy: null };
    slot.worker.on('message', (msg: { id: number; report?: FileReport; error?: string }) => {
      const b = slot.busy;
      if (!b || b.id !== msg.id) return;
      slot.busy = null;
      if (msg.report) b.job.resolve(msg.report);
      else b.job.reject(new Error(`scan failed: ${msg.error ?? 'unknown error'}`));
      this.pump();
    });
    const onDeath = (why: string) => {
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
