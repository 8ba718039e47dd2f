/**
 * /console/inventory: what was pulled through the gateway, and each repository's ML-BOM. The
 * inventory is folded from the audit log in the background (every FOLD_EVERY_MS) and before a
 * page is drawn (a bounded amount, so a page never waits on a large backlog; it says when it is
 * behind).
 */
import type { FastifyInstance } from 'fastify';
import type { EngineInfo } from '../../scan/report.js';
import type { InventoryClient, InventoryClientQuery, InventoryRepo, StoredScan } from '../../store/types.js';
import type { GatewayContext } from '../context.js';
import { ScanPool } from '../scan-pool.js';
import { repositoryBom } from './bom.js';
import { secureHeaders, text, type ConsoleKit } from './kit.js';
import { fileClientsPage, inventoryPage, repoPage } from './pages/inventory.js';

export const FOLD_EVERY_MS = 30_000;
const FOLD_BATCH = 5000;
/** Batches a page view may fold before drawing. */
const FOLD_ON_VIEW = 4;
const PAGE = 50;
/** Files whose formats are looked up in their stored scans, per repository page. */
const FORMAT_LOOKUPS = 500;
/** Newest clients shown per file on a repository page; the rest are a link away. */
export const CLIENTS_SHOWN = 8;
/** Clients per page of one file's client list. */
const CLIENTS_PAGE = 100;

type After = NonNullable<Parameters<GatewayContext['store']['listInventory']>[0]>['after'];
type ClientCursor = NonNullable<InventoryClientQuery['before']>;

function encodeCursor(r: InventoryRepo): string {
  return Buffer.from(JSON.stringify([r.lastAt, r.repoType, r.repo, r.commit])).toString('base64url');
}

function decodeCursor(s: string): After | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 4 && v.every((x) => typeof x === 'string')) {
      const [lastAt, repoType, repo, commit] = v as [string, string, string, string];
      return { lastAt, repoType, repo, commit };
    }
  } catch {
    return null;
  }
  return null;
}

function encodeClientCursor(c: InventoryClient): string {
  return Buffer.from(JSON.stringify([c.lastAt, c.client])).toString('base64url');
}

function decodeClientCursor(s: string): ClientCursor | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'string')) return { lastAt: v[0] as string, client: v[1] as string };
  } catch {
    return null;
  }
  return null;
}

function str(q: unknown, k: string, max = 300): string {
  const v = (q as Record<string, unknown>)[k];
  return typeof v === 'string' ? v.trim().slice(0, max) : '';
}

