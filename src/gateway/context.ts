import type { FastifyBaseLogger } from 'fastify';
import type { BlobStore, Store } from '../store/types.js';
import type { GatewayConfig } from './config.js';
import type { Gatekeeper } from './decide.js';
import type { FileService } from './files.js';
import type { Metrics } from './metrics.js';
import type { ScanPool } from './scan-pool.js';
import type { Upstream } from './upstream.js';
import type { AuditSink } from './audit-sink.js';
import type { ExposureJob } from './exposure/job.js';
import type { DryRunJobs } from './dry-run-job.js';
import type { LoginThrottle } from './throttle.js';

/** Everything a route needs; built once by createGateway. */
export interface GatewayContext {
  config: GatewayConfig;
  store: Store;
  blobs: BlobStore;
  upstream: Upstream;
  files: FileService;
  gatekeeper: Gatekeeper;
  metrics: Metrics;
  pool: ScanPool;
  audit: AuditSink;
  /** Background re-evaluation of cached files (exposure/job.ts). */
  exposure: ExposureJob;
  /** Policy dry runs started from the console (dry-run-job.ts). */
  dryRuns: DryRunJobs;
  log: FastifyBaseLogger;
  /** Failed token checks per address, shared by every route that checks one (throttle.ts). */
  throttle: LoginThrottle;
  /** Public base URL (no trailing slash), known once listening. */
  base(): string;
}
