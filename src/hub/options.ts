/** What the local hub is given and what it exposes to tests (its options, request log and fault controls). */
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { FaultRule, Faults } from './faults.js';
import type { RepoAccess } from './access.js';
import type { RepoStore } from './store.js';

export interface HubServerOptions {
  /** The directory of repositories (see docs/hub.md for the layout). */
  dir: string;
  /** Entries per page of tree listings and repo listings (the hub uses 1000); small values force pagination. */
  pageSize?: number;
  /** Delay before every answer, in milliseconds (benchmarks of a distant upstream). */
  latencyMs?: number;
  /** Serve file bodies at most this fast (bytes per second; a distant upstream's link). Unlimited by default. */
  bytesPerSecond?: number;
  /** Fault rules active from the start. */
  faults?: FaultRule[];
  /** Gated and private repositories and the bearer tokens that may read them (docs/hub.md, Access). */
  access?: RepoAccess[];
  /** Expose `/-/hub/faults` and `/-/hub/requests` so another process can steer faults and count requests. */
  control?: boolean;
  /**
   * Answer LFS files like huggingface.co does: a 302 carrying the file's metadata to a CDN URL,
   * `/-/cdn/<sha256>` on `base`; by default this server under its other loopback name
   * (127.0.0.1 <-> localhost), so clients see another host. Exercises a gateway's redirect handling.
   */
  lfsRedirect?: boolean | { base: string };
  /** Base URL for absolute links (pagination, redirects); by default taken from the Host header. */
  publicUrl?: string;
  /** Hash every repo in the background at startup so the first request does not wait. */
  warm?: boolean;
  logger?: FastifyServerOptions['logger'];
}

export interface RequestRecord {
  method: string;
  /** The request target as sent, query included. */
  url: string;
  range: string | null;
  /** The status answered; null while the answer is still being sent, or if the connection was cut. */
  status: number | null;
  at: string;
}

export interface HubControl {
  store: RepoStore;
  faults: Faults;
  /** Every request except control requests, oldest first (the last 10,000). */
  requests: RequestRecord[];
  clearRequests(): void;
}

export type HubServer = FastifyInstance & { hub: HubControl };
