/**
 * Starts an exposure run when a waiver stops applying (it expired, or an admin revoked it): the
 * files it let through may now be refused, and whoever pulled them should be known. Every
 * replica watches; a waiver has one run whoever asks first (ExposureJob.request joins it), so
 * looking back over a window larger than the polling period loses nothing across restarts.
 */
import type { Store, Waiver } from '../../store/types.js';
import type { ExposureTrigger } from './job.js';

/** How far back an ended waiver still starts its run (a gateway down for longer misses it). */
export const WAIVER_LOOKBACK_MS = 7 * 24 * 3600_000;

export interface WaiverWatchDeps {
  store: Pick<Store, 'listWaivers'>;
  request(trigger: ExposureTrigger): Promise<string>;
  now?: () => Date;
}

/** When the waiver stopped applying, or null while it still applies. */
export function endedAt(w: Waiver, now: Date): { at: Date; how: 'expired' | 'revoked' } | null {
  const revoked = w.revokedAt !== null ? new Date(w.revokedAt) : null;
  const expires = new Date(w.expiresAt);
  if (revoked && revoked.getTime() <= now.getTime() && (revoked.getTime() < expires.getTime() || Number.isNaN(expires.getTime()))) return { at: revoked, how: 'revoked' };
  if (expires.getTime() <= now.getTime()) return { at: expires, how: 'expired' };
  return null;
}

export class WaiverWatch {
  private readonly started = new Set<string>();

  constructor(private readonly deps: WaiverWatchDeps) {}

  /** Requests a run for each waiver that ended within the look-back window; returns their run ids. */
  async check(): Promise<string[]> {
    const now = this.deps.now?.() ?? new Date();
    const ids: string[] = [];
    for (const w of await this.deps.store.listWaivers()) {
      if (this.started.has(w.id)) continue;
      const ended = endedAt(w, now);
      if (!ended || now.getTime() - ended.at.getTime() > WAIVER_LOOKBACK_MS) continue;
      ids.push(await this.deps.request({ reason: 'waiver', waiverId: w.id, detail: `waiver ${w.id} ${ended.how} at ${ended.at.toISOString()}` }));
      this.started.add(w.id);
    }
    return ids;
  }
}
