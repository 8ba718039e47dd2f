/**
 * The audit queries behind the console (policy-rule filter, per-day counts, top refusals), run
 * against SQLite and, when a server is reachable, PostgreSQL: both must answer the same.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, sql, SqliteDialect } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { auditExceeds, queryAudit } from '../../src/store/audit-query.js';
import type { Database } from '../../src/store/db.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import type { SqlStore } from '../../src/store/sql.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { servedDownloadsOf } from '../../src/store/exposure.js';
import { inventoryFileClients, inventoryFiles } from '../../src/store/inventory-files.js';
import { consoleScaleMigrations } from '../../src/store/migrations-scale.js';
import { auditRow } from '../../src/store/rows.js';
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

    it('finds by rule the records written before the rule index existed, and stores records whose rules are not JSON', async () => {
      const store = open();
      try {
        await store.migrate();
        const m = consoleScaleMigrations(store.dialect)['0008_console_scale']!;
        await m.down!(store.db);
        await store.appendAudit(auditRecord({ time: '2026-03-01T10:00:00.000Z', repo: 'old/a', verdict: 'block', rules: [rule('block-critical'), rule('deny_1000_x')] }));
        await store.appendAudit(auditRecord({ time: '2026-03-01T11:00:00.000Z', repo: 'old/b', verdict: 'allow' }));
        await m.up(store.db);
        await store.appendAudit(auditRecord({ time: '2026-03-02T10:00:00.000Z', repo: 'new/c', verdict: 'block', rules: [rule('block-critical')] }));
        await store.db.insertInto('audit').values({ ...auditRow(auditRecord({ time: '2026-03-02T11:00:00.000Z', repo: 'odd/d' })), rules: 'not json' }).execute();
        expect((await store.queryAudit({ rule: 'block-critical' })).map((r) => r.repo)).toEqual(['new/c', 'old/a']);
        expect((await store.queryAudit({ rule: 'deny_1000_x' })).map((r) => r.repo)).toEqual(['old/a']);
        expect((await store.db.selectFrom('audit_rules').selectAll().orderBy('rule').orderBy('audit_id').execute()).map((r) => r.rule)).toEqual(['block-critical', 'block-critical', 'deny_1000_x']);
      } finally {
        await store.close();
      }
    });

    it('tells whether more than n records match, and the first id of a time window', async () => {
      const store = open();
      try {
        await seed(store);
        expect(await store.auditExceeds({}, 6)).toBe(true);
        expect(await store.auditExceeds({}, 7)).toBe(false);
        expect(await store.auditExceeds({ rule: 'block-critical' }, 2)).toBe(true);
        expect(await store.auditExceeds({ rule: 'block-critical' }, 3)).toBe(false);
        expect(await store.auditExceeds({ rule: 'block-critical', repo: 'a/evil' }, 1)).toBe(true);
        expect(await store.auditExceeds({ rule: 'block-critical', repo: 'a/evil' }, 2)).toBe(false);
        const ids = (await store.queryAudit({})).map((r) => r.id!);
        // The seed's last record is the oldest in time: the window from March starts at the first id.
        expect(await store.auditFirstId('2026-03-02T00:00:00Z')).toBe(Math.min(...ids) + 2);
        expect(await store.auditFirstId('2026-01-01T00:00:00Z')).toBe(Math.min(...ids));
        expect(await store.auditFirstId('2027-01-01T00:00:00Z')).toBeNull();
      } finally {
        await store.close();
      }
    });

    it('filters a verdict within a time window, open or closed, and pages it by id', async () => {
      const store = open();
      try {
        await seed(store);
        const day = { since: '2026-03-02T00:00:00Z', until: '2026-03-03T00:00:00Z' };
        expect((await store.queryAudit({ verdict: 'block', ...day })).map((r) => r.repo)).toEqual(['b/z', 'b/denied', 'a/evil']);
        const first = await store.queryAudit({ verdict: 'block', ...day, limit: 2 });
        expect(first.map((r) => r.repo)).toEqual(['b/z', 'b/denied']);
        expect((await store.queryAudit({ verdict: 'block', ...day, before: first[1]!.id! })).map((r) => r.repo)).toEqual(['a/evil']);
        expect((await store.queryAudit({ verdict: 'block', ...day, after: first[1]!.id! })).map((r) => r.repo)).toEqual(['b/z']);
        // Open window: the oldest record (written last, dated February) is left out by its time, not its id.
        expect((await store.queryAudit({ verdict: 'block', since: '2026-03-01T00:00:00Z' })).map((r) => r.repo)).toEqual(['b/z', 'b/denied', 'a/evil', 'a/evil']);
        expect((await store.queryAudit({ verdict: 'block', until: '2026-03-01T12:00:00Z' })).map((r) => r.repo)).toEqual(['old/one', 'a/evil']);
        expect((await store.queryAudit({ since: '2026-03-01T10:30:00Z', until: '2026-03-02T09:45:00Z' })).map((r) => r.repo)).toEqual(['b/denied', 'a/evil', 'a/evil']);
        expect(await store.auditExceeds({ verdict: 'block', since: '2026-03-01T00:00:00Z' }, 3)).toBe(true);
        expect(await store.auditExceeds({ verdict: 'block', since: '2026-03-01T00:00:00Z' }, 4)).toBe(false);
        expect(await store.auditExceeds({ verdict: 'block', ...day }, 2)).toBe(true);
        expect(await store.auditExceeds({ verdict: 'block', ...day }, 3)).toBe(false);
        expect(await store.auditExceeds({ repo: 'nobody/none' }, 0)).toBe(false);
        expect(await store.auditExceeds({ repo: 'b/z' }, 0)).toBe(true);
      } finally {
        await store.close();
      }
    });

    it("lists a run's skipped and failed items in sha256 order, whatever their state", async () => {
      const store = open();
      try {
        await store.migrate();
        for (const n of [1, 2, 3, 4]) await store.db.insertInto('scans').values({ id: `s${n}`, sha256: sha(n), engine_key: 'old', report: '{"findings":[]}', max_severity: null, complete: 1, created_at: '2026-03-01T00:00:00.000Z' }).execute();
        expect(await store.createExposureRun({ id: 'r1', reason: 'manual', detail: 'x', engineKey: 'new', policyVersion: 'p', createdAt: '2026-03-02T00:00:00.000Z', finishedAt: null, total: 0 })).toBe(true);
        await store.settleExposureItem('r1', sha(3), 'skipped', 'gone', '2026-03-02T00:01:00.000Z');
        await store.settleExposureItem('r1', sha(1), 'failed', 'broken', '2026-03-02T00:01:00.000Z');
        await store.settleExposureItem('r1', sha(2), 'done', null, '2026-03-02T00:01:00.000Z');
        expect(await store.exposureItemNotes('r1')).toEqual([
          { sha256: sha(1), state: 'failed', note: 'broken' },
          { sha256: sha(3), state: 'skipped', note: 'gone' },
        ]);
        expect(await store.exposureItemNotes('r1', 1)).toEqual([{ sha256: sha(1), state: 'failed', note: 'broken' }]);
      } finally {
        await store.close();
      }
    });

    it('counts only download decisions (GET): admin actions, exposure announcements and HEADs are left out', async () => {
      const store = open();
      try {
        await seed(store);
        const before = { days: await store.auditDays('2026-03-01T00:00:00Z'), top: await store.auditTop('2026-03-01T00:00:00Z', 10) };
        await store.appendAudit(auditRecord({ time: '2026-03-01T12:00:00.000Z', method: 'POST', repo: '*', path: null, sha256: null, verdict: 'allow', message: 'waiver w1 added by ops' }));
        await store.appendAudit(auditRecord({ time: '2026-03-02T12:00:00.000Z', method: 'DELETE', repo: '*', path: null, sha256: null, verdict: 'allow', message: 'waiver w1 revoked by ops' }));
        await store.appendAudit(auditRecord({ time: '2026-03-02T12:30:00.000Z', method: 'EXPOSURE', client: 'modelgate-exposure', repo: 'c/exposed', verdict: 'block', findings: [finding('late-rule')] }));
        await store.appendAudit(auditRecord({ time: '2026-03-02T13:00:00.000Z', method: 'HEAD', repo: 'a/evil', verdict: 'block', findings: [finding('pickle-exec')] }));
        expect(await store.auditDays('2026-03-01T00:00:00Z')).toEqual(before.days);
        expect(await store.auditTop('2026-03-01T00:00:00Z', 10)).toEqual(before.top);
        expect(before.days).toEqual([
          { day: '2026-03-01', allow: 1, warn: 0, block: 1, error: 0 },
          { day: '2026-03-02', allow: 0, warn: 1, block: 3, error: 0 },
        ]);
      } finally {
        await store.close();
      }
    });
  });
}

let n = 0;
contract('SQLite', () => openSqliteStore(join(dir, `s${++n}.db`)));

describe('SQLite query plans', () => {
  /** The plans of the statements queryAudit / auditExceeds prepare, as EXPLAIN QUERY PLAN words them. */
  async function plans(run: (db: Kysely<Database>) => Promise<unknown>): Promise<string[]> {
    const path = join(dir, `plan${++n}.db`);
    const store = openSqliteStore(path);
    await store.migrate();
    await store.close();
    const raw = new BetterSqlite3(path);
    const out: string[] = [];
    const prepare = raw.prepare.bind(raw);
    raw.prepare = ((text: string) => {
      const st = prepare(text);
      const all = st.all.bind(st);
      st.all = ((...params: unknown[]) => {
        out.push(prepare(`explain query plan ${text}`).all(...params).map((r) => (r as { detail: string }).detail).join(' / '));
        return all(...params);
      }) as typeof st.all;
      return st;
    }) as typeof raw.prepare;
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }) });
    try {
      await run(db);
    } finally {
      await db.destroy();
    }
    return out;
  }

  it('reads a verdict within a closed window from (verdict, time) and sorts only its ids (migration 0009)', async () => {
    const [plan] = await plans((db) => queryAudit(db, 'sqlite', { verdict: 'block', since: '2026-03-02T00:00:00Z', until: '2026-03-03T00:00:00Z' }, 51));
    expect(plan).toMatch(/SEARCH audit USING COVERING INDEX audit_verdict_time_idx \(verdict=\? AND time>\? AND time<\?\)/);
    expect(plan).toMatch(/^SEARCH audit USING INTEGER PRIMARY KEY \(rowid=\?\)/);
  });

  it('migration 0009 adds the (verdict, time) index on SQLite and takes it away again', async () => {
    const store = openSqliteStore(join(dir, `m${++n}.db`));
    try {
      await store.migrate();
      const cols = async () => (await sql<{ name: string }>`select name from pragma_index_info('audit_verdict_time_idx')`.execute(store.db)).rows.map((r) => r.name);
      expect(await cols()).toEqual(['verdict', 'time']);
      await consoleScaleMigrations('sqlite')['0009_audit_verdict_time']!.down!(store.db);
      expect(await cols()).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("reads each file's newest clients and client count from (repo, commit, path, last_at, client), never the commit's whole client list (migration 0010)", async () => {
    const [files, clients] = await plans((db) => inventoryFiles(db, 'sqlite', 'model', 'a/b', 'c'.repeat(40), 8));
    // The count: a covering range per file. The newest 8: a covering range per file, then 8 rows by rowid.
    expect(files).toMatch(/CORRELATED SCALAR SUBQUERY \d+ \/ SEARCH c USING COVERING INDEX inventory_clients_recent_idx \(repo_type=\? AND repo=\? AND commit=\? AND path=\?\)/);
    expect(clients).toMatch(/SEARCH c USING INTEGER PRIMARY KEY \(rowid=\?\)/);
    expect(clients).toMatch(/CORRELATED LIST SUBQUERY \d+ \/ SEARCH c2 USING COVERING INDEX inventory_clients_recent_idx \(repo_type=\? AND repo=\? AND commit=\? AND path=\?\)/);
    const [page] = await plans((db) => inventoryFileClients(db, 'model', 'a/b', 'c'.repeat(40), 'w.bin', { before: { lastAt: '2026-03-01T00:00:00.000Z', client: 'u' }, limit: 101 }));
    expect(page).toMatch(/^SEARCH inventory_clients USING INDEX inventory_clients_recent_idx \(repo_type=\? AND repo=\? AND commit=\? AND path=\? AND /);
    expect(page).not.toMatch(/TEMP B-TREE/);
  });

  it("reads each sha256's newest served downloads and their count as its own range of audit_served_idx", async () => {
    // 20, as the exposure page asks: with an IN list of 20 SQLite counted from another index.
    const shas = Array.from({ length: 20 }, (_, i) => sha(i + 1));
    const [counts, newest] = await plans((db) => servedDownloadsOf(db, shas, 50));
    expect(newest!.match(/SEARCH audit USING INDEX audit_served_idx \(sha256=\? AND method=\?\)/g)).toHaveLength(20);
    expect(counts!.match(/SEARCH audit USING COVERING INDEX audit_served_idx \(sha256=\? AND method=\?\)/g)).toHaveLength(20);
    for (const plan of [counts, newest]) expect(plan).not.toMatch(/TEMP B-TREE|SCAN audit|audit_decisions_idx/);
  });

  it('migration 0010 adds the clients index and the kept run counts, filling finished runs, and takes them away again', async () => {
    const store = openSqliteStore(join(dir, `m${++n}.db`));
    try {
      await store.migrate();
      const m = consoleScaleMigrations('sqlite')['0010_console_cold']!;
      await m.down!(store.db);
      await sql`insert into exposure_runs (id, reason, detail, engine_key, policy_version, created_at, finished_at, total) values ('r1', 'manual', '', 'e', 'p', '2026-03-01T00:00:00.000Z', '2026-03-01T01:00:00.000Z', 3), ('r2', 'manual', '', 'e', 'p', '2026-03-01T00:00:00.000Z', null, 1)`.execute(store.db);
      await sql`insert into exposure_items (run_id, sha256, state, updated_at) values ('r1', 'a', 'done', 'x'), ('r1', 'b', 'done', 'x'), ('r1', 'c', 'skipped', 'x'), ('r2', 'a', 'pending', 'x')`.execute(store.db);
      await m.up(store.db);
      const cols = (await sql<{ name: string }>`select name from pragma_index_info('inventory_clients_recent_idx')`.execute(store.db)).rows.map((r) => r.name);
      expect(cols).toEqual(['repo_type', 'repo', 'commit', 'path', 'last_at', 'client']);
      const runs = (await sql<{ id: string; d: number | null; s: number | null; f: number | null }>`select id, done_items as d, skipped_items as s, failed_items as f from exposure_runs order by id`.execute(store.db)).rows;
      expect(runs).toEqual([
        { id: 'r1', d: 2, s: 1, f: 0 },
        { id: 'r2', d: null, s: null, f: null },
      ]);
      await m.down!(store.db);
      expect((await sql<{ name: string }>`select name from pragma_index_info('inventory_clients_recent_idx')`.execute(store.db)).rows).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('walks (verdict, id) from the newest for an open window, which stops after a page', async () => {
    const [plan] = await plans((db) => queryAudit(db, 'sqlite', { verdict: 'block', since: '2026-03-02T00:00:00Z' }, 51));
    expect(plan).toBe('SEARCH audit USING INDEX audit_verdict_idx (verdict=?)');
  });

  it("counts an export's matches from a narrow index instead of walking whole records by id", async () => {
    const [all, repo] = await plans(async (db) => {
      await auditExceeds(db, 'sqlite', {}, 100_000);
      await auditExceeds(db, 'sqlite', { repo: 'a/b' }, 100_000);
    });
    expect(all).toMatch(/SCAN audit USING COVERING INDEX/);
    expect(repo).toMatch(/SEARCH audit USING COVERING INDEX audit_repo_idx \(repo=\?\)/);
  });
});
if (probe.ok) contract('PostgreSQL', () => openPostgresStore(probe.url, { schema: `${runTag}_${pgSchemas++}` }));
else {
  console.warn(`[audit console tests] SKIPPING PostgreSQL: ${probe.reason}`);
  describe.skip(`PostgreSQL — SKIPPED: ${probe.reason}`, () => {
    it('needs a server', () => {});
  });
}
