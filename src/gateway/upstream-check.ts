/**
 * What the gateway says about its upstream when it cannot reach it: at start-up, once, whether
 * the upstream's name resolves at all (a machine without internet access gets a gateway that
 * answers 502 to everything, and the log should say why and how to run offline); for /readyz,
 * why the last probe failed, in words.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/** How to run the gateway without the internet: the README's offline quick start. */
export const OFFLINE_RECIPE = 'to run offline, serve local repositories as the upstream: `modelgate hub --dir fixtures/repos --port 8081` and `modelgate serve --upstream http://127.0.0.1:8081` (README, Quick start)';

export type Resolution = { ok: true } | { ok: false; host: string; code: string };

/** Whether the upstream's host name resolves (IP literals always do). */
export async function resolveUpstream(base: URL): Promise<Resolution> {
  const host = base.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0) return { ok: true };
  try {
    await lookup(host);
    return { ok: true };
  } catch (e) {
    return { ok: false, host, code: (e as NodeJS.ErrnoException).code ?? String(e) };
  }
}

/** The start-up warning for an upstream whose name does not resolve. */
export function unresolvedMessage(base: URL, r: Extract<Resolution, { ok: false }>): string {
  return `upstream ${base.origin} cannot be resolved (${r.code} ${r.host}): every request that needs it will fail with 502 until it can; ${OFFLINE_RECIPE}`;
}

/** Why a probe of the upstream failed, for /readyz: one short phrase. */
export function probeFailure(e: unknown, base: URL): string {
  const err = e as { code?: string; name?: string; message?: string };
  const code = err.code ?? '';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL' || code === 'ENODATA') return `cannot resolve ${base.hostname} (${code})`;
  if (code === 'ECONNREFUSED') return `connection refused by ${base.host}`;
  if (err.name === 'TimeoutError' || code.includes('TIMEOUT')) return `${base.host} did not answer in time`;
  return `${base.host}: ${code || err.message || String(e)}`;
}
