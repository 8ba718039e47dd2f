/**
 * The inventory: every repository@commit and file pulled through the gateway, who pulled it,
 * when and how often. It is folded from the audit log (the record of truth) behind a cursor, so
 * the download path writes nothing more and the console reads a few rows per page instead of
 * aggregating millions of records. Only GET decisions on files count: a HEAD is a client
 * checking its own cache, and errors delivered nothing.
 *
 * Several processes may fold at once: each fold moves the cursor with a compare-and-set first,
 * in the same transaction as its counts, so a record is counted exactly once.
 */
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { Database, InventoryReposTable } from './db.js';
import { normTime, oneOf, toNumber } from './rows.js';
import type { InventoryQuery, InventoryRepo, RepoFactsNote } from './types.js';

const CURSOR = 'inventory';
const REPO_TYPES: readonly InventoryRepo['repoType'][] = ['model', 'dataset'];
const REMOTE: readonly NonNullable<InventoryRepo['remoteCode']>[] = ['yes', 'no', 'unknown'];
/** Rows per multi-row upsert (SQLite caps bound parameters per statement). */
const CHUNK = 400;
/** At most this many finding kinds are kept per file. */
const MAX_KINDS = 20;

/**
 * A gap in audit ids may be a record whose transaction has not committed yet (PostgreSQL hands
 * ids out before commit): records after a gap are folded only once they are this old, so a
 * late commit is not skipped. Rolled-back inserts leave gaps forever; they cost this delay once.
 */
export const GAP_SETTLE_MS = 10_000;

class LostRace extends Error {}

