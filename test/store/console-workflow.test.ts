/**
 * The store behind the console's waiver workflow and inventory, on SQLite and (when a server is
 * reachable) PostgreSQL: requests, approvals and rejections that commit with their audit record
 * or not at all, refusal-link lookups, and the inventory folded from the audit log exactly once.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/postgres.js';
import type { SqlStore } from '../../src/store/sql.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { AuditRecord, Waiver, WaiverRequest } from '../../src/store/types.js';
import { auditRecord, expectStoreError, sha } from './contract.js';
import { probePostgres } from './pg-probe.js';

const dir = mkdtempSync(join(tmpdir(), 'modelgate-console-workflow-'));
const probe = await probePostgres();
const runTag = `mg_test_workflow_${process.pid}_${randomBytes(4).toString('hex')}`;
let pgSchemas = 0;

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (probe.ok && pgSchemas) {
    const admin = new pg.Client({ connectionString: probe.url });
    await admin.connect();
    for (let i = 0; i < pgSchemas; i++) await admin.query(`drop schema if exists "${runTag}_${i}" cascade`);
    await admin.end();
  }
});

function request(over: Partial<WaiverRequest> = {}): WaiverRequest {
  return {
    id: 'rq1',
    createdAt: '2026-03-01T10:00:00.000Z',
    requester: 'alice',
    requesterGroup: 'default',
    via: 'link',
    auditId: null,
    repoType: 'model',
    repo: 'acme/evil',
    sha256: sha(7),
    rule: null,
    justification: 'we trust this checkpoint',
    status: 'pending',
    decidedBy: null,
    decidedAt: null,
    note: null,
    waiverId: null,
    ...over,
  };
}

function waiver(over: Partial<Waiver> = {}): Waiver {
  return { id: 'w1', repo: 'acme/evil', sha256: sha(7), rule: null, reason: 'r', author: 'root', createdAt: '2026-03-01T11:00:00.000Z', expiresAt: '2099-01-01T00:00:00.000Z', revokedAt: null, ...over };
}

const note = (message: string, over: Partial<AuditRecord> = {}): AuditRecord => auditRecord({ method: 'POST', repo: 'acme/evil', path: null, commit: null, message, ...over });

function contract(name: string, fresh: () => string, connect: (loc: string) => SqlStore): void {
  const open = (): SqlStore => connect(fresh());
  describe(name, () => {
    it('files a request with its audit record, approves it once into a waiver, and audits each step', async () => {
      const store = open();
      try {
        await store.migrate();
        const refusal = await store.appendAudit(auditRecord({ verdict: 'block', repo: 'acme/evil', sha256: sha(7), ticketHash: sha(42) }));
        const a1 = await store.addWaiverRequest(request({ auditId: refusal }), note('waiver request rq1 filed'));
        expect(a1).toBeGreaterThan(refusal);
        expect(await store.getWaiverRequest('rq1')).toMatchObject({ status: 'pending', auditId: refusal, requester: 'alice', via: 'link', sha256: sha(7) });
        expect((await store.listWaiverRequests({ status: 'pending' })).map((r) => r.id)).toEqual(['rq1']);
        expect((await store.listWaiverRequests({ auditId: refusal })).map((r) => r.id)).toEqual(['rq1']);

        const a2 = await store.approveWaiverRequest('rq1', waiver(), { by: 'root', at: '2026-03-01T11:00:00Z', note: 'ok' }, note('approved'));
        expect(a2).toBeGreaterThan(a1);
        expect(await store.getWaiverRequest('rq1')).toMatchObject({ status: 'approved', decidedBy: 'root', decidedAt: '2026-03-01T11:00:00.000Z', note: 'ok', waiverId: 'w1' });
        expect((await store.listWaivers({ activeAt: '2026-03-02T00:00:00Z' })).map((w) => w.id)).toEqual(['w1']);
        // A second approval (another admin, a double click) changes nothing and writes no record.
        const before = (await store.queryAudit({})).length;
        expect(await store.approveWaiverRequest('rq1', waiver({ id: 'w2' }), { by: 'other', at: '2026-03-01T12:00:00Z', note: null }, note('approved again'))).toBeNull();
        expect(await store.rejectWaiverRequest('rq1', { by: 'other', at: '2026-03-01T12:00:00Z', note: null }, note('rejected late'))).toBeNull();
        expect((await store.queryAudit({})).length).toBe(before);
        expect(await store.getWaiver('w2')).toBeNull();

        const a3 = await store.revokeWaiverAudited('w1', '2026-03-03T00:00:00Z', note('revoked'));
        expect(a3).toBeGreaterThan(a2!);
        expect(await store.revokeWaiverAudited('w1', '2026-03-04T00:00:00Z', note('revoked twice'))).toBeNull();
        expect((await store.getWaiver('w1'))!.revokedAt).toBe('2026-03-03T00:00:00.000Z');
        expect((await store.queryAudit({})).map((r) => r.message)).toEqual(['revoked', 'approved', 'waiver request rq1 filed', null]);
      } finally {
        await store.close();
      }
    });

    it('rejects with a note; refuses requests without scope or justification, writing nothing', async () => {
      const store = open();
      try {
        await store.migrate();
        await store.addWaiverRequest(request({ id: 'rq2', via: 'token', sha256: null, rule: 'PICKLE_DANGEROUS_GLOBAL' }), note('filed'));
        expect(await store.rejectWaiverRequest('rq2', { by: 'root', at: '2026-03-02T00:00:00Z', note: 'use the safetensors file' }, note('rejected'))).not.toBeNull();
        expect(await store.getWaiverRequest('rq2')).toMatchObject({ status: 'rejected', note: 'use the safetensors file', waiverId: null });
        expect(await store.listWaivers()).toEqual([]);
        await expectStoreError(store.addWaiverRequest(request({ id: 'rq3', repo: null, sha256: null, rule: null }), note('x')), 'invalid');
        await expectStoreError(store.addWaiverRequest(request({ id: 'rq4', justification: '  ' }), note('x')), 'invalid');
        await expectStoreError(store.addWaiverRequest(request({ id: 'rq5', sha256: 'ABC' }), note('x')), 'invalid');
        // An invalid waiver on approval leaves the request pending and writes no record.
        await store.addWaiverRequest(request({ id: 'rq6' }), note('filed 6'));
        await expectStoreError(store.approveWaiverRequest('rq6', waiver({ id: 'w6', repo: null, sha256: null }), { by: 'root', at: '2026-03-02T00:00:00Z', note: null }, note('approved 6')), 'invalid');
        expect((await store.getWaiverRequest('rq6'))!.status).toBe('pending');
        expect((await store.queryAudit({})).map((r) => r.message)).toEqual(['filed 6', 'rejected', 'filed']);
        // A duplicate id is a conflict, and its audit record is rolled back with it.
        await expectStoreError(store.addWaiverRequest(request({ id: 'rq6' }), note('dup')), 'conflict');
        expect((await store.queryAudit({})).map((r) => r.message)).not.toContain('dup');
      } finally {
        await store.close();
      }
    });

    it('finds a decision by the hash of its refusal link, and never returns the hash', async () => {
      const store = open();
      try {
        await store.migrate();
        const id = await store.appendAudit(auditRecord({ verdict: 'block', ticketHash: sha(99) }));
        await store.appendAudit(auditRecord({ verdict: 'block', ticketHash: sha(100) }));
        const found = await store.findAuditByTicket(sha(99));
        expect(found!.id).toBe(id);
        expect('ticketHash' in found!).toBe(false);
        expect(await store.findAuditByTicket(sha(101))).toBeNull();
        expect(await store.findAuditByTicket('not-a-hash')).toBeNull();
      } finally {
        await store.close();
      }
    });

    it('folds GET decisions into the inventory once: files, clients, counts, newest verdict, facts', async () => {
      const store = open();
      try {
        await store.migrate();
        const c = 'c'.repeat(40);
        const at = (m: number) => `2026-03-01T10:${String(m).padStart(2, '0')}:00.000Z`;
        const get = (over: Partial<AuditRecord>) => auditRecord({ repo: 'acme/bert', commit: c, path: 'model.bin', sha256: sha(5), scanId: 's1', ...over });
        await store.appendAudit(get({ time: at(1), client: 'alice', verdict: 'block', findings: [{ rule: 'PICKLE_X', severity: 'critical', message: 'm' }, { rule: 'PICKLE_X', severity: 'critical', message: 'm2' }] }));
        await store.appendAudit(get({ time: at(2), client: 'alice', method: 'HEAD', verdict: 'allow' }));
        await store.appendAudit(get({ time: at(3), client: 'bob', verdict: 'error' }));
        await store.appendAudit(get({ time: at(4), client: '*', method: 'POST', path: null, commit: null, verdict: 'allow' }));
        expect(await store.foldInventory(2)).toEqual({ folded: 2, behind: true });
        expect(await store.foldInventory()).toEqual({ folded: 2, behind: false });
        expect(await store.foldInventory()).toEqual({ folded: 0, behind: false });
        await store.appendAudit(get({ time: at(5), client: 'alice', verdict: 'allow', waivers: ['w1'] }));
        await store.appendAudit(get({ time: at(6), client: 'bob', verdict: 'warn' }));
        await store.appendAudit(get({ time: at(7), client: 'bob', path: 'config.json', sha256: null, scanId: 's2', verdict: 'allow' }));
        await store.appendAudit(get({ time: at(8), client: 'carol', repo: 'other/repo', verdict: 'allow' }));
        await store.noteRepoFacts({ repoType: 'model', repo: 'acme/bert', commit: c, license: 'apache-2.0', at: at(8) });
        await store.noteRepoFacts({ repoType: 'model', repo: 'acme/bert', commit: c, remoteCode: { needed: true, files: ['modeling_x.py'] }, at: at(8) });
        // Facts of a repository nobody pulled do not list it.
        await store.noteRepoFacts({ repoType: 'model', repo: 'never/pulled', commit: c, license: 'mit', at: at(8) });
        expect(await store.foldInventory()).toEqual({ folded: 4, behind: false });

        const repos = await store.listInventory();
        expect(repos.map((r) => r.repo)).toEqual(['other/repo', 'acme/bert']);
        expect(repos[1]).toEqual({ repoType: 'model', repo: 'acme/bert', commit: c, files: 2, blockedFiles: 0, warnedFiles: 1, served: 3, refused: 1, firstAt: at(1), lastAt: at(7), license: 'apache-2.0', remoteCode: 'yes', remoteFiles: ['modeling_x.py'] });
        const page2 = await store.listInventory({ limit: 1, after: { lastAt: repos[0]!.lastAt!, repoType: 'model', repo: 'other/repo', commit: c } });
        expect(page2.map((r) => r.repo)).toEqual(['acme/bert']);
        expect((await store.listInventory({ repo: 'acme/bert' })).length).toBe(1);
        expect((await store.inventoryCommits('model', 'acme/bert')).map((r) => r.commit)).toEqual([c]);

        const files = await store.inventoryFiles('model', 'acme/bert', c, 8);
        expect(files.map((f) => f.path)).toEqual(['config.json', 'model.bin']);
        const bin = files[1]!;
        expect(bin).toMatchObject({ sha256: sha(5), scanId: 's1', verdict: 'warn', findings: [], served: 2, refused: 1, firstAt: at(1), lastAt: at(6) });
        expect(bin.clientCount).toBe(2);
        expect(bin.clients).toEqual([
          { client: 'bob', served: 1, refused: 0, firstAt: at(6), lastAt: at(6) },
          { client: 'alice', served: 1, refused: 1, firstAt: at(1), lastAt: at(5) },
        ]);
        // The config's newer record had no sha256: the file keeps none rather than inventing one.
        expect(files[0]).toMatchObject({ sha256: null, scanId: 's2', served: 1, refused: 0 });
      } finally {
        await store.close();
      }
    });

    it("reads each file's newest clients and their count only, and pages through one file's clients", async () => {
      const store = open();
      try {
        await store.migrate();
        const c = 'e'.repeat(40);
        const at = (m: number) => `2026-03-01T11:${String(m).padStart(2, '0')}:00.000Z`;
        // Twelve clients of the weights, one minute apart, u00 first; u10 and u11 pull in the same
        // minute (ties go by client, descending); two clients of the config.
        for (let i = 0; i < 12; i++) await store.appendAudit(auditRecord({ repo: 'busy/r', commit: c, path: 'w.bin', client: `u${String(i).padStart(2, '0')}`, time: at(Math.min(i, 10)), verdict: i === 3 ? 'block' : 'allow' }));
        await store.appendAudit(auditRecord({ repo: 'busy/r', commit: c, path: 'w.bin', client: 'u00', time: at(20) }));
        for (const u of ['cfg1', 'cfg2']) await store.appendAudit(auditRecord({ repo: 'busy/r', commit: c, path: 'config.json', client: u, time: at(5) }));
        expect(await store.foldInventory()).toMatchObject({ behind: false });

        const [cfg, w] = await store.inventoryFiles('model', 'busy/r', c, 3);
        expect(cfg).toMatchObject({ path: 'config.json', clientCount: 2 });
        expect(cfg!.clients.map((x) => x.client)).toEqual(['cfg2', 'cfg1']);
        expect(w).toMatchObject({ path: 'w.bin', clientCount: 12, served: 12, refused: 1 });
        expect(w!.clients).toEqual([
          { client: 'u00', served: 2, refused: 0, firstAt: at(0), lastAt: at(20) },
          { client: 'u11', served: 1, refused: 0, firstAt: at(10), lastAt: at(10) },
          { client: 'u10', served: 1, refused: 0, firstAt: at(10), lastAt: at(10) },
        ]);
        // The ML-BOM asks for none: counts still come, no client row is read.
        expect((await store.inventoryFiles('model', 'busy/r', c, 0)).map((f) => [f.clientCount, f.clients.length])).toEqual([[2, 0], [12, 0]]);

        const names: string[] = [];
        let before: { lastAt: string; client: string } | undefined;
        for (;;) {
          const page = await store.inventoryFileClients('model', 'busy/r', c, 'w.bin', { limit: 5, ...(before ? { before } : {}) });
          names.push(...page.map((x) => x.client));
          if (page.length < 5) break;
          before = { lastAt: page[4]!.lastAt, client: page[4]!.client };
        }
        expect(names).toEqual(['u00', 'u11', 'u10', 'u09', 'u08', 'u07', 'u06', 'u05', 'u04', 'u03', 'u02', 'u01']);
        expect(await store.inventoryFileClients('model', 'busy/r', c, 'nothing.bin')).toEqual([]);
      } finally {
        await store.close();
      }
    });

    it('counts each record once when two folds race, and waits at a gap in the ids while it is fresh', async () => {
      const loc = fresh();
      const store = connect(loc);
      const other = connect(loc);
      try {
        await store.migrate();
        const c = 'd'.repeat(40);
        for (let i = 0; i < 30; i++) await store.appendAudit(auditRecord({ repo: 'race/r', commit: c, path: `f${i % 3}`, client: `u${i % 2}`, time: '2026-03-01T00:00:00.000Z' }));
        const results = await Promise.all([store.foldInventory(7), other.foldInventory(7), store.foldInventory(7), other.foldInventory(7)]);
        let total = results.reduce((a, r) => a + r.folded, 0);
        for (;;) {
          const r = await other.foldInventory(7);
          total += r.folded;
          if (!r.behind) break;
        }
        expect(total).toBe(30);
        const files = await store.inventoryFiles('model', 'race/r', c, 8);
        expect(files.map((f) => f.served)).toEqual([10, 10, 10]);
        expect((await store.listInventory({ repo: 'race/r' }))[0]!.served).toBe(30);

        // A gap (an id handed out but not yet committed, or rolled back) holds a fresh record back.
        const id = await store.appendAudit(auditRecord({ repo: 'gap/r', commit: c, time: new Date().toISOString() }));
        await store.db.deleteFrom('audit').where('id', '=', id).execute();
        await store.appendAudit(auditRecord({ repo: 'gap/r', commit: c, path: 'after-gap', time: new Date().toISOString() }));
        expect(await store.foldInventory()).toEqual({ folded: 0, behind: true });
        await store.db.updateTable('audit').set({ time: '2026-03-01T00:00:00.000Z' }).where('repo', '=', 'gap/r').execute();
        expect(await store.foldInventory()).toEqual({ folded: 1, behind: false });
        expect((await store.inventoryFiles('model', 'gap/r', c, 8)).map((f) => f.path)).toEqual(['after-gap']);
      } finally {
        await other.close();
        await store.close();
      }
    });
  });
}

let n = 0;
contract('SQLite', () => join(dir, `s${++n}.db`), (path) => openSqliteStore(path));
if (probe.ok) contract('PostgreSQL', () => `${runTag}_${pgSchemas++}`, (schema) => openPostgresStore(probe.url, { schema }));
else {
  console.warn(`[console workflow store tests] SKIPPING PostgreSQL: ${probe.reason}`);
  describe.skip(`PostgreSQL — SKIPPED: ${probe.reason}`, () => {
    it('needs a server', () => {});
  });
}
