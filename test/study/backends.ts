/**
 * The two stores the study tests run on: a SQLite file in a temp directory, and PostgreSQL on
 * 127.0.0.1 in a schema of its own (dropped afterwards). PostgreSQL missing skips its suite with
 * the reason in the suite name, unless MODELGATE_TEST_PG_REQUIRED=1 (CI), which fails instead.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStore } from '../../src/store/open.js';
import type { SqlStore } from '../../src/store/sql.js';
import { probePostgres } from '../store/pg-probe.js';

export interface Backend {
  name: 'sqlite' | 'postgres';
  /** Null when the backend is available; else why it is skipped. */
  skip: string | null;
  /** A fresh, migrated, empty store, and its URL (for the CLI). */
  fresh(): Promise<{ store: SqlStore; url: string }>;
  cleanup(): Promise<void>;
}

export async function backends(): Promise<Backend[]> {
  const dir = mkdtempSync(join(tmpdir(), 'modelgate-study-'));
  let n = 0;
  const sqlite: Backend = {
    name: 'sqlite',
    skip: null,
    async fresh() {
      const url = join(dir, `study-${++n}.db`);
      const store = openStore(url);
      await store.migrate();
      return { store, url };
    },
    async cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };

  const probe = await probePostgres();
  if (!probe.ok && process.env['MODELGATE_TEST_PG_REQUIRED'] === '1') throw new Error(`MODELGATE_TEST_PG_REQUIRED=1 but ${probe.reason}`);
  if (!probe.ok) console.warn(`[study tests] SKIPPING the PostgreSQL study suite: ${probe.reason}. CI runs it against a live server.`);
  const tag = `mg_study_${process.pid}_${randomBytes(3).toString('hex')}`;
  const schemas: string[] = [];
  const postgres: Backend = {
    name: 'postgres',
    skip: probe.ok ? null : probe.reason,
    async fresh() {
      if (!probe.ok) throw new Error(probe.reason);
      const schema = `${tag}_${schemas.length}`;
      schemas.push(schema);
      const u = new URL(probe.url);
      u.searchParams.set('schema', schema);
      const store = openStore(u.toString());
      await store.migrate();
      return { store, url: u.toString() };
    },
    async cleanup() {
      if (!probe.ok || schemas.length === 0) return;
      const admin = new pg.Client({ connectionString: probe.url });
      await admin.connect();
      try {
        for (const s of schemas) await admin.query(`drop schema if exists "${s}" cascade`);
      } finally {
        await admin.end();
      }
    },
  };
  return [sqlite, postgres];
}
