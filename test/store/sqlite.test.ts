import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { migrationNames } from '../../src/store/migrations.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { auditRecord, expectStoreError, runStoreContract } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'modelgate-sqlite-'));
let n = 0;
const freshPath = (): string => join(dir, `store-${++n}.db`);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite store', () => {
  runStoreContract<string>({
    fresh: async () => freshPath(),
    connect: (path) => openSqliteStore(path),
  });

  describe('SQLite specifics', () => {
    it('opens with WAL, synchronous=FULL, busy_timeout and foreign keys', async () => {
      const store = openSqliteStore(freshPath());
      try {
        const one = async (q: string): Promise<unknown> => Object.values((await sql.raw<Record<string, unknown>>(q).execute(store.db)).rows[0] ?? {})[0];
        expect(await one('pragma journal_mode')).toBe('wal');
        expect(await one('pragma synchronous')).toBe(2); // FULL
        expect(await one('pragma foreign_keys')).toBe(1);
        expect(await one('pragma busy_timeout')).toBe(5000);
      } finally {
        await store.close();
      }
    });

    it('keeps an audit record across closing and reopening the file', async () => {
      const path = freshPath();
      const a = openSqliteStore(path);
      await a.migrate();
      const id = await a.appendAudit(auditRecord({ requestId: 'survives' }));
      // A plain better-sqlite3 connection, not through our code, sees it before the writer closes.
      const raw = new BetterSqlite3(path, { readonly: true });
      try {
        expect(raw.prepare('select request_id from audit where id = ?').get(id)).toEqual({ request_id: 'survives' });
      } finally {
        raw.close();
      }
      await a.close();
      const b = openSqliteStore(path);
      try {
        const got = await b.queryAudit({});
        expect(got.map((r) => [r.id, r.requestId])).toEqual([[id, 'survives']]);
      } finally {
        await b.close();
      }
    });

    it('migrates safely when separate processes start at once', async () => {
      const path = freshPath();
      const script = join(dir, 'migrate-child.mts');
      const storeModule = join(import.meta.dirname, '..', '..', 'src', 'store', 'sqlite.ts');
      writeFileSync(
        script,
        `import { openSqliteStore } from ${JSON.stringify(storeModule)};\n` +
          `const s = openSqliteStore(process.argv[2]);\nawait s.migrate();\nawait s.appendAudit(${JSON.stringify(auditRecord())});\nawait s.close();\n`,
      );
      const runChild = (): Promise<{ code: number | null; stderr: string }> =>
        new Promise((resolve) => {
          const child = spawn(process.execPath, ['--import', 'tsx', script, path], { stdio: ['ignore', 'ignore', 'pipe'] });
          let stderr = '';
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          child.on('close', (code) => resolve({ code, stderr }));
        });
      const results = await Promise.all([runChild(), runChild(), runChild(), runChild()]);
      for (const r of results) expect(r, r.stderr).toMatchObject({ code: 0 });
      const store = openSqliteStore(path);
      try {
        const names = await sql<{ name: string }>`select name from modelgate_migration`.execute(store.db);
        expect(names.rows.map((r) => r.name)).toEqual(migrationNames('sqlite'));
        expect(await store.queryAudit({})).toHaveLength(4);
      } finally {
        await store.close();
      }
    });

    it('reports a file it cannot open as unavailable', async () => {
      const file = join(dir, 'plain-file');
      writeFileSync(file, 'x');
      expect(() => openSqliteStore(join(file, 'sub', 'store.db'))).toThrowError(expect.objectContaining({ kind: 'unavailable' }));
    });

    it('reports a file that is not a database as corrupt', async () => {
      const file = join(dir, 'not-a-db.db');
      writeFileSync(file, Buffer.alloc(8192, 0x41));
      let store: ReturnType<typeof openSqliteStore> | undefined;
      try {
        store = openSqliteStore(file);
      } catch (e) {
        expect(e).toMatchObject({ kind: 'corrupt' });
        return;
      }
      await expectStoreError(store.migrate(), 'corrupt');
      await store.close();
    });
  });
});
