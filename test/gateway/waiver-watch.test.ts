/**
 * Issue 11 item 8: a waiver that stops applying (expired, or revoked by an admin) starts an
 * exposure run for the files it let through, once, whichever check sees it first.
 */
import { describe, expect, it } from 'vitest';
import type { ExposureTrigger } from '../../src/gateway/exposure/job.js';
import { WaiverWatch } from '../../src/gateway/exposure/waiver-watch.js';
import type { Waiver } from '../../src/store/types.js';

const NOW = new Date('2026-03-10T12:00:00.000Z');
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3600_000).toISOString();

function waiver(id: string, expiresAt: string, revokedAt: string | null = null): Waiver {
  return { id, repo: 'acme/*', sha256: null, rule: null, reason: 'reviewed', author: 'root', createdAt: hoursAgo(24 * 30), expiresAt, revokedAt };
}

function watch(waivers: Waiver[]) {
  const asked: ExposureTrigger[] = [];
  const w = new WaiverWatch({
    store: { listWaivers: async () => waivers },
    request: async (t) => {
      asked.push(t);
      return `run-${asked.length}`;
    },
    now: () => NOW,
  });
  return { w, asked };
}

describe('waiver watch', () => {
  it('asks for one run per waiver that expired or was revoked within the look-back window, and says which', async () => {
    const { w, asked } = watch([
      waiver('expired', hoursAgo(1)),
      waiver('revoked', hoursAgo(-48), hoursAgo(2)),
      waiver('active', hoursAgo(-1)),
      waiver('long-gone', hoursAgo(24 * 8)),
    ]);
    expect(await w.check()).toEqual(['run-1', 'run-2']);
    expect(asked).toEqual([
      { reason: 'waiver', waiverId: 'expired', detail: `waiver expired expired at ${hoursAgo(1)}` },
      { reason: 'waiver', waiverId: 'revoked', detail: `waiver revoked revoked at ${hoursAgo(2)}` },
    ]);
  });

  it('asks once per waiver across checks', async () => {
    const { w, asked } = watch([waiver('expired', hoursAgo(1))]);
    await w.check();
    expect(await w.check()).toEqual([]);
    expect(asked).toHaveLength(1);
  });
});
