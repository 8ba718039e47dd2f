/**
 * Gateway configuration: defaults < YAML file < environment (MODELGATE_*) < flags, validated
 * with zod so a bad value is one clear line naming the key.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseBlobStoreLocation } from '../store/blobs-open.js';
import { StoreError } from '../store/errors.js';


export const GatewayConfigSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.coerce.number().int().min(0).max(65535).default(8080),
    /** Base URL clients use to reach the gateway (links in refusals and pagination); derived from host:port if unset. */
    publicUrl: z.string().url().optional(),
    upstream: z.string().url().default('https://huggingface.co'),
    /**
     * Hosts the upstream may redirect downloads to (CDNs): a host name, or `.domain` for every host
     * under it. The upstream's own host is always allowed; credentials go to no other host. The
     * default follows the Hub's CDN domains (cdn-lfs*.hf.co, cas-bridge.xethub.hf.co,
     * cdn-lfs*.huggingface.co), so a renamed CDN host keeps working.
     */
    upstreamRedirectHosts: z
      .preprocess((v) => (typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter(Boolean) : v), z.array(z.string().regex(/^(\*?\.)?[A-Za-z0-9.-]+(:\d+)?$/, 'expected a host name, or .domain for every host under it')))
      .default(['.hf.co', '.huggingface.co']),
    dataDir: z.string().min(1).default('./modelgate-data'),
    /** Store URL: a path / sqlite:PATH (default: <dataDir>/modelgate.db) or postgres://... */
    store: z.string().optional(),
    /** Blob store: a directory / file:PATH (default: <dataDir>/cache) or s3://bucket/prefix?endpoint=… */
    blobStore: z.string().optional(),
    policy: z.string().optional(),
    /** Redis URL: enables single flight across replicas that share the store and data directory. */
    redis: z.string().url().optional(),
    /** How long a replica's claim on a download lasts without renewal (a dead replica's claim expires). */
    flightLeaseMs: z.coerce.number().int().min(500).default(30_000),
    scanWorkers: z.coerce.number().int().min(1).max(64).default(2),
    /** How long HEAD waits for a verdict before answering 503 + Retry-After (clients retry). */
    headHoldMs: z.coerce.number().int().min(0).default(8000),
    /** Upper bound on how long a GET waits for download + scan. */
    verdictTimeoutMs: z.coerce.number().int().min(1000).default(30 * 60 * 1000),
    /** How long a branch name stays resolved to a commit. */
    branchTtlMs: z.coerce.number().int().min(0).default(60_000),
    /** 'pass' forwards the user's Hub token upstream; 'replace' uses upstreamToken instead; 'none' sends none. */
    upstreamAuth: z.enum(['pass', 'replace', 'none']).default('pass'),
    upstreamToken: z.string().optional(),
    /** Require a gateway client token (mg_...) on every request. */
    requireClientToken: z.coerce.boolean().default(false),
    /** An admin token to install at start-up (stored hashed), e.g. from MODELGATE_ADMIN_TOKEN. */
    adminToken: z.string().min(16).optional(),
    auditWebhook: z.string().url().optional(),
    /** Also send audit records to syslog: udp://host:port or tcp://host:port (RFC 5424). */
    auditSyslog: z.string().regex(/^(udp|tcp):\/\/[^/\s]+:\d+$/, 'expected udp://host:port or tcp://host:port').optional(),
    /** Per upstream read; also the overall bound on one upstream API answer. */
    upstreamTimeoutMs: z.coerce.number().int().min(100).default(30_000),
    /** Overall bound on one upstream download, however steadily it trickles. */
    downloadTimeoutMs: z.coerce.number().int().min(1000).default(60 * 60_000),
    /** Largest upstream API (JSON) answer the gateway reads. */
    upstreamApiMaxBytes: z.coerce.number().int().min(1024).default(32 << 20),
    /**
     * Bound on gathering a repository's facts for a decision (repo info, config.json for custom
     * code): past it the missing facts are unknown, which the policy judges (fail closed).
     */
    factsTimeoutMs: z.coerce.number().int().min(100).default(60_000),
    /** A config.json larger than this is not fetched for the custom-code fact (which is then unknown). */
    configJsonMaxBytes: z.coerce.number().int().min(1024).default(4 << 20),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /**
     * A crawl store (postgres://… or a SQLite path) whose study report (`modelgate report`) the
     * console shows at /console/study. Unset: the console says there is none.
     */
    crawlStore: z.string().min(1).optional(),
    /** Upstream downloads running at once in one process; more wait (up to downloadQueueMax), beyond that 503. */
    maxDownloads: z.coerce.number().int().min(1).max(1024).default(16),
    /** Downloads waiting for a slot; a request past this is refused (503, Retry-After). */
    downloadQueueMax: z.coerce.number().int().min(0).max(100_000).default(256),
    /** Cached files re-evaluated at once by an exposure run (docs/console.md, Exposure). */
    exposureConcurrency: z.coerce.number().int().min(1).max(16).default(2),
    /** Scanner limits passed to every scan (see README, Limits). */
    limits: z.record(z.string(), z.number().positive()).default({}),
  })
  .strict();