function sqliteBusy(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null && 'code' in e ? (e as { code: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

interface FileAgg {
  repoType: string;
  repo: string;
  commit: string;
  path: string;
  sha256: string | null;
  scanId: string | null;
  verdict: string;
  lastAuditId: number;
  findings: string;
  served: number;
  refused: number;
  firstAt: string;
  lastAt: string;
}

interface ClientAgg {
  repoType: string;
  repo: string;
  commit: string;
  path: string;
  client: string;
  served: number;
  refused: number;
  firstAt: string;
  lastAt: string;
}

function findingKinds(json: string): string {
  let list: unknown;
  try {
    list = JSON.parse(json);
  } catch {
    return JSON.stringify(['unreadable-audit-findings']);
  }
  const kinds = new Set<string>();
  if (Array.isArray(list)) for (const f of list) if (f && typeof f === 'object' && typeof (f as { rule?: unknown }).rule === 'string') kinds.add((f as { rule: string }).rule);
  return JSON.stringify([...kinds].slice(0, MAX_KINDS));
}

function chunks<T>(list: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += CHUNK) out.push(list.slice(i, i + CHUNK));
  return out;
}

export async function foldInventory(db: Kysely<Database>, max: number, now = Date.now()): Promise<{ folded: number; behind: boolean }> {
  try {
    return await db.transaction().execute((trx) => foldBatch(trx, Math.max(1, Math.min(10_000, Math.floor(max))), now));
  } catch (e) {
    // Another process folded these records first (or, on SQLite, holds the write lock or wrote
    // since this transaction's snapshot): nothing to do but come back later.
    if (e instanceof LostRace || sqliteBusy(e)) return { folded: 0, behind: true };
    throw e;
  }
}

async function foldBatch(trx: Transaction<Database>, max: number, now: number): Promise<{ folded: number; behind: boolean }> {
  const cur = await trx.selectFrom('fold_cursor').select('last_id').where('name', '=', CURSOR).executeTakeFirst();
  const from = cur ? toNumber(cur.last_id, 'fold_cursor.last_id') : 0;
  const rows = await trx
    .selectFrom('audit')
    .select(['id', 'time', 'client', 'method', 'repo_type', 'repo', 'commit', 'path', 'sha256', 'verdict', 'findings', 'scan_id'])
    .where('id', '>', from)
    .orderBy('id')
    .limit(max + 1)
    .execute();
  let behind = rows.length > max;
  let last = from;
  const batch: typeof rows = [];
  for (const r of rows.slice(0, max)) {
    const id = toNumber(r.id, 'audit.id');
    if (id !== last + 1 && now - Date.parse(r.time) < GAP_SETTLE_MS) {
      behind = true;
      break;
    }
    batch.push(r);
    last = id;
  }
  if (batch.length === 0) return { folded: 0, behind };

  // Claim the records before counting them: a concurrent fold that got here first makes this
  // update match nothing, and the whole transaction is rolled back.
  if (cur) {
    const moved = await trx.updateTable('fold_cursor').set({ last_id: last }).where('name', '=', CURSOR).where('last_id', '=', from).executeTakeFirst();
    if (moved.numUpdatedRows === 0n) throw new LostRace();
  } else {
    await trx.insertInto('fold_cursor').values({ name: CURSOR, last_id: last }).execute();
  }

  const files = new Map<string, FileAgg>();
  const clients = new Map<string, ClientAgg>();
  const repos = new Map<string, { repoType: string; repo: string; commit: string; firstAt: string; lastAt: string }>();
  for (const r of batch) {
    if (r.method !== 'GET' || r.path === null || r.commit === null || r.verdict === 'error') continue;
    const served = r.verdict === 'allow' || r.verdict === 'warn' ? 1 : 0;
    const refused = r.verdict === 'block' ? 1 : 0;
    const id = toNumber(r.id, 'audit.id');
    const fk = JSON.stringify([r.repo_type, r.repo, r.commit, r.path]);
    const f = files.get(fk);
    const latest = { verdict: r.verdict, lastAuditId: id, findings: findingKinds(r.findings), lastAt: r.time, sha256: r.sha256, scanId: r.scan_id };
    if (f) {
      f.served += served;
      f.refused += refused;
      Object.assign(f, latest, { sha256: r.sha256 ?? f.sha256, scanId: r.scan_id ?? f.scanId });
    } else {
      files.set(fk, { repoType: r.repo_type, repo: r.repo, commit: r.commit, path: r.path, served, refused, firstAt: r.time, ...latest });
    }
    const ck = JSON.stringify([fk, r.client]);
    const c = clients.get(ck);
    if (c) {
      c.served += served;
      c.refused += refused;
      c.lastAt = r.time;
    } else {
      clients.set(ck, { repoType: r.repo_type, repo: r.repo, commit: r.commit, path: r.path, client: r.client, served, refused, firstAt: r.time, lastAt: r.time });
    }
    const rk = JSON.stringify([r.repo_type, r.repo, r.commit]);
    const rp = repos.get(rk);
    if (rp) rp.lastAt = r.time;
    else repos.set(rk, { repoType: r.repo_type, repo: r.repo, commit: r.commit, firstAt: r.time, lastAt: r.time });
  }

  for (const part of chunks([...files.values()])) {
    await trx
      .insertInto('inventory_files')
      .values(part.map((f) => ({ repo_type: f.repoType, repo: f.repo, commit: f.commit, path: f.path, sha256: f.sha256, scan_id: f.scanId, verdict: f.verdict, last_audit_id: f.lastAuditId, findings: f.findings, served: f.served, refused: f.refused, first_at: f.firstAt, last_at: f.lastAt })))
      .onConflict((oc) =>
        oc.columns(['repo_type', 'repo', 'commit', 'path']).doUpdateSet({
          served: sql`inventory_files.served + excluded.served`,
          refused: sql`inventory_files.refused + excluded.refused`,
          verdict: sql`excluded.verdict`,
          last_audit_id: sql`excluded.last_audit_id`,
          findings: sql`excluded.findings`,
          last_at: sql`excluded.last_at`,
          sha256: sql`coalesce(excluded.sha256, inventory_files.sha256)`,
          scan_id: sql`coalesce(excluded.scan_id, inventory_files.scan_id)`,
        }),
      )
      .execute();
  }
  for (const part of chunks([...clients.values()])) {
    await trx
      .insertInto('inventory_clients')
      .values(part.map((c) => ({ repo_type: c.repoType, repo: c.repo, commit: c.commit, path: c.path, client: c.client, served: c.served, refused: c.refused, first_at: c.firstAt, last_at: c.lastAt })))
      .onConflict((oc) =>
        oc.columns(['repo_type', 'repo', 'commit', 'path', 'client']).doUpdateSet({
          served: sql`inventory_clients.served + excluded.served`,
          refused: sql`inventory_clients.refused + excluded.refused`,
          last_at: sql`excluded.last_at`,
        }),
      )
      .execute();
  }
  for (const r of repos.values()) {
    const agg = await trx
      .selectFrom('inventory_files')
      .select((eb) => [
        eb.fn.countAll<number | string>().as('files'),
        eb.fn.sum<number | string | null>(sql`case when verdict = 'block' then 1 else 0 end`).as('blocked'),
        eb.fn.sum<number | string | null>(sql`case when verdict = 'warn' then 1 else 0 end`).as('warned'),
        eb.fn.sum<number | string | null>('served').as('served'),
        eb.fn.sum<number | string | null>('refused').as('refused'),
      ])
      .where('repo_type', '=', r.repoType)
      .where('repo', '=', r.repo)
      .where('commit', '=', r.commit)
      .executeTakeFirstOrThrow();
    const counts = { files: Number(agg.files), blocked_files: Number(agg.blocked ?? 0), warned_files: Number(agg.warned ?? 0), served: Number(agg.served ?? 0), refused: Number(agg.refused ?? 0) };
    await trx
      .insertInto('inventory_repos')
      .values({ repo_type: r.repoType, repo: r.repo, commit: r.commit, ...counts, first_at: r.firstAt, last_at: r.lastAt, license: null, remote_code: null, remote_files: null, facts_at: null })
      .onConflict((oc) => oc.columns(['repo_type', 'repo', 'commit']).doUpdateSet({ ...counts, first_at: sql`coalesce(inventory_repos.first_at, excluded.first_at)`, last_at: sql`excluded.last_at` }))
      .execute();
  }
  return { folded: batch.length, behind };
}

/** Facts the gatekeeper learned about a repository at a commit; counts are left alone. */
export async function noteRepoFacts(db: Kysely<Database>, f: RepoFactsNote): Promise<void> {
  const facts: { license?: string | null; remote_code?: string; remote_files?: string; facts_at: string } = { facts_at: normTime(f.at, 'facts.at') };
  if (f.license !== undefined) facts.license = f.license;
  if (f.remoteCode !== undefined) {
    facts.remote_code = f.remoteCode.needed === 'unknown' ? 'unknown' : f.remoteCode.needed ? 'yes' : 'no';
    facts.remote_files = JSON.stringify((f.remoteCode.files ?? []).slice(0, 100));
  }
  await db
    .insertInto('inventory_repos')
    .values({ repo_type: oneOf(REPO_TYPES, f.repoType, 'facts.repoType', 'invalid'), repo: f.repo, commit: f.commit, files: 0, blocked_files: 0, warned_files: 0, served: 0, refused: 0, first_at: null, last_at: null, license: null, remote_code: null, remote_files: null, ...facts })
    .onConflict((oc) => oc.columns(['repo_type', 'repo', 'commit']).doUpdateSet(facts))
    .execute();
}

function toRepo(r: Selectable<InventoryReposTable>): InventoryRepo {
  let files: string[] = [];
  try {
    const v: unknown = r.remote_files === null ? [] : JSON.parse(r.remote_files);
    if (Array.isArray(v)) files = v.filter((x): x is string => typeof x === 'string');
  } catch {
    files = [];
  }
  return {
    repoType: oneOf(REPO_TYPES, r.repo_type, 'inventory_repos.repo_type', 'corrupt'),
    repo: r.repo,
    commit: r.commit,
    files: Number(r.files),
    blockedFiles: Number(r.blocked_files),
    warnedFiles: Number(r.warned_files),
    served: Number(r.served),
    refused: Number(r.refused),
    firstAt: r.first_at,
    lastAt: r.last_at,
    license: r.license,
    remoteCode: r.remote_code === null ? null : oneOf(REMOTE, r.remote_code, 'inventory_repos.remote_code', 'corrupt'),
    remoteFiles: files,
  };
}

export async function listInventory(db: Kysely<Database>, q: InventoryQuery = {}): Promise<InventoryRepo[]> {
  let query = db.selectFrom('inventory_repos').selectAll().where('last_at', 'is not', null);
  if (q.repo !== undefined) query = query.where('repo', '=', q.repo);
  const a = q.after;
  if (a) query = query.where((eb) => eb(eb.refTuple('last_at', 'repo_type', 'repo', 'commit'), '<', eb.tuple(a.lastAt, a.repoType, a.repo, a.commit)));
  const limit = Math.min(500, Math.max(1, Math.floor(q.limit ?? 50)));
  const rows = await query.orderBy('last_at', 'desc').orderBy('repo_type', 'desc').orderBy('repo', 'desc').orderBy('commit', 'desc').limit(limit).execute();
  return rows.map(toRepo);
}

export async function inventoryCommits(db: Kysely<Database>, repoType: string, repo: string): Promise<InventoryRepo[]> {
  const rows = await db.selectFrom('inventory_repos').selectAll().where('repo_type', '=', repoType).where('repo', '=', repo).where('last_at', 'is not', null).orderBy('last_at', 'desc').limit(500).execute();
  return rows.map(toRepo);
}
