/**
 * The audit queries behind the console (policy-rule filter, per-day counts, top refusals), run
 * against SQLite and, when a server is reachable, PostgreSQL: both must answer the same.
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
import { auditRecord, sha } from './contract.js';
import { probePostgres } from './pg-probe.js';

const dir = mkdtempSync(join(tmpdir(), 'modelgate-audit-console-'));
const probe = await probePostgres();
const runTag = `mg_test_console_${process.pid}_${randomBytes(4).toString('hex')}`;
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

const rule = (name: string) => ({ rule: name, action: 'block' as const, reason: `because ${name}` });
const finding = (name: string) => ({ rule: name, severity: 'critical' as const, message: `m ${name}` });

async function seed(store: SqlStore): Promise<void> {
  await store.migrate();
  await store.appendAudit(auditRecord({ time: '2026-03-01T10:00:00.000Z', repo: 'a/x', verdict: 'allow' }));
  await store.appendAudit(auditRecord({ time: '2026-03-01T11:00:00.000Z', repo: 'a/evil', verdict: 'block', rules: [rule('block-critical')], findings: [finding('pickle-exec'), finding('pickle-exec'), finding('pickle-import')] }));
  await store.appendAudit(auditRecord({ time: '2026-03-02T09:00:00.000Z', repo: 'a/evil', verdict: 'block', rules: [rule('block-critical')], findings: [finding('pickle-exec')] }));
  await store.appendAudit(auditRecord({ time: '2026-03-02T09:30:00.000Z', repo: 'b/denied', verdict: 'block', rules: [rule('deny_100%_x')], findings: [] }));
  await store.appendAudit(auditRecord({ time: '2026-03-02T10:00:00.000Z', repo: 'b/y', verdict: 'warn', rules: [{ ...rule('custom-code'), action: 'warn' }], findings: [finding('custom-code')] }));
  // A rule whose name is a prefix of another, and one spelling LIKE's wildcards literally.
  await store.appendAudit(auditRecord({ time: '2026-03-02T11:00:00.000Z', repo: 'b/z', verdict: 'block', rules: [rule('deny_1000_x')], findings: [], sha256: sha(9) }));
  await store.appendAudit(auditRecord({ time: '2026-02-01T00:00:00.000Z', repo: 'old/one', verdict: 'block', rules: [rule('block-critical')], findings: [finding('ancient')] }));
}

function contract(name: string, open: () => SqlStore): void {
  describe(name, () => {
    it('filters by the policy rule that fired, exactly (LIKE wildcards in the name match only themselves)', async () => {
      const store = open();
      try {
        await seed(store);
        expect((await store.queryAudit({ rule: 'block-critical' })).map((r) => r.time)).toEqual(['2026-02-01T00:00:00.000Z', '2026-03-02T09:00:00.000Z', '2026-03-01T11:00:00.000Z']) // newest id first;
        expect((await store.queryAudit({ rule: 'deny_100%_x' })).map((r) => r.repo)).toEqual(['b/denied']);
        expect((await store.queryAudit({ rule: 'block' })).length).toBe(0);
        expect((await store.queryAudit({ rule: 'block-critical', repo: 'a/evil', since: '2026-03-02T00:00:00Z' })).map((r) => r.time)).toEqual(['2026-03-02T09:00:00.000Z']);
      } finally {
        await store.close();
      }
    });

    it('pages newer with `after`: the oldest records above the cursor, newest first', async () => {
      const store = open();
      try {
        await seed(store);
        const all = (await store.queryAudit({})).map((r) => r.id!);
        expect(all).toHaveLength(7);
        const asc = [...all].reverse();
        expect((await store.queryAudit({ after: asc[1]!, limit: 2 })).map((r) => r.id)).toEqual([asc[3], asc[2]]);
        expect((await store.queryAudit({ after: asc[1]!, before: asc[5]!, limit: 10 })).map((r) => r.id)).toEqual([asc[4], asc[3], asc[2]]);
        expect((await store.queryAudit({ after: asc[6]! })).length).toBe(0);
      } finally {
        await store.close();
      }
    });

    it('counts decisions per UTC day and ranks blocked repositories and finding kinds', async () => {
      const store = open();
      try {
        await seed(store);
        expect(await store.auditDays('2026-03-01T00:00:00Z')).toEqual([
          { day: '2026-03-01', allow: 1, warn: 0, block: 1, error: 0 },
          { day: '2026-03-02', allow: 0, warn: 1, block: 3, error: 0 },
        ]);
        expect(await store.auditDays('2026-01-01T00:00:00Z', '2026-03-02T00:00:00Z')).toEqual([
          { day: '2026-02-01', allow: 0, warn: 0, block: 1, error: 0 },
          { day: '2026-03-01', allow: 1, warn: 0, block: 1, error: 0 },
        ]);
        const s = await store.auditTop('2026-03-01T00:00:00Z', 10);
        expect(s.topBlockedRepos).toEqual([
          { repo: 'a/evil', count: 2 },
          { repo: 'b/denied', count: 1 },
          { repo: 'b/z', count: 1 },
        ]);
        // pickle-exec twice in one record counts once for that record.
        expect(s.topFindingKinds).toEqual([
          { rule: 'pickle-exec', count: 2 },
          { rule: 'custom-code', count: 1 },
          { rule: 'pickle-import', count: 1 },
        ]);
        expect(s.findingSample).toBe(5);
        expect((await store.auditTop('2026-03-01T00:00:00Z', 1)).topBlockedRepos).toEqual([{ repo: 'a/evil', count: 2 }]);
      } finally {
        await store.close();
      }
    });
  });
}

let n = 0;
contract('SQLite', () => openSqliteStore(join(dir, `s${++n}.db`)));
if (probe.ok) contract('PostgreSQL', () => openPostgresStore(probe.url, { schema: `${runTag}_${pgSchemas++}` }));
else {
  console.warn(`[audit console tests] SKIPPING PostgreSQL: ${probe.reason}`);
  describe.skip(`PostgreSQL — SKIPPED: ${probe.reason}`, () => {
    it('needs a server', () => {});
  });
}
