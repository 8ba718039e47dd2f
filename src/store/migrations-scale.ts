/**
 * Migrations that keep the console's pages fast over a large audit log (bench/console-scale.ts:
 * 1,000,000 records). Same rules as migrations.ts: never edit a released migration; portable
 * column types; branch on the dialect only where the SQL differs (here, the triggers).
 */
import { sql, type Kysely, type Migration } from 'kysely';
import type { SqlDialect } from './db.js';

// Migrations see the schema as it was when they were written, not today's types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- deliberately untyped, see above
type AnyDb = Kysely<any>;

export function consoleScaleMigrations(dialect: SqlDialect): Record<string, Migration> {
  return {
    '0008_console_scale': {
      async up(db: AnyDb) {
        // The policy rules that fired, one row per (rule, record): the activity page's rule
        // filter walks this index newest first instead of matching LIKE against every record's
        // JSON. Filled by a trigger, so every writer of the audit log (the gateway, the store's
        // transactions, an operator's import) keeps it whole; records whose rules are not JSON
        // (never written by modelgate) get no rows rather than failing the insert.
        await db.schema
          .createTable('audit_rules')
          .addColumn('rule', 'text', (c) => c.notNull())
          .addColumn('audit_id', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('audit_rules_pk', ['rule', 'audit_id'])
          .execute();
        if (dialect === 'postgres') {
          await sql`create function audit_rules_fill() returns trigger language plpgsql as $$
begin
  begin
    insert into audit_rules (rule, audit_id)
      select distinct e->>'rule', new.id from jsonb_array_elements(new.rules::jsonb) as e
      where jsonb_typeof(e) = 'object' and jsonb_typeof(e->'rule') = 'string'
      on conflict do nothing;
  exception when data_exception then
    null;
  end;
  return new;
end $$`.execute(db);
          await sql`create trigger audit_rules_fill after insert on audit for each row execute function audit_rules_fill()`.execute(db);
          await sql`insert into audit_rules (rule, audit_id)
            select distinct e->>'rule', a.id from audit a cross join lateral jsonb_array_elements(case when jsonb_typeof(a.rules::jsonb) = 'array' then a.rules::jsonb else '[]'::jsonb end) as e
            where jsonb_typeof(e) = 'object' and jsonb_typeof(e->'rule') = 'string'
            on conflict do nothing`.execute(db);
        } else {
          await sql`create trigger audit_rules_fill after insert on audit when json_valid(new.rules) begin
  insert or ignore into audit_rules (rule, audit_id)
    select distinct json_extract(value, '$.rule'), new.id from json_each(new.rules)
    where type = 'object' and json_type(value, '$.rule') = 'text';
end`.execute(db);
          await sql`insert or ignore into audit_rules (rule, audit_id)
            select distinct json_extract(e.value, '$.rule'), a.id from audit a, json_each(a.rules) e
            where json_valid(a.rules) and e.type = 'object' and json_type(e.value, '$.rule') = 'text'`.execute(db);
        }
        // The overview: download decisions per day and verdict, and the most blocked
        // repositories, read from this index alone (one range per verdict), never from the records.
        await db.schema.createIndex('audit_decisions_idx').on('audit').columns(['method', 'verdict', 'time', 'repo']).execute();
        // "Who downloaded these bytes" (exposure page, file page): the served GETs of a sha256
        // newest first, the verdict read from the index so refusals cost no row lookup.
        await db.schema.createIndex('audit_served_idx').on('audit').columns(['sha256', 'method', 'id', 'verdict']).execute();
        await db.schema.dropIndex('audit_sha256_method_idx').execute();
      },
      async down(db: AnyDb) {
        await db.schema.createIndex('audit_sha256_method_idx').on('audit').columns(['sha256', 'method', 'id']).execute();
        await db.schema.dropIndex('audit_served_idx').execute();
        await db.schema.dropIndex('audit_decisions_idx').execute();
        if (dialect === 'postgres') {
          await sql`drop trigger audit_rules_fill on audit`.execute(db);
          await sql`drop function audit_rules_fill()`.execute(db);
        } else {
          await sql`drop trigger audit_rules_fill`.execute(db);
        }
        await db.schema.dropTable('audit_rules').execute();
      },
    },
    '0009_audit_verdict_time': {
      async up(db: AnyDb) {
        // The activity filtered by a verdict within a past window (all blocks of one day two
        // months back): SQLite otherwise walks (verdict, id) from the newest record of that
        // verdict down to the window, past every newer one. PostgreSQL reads such a window by
        // the time index behind a fence (audit-query.ts) in about 10 ms at 1,000,000 records,
        // so it is spared one more index to keep up on every insert.
        if (dialect === 'sqlite') await db.schema.createIndex('audit_verdict_time_idx').on('audit').columns(['verdict', 'time']).execute();
      },
      async down(db: AnyDb) {
        if (dialect === 'sqlite') await db.schema.dropIndex('audit_verdict_time_idx').execute();
      },
    },
    '0010_console_cold': {
      async up(db: AnyDb) {
        // The repository page: each file's newest clients, read as a short range of this index
        // per file (newest last_at first) instead of every file x client row of the commit, whose
        // rows lie scattered over the table (4,000 of them took 300 ms on a cold SQLite cache at
        // 755,786 rows). It also counts a file's clients without touching the rows, and pages
        // through one file's clients by (last_at, client).
        await db.schema.createIndex('inventory_clients_recent_idx').on('inventory_clients').columns(['repo_type', 'repo', 'commit', 'path', 'last_at', 'client']).execute();
        // A finished run's item counts, kept on the run: they never change again, and counting
        // them reads one index entry per cached file (100,000: 170 ms on a cold SQLite cache), which
        // the exposure page did on its first view after every start. Null while the run goes on.
        for (const c of ['done_items', 'skipped_items', 'failed_items']) await db.schema.alterTable('exposure_runs').addColumn(c, 'integer').execute();
        const count = (state: string) => sql`(select count(*) from exposure_items i where i.run_id = exposure_runs.id and i.state = ${state})`;
        await sql`update exposure_runs set done_items = ${count('done')}, skipped_items = ${count('skipped')}, failed_items = ${count('failed')} where finished_at is not null`.execute(db);
      },
      async down(db: AnyDb) {
        for (const c of ['done_items', 'skipped_items', 'failed_items']) await db.schema.alterTable('exposure_runs').dropColumn(c).execute();
        await db.schema.dropIndex('inventory_clients_recent_idx').execute();
      },
    },
  };
}
