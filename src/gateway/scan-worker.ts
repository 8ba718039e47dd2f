/**
 * A scan worker thread: scans blob files with its own engine, one job at a time. Before taking
 * jobs it loads everything a scan would load on first use (src/scan/warm.ts) and says so, so
 * the gateway listens only once its workers are warm.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Engine } from '../scan/engine.js';
import { warmEngine } from '../scan/warm.js';
import type { Limits } from '../core/limits.js';
import { scanBlobFile } from './scan-blob.js';

export interface ScanJob {
  id: number;
  path: string;
  displayName: string;
}

const engine = new Engine({ limits: (workerData as { limits?: Partial<Limits> } | undefined)?.limits ?? {} });

parentPort?.on('message', async (job: ScanJob) => {
  try {
    const report = await scanBlobFile(engine, job.path, job.displayName);
    parentPort!.postMessage({ id: job.id, report });
  } catch (e) {
    parentPort!.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) });
  }
});

// A catalogue that fails to load ends the worker with its error: the pool fails to start.
parentPort?.postMessage({ ready: warmEngine(engine) });
