/**
 * The files of one repository@commit in the inventory, and who pulled each. A busy file has
 * thousands of clients, and a commit's file x client rows lie scattered over inventory_clients
 * (each fold appends the pairs it meets first), so the repository page reads per file only its
 * count of clients and its newest few, both from inventory_clients_recent_idx (migration 0010);
 * the full list of a file is paged through by inventoryFileClients.
 */
import { sql, type Kysely } from 'kysely';
import type { Database, InventoryClientsTable, SqlDialect } from './db.js';
import { oneOf, toNumber } from './rows.js';
import type { AuditVerdict, InventoryClient, InventoryClientQuery, InventoryFile, InventoryRepo } from './types.js';

const VERDICTS: readonly AuditVerdict[] = ['allow', 'warn', 'block', 'error'];
/** Files per repository@commit read at most. */
export const MAX_FILES = 10_000;
/** Clients per file that inventoryFiles may be asked for. */
const MAX_CLIENTS_PER_FILE = 100;
const MAX_CLIENT_PAGE = 1000;

function toClient(c: InventoryClientsTable): InventoryClient {
  return { client: c.client, served: Number(c.served), refused: Number(c.refused), firstAt: c.first_at, lastAt: c.last_at };
}

/**
 * The newest `n` clients of each of the commit's first MAX_FILES files (by path), in one
 * statement: a range of n index entries per file, n row lookups. PostgreSQL says so with a
 * LATERAL join; SQLite, which has none, with a correlated `rowid in (... limit n)`.
 */
async function newestClients(db: Kysely<Database>, dialect: SqlDialect, repoType: string, repo: string, commit: string, n: number): Promise<InventoryClientsTable[]> {
  const files = sql`(select path from inventory_files where repo_type = ${repoType} and repo = ${repo} and "commit" = ${commit} order by path limit ${MAX_FILES}) f`;
  const q =
    dialect === 'postgres'
      ? sql<InventoryClientsTable>`select c.* from ${files} cross join lateral (
          select * from inventory_clients c where c.repo_type = ${repoType} and c.repo = ${repo} and c."commit" = ${commit} and c.path = f.path
          order by c.last_at desc, c.client desc limit ${n}) c`
      : sql<InventoryClientsTable>`select c.* from ${files} join inventory_clients c on c.rowid in (
          select rowid from inventory_clients c2 where c2.repo_type = ${repoType} and c2.repo = ${repo} and c2."commit" = ${commit} and c2.path = f.path
          order by c2.last_at desc, c2.client desc limit ${n})`;
  return (await q.execute(db)).rows;
}

/**
 * The commit's files (by path, at most MAX_FILES), each with its number of clients and its
 * `clientsPerFile` newest clients (0: none read, as for the ML-BOM).
 */
export async function inventoryFiles(db: Kysely<Database>, dialect: SqlDialect, repoType: InventoryRepo['repoType'], repo: string, commit: string, clientsPerFile: number): Promise<InventoryFile[]> {
  const n = Math.min(MAX_CLIENTS_PER_FILE, Math.max(0, Math.floor(clientsPerFile)));
  const [fileRows, clientRows] = await Promise.all([
    db
      .selectFrom('inventory_files as f')
      .selectAll('f')
      .select((eb) =>
        eb
          .selectFrom('inventory_clients as c')
          .select((e) => e.fn.countAll<number | string>().as('n'))
          .whereRef('c.repo_type', '=', 'f.repo_type')
          .whereRef('c.repo', '=', 'f.repo')
          .whereRef('c.commit', '=', 'f.commit')
          .whereRef('c.path', '=', 'f.path')
          .as('client_count'),
      )
      .where('f.repo_type', '=', repoType)
      .where('f.repo', '=', repo)
      .where('f.commit', '=', commit)
      .orderBy('f.path')
      .limit(MAX_FILES)
      .execute(),
    n > 0 ? newestClients(db, dialect, repoType, repo, commit, n) : Promise.resolve([]),
  ]);
  const byPath = new Map<string, InventoryClient[]>();
  for (const c of clientRows) {
    const list = byPath.get(c.path) ?? [];
    list.push(toClient(c));
    byPath.set(c.path, list);
  }
  // Neither join promises an order: newest first, as the index reads them.
  for (const list of byPath.values()) list.sort((a, b) => (a.lastAt !== b.lastAt ? (a.lastAt < b.lastAt ? 1 : -1) : a.client < b.client ? 1 : a.client > b.client ? -1 : 0));
  return fileRows.map((f) => {
    let kinds: string[] = [];
    try {
      const v: unknown = JSON.parse(f.findings);
      if (Array.isArray(v)) kinds = v.filter((x): x is string => typeof x === 'string');
    } catch {
      kinds = ['unreadable-audit-findings'];
    }
    return {
      path: f.path,
      sha256: f.sha256,
      scanId: f.scan_id,
      verdict: oneOf(VERDICTS, f.verdict, 'inventory_files.verdict', 'corrupt'),
      lastAuditId: toNumber(f.last_audit_id, 'inventory_files.last_audit_id'),
      findings: kinds,
      served: Number(f.served),
      refused: Number(f.refused),
      firstAt: f.first_at,
      lastAt: f.last_at,
      clientCount: toNumber(f.client_count ?? 0, 'inventory client count'),
      clients: byPath.get(f.path) ?? [],
    };
  });
}

/** One file's clients, newest first (last_at, then client, descending), a page after q.before. */
export async function inventoryFileClients(db: Kysely<Database>, repoType: InventoryRepo['repoType'], repo: string, commit: string, path: string, q: InventoryClientQuery = {}): Promise<InventoryClient[]> {
  let query = db.selectFrom('inventory_clients').selectAll().where('repo_type', '=', repoType).where('repo', '=', repo).where('commit', '=', commit).where('path', '=', path);
  const b = q.before;
  if (b) query = query.where((eb) => eb(eb.refTuple('last_at', 'client'), '<', eb.tuple(b.lastAt, b.client)));
  const limit = Math.min(MAX_CLIENT_PAGE, Math.max(1, Math.floor(q.limit ?? 100)));
  const rows = await query.orderBy('last_at', 'desc').orderBy('client', 'desc').limit(limit).execute();
  return rows.map(toClient);
}