export type GatewayConfig = z.infer<typeof GatewayConfigSchema>;

const ENV_KEYS: Record<string, keyof GatewayConfig> = {
  MODELGATE_HOST: 'host',
  MODELGATE_PORT: 'port',
  MODELGATE_PUBLIC_URL: 'publicUrl',
  MODELGATE_UPSTREAM: 'upstream',
  MODELGATE_DATA_DIR: 'dataDir',
  MODELGATE_STORE: 'store',
  MODELGATE_BLOB_STORE: 'blobStore',
  MODELGATE_POLICY: 'policy',
  MODELGATE_SCAN_WORKERS: 'scanWorkers',
  MODELGATE_REDIS: 'redis',
  MODELGATE_FLIGHT_LEASE_MS: 'flightLeaseMs',
  MODELGATE_UPSTREAM_AUTH: 'upstreamAuth',
  MODELGATE_UPSTREAM_TOKEN: 'upstreamToken',
  MODELGATE_REQUIRE_CLIENT_TOKEN: 'requireClientToken',
  MODELGATE_ADMIN_TOKEN: 'adminToken',
  MODELGATE_AUDIT_WEBHOOK: 'auditWebhook',
  MODELGATE_AUDIT_SYSLOG: 'auditSyslog',
  MODELGATE_LOG_LEVEL: 'logLevel',
  MODELGATE_HEAD_HOLD_MS: 'headHoldMs',
  MODELGATE_UPSTREAM_REDIRECT_HOSTS: 'upstreamRedirectHosts',
  MODELGATE_DOWNLOAD_TIMEOUT_MS: 'downloadTimeoutMs',
  MODELGATE_UPSTREAM_API_MAX_BYTES: 'upstreamApiMaxBytes',
  MODELGATE_FACTS_TIMEOUT_MS: 'factsTimeoutMs',
  MODELGATE_CRAWL_STORE: 'crawlStore',
  MODELGATE_EXPOSURE_CONCURRENCY: 'exposureConcurrency',
  MODELGATE_MAX_DOWNLOADS: 'maxDownloads',
  MODELGATE_DOWNLOAD_QUEUE_MAX: 'downloadQueueMax',
};

export class ConfigError extends Error {}

function formatIssue(source: string, issue: z.core.$ZodIssue): string {
  const key = issue.path.map(String).join('.') || '(root)';
  return `${source}: ${key}: ${issue.message}`;
}

/** Merge and validate. `flags` are already-parsed CLI options (undefined = not given). */
export function loadGatewayConfig(opts: { file?: string; env?: NodeJS.ProcessEnv; flags?: Partial<Record<keyof GatewayConfig, unknown>> }): GatewayConfig {
  const env = opts.env ?? process.env;
  let fromFile: Record<string, unknown> = {};
  const file = opts.file ?? env['MODELGATE_CONFIG'];
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (e) {
      throw new ConfigError(`${file}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
    }
    if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) throw new ConfigError(`${file}: expected a mapping of settings`);
    fromFile = (parsed ?? {}) as Record<string, unknown>;
    const fileCheck = GatewayConfigSchema.partial().safeParse(fromFile);
    if (!fileCheck.success) throw new ConfigError(formatIssue(file, fileCheck.error.issues[0]!));
  }
  const fromEnv: Record<string, unknown> = {};
  for (const [k, key] of Object.entries(ENV_KEYS)) {
    const v = env[k];
    if (v !== undefined && v !== '') fromEnv[key] = key === 'requireClientToken' ? v === '1' || v.toLowerCase() === 'true' : v;
  }
  const envCheck = GatewayConfigSchema.partial().safeParse(fromEnv);
  if (!envCheck.success) {
    const issue = envCheck.error.issues[0]!;
    const envName = Object.entries(ENV_KEYS).find(([, key]) => key === issue.path[0])?.[0] ?? 'environment';
    throw new ConfigError(`${envName}: ${issue.message}`);
  }
  const fromFlags = Object.fromEntries(Object.entries(opts.flags ?? {}).filter(([, v]) => v !== undefined));
  const merged = GatewayConfigSchema.safeParse({ ...fromFile, ...fromEnv, ...fromFlags });
  if (!merged.success) throw new ConfigError(formatIssue('configuration', merged.error.issues[0]!));
  const cfg = merged.data;
  cfg.dataDir = resolve(cfg.dataDir);
  cfg.store ??= join(cfg.dataDir, 'modelgate.db');
  try {
    // Checked here so that a bad URL stops the start-up with one line naming the key.
    parseBlobStoreLocation(cfg.blobStore, env);
  } catch (e) {
    if (e instanceof StoreError) throw new ConfigError(`configuration: blobStore: ${e.message}`);
    throw e;
  }
  if (cfg.upstreamAuth === 'replace' && !cfg.upstreamToken) throw new ConfigError('configuration: upstreamAuth is "replace" but no upstreamToken is set');
  return cfg;
}

export function publicBase(cfg: GatewayConfig, boundPort: number): string {
  if (cfg.publicUrl) return cfg.publicUrl.replace(/\/+$/, '');
  const host = cfg.host === '0.0.0.0' || cfg.host === '::' ? '127.0.0.1' : cfg.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
}
