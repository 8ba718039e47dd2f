/**
 * A real stack for gateway tests: the local hub source (a real HTTP server over a directory of
 * repositories made by the real libraries) as upstream, and the gateway in front of it.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadGatewayConfig, type GatewayConfig } from '../../src/gateway/config.js';
import { createGateway, type Gateway, type GatewayDeps } from '../../src/gateway/server.js';
import { startHub, type HubServerOptions } from '../../src/hub/server.js';
import type { HubServer } from '../../src/hub/server.js';
import { FIXTURES } from '../helpers/manifest.js';
import { pythonOf } from '../helpers/python-envs.mjs';

export const PYTHON = pythonOf('MG_PYTHON');
export const HAVE_PYTHON = existsSync(PYTHON);
/** A second environment with huggingface_hub 2.x (test/requirements-hub2.txt), when present. */
export const PYTHON_HUB2 = pythonOf('MG_PYTHON_HUB2');
export const ADMIN = 'mg_test_admin_token_0123456789abcdef';

export interface Stack {
  hub: { app: HubServer; url: string; close: () => Promise<void> };
  gw: Gateway;
  base: string;
  repos: string;
  dataDir: string;
  close(): Promise<void>;
}

/** `dataDir`: start on an existing gateway's data (a restart); `deps`: createGateway's test hooks. */
export async function startStack(opts: { policy?: string; hub?: Partial<HubServerOptions>; config?: Partial<Record<keyof GatewayConfig, unknown>>; dataDir?: string; deps?: GatewayDeps } = {}): Promise<Stack> {
  const repos = mkdtempSync(join(tmpdir(), 'mg-repos-'));
  cpSync(join(FIXTURES, 'repos'), repos, { recursive: true });
  // Same bytes as a clean repo, refused by name through the policy's deny list.
  cpSync(join(repos, 'acme', 'tiny-bert'), join(repos, 'acme', 'denied-bert'), { recursive: true });
  const hub = await startHub({ dir: repos, logger: false, ...(opts.hub ?? {}) });
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'mg-gw-'));
  let policyPath: string | undefined;
  if (opts.policy) {
    policyPath = join(dataDir, 'policy.yaml');
    writeFileSync(policyPath, opts.policy);
  }
  const cfg = loadGatewayConfig({
    env: {},
    flags: { host: '127.0.0.1', port: 0, upstream: hub.url, dataDir, logLevel: 'silent', adminToken: ADMIN, scanWorkers: 1, ...(policyPath ? { policy: policyPath } : {}), ...(opts.config ?? {}) },
  });
  const gw = await createGateway(cfg, opts.deps);
  const base = await gw.listen();
  return {
    hub,
    gw,
    base,
    repos,
    dataDir,
    async close() {
      await gw.close();
      await hub.close();
    },
  };
}

export interface PyResult {
  ok: boolean;
  type?: string;
  message?: string;
  chain?: string[];
  path?: string;
  [k: string]: unknown;
}

const run = promisify(execFile);

/** Run the real Python client (asynchronously: the gateway lives in this process). */
export async function py(base: string, hfHome: string, ...args: string[]): Promise<PyResult> {
  return pyWith(PYTHON, base, hfHome, ...args);
}

export async function pyWith(python: string, base: string, hfHome: string, ...args: string[]): Promise<PyResult> {
  const { stdout } = await run(python, [join(import.meta.dirname, 'hf_client.py'), ...args], {
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: hfHome,
      HF_ENDPOINT: base,
      HF_HOME: hfHome,
      HF_HUB_DISABLE_TELEMETRY: '1',
      HF_HUB_DISABLE_PROGRESS_BARS: '1',
      HF_HUB_DISABLE_XET: '1',
      TRANSFORMERS_VERBOSITY: 'error',
      HF_HUB_ETAG_TIMEOUT: '30',
      HF_HUB_DOWNLOAD_TIMEOUT: '30',
    },
    timeout: 120_000,
    maxBuffer: 1 << 24,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as PyResult;
}

/** Every regular file under a directory (symlinks followed), for "no malicious bytes in the cache". */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

export function containsBytes(dir: string, needle: Buffer): string[] {
  return filesUnder(dir).filter((f) => readFileSync(f).includes(needle));
}

export function tempHome(): string {
  return mkdtempSync(join(tmpdir(), 'mg-hfhome-'));
}
