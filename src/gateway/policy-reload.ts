/**
 * Reloading the policy file without a restart (admin API, SIGHUP). A file that does not load
 * leaves the running policy in force: a typo must never open the gate or close it for everyone.
 * Both outcomes are audited, so the record shows which policy version made each decision and why
 * it changed.
 */
import { loadPolicy } from '../policy/load.js';
import type { GatewayContext } from './context.js';

export type PolicyReload = { ok: true; version: string; previous: string; changed: boolean } | { ok: false; error: string; version: string };

export interface ReloadActor {
  /** Who asked: an admin token's name, or `signal:SIGHUP`. */
  name: string;
  group: string;
  requestId: string;
}

export async function reloadPolicy(ctx: Pick<GatewayContext, 'config' | 'gatekeeper' | 'audit' | 'log'>, by: ReloadActor): Promise<PolicyReload> {
  const source = ctx.config.policy ?? '(built-in default policy)';
  const current = ctx.gatekeeper.policy.version;
  const base = { time: new Date().toISOString(), requestId: by.requestId, client: by.name, group: by.group, method: 'POST', repoType: 'model' as const, repo: '*', revision: '', commit: null, path: null, sha256: null, rules: [], findings: [], waivers: [], upstreamStatus: null, scanId: null };
  let next;
  try {
    next = loadPolicy(ctx.config.policy);
  } catch (e) {
    const error = (e as Error).message;
    ctx.log.error({ source, error }, 'policy reload failed; the running policy stays in force');
    await ctx.audit.record({ ...base, verdict: 'error', policyVersion: current, message: `policy reload by ${by.name} failed, version ${current} stays in force: ${error}` });
    return { ok: false, error, version: current };
  }
  // Audited before it takes effect: no decision is ever made under a policy the record lacks.
  await ctx.audit.record({ ...base, verdict: 'allow', policyVersion: next.version, message: `policy reloaded by ${by.name} from ${source}: version ${current} -> ${next.version}` });
  ctx.gatekeeper.replacePolicy(next);
  ctx.log.info({ source, previous: current, version: next.version }, 'policy reloaded');
  return { ok: true, version: next.version, previous: current, changed: next.version !== current };
}
