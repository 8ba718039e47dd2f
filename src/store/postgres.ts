/**
 * PostgreSQL store for several gateway replicas and the crawler sharing one database.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './db.js';
import { StoreError, toStoreError } from './errors.js';
import { migrateToLatest } from './migrations.js';
import { SqlStore } from './sql.js';

export interface PostgresStoreOptions {
  /**
   * Schema for the tables (created by migrate() if missing). Also accepted as `?schema=` in
   * the URL. Default: the role's search_path (usually `public`).
   */
  schema?: string;
  /** Pool size; at least 2 because migrate() holds one session for its lock. */
  poolMax?: number;
  /** A dead database must fail a request quickly (fail closed), not queue it forever. */
  connectTimeoutMs?: number;
}

const SCHEMA_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Takes `?schema=` (ours, not a libpq parameter) out of the URL and puts the search_path into
 * the URL's `options`, because pg
 * lets connection-string parameters override the config object: a separate `options` setting
 * would be silently dropped when the URL already carries one.
 */
function buildConnectionString(url: string, schemaOpt: string | undefined): { connectionString: string; schema: string | undefined } {
  let u: URL;
  try {
    u = new URL(url);
  } catch (e) {
    throw new StoreError('invalid', `PostgreSQL URL does not parse: ${url.replace(/:[^:@/]*@/, ':***@')}`, { cause: e });
  }
  const schema = schemaOpt ?? u.searchParams.get('schema') ?? undefined;
  u.searchParams.delete('schema');
  if (schema !== undefined) {
    if (!SCHEMA_RE.test(schema)) {
      throw new StoreError('invalid', `PostgreSQL schema name must match ${SCHEMA_RE.source}: ${JSON.stringify(schema)}`);
    }
    // A startup option (not a SET after connect) so no query can ever run on the wrong schema.
    const existing = u.searchParams.get('options');
    u.searchParams.set('options', `${existing ? `${existing} ` : ''}-c search_path=${schema}`);
  }
  return { connectionString: u.toString(), schema };
}

export function openPostgresStore(url: string, opts: PostgresStoreOptions = {}): SqlStore {
  const { connectionString, schema } = buildConnectionString(url, opts.schema);
  const poolMax = Math.max(2, opts.poolMax ?? 10);
  const pool = new pg.Pool({
    connectionString,
    max: poolMax,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
    application_name: 'modelgate',
  });
  // An idle client losing its server emits 'error' on the pool; unhandled, that would kill the
  // process. The next query on the pool fails and is reported as 'unavailable' instead.
  pool.on('error', () => {});
  // A client checked out for a query (or a transaction) emits 'error' on itself, not the pool,
  // when its server goes away; the query still fails with that error and is reported, but the
  // event alone, unhandled, would end the process. Background work (inventory folds, exposure
  // runs, waiver checks) keeps a query in flight at any moment, so every client gets a listener.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });

  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  let closed = false;

  async function migrate(): Promise<string[]> {
    // The lock lives on its own session; the Migrator uses other pool connections meanwhile.
    const client = await pool.connect();
    let broken = false;
    try {
      if (schema !== undefined) {
        // "if not exists" is not safe against a concurrent create (two replicas starting on a
        // fresh database: unique violation in pg_namespace), so creators take turns.
        const schemaKey = `modelgate:schema:${schema}`;
        await client.query('select pg_advisory_lock(hashtext($1))', [schemaKey]);
        try {
          await client.query(`create schema if not exists "${schema}"`);
        } finally {
          await client.query('select pg_advisory_unlock(hashtext($1))', [schemaKey]);
        }
      }
      const r = await client.query<{ s: string | null }>('select current_schema() as s');
      const current = r.rows[0]?.s ?? null;
      if (current === null) throw new StoreError('unavailable', 'PostgreSQL: no current schema (search_path names no existing schema)');
      // Keyed by schema so separate deployments in one database do not wait on each other.
      const key = `modelgate:migrate:${current}`;
      await client.query('select pg_advisory_lock(hashtext($1))', [key]);
      try {
        // The schema is passed explicitly: without it kysely looks for its bookkeeping table
        // in every schema and could find another deployment's.
        return await migrateToLatest(db, 'postgres', current);
      } finally {
        await client.query('select pg_advisory_unlock(hashtext($1))', [key]);
      }
    } catch (e) {
      broken = true;
      throw toStoreError(e, 'migrate');
    } finally {
      // A session that failed mid-way may still hold the lock: destroy it rather than pool it.
      client.release(broken);
    }
  }

  return new SqlStore(db, {
    dialect: 'postgres',
    migrate,
    close: async () => {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  });
}
