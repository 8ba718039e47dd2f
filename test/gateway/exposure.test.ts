/**
 * The exposure job on SQLite and PostgreSQL: cached blobs rescanned by the running engine (never
 * downloaded), the running policy applied to the decisions that served them, each worsened file
 * recorded and announced once (store, webhook, syslog), and runs that survive a crash or a
 * shutdown mid-way. The "older scanner" is the real engine's report of the same bytes without
 * the finding an older rules version lacked.
 */
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditSink } from '../../src/gateway/audit-sink.js';
import { EXPOSURE_CLIENT, ExposureJob, runIdFor } from '../../src/gateway/exposure/job.js';
import { scanBlobFile } from '../../src/gateway/scan-blob.js';
import { defaultPolicy } from '../../src/policy/load.js';
import { Engine } from '../../src/scan/engine.js';
import type { FileReport } from '../../src/scan/report.js';
import { openFsBlobStore, type FsBlobStore } from '../../src/store/blobs-fs.js';
import type { SqlStore } from '../../src/store/sql.js';
import type { AuditRecord } from '../../src/store/types.js';
import { FIXTURES } from '../helpers/manifest.js';
import { backends, type Backend } from '../study/backends.js';

const OLD = 'scanner-old+000000000000';
const NEW = 'scanner-new+111111111111';
const T = new Date('2026-03-10T12:00:00.000Z');
const at = (h: number) => new Date(T.getTime() - h * 3600_000).toISOString();
const C1 = '1'.repeat(40);
const EVIL = readFileSync(join(FIXTURES, 'repos', 'acme', 'evil-bert', 'pytorch_model.bin'));
const CLEAN = readFileSync(join(FIXTURES, 'repos', 'acme', 'tiny-bert', 'model.safetensors'));
const EVIL_SHA = createHash('sha256').update(EVIL).digest('hex');
const CLEAN_SHA = createHash('sha256').update(CLEAN).digest('hex');
const silent = { info: () => {}, warn: () => {} };

const list = await backends();
const engine = new Engine({});
let syslog: ReturnType<typeof createSocket>;
let syslogPort = 0;
const datagrams: string[] = [];
let webhook: ReturnType<typeof createServer>;
let webhookUrl = '';
const posted: string[] = [];

