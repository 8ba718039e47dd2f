/**
 * Reloading the policy file without a restart (admin API, SIGHUP). A file that does not load
 * leaves the running policy in force: a typo must never open the gate or close it for everyone.
 * Both outcomes are audited, so the record shows which policy version made each decision and why
 * it changed.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants as fsc, fstatSync, openSync, readSync } from 'node:fs';
import { defaultPolicy, parsePolicy } from '../policy/load.js';
import { PolicyError } from '../policy/schema.js';
import type { CompiledPolicy } from '../policy/evaluate.js';
import type { PolicyLoadEvent } from '../store/console-types.js';
import type { Store } from '../store/types.js';
import type { GatewayContext } from './context.js';

/** Far above any real policy; a bound on what a reload reads. */
export const MAX_POLICY_BYTES = 1 << 20;

/**
 * The policy file's text, read without ever blocking: opened non-blocking and refused unless it
 * is a regular file (a FIFO or a device would stall the event loop, and with it every request,
 * on SIGHUP) of at most MAX_POLICY_BYTES.
 */
export function readPolicyText(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDONLY | fsc.O_NONBLOCK);
  } catch (e) {
    throw new PolicyError(`cannot read policy file ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new PolicyError(`policy file ${path} is not a regular file`);
    if (st.size > MAX_POLICY_BYTES) throw new PolicyError(`policy file ${path} is larger than ${MAX_POLICY_BYTES} bytes`);
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

export const BUILTIN_POLICY_SOURCE = '(built-in default policy)';

/** A policy as loaded, with the text it came from (null for the built-in default). */
export interface LoadedPolicy {
  policy: CompiledPolicy;
  text: string | null;
  source: string;
}

/** The configured policy file (read as above) and its text, or the default policy when none is configured. */
export function loadGatewayPolicySource(path: string | null | undefined): LoadedPolicy {
  if (!path) return { policy: defaultPolicy(), text: null, source: BUILTIN_POLICY_SOURCE };
  const text = readPolicyText(path);
  return { policy: parsePolicy(text, path), text, source: path };
}

/** The configured policy file (read as above), or the default policy when none is configured. */
export function loadGatewayPolicy(path: string | null | undefined): CompiledPolicy {
  return loadGatewayPolicySource(path).policy;
}

/** The content hash a policy's history is keyed by: of its text, or of its version when it has none. */
export function policyContentHash(text: string | null, version: string): string {
  return createHash('sha256').update(text ?? `builtin:${version}`).digest('hex');
}

/** Adds a policy put in force to the store's history (the console's Policy page). */
export async function recordPolicyLoad(store: Store, p: { version: string; text: string | null; source: string }, event: PolicyLoadEvent, actor: string): Promise<void> {
  await store.recordPolicyLoad({ at: new Date().toISOString(), version: p.version, sha256: policyContentHash(p.text, p.version), source: p.source, event, actor }, p.text);
}

export type PolicyReload = { ok: true; version: string; previous: string; changed: boolean } | { ok: false; error: string; version: string };

export interface ReloadActor {
  /** Who asked: an admin token's name, or `signal:SIGHUP`. */
  name: string;
  group: string;
  requestId: string;
}

export async function reloadPolicy(ctx: Pick<GatewayContext, 'config' | 'gatekeeper' | 'audit' | 'log' | 'store'>, by: ReloadActor): Promise<PolicyReload> {
  const source = ctx.config.policy ?? BUILTIN_POLICY_SOURCE;
  const current = ctx.gatekeeper.policy.version;
  const base = { time: new Date().toISOString(), requestId: by.requestId, client: by.name, group: by.group, method: 'POST', repoType: 'model' as const, repo: '*', revision: '', commit: null, path: null, sha256: null, rules: [], findings: [], waivers: [], upstreamStatus: null, scanId: null };
  let loaded: LoadedPolicy;
  try {
    loaded = loadGatewayPolicySource(ctx.config.policy);
  } catch (e) {
    const error = (e as Error).message;
    ctx.log.error({ source, error }, 'policy reload failed; the running policy stays in force');
    await ctx.audit.record({ ...base, verdict: 'error', policyVersion: current, message: `policy reload by ${by.name} failed, version ${current} stays in force: ${error}` });
    return { ok: false, error, version: current };
  }
  const next = loaded.policy;
  // Audited before it takes effect: no decision is ever made under a policy the record lacks.
  await ctx.audit.record({ ...base, verdict: 'allow', policyVersion: next.version, message: `policy reloaded by ${by.name} from ${source}: version ${current} -> ${next.version}` });
  // The history is for people (the console); the audit record above is what proves the change.
  await recordPolicyLoad(ctx.store, { version: next.version, text: loaded.text, source }, 'reload', by.name).catch((e: unknown) => ctx.log.warn({ err: (e as Error).message }, 'policy history not recorded'));
  ctx.gatekeeper.replacePolicy(next);
  ctx.log.info({ source, previous: current, version: next.version }, 'policy reloaded');
  return { ok: true, version: next.version, previous: current, changed: next.version !== current };
}
