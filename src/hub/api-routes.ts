/**
 * The local hub's JSON API: repo info, tree listings, paths-info, refs, commits and the model and
 * dataset listings, shaped as huggingface.co shapes them for the real clients.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AccessList } from './access.js';
import { cardData, configSummary, repoStatus, securityFile, type SecurityFile } from './card.js';
import { decodeCursor, dirEntry, encodeCursor, fileEntry, gitOid, lfsInfo, objectId } from './entries.js';
import { checkRelativePath, truthy, type ApiAction, type RepoRef } from './paths.js';
import { fail, sendJson, type RequestCtx } from './reply.js';
import type { HubFile, RepoSnapshot, RepoStore } from './store.js';

const MAX_PATHS_INFO = 1000;

export type Snap = { ok: true; snap: RepoSnapshot } | { ok: false; sent: FastifyReply };

/** What the API needs from the server around it. */
export interface HubApi {
  store: RepoStore;
  access: AccessList;
  /** Entries per page of listings. */
  pageSize: number;
  /** The repository at a revision, or the error already sent. */
  snapshotAt(reply: FastifyReply, repo: RepoRef, rev: string): Promise<Snap>;
  /** A `Link: <...>; rel="next"` value for the same request at another cursor. */
  nextLink(req: FastifyRequest, ctx: RequestCtx, cursor: string, limit: number | null): string;
}

async function loadSecurity(reply: FastifyReply, snap: RepoSnapshot): Promise<{ ok: true; sec: SecurityFile | null } | { ok: false; sent: FastifyReply }> {
  const r = await securityFile(snap);
  if (!r.ok) return { ok: false, sent: fail(reply, 500, r.message) };
  return { ok: true, sec: r.value };
}

export async function handleApi(hub: HubApi, req: FastifyRequest, reply: FastifyReply, ctx: RequestCtx, repo: RepoRef, action: ApiAction): Promise<FastifyReply> {
  if (action.op === 'token') return fail(reply, 403, 'Xet is not offered by this hub; files are served over plain HTTP.');
  const rev = action.op === 'refs' ? 'main' : (action.rev ?? 'main');
  const s = await hub.snapshotAt(reply, repo, rev);
  if (!s.ok) return s.sent;
  const { snap } = s;
  switch (action.op) {
    case 'info':
      return repoInfo(hub, reply, ctx, snap);
    case 'tree':
      return tree(hub, req, reply, ctx, snap, action.path);
    case 'paths-info':
      return pathsInfo(hub, req, reply, snap);
    case 'refs':
      return sendJson(reply, {
        branches: [{ name: 'main', ref: 'refs/heads/main', targetCommit: snap.commit }],
        converts: [],
        tags: [],
        pullRequests: [],
      });
    case 'commits':
      return sendJson(reply, [
        {
          id: snap.commit,
          title: 'Snapshot of the served directory',
          message: '',
          authors: [{ user: 'modelgate-hub' }],
          date: snap.lastModified.toISOString(),
        },
      ]);
  }
}

