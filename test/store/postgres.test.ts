import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/postgres.js';
import { auditRecord, expectStoreError, runStoreContract, sha } from './contract.js';
import { probePostgres } from './pg-probe.js';

const probe = await probePostgres();
const required = process.env.MODELGATE_TEST_PG_REQUIRED === '1';
if (!probe.ok) {
  console.warn(`[store tests] SKIPPING the PostgreSQL store suite: ${probe.reason}. CI runs it against a live server.`);
}

// Every run gets its own schemas, prefixed with one per-run tag, all dropped at the end.
const runTag = `mg_test_${process.pid}_${randomBytes(4).toString('hex')}`;
const schemas: string[] = [];
let admin: pg.Pool | undefined;

describe.skipIf(!probe.ok)(`PostgreSQL store${probe.ok ? '' : ` — SKIPPED: ${probe.ok ? '' : probe.reason}`}`, () => {
  const url = probe.ok ? probe.url : '';

  beforeAll(() => {
    admin = new pg.Pool({ connectionString: url, max: 2 });
    admin.on('error', () => {});
  });
  afterAll(async () => {
    if (!admin) return;
    for (const s of schemas) await admin.query(`drop schema if exists "${s}" cascade`);
    await admin.end();
  });

  runStoreContract<string>({
    fresh: async () => {
      const schema = `${runTag}_${schemas.length}`;
      schemas.push(schema);
      await admin!.query(`create schema "${schema}"`);
      return schema;
    },
    connect: (schema) => openPostgresStore(url, { schema }),
  });

  describe('PostgreSQL specifics', () => {
    it('takes the schema from ?schema= in the URL and creates it on migrate', async () => {
      const schema = `${runTag}_url`;
      schemas.push(schema);
      const u = new URL(url);
      u.searchParams.set('schema', schema);
      const store = openPostgresStore(u.toString());
      try {
        await store.migrate();
        await store.appendAudit(auditRecord());
        const r = await admin!.query(`select count(*)::int as n from "${schema}".audit`);
        expect(r.rows[0]).toEqual({ n: 1 });
      } finally {
        await store.close();
      }
    });

    it('lets replicas starting together on a fresh database create the schema and migrate it at once', async () => {
      const schema = `${runTag}_race`;
      schemas.push(schema);
      const stores = Array.from({ length: 6 }, () => openPostgresStore(url, { schema }));
      try {
        const results = await Promise.allSettled(stores.map((st) => st.migrate()));
        expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
        await stores[0]!.appendAudit(auditRecord());
        const r = await admin!.query(`select count(*)::int as n from "${schema}".audit`);
        expect(r.rows[0]).toEqual({ n: 1 });
      } finally {
        for (const st of stores) await st.close();
      }
    });

    it('keeps options already in the URL next to the schema', async () => {
      const schema = `${runTag}_opts`;
      schemas.push(schema);
      const u = new URL(url);
      u.searchParams.set('options', '-c statement_timeout=4321');
      const store = openPostgresStore(u.toString(), { schema });
      try {
        await store.migrate();
        const r = await sql<{ t: string; p: string }>`select current_setting('statement_timeout') as t, current_schema() as p`.execute(store.db);
        expect(r.rows[0]).toEqual({ t: '4321ms', p: schema });
      } finally {
        await store.close();
      }
    });

    it('keeps each schema separate', async () => {
      const a = `${runTag}_sep_a`;
      const b = `${runTag}_sep_b`;
      schemas.push(a, b);
      const sa = openPostgresStore(url, { schema: a });
      const sb = openPostgresStore(url, { schema: b });
      try {
        await sa.migrate();
        await sb.migrate();
        await sa.appendAudit(auditRecord({ sha256: sha(42) }));
        expect(await sa.queryAudit({ sha256: sha(42) })).toHaveLength(1);
        expect(await sb.queryAudit({ sha256: sha(42) })).toHaveLength(0);
      } finally {
        await sa.close();
        await sb.close();
      }
    });

    it('refuses a schema name that is not a plain identifier', () => {
      expect(() => openPostgresStore(url, { schema: 'x"; drop table audit; --' })).toThrowError(expect.objectContaining({ kind: 'invalid' }));
    });
  });
});

// No server needed: this is what the gateway sees when the database is down.
describe('PostgreSQL store, server unreachable', () => {
  it('maps connection failures to unavailable and ping to false', async () => {
    const store = openPostgresStore('postgres://postgres@127.0.0.1:1/none', { connectTimeoutMs: 1000 });
    try {
      expect(await store.ping()).toBe(false);
      await expectStoreError(store.appendAudit(auditRecord()), 'unavailable');
      await expectStoreError(store.migrate(), 'unavailable');
    } finally {
      await store.close();
    }
  });

  it.runIf(required && !probe.ok)('is required by MODELGATE_TEST_PG_REQUIRED=1', () => {
    expect.fail(probe.ok ? '' : probe.reason);
  });
});
