/**
 * Numbered, in-code migrations run by kysely's Migrator. In code rather than files so that the
 * compiled package carries them and no path resolution can pick up a stale directory.
 *
 * Rules for adding one: never edit a released migration, append the next number; keep column
 * types portable (text, integer, bigint) and branch on the dialect only where SQL differs
 * (identity columns).
 */
import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { MIGRATION_LOCK_TABLE, MIGRATION_TABLE, type SqlDialect } from './db.js';
import { toStoreError } from './errors.js';
import { consolePolicyMigrations } from './migrations-console.js';
import { consoleScaleMigrations } from './migrations-scale.js';

// Migrations see the schema as it was when they were written, not today's Database type.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- deliberately untyped, see above
type AnyDb = Kysely<any>;

function migrations(dialect: SqlDialect): Record<string, Migration> {
  return {
    '0001_initial': {
      async up(db: AnyDb) {
        await db.schema
          .createTable('scans')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('sha256', 'text', (c) => c.notNull())
          .addColumn('engine_key', 'text', (c) => c.notNull())
          .addColumn('report', 'text', (c) => c.notNull())
          .addColumn('max_severity', 'text')
          .addColumn('complete', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('scans_sha256_engine_key_uq', ['sha256', 'engine_key'])
          .execute();

        await db.schema
          .createTable('file_meta')
          .addColumn('repo_type', 'text', (c) => c.notNull())
          .addColumn('repo', 'text', (c) => c.notNull())
          .addColumn('commit', 'text', (c) => c.notNull())
          .addColumn('path', 'text', (c) => c.notNull())
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('etag', 'text', (c) => c.notNull())
          .addColumn('sha256', 'text')
          .addColumn('lfs', 'integer', (c) => c.notNull())
          .addColumn('fetched_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('file_meta_pk', ['repo_type', 'repo', 'commit', 'path'])
          .execute();
        await db.schema.createIndex('file_meta_sha256_idx').on('file_meta').column('sha256').execute();

        // AUTOINCREMENT on SQLite so ids are never reused after deletes: the `before` cursor
        // relies on ids only ever growing.
        let audit = db.schema.createTable('audit');
        audit =
          dialect === 'postgres'
            ? audit.addColumn('id', 'bigint', (c) => c.generatedByDefaultAsIdentity().primaryKey())
            : audit.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
        await audit
          .addColumn('time', 'text', (c) => c.notNull())
          .addColumn('request_id', 'text', (c) => c.notNull())
          .addColumn('client', 'text', (c) => c.notNull())
          .addColumn('client_group', 'text', (c) => c.notNull())
          .addColumn('method', 'text', (c) => c.notNull())
          .addColumn('repo_type', 'text', (c) => c.notNull())
          .addColumn('repo', 'text', (c) => c.notNull())
          .addColumn('revision', 'text', (c) => c.notNull())
          .addColumn('commit', 'text')
          .addColumn('path', 'text')
          .addColumn('sha256', 'text')
          .addColumn('verdict', 'text', (c) => c.notNull())
          .addColumn('rules', 'text', (c) => c.notNull())
          .addColumn('findings', 'text', (c) => c.notNull())
          .addColumn('waivers', 'text', (c) => c.notNull())
          .addColumn('upstream_status', 'integer')
          .addColumn('scan_id', 'text')
          .addColumn('policy_version', 'text', (c) => c.notNull())
          .addColumn('message', 'text')
          .execute();
        await db.schema.createIndex('audit_time_idx').on('audit').column('time').execute();
        await db.schema.createIndex('audit_repo_idx').on('audit').columns(['repo', 'id']).execute();
        await db.schema.createIndex('audit_verdict_idx').on('audit').columns(['verdict', 'id']).execute();
        await db.schema.createIndex('audit_sha256_idx').on('audit').columns(['sha256', 'id']).execute();
        await db.schema.createIndex('audit_client_idx').on('audit').columns(['client', 'id']).execute();

        await db.schema
          .createTable('waivers')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('repo', 'text')
          .addColumn('sha256', 'text')
          .addColumn('rule', 'text')
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('author', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('revoked_at', 'text')
          .execute();
        await db.schema.createIndex('waivers_expires_at_idx').on('waivers').column('expires_at').execute();

        await db.schema
          .createTable('tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('client_group', 'text', (c) => c.notNull())
          .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('revoked_at', 'text')
          .execute();
      },
      async down(db: AnyDb) {
        for (const t of ['tokens', 'waivers', 'audit', 'file_meta', 'scans']) await db.schema.dropTable(t).execute();
      },
    },
    // The crawler's results (src/queue/results.ts; docs/crawl.md). Keyed by repo and commit so a
    // retried or duplicated job can only ever upsert the same rows.
    '0002_crawl': {
      async up(db: AnyDb) {
        await db.schema
          .createTable('repositories')
          .addColumn('repo_type', 'text', (c) => c.notNull())
          .addColumn('repo', 'text', (c) => c.notNull())
          .addColumn('commit', 'text', (c) => c.notNull())
          .addColumn('revision', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('engine_key', 'text', (c) => c.notNull())
          .addColumn('files', 'integer', (c) => c.notNull())
          .addColumn('file_errors', 'integer', (c) => c.notNull())
          .addColumn('security_status', 'text')
          .addColumn('license', 'text')
          .addColumn('needs_remote_code', 'integer', (c) => c.notNull())
          .addColumn('error', 'text')
          .addColumn('crawled_at', 'text', (c) => c.notNull())
          .addColumn('checked_at', 'text', (c) => c.notNull())
          .addColumn('last_run', 'text')
          .addPrimaryKeyConstraint('repositories_pk', ['repo_type', 'repo', 'commit'])
          .execute();
        await db.schema.createIndex('repositories_repo_idx').on('repositories').columns(['repo_type', 'repo']).execute();
        await db.schema.createIndex('repositories_status_idx').on('repositories').column('status').execute();

        await db.schema
          .createTable('repo_files')
          .addColumn('repo_type', 'text', (c) => c.notNull())
          .addColumn('repo', 'text', (c) => c.notNull())
          .addColumn('commit', 'text', (c) => c.notNull())
          .addColumn('path', 'text', (c) => c.notNull())
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('sha256', 'text')
          .addColumn('oid', 'text', (c) => c.notNull())
          .addColumn('lfs', 'integer', (c) => c.notNull())
          .addColumn('scan_id', 'text')
          .addColumn('error_kind', 'text')
          .addColumn('error', 'text')
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('repo_files_pk', ['repo_type', 'repo', 'commit', 'path'])
          .execute();
        await db.schema.createIndex('repo_files_sha256_idx').on('repo_files').column('sha256').execute();
        await db.schema.createIndex('repo_files_oid_idx').on('repo_files').column('oid').execute();
        await db.schema.createIndex('repo_files_scan_id_idx').on('repo_files').column('scan_id').execute();
      },
      async down(db: AnyDb) {
        for (const t of ['repo_files', 'repositories']) await db.schema.dropTable(t).execute();
      },
    },
    // The client's declared library versions (User-Agent) per decision, for the client-vulnerable
    // policy rule: a nullable JSON text column, so older rows read as "not recorded".
    '0003_audit_client_libraries': {
      async up(db: AnyDb) {
        await db.schema.alterTable('audit').addColumn('client_libraries', 'text').execute();
      },
      async down(db: AnyDb) {
        await db.schema.alterTable('audit').dropColumn('client_libraries').execute();
      },
    },
    // The console's waiver workflow: users' requests and the admins' answers, and the refusal
    // link that lets the user a refusal was for open that one decision (sha256 of its secret).
    '0004_waiver_requests': {
      async up(db: AnyDb) {
        await db.schema.alterTable('audit').addColumn('ticket_hash', 'text').execute();
        await db.schema.createIndex('audit_ticket_hash_idx').on('audit').column('ticket_hash').execute();
        await db.schema
          .createTable('waiver_requests')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('requester', 'text', (c) => c.notNull())
          .addColumn('requester_group', 'text', (c) => c.notNull())
          .addColumn('via', 'text', (c) => c.notNull())
          .addColumn('audit_id', 'bigint')
          .addColumn('repo_type', 'text', (c) => c.notNull())
          .addColumn('repo', 'text')
          .addColumn('sha256', 'text')
          .addColumn('rule', 'text')
          .addColumn('justification', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('decided_by', 'text')
          .addColumn('decided_at', 'text')
          .addColumn('note', 'text')
          .addColumn('waiver_id', 'text')
          .execute();
        await db.schema.createIndex('waiver_requests_status_idx').on('waiver_requests').columns(['status', 'created_at']).execute();
        await db.schema.createIndex('waiver_requests_audit_idx').on('waiver_requests').column('audit_id').execute();
        await db.schema.createIndex('waiver_requests_requester_idx').on('waiver_requests').columns(['requester', 'created_at']).execute();
      },
      async down(db: AnyDb) {
        await db.schema.dropTable('waiver_requests').execute();
        await db.schema.dropIndex('audit_ticket_hash_idx').execute();
        await db.schema.alterTable('audit').dropColumn('ticket_hash').execute();
      },
    },
    // The console's inventory: what was pulled, folded from the audit log by a cursor so that a
    // page reads a few rows instead of aggregating millions of records.
    '0005_inventory': {
      async up(db: AnyDb) {
        await db.schema
          .createTable('inventory_repos')
          .addColumn('repo_type', 'text', (c) => c.notNull())
          .addColumn('repo', 'text', (c) => c.notNull())
          .addColumn('commit', 'text', (c) => c.notNull())
          .addColumn('files', 'integer', (c) => c.notNull())
          .addColumn('blocked_files', 'integer', (c) => c.notNull())
          .addColumn('warned_files', 'integer', (c) => c.notNull())
          .addColumn('served', 'integer', (c) => c.notNull())
          .addColumn('refused', 'integer', (c) => c.notNull())
          .addColumn('first_at', 'text')
          .addColumn('last_at', 'text')
          .addColumn('license', 'text')
          .addColumn('remote_code', 'text')
          .addColumn('remote_files', 'text')
          .addColumn('facts_at', 'text')
          .addPrimaryKeyConstraint('inventory_repos_pk', ['repo_type', 'repo', 'commit'])
          .execute();
        await db.schema.createIndex('inventory_repos_last_idx').on('inventory_repos').columns(['last_at', 'repo_type', 'repo', 'commit']).execute();
        await db.schema
          .createTable('inventory_files')
          .addColumn('repo_type', 'text', (c) => c.notNull())
          .addColumn('repo', 'text', (c) => c.notNull())
          .addColumn('commit', 'text', (c) => c.notNull())
          .addColumn('path', 'text', (c) => c.notNull())
          .addColumn('sha256', 'text')
          .addColumn('scan_id', 'text')
          .addColumn('verdict', 'text', (c) => c.notNull())
          .addColumn('last_audit_id', 'bigint', (c) => c.notNull())
          .addColumn('findings', 'text', (c) => c.notNull())
          .addColumn('served', 'integer', (c) => c.notNull())
          .addColumn('refused', 'integer', (c) => c.notNull())
          .addColumn('first_at', 'text', (c) => c.notNull())
          .addColumn('last_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('inventory_files_pk', ['repo_type', 'repo', 'commit', 'path'])
          .execute();
        await db.schema.createIndex('inventory_files_sha256_idx').on('inventory_files').column('sha256').execute();
        await db.schema
          .createTable('inventory_clients')
          .addColumn('repo_type', 'text', (c) => c.notNull())
          .addColumn('repo', 'text', (c) => c.notNull())
          .addColumn('commit', 'text', (c) => c.notNull())
          .addColumn('path', 'text', (c) => c.notNull())
          .addColumn('client', 'text', (c) => c.notNull())
          .addColumn('served', 'integer', (c) => c.notNull())
          .addColumn('refused', 'integer', (c) => c.notNull())
          .addColumn('first_at', 'text', (c) => c.notNull())
          .addColumn('last_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('inventory_clients_pk', ['repo_type', 'repo', 'commit', 'path', 'client'])
          .execute();
        await db.schema
          .createTable('fold_cursor')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('last_id', 'bigint', (c) => c.notNull())
          .execute();
        // Seeded at 0: the first fold counts every download already in the audit log.
        await db.insertInto('fold_cursor').values({ name: 'inventory', last_id: 0 }).execute();
      },
      async down(db: AnyDb) {
        for (const t of ['fold_cursor', 'inventory_clients', 'inventory_files', 'inventory_repos']) await db.schema.dropTable(t).execute();
      },
    },
    ...consolePolicyMigrations(dialect),
    ...consoleScaleMigrations(dialect),
  };
}

/** Names of the migrations this build knows, in order (for tests and `doctor`-style output). */
export function migrationNames(dialect: SqlDialect): string[] {
  return Object.keys(migrations(dialect)).sort();
}

class InCodeProvider implements MigrationProvider {
  constructor(private readonly dialect: SqlDialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.dialect);
  }
}

/**
 * Runs every pending migration. The caller provides the cross-process exclusion (an advisory
 * lock on PostgreSQL, an IMMEDIATE transaction on SQLite); kysely's own lock is per-dialect and,
 * on SQLite, a no-op.
 */
export async function migrateToLatest(db: AnyDb, dialect: SqlDialect, tableSchema?: string): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: new InCodeProvider(dialect),
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
    ...(tableSchema !== undefined ? { migrationTableSchema: tableSchema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw toStoreError(error, failed ? `migration ${failed}` : 'migrate');
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