beforeAll(async () => {
  syslog = createSocket('udp4');
  syslog.on('message', (m) => datagrams.push(m.toString('utf8')));
  await new Promise<void>((r) => syslog.bind(0, '127.0.0.1', () => r()));
  syslogPort = (syslog.address() as AddressInfo).port;
  webhook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      posted.push(...body.split('\n').filter(Boolean));
      res.end('ok');
    });
  });
  await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', () => r()));
  webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/audit`;
});
afterAll(async () => {
  syslog?.close();
  await new Promise((r) => webhook?.close(r));
  for (const b of list) await b.cleanup();
});

async function putBlob(blobs: FsBlobStore, bytes: Buffer): Promise<string> {
  const w = await blobs.create();
  await w.write(bytes);
  const h = await w.finish();
  await w.commit(h);
  return h;
}

/** What the older rules version said: the same report without the dangerous-global finding. */
function olderReport(r: FileReport): FileReport {
  const findings = r.findings.filter((f) => f.rule !== 'PICKLE_DANGEROUS_GLOBAL');
  return { ...r, findings, maxSeverity: findings.length ? r.maxSeverity : null };
}

function served(over: Partial<AuditRecord> & { time: string; client: string }): AuditRecord {
  return { requestId: `req-${over.client}`, group: 'default', method: 'GET', repoType: 'model', repo: 'acme/evil-bert', revision: 'main', commit: C1, path: 'pytorch_model.bin', sha256: EVIL_SHA, verdict: 'allow', rules: [], findings: [], waivers: [], upstreamStatus: null, scanId: 'old-evil', policyVersion: 'p', message: null, ...over };
}

/** A gateway's cache as the older engine left it: blobs, scans under OLD, and the downloads it allowed. */
async function oldCache(store: SqlStore, blobs: FsBlobStore): Promise<void> {
  expect(await putBlob(blobs, EVIL)).toBe(EVIL_SHA);
  expect(await putBlob(blobs, CLEAN)).toBe(CLEAN_SHA);
  const evilPath = (await blobs.localPath(EVIL_SHA))!;
  const cleanPath = (await blobs.localPath(CLEAN_SHA))!;
  const older = olderReport(await scanBlobFile(engine, evilPath, 'pytorch_model.bin'));
  expect(older.findings).toEqual([]);
  await store.putScan({ id: 'old-evil', sha256: EVIL_SHA, engineKey: OLD, report: older, maxSeverity: null, complete: older.complete, createdAt: at(100) });
  const clean = await scanBlobFile(engine, cleanPath, 'model.safetensors');
  await store.putScan({ id: 'old-clean', sha256: CLEAN_SHA, engineKey: OLD, report: clean, maxSeverity: null, complete: true, createdAt: at(100) });
  // A scan whose blob has left the cache: it cannot be judged again without a download.
  await store.putScan({ id: 'old-gone', sha256: 'e'.repeat(64), engineKey: OLD, report: clean, maxSeverity: null, complete: true, createdAt: at(100) });
  await store.appendAudit(served({ time: at(50), client: 'alice' }));
  await store.appendAudit(served({ time: at(40), client: 'bob' }));
  await store.appendAudit(served({ time: at(30), client: 'carol', method: 'HEAD' }));
  await store.appendAudit(served({ time: at(20), client: 'alice', repo: 'acme/tiny-bert', path: 'model.safetensors', sha256: CLEAN_SHA, scanId: 'old-clean' }));
}

function job(store: SqlStore, blobs: FsBlobStore, opts: { sink?: { forward(r: AuditRecord, id: number): void }; scans?: string[]; now?: Date; scan?: (p: string, n: string) => Promise<FileReport> } = {}): ExposureJob {
  return new ExposureJob({
    store,
    blobs,
    scan:
      opts.scan ??
      (async (p, n) => {
        opts.scans?.push(n);
        return scanBlobFile(engine, p, n);
      }),
    engineKey: NEW,
    policy: () => defaultPolicy(),
    audit: opts.sink ?? { forward: () => {} },
    log: silent,
    concurrency: 2,
    now: () => opts.now ?? T,
  });
}

const exposureRecords = async (store: SqlStore) => (await store.queryAudit({ limit: 1000 })).filter((r) => r.method === 'EXPOSURE');

function suite(b: Backend): void {
  describe.skipIf(b.skip !== null)(`exposure job on ${b.name}${b.skip ? ` — SKIPPED: ${b.skip}` : ''}`, () => {
    const fresh = async () => {
      const store = (await b.fresh()).store;
      const blobs = await openFsBlobStore(mkdtempSync(join(tmpdir(), 'mg-exposure-')));
      await oldCache(store, blobs);
      return { store, blobs };
    };

    it('after an engine change rescans the cached blobs, lists the worse file once, and announces it to the store, webhook and syslog', async () => {
      const { store, blobs } = await fresh();
      const sink = new AuditSink(store, webhookUrl, `udp://127.0.0.1:${syslogPort}`);
      const scans: string[] = [];
      try {
        const j = job(store, blobs, { sink, scans });
        await j.startUp();
        await j.idle();
        const runs = await store.listExposureRuns();
        expect(runs).toHaveLength(1);
        expect(runs[0]).toMatchObject({ id: runIdFor({ reason: 'engine', previous: [] }, NEW), reason: 'engine', detail: `engine ${OLD} -> ${NEW}`, engineKey: NEW, total: 3, finishedAt: T.toISOString() });
        expect(await store.exposureProgress(runs[0]!.id)).toEqual({ pending: 0, running: 0, done: 2, skipped: 1, failed: 0 });
        expect(await store.exposureItemNotes(runs[0]!.id)).toEqual([{ sha256: 'e'.repeat(64), state: 'skipped', note: 'the blob is no longer cached (files are never downloaded again for a re-evaluation)' }]);
        // Each cached blob scanned once by the new engine, under the name it was served as.
        expect(scans.sort()).toEqual(['model.safetensors', 'pytorch_model.bin']);
        expect((await store.getScan(EVIL_SHA, NEW))!.report.findings.map((f) => f.rule)).toContain('PICKLE_DANGEROUS_GLOBAL');

        const exposures = await store.listExposures();
        expect(exposures).toHaveLength(1);
        const bob = (await store.queryAudit({ client: 'bob' }))[0]!;
        expect(exposures[0]).toMatchObject({ sha256: EVIL_SHA, repo: 'acme/evil-bert', commit: C1, path: 'pytorch_model.bin', group: 'default', before: 'allow', after: 'block', basisAuditId: bob.id, engineKey: NEW });
        expect(exposures[0]!.rules[0]).toMatchObject({ rule: 'scan-severity', action: 'block' });

        const announced = await exposureRecords(store);
        expect(announced).toHaveLength(1);
        const rec = announced[0]!;
        expect(rec).toMatchObject({ client: EXPOSURE_CLIENT, verdict: 'block', sha256: EVIL_SHA, repo: 'acme/evil-bert', path: 'pytorch_model.bin', requestId: `exposure-${runs[0]!.id}-${bob.id}` });
        expect(rec.message).toBe(`exposure: acme/evil-bert@${C1.slice(0, 12)}/pytorch_model.bin was allow when served and is now block (${exposures[0]!.rules[0]!.reason}); served 2 times, latest to bob, alice`);
        expect(exposures[0]!.auditId).toBe(rec.id);

        const who = await store.servedDownloads(EVIL_SHA);
        expect(who.total).toBe(2);
        expect(who.downloads.map((d) => d.client)).toEqual(['bob', 'alice']);
        // Several files at once (the exposure page's 20): each its newest `limit`, its own total, in order.
        const none = 'f'.repeat(64);
        const many = await store.servedDownloadsOf([EVIL_SHA, CLEAN_SHA, EVIL_SHA, none], 1);
        expect([...many.keys()]).toEqual([EVIL_SHA, CLEAN_SHA, none]);
        expect([...many.values()].map((v) => [v.total, v.downloads.map((d) => d.client)])).toEqual([[2, ['bob']], [1, ['alice']], [0, []]]);
        expect(many.get(EVIL_SHA)!.downloads[0]).toEqual(who.downloads[0]);
        expect((await store.servedDownloadsOf([CLEAN_SHA, EVIL_SHA], 10)).get(EVIL_SHA)!.downloads.map((d) => d.client)).toEqual(['bob', 'alice']);
        expect((await store.servedDownloadsOf([])).size).toBe(0);

        // The same record reached the SIEM sinks (both best effort: wait for them).
        for (let i = 0; i < 100 && (posted.length === 0 || datagrams.length === 0); i++) await new Promise((r) => setTimeout(r, 20));
        const hook = posted.map((l) => JSON.parse(l) as AuditRecord).find((r) => r.method === 'EXPOSURE' && r.sha256 === EVIL_SHA && r.id === rec.id);
        expect(hook?.message).toBe(rec.message);
        const line = datagrams.find((d) => d.includes(`"requestId":"${rec.requestId}"`) && d.includes(EVIL_SHA));
        expect(line).toMatch(/^<132>1 /);

        // Again: the engine run is done; a new run by hand finds nothing new to announce.
        await j.startUp();
        await j.idle();
        expect(await store.listExposureRuns()).toHaveLength(1);
        const manual = await j.request({ reason: 'manual', by: 'ops' });
        await j.idle();
        expect((await store.getExposureRun(manual))!.finishedAt).not.toBeNull();
        expect(await store.listExposures()).toHaveLength(1);
        expect(await exposureRecords(store)).toHaveLength(1);
      } finally {
        sink.close();
        await store.close();
      }
    });

    it("keeps a finished run's counts on the run, and counts a run an older build finished once", async () => {
      const { store, blobs } = await fresh();
      try {
        const j = job(store, blobs);
        await j.startUp();
        await j.idle();
        const [run] = await store.listExposureRuns();
        const kept = async () => (await sql<{ d: number | null; s: number | null; f: number | null }>`select done_items as d, skipped_items as s, failed_items as f from exposure_runs where id = ${run!.id}`.execute(store.db)).rows[0];
        expect(await kept()).toEqual({ d: 2, s: 1, f: 0 });
        // Read from the run, not the items: the page's first view reads one row, not one per cached file.
        await sql`delete from exposure_items where run_id = ${run!.id} and state = 'done'`.execute(store.db);
        expect(await store.exposureProgress(run!.id)).toEqual({ pending: 0, running: 0, done: 2, skipped: 1, failed: 0 });
        // A run finished by a build without the counts: counted from its items, then kept.
        await sql`update exposure_runs set done_items = null, skipped_items = null, failed_items = null where id = ${run!.id}`.execute(store.db);
        expect(await store.exposureProgress(run!.id)).toEqual({ pending: 0, running: 0, done: 0, skipped: 1, failed: 0 });
        expect(await kept()).toEqual({ d: 0, s: 1, f: 0 });
      } finally {
        await store.close();
      }
    });

    it('resumes a run that a crashed process left half done, without announcing a file twice', async () => {
      const { store, blobs } = await fresh();
      try {
        // The crashed process had claimed the evil file (lease until T + 1 min) and recorded its
        // exposure with the audit record, then died before settling the file.
        const runId = runIdFor({ reason: 'engine', previous: [OLD] }, NEW);
        expect(await store.createExposureRun({ id: runId, reason: 'engine', detail: 'x', engineKey: NEW, policyVersion: 'p', createdAt: T.toISOString(), finishedAt: null, total: 0 })).toBe(true);
        await sql`update exposure_items set state = 'running', owner = 'dead', lease_until = ${new Date(T.getTime() + 60_000).toISOString()} where sha256 = ${EVIL_SHA}`.execute(store.db);
        const bob = (await store.queryAudit({ client: 'bob' }))[0]!;
        const announcement: AuditRecord = { ...served({ time: T.toISOString(), client: EXPOSURE_CLIENT }), method: 'EXPOSURE', verdict: 'block', requestId: 'exposure-by-the-dead-process' };
        const { auditId: first } = await store.addExposure({ runId, foundAt: T.toISOString(), sha256: EVIL_SHA, repoType: 'model', repo: 'acme/evil-bert', commit: C1, path: 'pytorch_model.bin', group: 'default', basisAuditId: bob.id!, before: 'allow', after: 'block', rules: [], findings: [], scanId: null, engineKey: NEW, auditId: null }, announcement);
        expect(first).not.toBeNull();

        // Before the lease runs out the file stays the dead process's.
        const early = job(store, blobs);
        await early.startUp();
        await early.idle();
        expect((await store.exposureProgress(runId)).running).toBe(1);
        expect((await store.getExposureRun(runId))!.finishedAt).toBeNull();

        const forwarded: number[] = [];
        const later = job(store, blobs, { now: new Date(T.getTime() + 120_000), sink: { forward: (_r, id) => forwarded.push(id) } });
        await later.startUp();
        await later.idle();
        expect(await store.exposureProgress(runId)).toEqual({ pending: 0, running: 0, done: 2, skipped: 1, failed: 0 });
        expect((await store.getExposureRun(runId))!.finishedAt).not.toBeNull();
        const exposures = await store.listExposures();
        expect(exposures).toHaveLength(1);
        expect(exposures[0]!.auditId).toBe(first);
        expect((await exposureRecords(store)).map((r) => r.id)).toEqual([first]);
        expect(forwarded).toEqual([]);
      } finally {
        await store.close();
      }
    });

    it('announces a file once when replicas work on the same runs at once', async () => {
      const { store, blobs } = await fresh();
      try {
        const forwarded: number[] = [];
        const sink = { forward: (_r: AuditRecord, id: number) => forwarded.push(id) };
        const [a, b2] = [job(store, blobs, { sink }), job(store, blobs, { sink })];
        await Promise.all([a.startUp(), b2.startUp(), a.request({ reason: 'manual', by: 'ops' }), b2.request({ reason: 'manual', by: 'ops' })]);
        await Promise.all([a.idle(), b2.idle()]);
        expect(await store.listExposureRuns()).toHaveLength(3);
        const records = await exposureRecords(store);
        expect(records).toHaveLength(1);
        expect((await store.listExposures()).map((e) => e.auditId)).toEqual([records[0]!.id]);
        expect(forwarded).toEqual([records[0]!.id]);
      } finally {
        await store.close();
      }
    });

    it('gives its files back on shutdown, and the next process finishes the run', async () => {
      const { store, blobs } = await fresh();
      try {
        let started!: () => void;
        const scanning = new Promise<void>((r) => (started = r));
        const inFlight: Array<(e: Error) => void> = [];
        let poolClosed = false;
        const a = job(store, blobs, {
          scan: () => {
            started();
            if (poolClosed) return Promise.reject(new Error('scan pool is closed'));
            return new Promise<FileReport>((_, reject) => inFlight.push(reject));
          },
        });
        const runId = await a.request({ reason: 'manual', by: 'ops' });
        await scanning;
        const closing = a.close();
        // The gateway closes its scan pool next, which fails the scans in flight.
        poolClosed = true;
        for (const fail of inFlight) fail(new Error('scan pool closed'));
        await closing;
        const p = await store.exposureProgress(runId);
        expect(p.running + p.failed).toBe(0);
        expect(p.pending).toBeGreaterThan(0);
        expect(await store.listExposures()).toEqual([]);

        const b2 = job(store, blobs);
        await b2.startUp();
        await b2.idle();
        expect(await store.exposureProgress(runId)).toEqual({ pending: 0, running: 0, done: 2, skipped: 1, failed: 0 });
        // The new process also starts the engine-change run: whichever run judges the file first
        // records it, once.
        const exposures = await store.listExposures();
        expect(exposures.map((e) => e.after)).toEqual(['block']);
        expect([runId, runIdFor({ reason: 'engine', previous: [] }, NEW)]).toContain(exposures[0]!.runId);
        expect(await exposureRecords(store)).toHaveLength(1);
      } finally {
        await store.close();
      }
    });

    it('after a waiver expires, judges the files it let through without rescanning what the running engine already judged', async () => {
      const store = (await b.fresh()).store;
      const blobs = await openFsBlobStore(mkdtempSync(join(tmpdir(), 'mg-exposure-')));
      try {
        await putBlob(blobs, EVIL);
        const report = await scanBlobFile(engine, (await blobs.localPath(EVIL_SHA))!, 'pytorch_model.bin');
        await store.putScan({ id: 'cur-evil', sha256: EVIL_SHA, engineKey: NEW, report, maxSeverity: report.maxSeverity, complete: true, createdAt: at(100) });
        await store.addWaiver({ id: 'w1', repo: 'acme/evil-bert', sha256: null, rule: null, reason: 'research sandbox', author: 'admin', createdAt: at(240), expiresAt: at(1), revokedAt: null });
        await store.appendAudit(served({ time: at(48), client: 'erin', scanId: 'cur-evil', waivers: ['w1'] }));
        const scans: string[] = [];
        const j = job(store, blobs, { scans });
        await j.startUp();
        expect(await store.listExposureRuns()).toEqual([]);
        const id = await j.request({ reason: 'waiver', waiverId: 'w1' });
        await j.idle();
        expect(id).toBe(runIdFor({ reason: 'waiver', waiverId: 'w1' }, NEW));
        expect(await store.getExposureRun(id)).toMatchObject({ reason: 'waiver', detail: 'waiver w1 expired', total: 1 });
        expect(scans).toEqual([]);
        const [e] = await store.listExposures();
        expect(e).toMatchObject({ before: 'allow', after: 'block', scanId: 'cur-evil' });
        expect((await exposureRecords(store))[0]!.message).toMatch(/latest to erin$/);
      } finally {
        await store.close();
      }
    });
  });
}

for (const b of list) suite(b);