async function repoInfo(hub: HubApi, reply: FastifyReply, ctx: RequestCtx, snap: RepoSnapshot): Promise<FastifyReply> {
  const { repo } = snap;
  const expand = ctx.query.getAll('expand').concat(ctx.query.getAll('expand[]'));
  const wantSecurity = truthy(ctx.query.get('securityStatus')) || expand.includes('securityRepoStatus');
  const blobs = truthy(ctx.query.get('blobs'));
  const card = await cardData(snap);
  const tags: string[] = [];
  if (card) {
    const t = card['tags'];
    if (Array.isArray(t)) for (const x of t) if (typeof x === 'string') tags.push(x);
    const lic = card['license'];
    if (typeof lic === 'string') tags.push(`license:${lic}`);
  }
  const body: Record<string, unknown> = {
    _id: objectId(repo),
    id: repo.id,
    ...(repo.kind === 'model' ? { modelId: repo.id } : {}),
    author: repo.segments.length === 2 ? repo.segments[0] : null,
    sha: snap.commit,
    lastModified: snap.lastModified.toISOString(),
    createdAt: snap.createdAt.toISOString(),
    ...hub.access.flags(repo),
    disabled: false,
    downloads: 0,
    likes: 0,
    tags,
    usedStorage: snap.files.reduce((n, f) => n + f.size, 0),
    siblings: snap.files.map((f) =>
      blobs ? { rfilename: f.path, blobId: gitOid(f), size: f.size, ...(f.lfs ? { lfs: { sha256: f.sha256, size: f.size, pointerSize: lfsInfo(f).pointerSize } } : {}) } : { rfilename: f.path },
    ),
  };
  if (card) {
    body['cardData'] = card;
    for (const k of ['library_name', 'pipeline_tag'] as const) if (typeof card[k] === 'string') body[k] = card[k];
  }
  if (repo.kind === 'model') {
    const config = await configSummary(snap);
    if (config) body['config'] = config;
    body['spaces'] = [];
  }
  if (wantSecurity) {
    const sec = await loadSecurity(reply, snap);
    if (!sec.ok) return sec.sent;
    body['securityRepoStatus'] = repoStatus(sec.sec, snap);
  }
  return sendJson(reply, body);
}

async function tree(hub: HubApi, req: FastifyRequest, reply: FastifyReply, ctx: RequestCtx, snap: RepoSnapshot, path: string): Promise<FastifyReply> {
  if (path !== '' && !snap.dirs.has(path)) {
    // A file, or nothing: either way there is no tree here.
    return fail(reply, 404, `Entry not found`, 'EntryNotFound');
  }
  const recursive = truthy(ctx.query.get('recursive'));
  const expand = truthy(ctx.query.get('expand'));
  const cursor = decodeCursor(ctx.query.get('cursor'));
  if (cursor === 'invalid') return fail(reply, 400, 'invalid cursor');
  if (cursor.commit !== null && cursor.commit !== snap.commit) {
    return fail(reply, 409, 'the repository changed while it was being listed; list it again from the start');
  }
  const limit = pageLimit(hub, ctx.query.get('limit'));
  if (limit === 'invalid') return fail(reply, 400, 'invalid limit');
  const prefix = path === '' ? '' : path + '/';
  const depth = prefix.split('/').length - 1;
  type Item = { path: string; file: HubFile | null };
  const items: Item[] = [];
  for (const d of snap.dirs) {
    if (!d.startsWith(prefix)) continue;
    if (!recursive && d.split('/').length - 1 !== depth) continue;
    items.push({ path: d, file: null });
  }
  for (const f of snap.files) {
    if (!f.path.startsWith(prefix)) continue;
    if (!recursive && f.path.split('/').length - 1 !== depth) continue;
    items.push({ path: f.path, file: f });
  }
  items.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const page = items.slice(cursor.offset, cursor.offset + limit);
  let sec: SecurityFile | null = null;
  if (expand) {
    const r = await loadSecurity(reply, snap);
    if (!r.ok) return r.sent;
    sec = r.sec;
  }
  const next = cursor.offset + limit;
  if (next < items.length) reply.header('link', hub.nextLink(req, ctx, encodeCursor(next, snap.commit), null));
  return sendJson(reply, page.map((it) => (it.file ? fileEntry(it.file, snap, expand, sec) : dirEntry(it.path, snap, expand))));
}

function pageLimit(hub: HubApi, raw: string | null): number | 'invalid' {
  if (raw === null) return hub.pageSize;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) return 'invalid';
  return Math.min(n, hub.pageSize);
}

