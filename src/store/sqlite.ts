/**
 * The embedded store: one SQLite file, no server. Durability settings (see openSqliteStore)
 * are chosen so that an audit record the gateway awaited survives a power cut.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Database } from './db.js';
import { StoreError, toStoreError } from './errors.js';
import { migrateToLatest } from './migrations.js';
import { SqlStore } from './sql.js';

export interface SqliteStoreOptions {
  /** How long a writer waits for another process's write lock before 'unavailable' (ms). */
  busyTimeoutMs?: number;
}

export const SQLITE_DEFAULT_BUSY_TIMEOUT_MS = 5000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function isBusy(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null && 'code' in e ? (e as { code: unknown }).code : undefined;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/**
 * Takes SQLite's write lock up front (BEGIN IMMEDIATE) so that two processes migrating at once
 * run one after the other and the second sees the first's work. The wait is a polling loop
 * with busy_timeout off: better-sqlite3 is synchronous, so letting SQLite wait would freeze the
 * event loop (and deadlock two stores of one process on the same file).
 */
async function withImmediateTransaction<T>(raw: BetterSqlite3.Database, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  raw.pragma('busy_timeout = 0');
  try {
    for (;;) {
      try {
        raw.exec('BEGIN IMMEDIATE');
        break;
      } catch (e) {
        if (!isBusy(e) || Date.now() >= deadline) throw e;
        await sleep(10 + Math.random() * 20);
      }
    }
  } finally {
    raw.pragma(`busy_timeout = ${timeoutMs}`);
  }
  try {
    const out = await fn();
    raw.exec('COMMIT');
    return out;
  } catch (e) {
    if (raw.inTransaction) raw.exec('ROLLBACK');
    throw e;
  }
}

/**
 * better-sqlite3 is an optional dependency: it has a native part, and an install that can neither
 * download a prebuilt binary nor compile one (no C++ toolchain) should still give a working
 * scanner, which never needs a store. Loaded on first use; its absence is the user's to fix, so
 * it is a one-line 'unavailable' error naming the remedies, not a stack trace.
 */
let driver: typeof BetterSqlite3 | undefined;
function sqliteDriver(): typeof BetterSqlite3 {
  if (driver) return driver;
  try {
    driver = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
    return driver;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'MODULE_NOT_FOUND' ? 'is not installed' : `cannot be loaded (${(e as Error).message.split('\n')[0]})`;
    throw new StoreError(
      'unavailable',
      `the embedded SQLite store needs the optional package better-sqlite3, which ${why}: reinstall modelgate where npm can download or build it (python3, make and a C++ compiler), or use a PostgreSQL store (--store postgres://…)`,
    );
  }
}

/**
 * Opens (creating if needed) a SQLite store at `path` (':memory:' for a throw-away one).
 *
 * - journal_mode=WAL: readers never block the writer, so serving and auditing overlap.
 * - synchronous=FULL for the whole database: in WAL mode NORMAL skips the fsync at commit
 *   and a power loss can roll back the last transactions, i.e. lose audit records the gateway
 *   already reported as written. FULL fsyncs the WAL on every commit. The cost (one fsync per
 *   write) is small next to downloading and scanning a file, and a single setting avoids a
 *   second connection just for the audit table. fullfsync makes that fsync real on macOS.
 * - busy_timeout: concurrent writers (a CLI next to the gateway) wait instead of failing.
 * - foreign_keys=ON: SQLite ignores declared foreign keys otherwise.
 */
export function openSqliteStore(path: string, opts: SqliteStoreOptions = {}): SqlStore {
  const busyTimeoutMs = opts.busyTimeoutMs ?? SQLITE_DEFAULT_BUSY_TIMEOUT_MS;
  let raw: BetterSqlite3.Database;
  try {
    if (path !== ':memory:' && path !== '') mkdirSync(dirname(path), { recursive: true });
    raw = new (sqliteDriver())(path);
  } catch (e) {
    throw toStoreError(e, `open SQLite store ${path}`);
  }
  try {
    raw.pragma(`busy_timeout = ${busyTimeoutMs}`);
    const mode = raw.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal' && path !== ':memory:' && path !== '') {
      throw new StoreError('unavailable', `open SQLite store ${path}: WAL journal mode not available (got ${String(mode)})`);
    }
    raw.pragma('synchronous = FULL');
    raw.pragma('fullfsync = ON');
    raw.pragma('checkpoint_fullfsync = ON');
    raw.pragma('foreign_keys = ON');
  } catch (e) {
    raw.close();
    throw toStoreError(e, `open SQLite store ${path}`);
  }

  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }) });
  let closed = false;
  return new SqlStore(db, {
    dialect: 'sqlite',
    // The transaction is opened on the raw handle because kysely's Migrator does not wrap
    // SQLite migrations in one, and it runs on this same single connection.
    migrate: () => withImmediateTransaction(raw, busyTimeoutMs, () => migrateToLatest(db, 'sqlite')),
    close: async () => {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  });
}
