/**
 * Background policy dry runs (dry-run-job.ts): states, progress, one run at a time, the event
 * loop getting turns during a run, failures shown as such, and results kept a bounded time and
 * number.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DryRunJobs } from '../../src/gateway/dry-run-job.js';
import { parsePolicy } from '../../src/policy/load.js';
import type { SqlStore } from '../../src/store/sql.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { AuditRecord, Store } from '../../src/store/types.js';

const RECORDS = 2500;
const DENY = 'version: deny\nrules:\n  repositories:\n    deny: ["acme/*"]\n';
const OPEN = 'version: open\nrules:\n  repositories:\n    deny: []\n';

/** A download refused by repository rules: a file decision that needs no stored scan. */
function refusal(i: number, time: string): AuditRecord {
  return {
    time,
    requestId: `r${i}`,
    client: `c${i % 7}`,
    group: 'default',
    method: 'GET',
    repoType: 'model',
    repo: `acme/m${i % 5}`,
    revision: 'main',
    commit: '1'.repeat(40),
    path: 'pytorch_model.bin',
    sha256: null,
    verdict: 'block',
    rules: [{ rule: 'repositories', action: 'block', reason: `acme/m${i % 5} is denied` }],
    findings: [],
    waivers: [],
    upstreamStatus: null,
    scanId: null,
    policyVersion: 'deny',
    message: null,
  };
}

describe('background dry runs', () => {
  let dir: string;
  let store: SqlStore;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mg-dry-job-'));
    store = openSqliteStore(join(dir, 'store.db'));
    await store.migrate();
    const t = new Date(Date.now() - 3600_000).toISOString();
    for (let i = 0; i < RECORDS; i++) await store.appendAudit(refusal(i, t));
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs in the background with progress, gives the event loop turns, and keeps the result', async () => {
    const jobs = new DryRunJobs(store, { sliceMs: 0 });
    const seen: number[] = [];
    let ticks = 0;
    const timer = setInterval(() => {
      ticks++;
      if (jobs.current) seen.push(jobs.current.progress.read);
    }, 0);
    const { job } = jobs.start(parsePolicy(OPEN, 'candidate'), OPEN, 1, 'ops') as { job: NonNullable<DryRunJobs['current']> };
    // Started, not finished: the request that asked is answered first.
    expect(job.state).toBe('running');
    expect(job.result).toBeNull();
    expect(jobs.current?.id).toBe(job.id);
    await jobs.idle();
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
    // Progress was visible part way (between none and all of the records).
    expect(seen.some((r) => r > 0 && r < RECORDS)).toBe(true);
    expect(job.state).toBe('done');
    expect(job.finishedAt).not.toBeNull();
    expect(job.progress).toEqual({ read: RECORDS, estimate: RECORDS, examined: RECORDS });
    expect(job.result).toMatchObject({ examined: RECORDS, stricter: 0, looser: RECORDS, truncated: false });
    expect(job.result!.flipped.map((f) => f.repo).sort()).toEqual(['acme/m0', 'acme/m1', 'acme/m2', 'acme/m3', 'acme/m4']);
    expect(jobs.get(job.id)).toBe(job);
    expect(jobs.current).toBeNull();
  });

  it('runs one at a time: the same candidate joins the run going on, another is refused', async () => {
    const jobs = new DryRunJobs(store);
    const a = jobs.start(parsePolicy(OPEN, 'candidate'), OPEN, 1, 'ops');
    const again = jobs.start(parsePolicy(OPEN, 'candidate'), OPEN, 1, 'ops');
    const other = jobs.start(parsePolicy(DENY, 'candidate'), DENY, 1, 'ops');
    expect('job' in a && 'job' in again && again.job.id === a.job.id).toBe(true);
    expect('busy' in other && 'job' in a && other.busy.id === a.job.id).toBe(true);
    await jobs.idle();
    const next = jobs.start(parsePolicy(DENY, 'candidate'), DENY, 1, 'ops');
    expect('job' in next).toBe(true);
    await jobs.idle();
    expect('job' in next && next.job.result?.stricter === 0 && next.job.result.looser === 0).toBe(true);
  });

  it('shows a failing store as a failed run with its reason, not a run that never ends', async () => {
    const broken = { ...store, listWaivers: store.listWaivers.bind(store), auditFirstId: store.auditFirstId.bind(store), queryAudit: async () => Promise.reject(new Error('database is locked')) } as unknown as Store;
    const jobs = new DryRunJobs(broken);
    const { job } = jobs.start(parsePolicy(OPEN, 'candidate'), OPEN, 1, 'ops') as { job: NonNullable<DryRunJobs['current']> };
    await jobs.idle();
    expect(job.state).toBe('failed');
    expect(job.error).toBe('database is locked');
    expect(job.result).toBeNull();
    expect(job.finishedAt).not.toBeNull();
    // And the next run may start.
    expect('job' in jobs.start(parsePolicy(OPEN, 'candidate'), OPEN, 1, 'ops')).toBe(true);
    await jobs.idle();
  });

  it('stops a run when the gateway closes, and starts none after', async () => {
    const jobs = new DryRunJobs(store, { sliceMs: 0 });
    const { job } = jobs.start(parsePolicy(OPEN, 'candidate'), OPEN, 1, 'ops') as { job: NonNullable<DryRunJobs['current']> };
    await jobs.close();
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/shut down/);
    expect(() => jobs.start(parsePolicy(DENY, 'candidate'), DENY, 1, 'ops')).toThrow(/shutting down/);
  });

  it('keeps finished results for a bounded time and number', async () => {
    let now = Date.now();
    const jobs = new DryRunJobs(store, { keep: 2, keepMs: 60_000, now: () => now });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const text = `version: v${i}\nrules: {}\n`;
      const s = jobs.start(parsePolicy(text, 'candidate'), text, 1, 'ops') as { job: { id: string } };
      ids.push(s.job.id);
      await jobs.idle();
    }
    // The third start dropped none yet (two were finished); a look after it keeps the newest two.
    expect(jobs.get(ids[0]!)).toBeNull();
    expect(jobs.get(ids[1]!)?.state).toBe('done');
    expect(jobs.get(ids[2]!)?.state).toBe('done');
    now += 60_001;
    expect(jobs.get(ids[1]!)).toBeNull();
    expect(jobs.get(ids[2]!)).toBeNull();
  });
});
