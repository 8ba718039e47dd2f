/**
 * The policy history behind the console's Policy page: each policy text stored once under its
 * sha256, and every load (start-up, hot reload) as a row, so that any decision's
 * `policyVersion` can be traced to the text that made it.
 */
import type { Generated, Kysely } from 'kysely';
import type { PolicyLoad, PolicyLoadEvent, PolicyText } from './console-types.js';
import type { Database } from './db.js';
import { StoreError } from './errors.js';

export interface PolicyVersionsTable {
  sha256: string;
  version: string;
  text: string | null;
  first_loaded_at: string;
}

export interface PolicyLoadsTable {
  id: Generated<number | string>;
  at: string;
  sha256: string;
  version: string;
  source: string;
  event: string;
  actor: string;
}

type Db = Kysely<Database & { policy_versions: PolicyVersionsTable; policy_loads: PolicyLoadsTable }>;

const EVENTS: readonly PolicyLoadEvent[] = ['start', 'reload'];
const SHA256_RE = /^[0-9a-f]{64}$/;

export function iso(value: string, field: string): string {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new StoreError('invalid', `${field}: not a date/time: ${JSON.stringify(value)}`);
  return d.toISOString();
}

export function idOf(v: number | string, what: string): number {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isSafeInteger(n)) throw new StoreError('corrupt', `${what}: not a safe integer: ${String(v)}`);
  return n;
}

function tables(db: Kysely<Database>): Db {
  return db.withTables<{ policy_versions: PolicyVersionsTable; policy_loads: PolicyLoadsTable }>();
}

export async function recordPolicyLoad(base: Kysely<Database>, load: PolicyLoad, text: string | null): Promise<number> {
  if (!SHA256_RE.test(load.sha256)) throw new StoreError('invalid', 'policy load: sha256 must be 64 lowercase hex digits');
  if (!EVENTS.includes(load.event)) throw new StoreError('invalid', `policy load: unexpected event ${JSON.stringify(load.event)}`);
  const at = iso(load.at, 'policyLoad.at');
  const db = tables(base);
  return db.transaction().execute(async (trx) => {
    await trx
      .insertInto('policy_versions')
      .values({ sha256: load.sha256, version: load.version, text, first_loaded_at: at })
      .onConflict((oc) => oc.column('sha256').doNothing())
      .execute();
    const r = await trx
      .insertInto('policy_loads')
      .values({ at, sha256: load.sha256, version: load.version, source: load.source, event: load.event, actor: load.actor })
      .returning('id')
      .executeTakeFirstOrThrow();
    return idOf(r.id, 'policy_loads.id');
  });
}

export async function listPolicyLoads(base: Kysely<Database>, q: { limit?: number; before?: number } = {}): Promise<PolicyLoad[]> {
  let query = tables(base).selectFrom('policy_loads').selectAll();
  if (q.before !== undefined) query = query.where('id', '<', q.before);
  const rows = await query.orderBy('id', 'desc').limit(Math.min(500, Math.max(1, q.limit ?? 50))).execute();
  return rows.map((r) => ({
    id: idOf(r.id, 'policy_loads.id'),
    at: r.at,
    version: r.version,
    sha256: r.sha256,
    source: r.source,
    event: EVENTS.includes(r.event as PolicyLoadEvent) ? (r.event as PolicyLoadEvent) : 'start',
    actor: r.actor,
  }));
}

export async function getPolicyText(base: Kysely<Database>, key: { sha256: string } | { version: string }): Promise<PolicyText | null> {
  const db = tables(base);
  let sha256: string;
  if ('sha256' in key) sha256 = key.sha256;
  else {
    const load = await db.selectFrom('policy_loads').select('sha256').where('version', '=', key.version).orderBy('id', 'desc').limit(1).executeTakeFirst();
    if (!load) return null;
    sha256 = load.sha256;
  }
  const r = await db.selectFrom('policy_versions').selectAll().where('sha256', '=', sha256).executeTakeFirst();
  return r ? { sha256: r.sha256, version: r.version, text: r.text } : null;
}