export function registerInventory(app: FastifyInstance, ctx: GatewayContext, kit: ConsoleKit): void {
  let folding: Promise<boolean> | null = null;
  /** Folds up to `batches` batches; true when the inventory is still behind the audit log. Calls share one run. */
  const fold = (batches: number): Promise<boolean> => {
    folding ??= (async () => {
      try {
        for (let i = 0; i < batches; i++) {
          const r = await ctx.store.foldInventory(FOLD_BATCH);
          if (!r.behind) return false;
        }
        return true;
      } catch (e) {
        ctx.log.warn({ err: (e as Error).message }, 'inventory fold failed');
        return true;
      } finally {
        folding = null;
      }
    })();
    return folding;
  };
  const timer = setInterval(() => void fold(20), FOLD_EVERY_MS);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));

  let engine: EngineInfo | null = null;
  const engineInfo = (): EngineInfo => (engine ??= ScanPool.engineInfo(ctx.config.limits));

  /** The repository a query names, or why not. */
  const target = (q: unknown): { repoType: InventoryRepo['repoType']; repo: string; commit: string } | string => {
    const type = str(q, 'type') || 'model';
    if (type !== 'model' && type !== 'dataset') return 'type must be model or dataset';
    const repo = str(q, 'repo');
    if (!repo) return 'repo is required';
    return { repoType: type, repo, commit: str(q, 'commit', 200) };
  };

  const scansOf = async (ids: Array<string | null>, cap = Infinity): Promise<Map<string, StoredScan>> => {
    const unique = [...new Set(ids.filter((x): x is string => x !== null))].slice(0, cap);
    const got = await Promise.all(unique.map((id) => ctx.store.getScanById(id)));
    return new Map(got.filter((s): s is StoredScan => s !== null).map((s) => [s.id, s]));
  };

  app.get('/console/inventory', async (req, reply) => {
    const w = await kit.gate(req, reply, 'page');
    if (!w) return reply;
    const behind = await fold(FOLD_ON_VIEW);
    const repoFilter = str(req.query, 'repo');
    const rawAfter = str(req.query, 'after', 2000);
    const after = rawAfter ? decodeCursor(rawAfter) : undefined;
    if (after === null) return text(reply, 400, 'after is not a cursor of this page');
    const got = await ctx.store.listInventory({ limit: PAGE + 1, ...(repoFilter ? { repo: repoFilter } : {}), ...(after ? { after } : {}) });
    const repos = got.slice(0, PAGE);
    const next = got.length > PAGE ? encodeCursor(repos[repos.length - 1]!) : null;
    return kit.html(reply, 200, inventoryPage({ ...kit.frame(w), repos, repoFilter, next, first: !after, behind }));
  });

  app.get('/console/inventory/repo', async (req, reply) => {
    const w = await kit.gate(req, reply, 'page');
    if (!w) return reply;
    const t = target(req.query);
    if (typeof t === 'string') return text(reply, 400, t);
    const behind = await fold(FOLD_ON_VIEW);
    const commits = await ctx.store.inventoryCommits(t.repoType, t.repo);
    const current = t.commit ? (commits.find((c) => c.commit === t.commit) ?? null) : commits.length === 1 ? commits[0]! : null;
    const files = current ? await ctx.store.inventoryFiles(t.repoType, t.repo, current.commit, CLIENTS_SHOWN) : [];
    const scans = await scansOf(files.map((f) => f.scanId), FORMAT_LOOKUPS);
    const formats = new Map([...scans].map(([id, s]) => [id, s.report.formats]));
    const found = current !== null || (!t.commit && commits.length > 0);
    return kit.html(reply, found ? 200 : 404, repoPage({ ...kit.frame(w), repoType: t.repoType, repo: t.repo, current, commits, files, formats, behind }));
  });

  // Everyone who pulled one file (or was refused it), newest first, a page at a time: where the
  // repository page's "and N more" leads.
  app.get('/console/inventory/clients', async (req, reply) => {
    const w = await kit.gate(req, reply, 'page');
    if (!w) return reply;
    const t = target(req.query);
    if (typeof t === 'string') return text(reply, 400, t);
    const path = str(req.query, 'path', 1000);
    if (!t.commit || !path) return text(reply, 400, 'commit and path are required');
    const rawBefore = str(req.query, 'before', 2000);
    const before = rawBefore ? decodeClientCursor(rawBefore) : undefined;
    if (before === null) return text(reply, 400, 'before is not a cursor of this page');
    const behind = await fold(FOLD_ON_VIEW);
    const got = await ctx.store.inventoryFileClients(t.repoType, t.repo, t.commit, path, { limit: CLIENTS_PAGE + 1, ...(before ? { before } : {}) });
    const clients = got.slice(0, CLIENTS_PAGE);
    const next = got.length > CLIENTS_PAGE ? encodeClientCursor(clients[clients.length - 1]!) : null;
    const found = clients.length > 0 || before !== undefined;
    return kit.html(reply, found ? 200 : 404, fileClientsPage({ ...kit.frame(w), ...t, path, clients, next, first: !before, behind }));
  });

  app.get('/console/inventory/bom.json', async (req, reply) => {
    if (!(await kit.gate(req, reply, 'data'))) return reply;
    const t = target(req.query);
    if (typeof t === 'string') return text(reply, 400, t);
    if (!t.commit) return text(reply, 400, 'commit is required');
    await fold(FOLD_ON_VIEW);
    const repo = (await ctx.store.inventoryCommits(t.repoType, t.repo)).find((c) => c.commit === t.commit);
    if (!repo) return text(reply, 404, `${t.repo}@${t.commit} is not in the inventory`);
    // The ML-BOM names no client: none are read.
    const files = await ctx.store.inventoryFiles(t.repoType, t.repo, t.commit, 0);
    const bom = repositoryBom(engineInfo(), repo, files, await scansOf(files.map((f) => f.scanId)));
    const fileName = `${t.repo.replace(/[^A-Za-z0-9._-]+/g, '_')}@${t.commit.slice(0, 12).replace(/[^A-Za-z0-9]/g, '_')}.cdx.json`;
    return secureHeaders(reply).header('content-disposition', `attachment; filename="${fileName}"`).type('application/vnd.cyclonedx+json; charset=utf-8').send(`${JSON.stringify(bom, null, 2)}\n`);
  });
}