async function pathsInfo(hub: HubApi, req: FastifyRequest, reply: FastifyReply, snap: RepoSnapshot): Promise<FastifyReply> {
  let paths: string[];
  let expand: boolean;
  const body = req.body;
  if (typeof body === 'string') {
    const form = new URLSearchParams(body);
    paths = form.getAll('paths');
    expand = truthy(form.get('expand'));
  } else if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const b = body as { paths?: unknown; expand?: unknown };
    const p = b.paths;
    if (typeof p === 'string') paths = [p];
    else if (Array.isArray(p) && p.every((x): x is string => typeof x === 'string')) paths = p;
    else return fail(reply, 400, '"paths" must be a string or a list of strings');
    expand = b.expand === true || (typeof b.expand === 'string' && truthy(b.expand));
  } else {
    return fail(reply, 400, 'expected a form body with "paths" or a JSON body {"paths": [...]}');
  }
  if (paths.length > MAX_PATHS_INFO) return fail(reply, 400, `at most ${MAX_PATHS_INFO} paths per request`);
  let sec: SecurityFile | null = null;
  if (expand) {
    const r = await loadSecurity(reply, snap);
    if (!r.ok) return r.sent;
    sec = r.sec;
  }
  const out: Record<string, unknown>[] = [];
  const seen = new Set<string>();
  for (const raw of paths) {
    const p = raw.replace(/\/+$/, '');
    if (seen.has(p)) continue;
    seen.add(p);
    if (!checkRelativePath(p).ok) continue;
    const f = snap.byPath.get(p);
    if (f) out.push(fileEntry(f, snap, expand, sec));
    else if (snap.dirs.has(p)) out.push(dirEntry(p, snap, expand));
  }
  return sendJson(reply, out);
}

export async function handleList(hub: HubApi, req: FastifyRequest, reply: FastifyReply, ctx: RequestCtx, kind: 'model' | 'dataset'): Promise<FastifyReply> {
  const q = ctx.query;
  const author = q.get('author');
  const searches = q.getAll('search').map((s) => s.toLowerCase());
  const cursor = decodeCursor(q.get('cursor'));
  if (cursor === 'invalid') return fail(reply, 400, 'invalid cursor');
  const limit = pageLimit(hub, q.get('limit'));
  if (limit === 'invalid') return fail(reply, 400, 'invalid limit');
  const sort = q.get('sort');
  const descending = q.get('direction') !== '1' && sort !== null && sort !== 'id';
  const full = truthy(q.get('full'));
  let repos = await hub.store.listRepos(kind);
  repos = repos.filter((r) => (author === null || (r.repo.segments.length === 2 && r.repo.segments[0] === author)) && searches.every((s) => r.repo.id.toLowerCase().includes(s)));
  const key = sort === 'lastModified' ? (r: (typeof repos)[number]) => r.lastModified.getTime() : sort === 'createdAt' ? (r: (typeof repos)[number]) => r.createdAt.getTime() : null;
  repos.sort((a, b) => {
    const d = key ? key(a) - key(b) : 0;
    const byId = a.repo.id < b.repo.id ? -1 : a.repo.id > b.repo.id ? 1 : 0;
    return (d !== 0 ? d : byId) * (descending ? -1 : 1);
  });
  const page = repos.slice(cursor.offset, cursor.offset + limit);
  const out: Record<string, unknown>[] = [];
  for (const r of page) {
    const item: Record<string, unknown> = {
      _id: objectId(r.repo),
      id: r.repo.id,
      ...(kind === 'model' ? { modelId: r.repo.id } : {}),
      author: r.repo.segments.length === 2 ? r.repo.segments[0] : null,
      lastModified: r.lastModified.toISOString(),
      createdAt: r.createdAt.toISOString(),
      ...hub.access.flags(r.repo),
      disabled: false,
      downloads: 0,
      likes: 0,
      tags: [],
    };
    if (full) {
      const s = await hub.store.snapshot(r.repo);
      if (s.ok) {
        item['sha'] = s.value.commit;
        item['siblings'] = s.value.files.map((f) => ({ rfilename: f.path }));
      }
    }
    out.push(item);
  }
  const next = cursor.offset + limit;
  if (next < repos.length) reply.header('link', hub.nextLink(req, ctx, encodeCursor(next, null), null));
  return sendJson(reply, out);
}
