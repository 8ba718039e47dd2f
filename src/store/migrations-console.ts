/**
 * Migrations of the console's policy history and exposure runs, kept apart from migrations.ts so
 * that work on other console pages adds its own numbers without touching these. Same rules:
 * never edit a released migration; portable column types; branch on the dialect only for
 * identity columns.
 */
import type { Kysely, Migration } from 'kysely';
import type { SqlDialect } from './db.js';

// Migrations see the schema as it was when they were written, not today's types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- deliberately untyped, see above
type AnyDb = Kysely<any>;

/** An id that only grows (AUTOINCREMENT on SQLite: never reused after deletes, as cursors need). */
function withId(db: AnyDb, table: string, dialect: SqlDialect) {
  const t = db.schema.createTable(table);
  return dialect === 'postgres'
    ? t.addColumn('id', 'bigint', (c) => c.generatedByDefaultAsIdentity().primaryKey())
    : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
}

export function consolePolicyMigrations(dialect: SqlDialect): Record<string, Migration> {
  return {
    // Every policy the gateway put in force: the text once per content hash, and each load.
    '0006_policy_history': {
      async up(db: AnyDb) {
        await db.schema
          .createTable('policy_versions')
          .addColumn('sha256', 'text', (c) => c.primaryKey())
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('text', 'text')
          .addColumn('first_loaded_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('policy_versions_version_idx').on('policy_versions').column('version').execute();
        await withId(db, 'policy_loads', dialect)
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('sha256', 'text', (c) => c.notNull())
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('event', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('policy_loads_version_idx').on('policy_loads').columns(['version', 'id']).execute();
      },
      async down(db: AnyDb) {
        for (const t of ['policy_loads', 'policy_versions']) await db.schema.dropTable(t).execute();
      },
    },
    // Exposure runs: one item per cached file (claimed with a lease, so a run survives a crash
    // and replicas share it), and the files whose verdict got worse, once per served decision
    // and new verdict whatever reruns happen.
    '0007_exposure': {
      async up(db: AnyDb) {
        await db.schema
          .createTable('exposure_runs')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('detail', 'text', (c) => c.notNull())
          .addColumn('engine_key', 'text', (c) => c.notNull())
          .addColumn('policy_version', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('finished_at', 'text')
          .addColumn('total', 'integer', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('exposure_runs_created_idx').on('exposure_runs').column('created_at').execute();
        await db.schema
          .createTable('exposure_items')
          .addColumn('run_id', 'text', (c) => c.notNull())
          .addColumn('sha256', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('owner', 'text')
          .addColumn('lease_until', 'text')
          .addColumn('note', 'text')
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('exposure_items_pk', ['run_id', 'sha256'])
          .execute();
        await db.schema.createIndex('exposure_items_state_idx').on('exposure_items').columns(['run_id', 'state', 'sha256']).execute();
        await withId(db, 'exposures', dialect)
          .addColumn('run_id', 'text', (c) => c.notNull())
          .addColumn('found_at', 'text', (c) => c.notNull())
          .addColumn('sha256', 'text', (c) => c.notNull())
          .addColumn('repo_type', 'text', (c) => c.notNull())
          .addColumn('repo', 'text', (c) => c.notNull())
          .addColumn('commit', 'text')
          .addColumn('path', 'text')
          .addColumn('client_group', 'text', (c) => c.notNull())
          .addColumn('basis_audit_id', 'bigint', (c) => c.notNull())
          .addColumn('before', 'text', (c) => c.notNull())
          .addColumn('after', 'text', (c) => c.notNull())
          .addColumn('rules', 'text', (c) => c.notNull())
          .addColumn('findings', 'text', (c) => c.notNull())
          .addColumn('scan_id', 'text')
          .addColumn('engine_key', 'text', (c) => c.notNull())
          .addColumn('audit_id', 'bigint')
          .addUniqueConstraint('exposures_basis_after_uq', ['basis_audit_id', 'after'])
          .execute();
        await db.schema.createIndex('exposures_run_idx').on('exposures').columns(['run_id', 'id']).execute();
        await db.schema.createIndex('exposures_sha256_idx').on('exposures').column('sha256').execute();
        // "Who downloaded these bytes": served GETs by sha256, newest first.
        await db.schema.createIndex('audit_sha256_method_idx').on('audit').columns(['sha256', 'method', 'id']).execute();
      },
      async down(db: AnyDb) {
        await db.schema.dropIndex('audit_sha256_method_idx').execute();
        for (const t of ['exposures', 'exposure_items', 'exposure_runs']) await db.schema.dropTable(t).execute();
      },
    },
  };
}
