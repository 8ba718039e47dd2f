/** A scan worker thread: scans blob files with its own engine, one job at a time. */
import { parentPort, workerData } from 'node:worker_threads';
import { Engine } from '../scan/engine.js';
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
