/**
 * The local hub over plain HTTP: headers, hashes, ranges, error codes, listings, pagination,
 * hostile paths and refused writes.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetch } from 'undici';
import { startHub, type HubServer } from '../../src/hub/server.js';
import { gitBlobSha1, LFS_MIN_SIZE } from '../../src/hub/store.js';
import { makeHubDir, raw } from './helpers.js';

let dir: string;
let url: string;
let app: HubServer;
let close: () => Promise<void>;

beforeAll(async () => {
  dir = makeHubDir();
  ({ app, url, close } = await startHub({ dir, pageSize: 10 }));
});
afterAll(async () => {
  await close();
  rmSync(dir, { recursive: true, force: true });
});

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const file = (rel: string): Buffer => readFileSync(join(dir, rel));

async function commitOf(repo: string, kind: 'models' | 'datasets' = 'models'): Promise<string> {
  const r = await fetch(`${url}/api/${kind}/${repo}`);
  return ((await r.json()) as { sha: string }).sha;
}

describe('resolve', () => {
  it('HEAD answers the metadata clients need, with the real length and no body', async () => {
    const r = await raw(url, '/acme/clean/resolve/main/config.json', { method: 'HEAD' });
    const content = file('acme/clean/config.json');
    expect(r.status).toBe(200);
    expect(r.headers['x-repo-commit']).toMatch(/^[0-9a-f]{40}$/);
    expect(r.headers['x-repo-commit']).toBe(await commitOf('acme/clean'));
    expect(r.headers['etag']).toBe(`"${gitBlobSha1(content)}"`);
    expect(r.headers['x-linked-etag']).toBeUndefined();
    expect(r.headers['content-length']).toBe(String(content.length));
    expect(r.headers['accept-ranges']).toBe('bytes');
    expect(r.headers['content-type']).toBe('application/octet-stream');
    expect(r.headers['x-request-id']).toMatch(/^[0-9a-f]{16}$/);
    expect(r.body.length).toBe(0);
  });

  it('the blob sha1 is what git computes', () => {
    let gitOk = true;
    try {
      execFileSync('git', ['--version'], { stdio: 'ignore' });
    } catch {
      gitOk = false;
    }
    if (!gitOk) return;
    const out = execFileSync('git', ['hash-object', join(dir, 'acme/clean/config.json')]).toString().trim();
    expect(gitBlobSha1(file('acme/clean/config.json'))).toBe(out);
  });

  it('LFS files (by extension) carry X-Linked-Etag = sha256 and X-Linked-Size', async () => {
    const content = file('acme/clean/model.safetensors');
    const r = await raw(url, '/acme/clean/resolve/main/model.safetensors', { method: 'HEAD' });
    expect(r.headers['x-linked-etag']).toBe(`"${sha256(content)}"`);
    expect(r.headers['etag']).toBe(`"${sha256(content)}"`);
    expect(r.headers['x-linked-size']).toBe(String(content.length));
  });

  it('a large file is LFS whatever its name', async () => {
    const big = join(dir, 'acme/big');
    mkdirSync(big, { recursive: true });
    writeFileSync(join(big, 'data.txt'), Buffer.alloc(LFS_MIN_SIZE, 7));
    writeFileSync(join(big, 'small.txt'), 'small');
    const r = await raw(url, '/acme/big/resolve/main/data.txt', { method: 'HEAD' });
    expect(r.headers['x-linked-size']).toBe(String(LFS_MIN_SIZE));
    const small = await raw(url, '/acme/big/resolve/main/small.txt', { method: 'HEAD' });
    expect(small.headers['x-linked-etag']).toBeUndefined();
    const tree = (await (await fetch(`${url}/api/models/acme/big/tree/main`)).json()) as { path: string; lfs?: { pointerSize: number } }[];
    const entry = tree.find((e) => e.path === 'data.txt')!;
    // The real pointer: 125 bytes plus the digits of the size.
    expect(entry.lfs?.pointerSize).toBe(125 + String(LFS_MIN_SIZE).length);
    rmSync(big, { recursive: true });
  });

  it('GET serves the exact bytes; by commit id as well as by main', async () => {
    const content = file('acme/clean/pytorch_model.bin');
    const a = await raw(url, '/acme/clean/resolve/main/pytorch_model.bin');
    expect(a.status).toBe(200);
    expect(a.body.equals(content)).toBe(true);
    const commit = await commitOf('acme/clean');
    const b = await raw(url, `/acme/clean/resolve/${commit}/pytorch_model.bin`);
    expect(b.body.equals(content)).toBe(true);
    const c = await raw(url, '/acme/clean/resolve/refs%2Fheads%2Fmain/sub/deep/notes.txt');
    expect(c.body.toString()).toBe('nested file\n');
  });

  it('single ranges: a-b, a-, -n; 416 with bytes */N; multi-range gets the whole file', async () => {
    const content = file('acme/clean/pytorch_model.bin');
    const n = content.length;
    const p = '/acme/clean/resolve/main/pytorch_model.bin';
    const r1 = await raw(url, p, { headers: { range: 'bytes=0-0' } });
    expect(r1.status).toBe(206);
    expect(r1.headers['content-range']).toBe(`bytes 0-0/${n}`);
    expect(r1.body.equals(content.subarray(0, 1))).toBe(true);
    const r2 = await raw(url, p, { headers: { range: 'bytes=100-' } });
    expect(r2.status).toBe(206);
    expect(r2.headers['content-range']).toBe(`bytes 100-${n - 1}/${n}`);
    expect(r2.headers['content-length']).toBe(String(n - 100));
    expect(r2.body.equals(content.subarray(100))).toBe(true);
    const r3 = await raw(url, p, { headers: { range: 'bytes=-10' } });
    expect(r3.body.equals(content.subarray(n - 10))).toBe(true);
    const r4 = await raw(url, p, { headers: { range: 'bytes=10-999999' } });
    expect(r4.headers['content-range']).toBe(`bytes 10-${n - 1}/${n}`);
    const r5 = await raw(url, p, { headers: { range: `bytes=${n}-` } });
    expect(r5.status).toBe(416);
    expect(r5.headers['content-range']).toBe(`bytes */${n}`);
    const r6 = await raw(url, p, { headers: { range: 'bytes=0-1,5-6' } });
    expect(r6.status).toBe(200);
    expect(r6.body.equals(content)).toBe(true);
    const r7 = await raw(url, p, { headers: { range: 'lines=1-2' } });
    expect(r7.status).toBe(200);
    const head = await raw(url, p, { method: 'HEAD', headers: { range: 'bytes=0-0' } });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(n));
  });

  it('404s carry the hub error codes; EntryNotFound names the commit, the others do not', async () => {
    const entry = await raw(url, '/acme/clean/resolve/main/missing.bin', { method: 'HEAD' });
    expect(entry.status).toBe(404);
    expect(entry.headers['x-error-code']).toBe('EntryNotFound');
    expect(entry.headers['x-repo-commit']).toBe(await commitOf('acme/clean'));
    const repo = await raw(url, '/acme/nothere/resolve/main/config.json');
    expect(repo.status).toBe(404);
    expect(repo.headers['x-error-code']).toBe('RepoNotFound');
    expect(repo.headers['x-error-message']).toContain('acme/nothere');
    expect(repo.headers['x-repo-commit']).toBeUndefined();
    expect(JSON.parse(repo.body.toString())).toEqual({ error: expect.stringContaining('Repository Not Found') });
    const rev = await raw(url, '/acme/clean/resolve/v9.9/config.json');
    expect(rev.status).toBe(404);
    expect(rev.headers['x-error-code']).toBe('RevisionNotFound');
    const dirAsFile = await raw(url, '/acme/clean/resolve/main/sub');
    expect(dirAsFile.headers['x-error-code']).toBe('EntryNotFound');
    const hidden = await raw(url, '/acme/mixed/resolve/main/.hub-security.json');
    expect(hidden.headers['x-error-code']).toBe('EntryNotFound');
  });

  it('one-segment repos and datasets', async () => {
    const a = await raw(url, '/tiny/resolve/main/config.json');
    expect(a.status).toBe(200);
    expect(a.body.toString()).toContain('gpt2');
    const d = await raw(url, '/datasets/acme/data/resolve/main/train.csv');
    expect(d.status).toBe(200);
    expect(d.headers['x-repo-commit']).toBe(await commitOf('acme/data', 'datasets'));
    // A dataset is not a model and vice versa.
    expect((await raw(url, '/acme/data/resolve/main/train.csv')).headers['x-error-code']).toBe('RepoNotFound');
    // An organisation directory is not a one-segment repo.
    expect((await raw(url, '/acme/resolve/main/clean/config.json')).headers['x-error-code']).toBe('RepoNotFound');
  });

  it('/raw/ serves the LFS pointer for LFS files and the content otherwise', async () => {
    const content = file('acme/clean/model.safetensors');
    const p = await raw(url, '/acme/clean/raw/main/model.safetensors');
    expect(p.body.toString()).toBe(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(content)}\nsize ${content.length}\n`);
    const c = await raw(url, '/acme/clean/raw/main/config.json');
    expect(c.body.equals(file('acme/clean/config.json'))).toBe(true);
  });

  it('a changed file gets a new commit; the old commit is then not found', async () => {
    const repo = join(dir, 'acme/changing');
    mkdirSync(repo, { recursive: true });
    writeFileSync(join(repo, 'a.txt'), 'one');
    const c1 = await commitOf('acme/changing');
    expect(await commitOf('acme/changing')).toBe(c1);
    writeFileSync(join(repo, 'a.txt'), 'two!');
    const c2 = await commitOf('acme/changing');
    expect(c2).not.toBe(c1);
    expect((await raw(url, `/acme/changing/resolve/${c1}/a.txt`)).headers['x-error-code']).toBe('RevisionNotFound');
    const now = await raw(url, `/acme/changing/resolve/${c2}/a.txt`);
    expect(now.body.toString()).toBe('two!');
    rmSync(repo, { recursive: true });
  });

  it('hashes each file once however often it is served', async () => {
    const { store } = app.hub;
    const spy = { n: 0 };
    const orig = (store as unknown as { computeHash: (abs: string) => Promise<unknown> }).computeHash.bind(store);
    (store as unknown as { computeHash: (abs: string) => Promise<unknown> }).computeHash = (abs: string) => {
      spy.n++;
      return orig(abs);
    };
    try {
      const repo = join(dir, 'acme/counted');
      mkdirSync(repo, { recursive: true });
      writeFileSync(join(repo, 'w.bin'), Buffer.alloc(100_000, 1));
      await Promise.all(Array.from({ length: 20 }, () => raw(url, '/acme/counted/resolve/main/w.bin', { method: 'HEAD' })));
      await raw(url, '/acme/counted/resolve/main/w.bin');
      expect(spy.n).toBe(1);
      // A new mtime means new content as far as the cache knows: hashed again.
      utimesSync(join(repo, 'w.bin'), new Date(), new Date(Date.now() + 5000));
      await raw(url, '/acme/counted/resolve/main/w.bin', { method: 'HEAD' });
      expect(spy.n).toBe(2);
      rmSync(repo, { recursive: true });
    } finally {
      (store as unknown as { computeHash: unknown }).computeHash = orig;
    }
  });
});

describe('repo info', () => {
  it('id, sha, siblings, dates, card data and config', async () => {
    const r = await fetch(`${url}/api/models/acme/clean`);
    expect(r.headers.get('content-type')).toContain('application/json');
    const info = (await r.json()) as Record<string, unknown>;
    expect(info['id']).toBe('acme/clean');
    expect(info['sha']).toMatch(/^[0-9a-f]{40}$/);
    expect(info['siblings']).toEqual(
      ['.gitattributes', 'README.md', 'config.json', 'model.safetensors', 'pytorch_model.bin', 'sub/deep/notes.txt', 'sub/vocab.txt'].map((rfilename) => ({ rfilename })),
    );
    expect(info['cardData']).toEqual({ license: 'apache-2.0', library_name: 'transformers', pipeline_tag: 'text-classification', tags: ['tiny', 'test'] });
    expect(info['tags']).toEqual(['tiny', 'test', 'license:apache-2.0']);
    expect(info['config']).toEqual({ model_type: 'bert', architectures: ['BertModel'] });
    expect(new Date(info['lastModified'] as string).toISOString()).toBe(info['lastModified']);
    expect(info['securityRepoStatus']).toBeUndefined();
    const byRev = (await (await fetch(`${url}/api/models/acme/clean/revision/${info['sha'] as string}`)).json()) as Record<string, unknown>;
    expect(byRev['sha']).toBe(info['sha']);
    const byMain = (await (await fetch(`${url}/api/models/acme/clean/revision/main`)).json()) as Record<string, unknown>;
    expect(byMain['sha']).toBe(info['sha']);
  });

  it('createdAt and lastModified follow the files’ modification times', async () => {
    const repo = join(dir, 'acme/dated');
    mkdirSync(repo, { recursive: true });
    writeFileSync(join(repo, 'old.txt'), 'old');
    writeFileSync(join(repo, 'new.txt'), 'new');
    utimesSync(join(repo, 'old.txt'), new Date('2020-01-02T03:04:05Z'), new Date('2020-01-02T03:04:05Z'));
    utimesSync(join(repo, 'new.txt'), new Date('2024-06-07T08:09:10Z'), new Date('2024-06-07T08:09:10Z'));
    const info = (await (await fetch(`${url}/api/models/acme/dated`)).json()) as Record<string, unknown>;
    expect(info['createdAt']).toBe('2020-01-02T03:04:05.000Z');
    expect(info['lastModified']).toBe('2024-06-07T08:09:10.000Z');
    rmSync(repo, { recursive: true });
  });

  it('blobs=true adds sizes, blob ids and LFS info', async () => {
    const info = (await (await fetch(`${url}/api/models/acme/clean?blobs=True`)).json()) as { siblings: Record<string, unknown>[] };
    const st = info.siblings.find((s) => s['rfilename'] === 'model.safetensors')!;
    const content = file('acme/clean/model.safetensors');
    expect(st['size']).toBe(content.length);
    expect(st['lfs']).toEqual({ sha256: sha256(content), size: content.length, pointerSize: 125 + String(content.length).length });
    const cfg = info.siblings.find((s) => s['rfilename'] === 'config.json')!;
    expect(cfg['blobId']).toBe(gitBlobSha1(file('acme/clean/config.json')));
    expect(cfg['lfs']).toBeUndefined();
  });

  it('securityStatus: simulated verdicts from .hub-security.json; without one, scansDone is false', async () => {
    const mixed = (await (await fetch(`${url}/api/models/acme/mixed?securityStatus=true`)).json()) as Record<string, unknown>;
    expect(mixed['securityRepoStatus']).toEqual({ scansDone: true, filesWithIssues: [{ path: 'pytorch_model.bin', level: 'unsafe' }] });
    expect(((await (await fetch(`${url}/api/models/acme/mixed?expand=securityRepoStatus`)).json()) as Record<string, unknown>)['securityRepoStatus']).toBeDefined();
    const clean = (await (await fetch(`${url}/api/models/acme/clean?securityStatus=True`)).json()) as Record<string, unknown>;
    expect(clean['securityRepoStatus']).toEqual({ scansDone: false, filesWithIssues: [] });
  });

  it('a broken .hub-security.json is a 500 that says what is wrong', async () => {
    const repo = join(dir, 'acme/badsec');
    mkdirSync(repo, { recursive: true });
    writeFileSync(join(repo, 'a.txt'), 'a');
    writeFileSync(join(repo, '.hub-security.json'), '{"files": {"a.txt": {"level": "unsafe"}}}');
    const r = await fetch(`${url}/api/models/acme/badsec?securityStatus=true`);
    expect(r.status).toBe(500);
    expect(r.headers.get('x-error-message')).toContain('.hub-security.json');
    rmSync(repo, { recursive: true });
  });

  it('datasets, refs and commits', async () => {
    const ds = (await (await fetch(`${url}/api/datasets/acme/data`)).json()) as Record<string, unknown>;
    expect(ds['id']).toBe('acme/data');
    expect(ds['cardData']).toEqual({ license: 'cc-by-4.0' });
    const commit = await commitOf('acme/clean');
    expect(await (await fetch(`${url}/api/models/acme/clean/refs`)).json()).toEqual({
      branches: [{ name: 'main', ref: 'refs/heads/main', targetCommit: commit }],
      converts: [],
      tags: [],
      pullRequests: [],
    });
    const commits = (await (await fetch(`${url}/api/models/acme/clean/commits/main`)).json()) as { id: string; authors: { user: string }[] }[];
    expect(commits).toHaveLength(1);
    expect(commits[0]!.id).toBe(commit);
    expect((await fetch(`${url}/api/models/tiny/refs`)).status).toBe(200);
    expect((await fetch(`${url}/api/models/acme/clean/commits/nope`)).headers.get('x-error-code')).toBe('RevisionNotFound');
  });
});

describe('tree and pagination', () => {
  type Entry = { type: string; path: string; oid: string; size: number; lfs?: unknown; lastCommit?: unknown; securityFileStatus?: Record<string, unknown> };

  async function all(first: string): Promise<{ entries: Entry[]; pages: number; links: string[] }> {
    const entries: Entry[] = [];
    const links: string[] = [];
    let next: string | null = first;
    let pages = 0;
    while (next) {
      const r = await fetch(next);
      expect(r.status).toBe(200);
      entries.push(...((await r.json()) as Entry[]));
      pages++;
      const link = r.headers.get('link');
      if (link) links.push(link);
      next = link ? /^<([^>]+)>;\s*rel="next"$/.exec(link)![1]! : null;
    }
    return { entries, pages, links };
  }

  it('non-recursive lists one level, directories included', async () => {
    const top = (await (await fetch(`${url}/api/models/acme/clean/tree/main`)).json()) as Entry[];
    expect(top.map((e) => `${e.type}:${e.path}`)).toEqual(['file:.gitattributes', 'file:README.md', 'file:config.json', 'file:model.safetensors', 'file:pytorch_model.bin', 'directory:sub']);
    const sub = (await (await fetch(`${url}/api/models/acme/clean/tree/main/sub`)).json()) as Entry[];
    expect(sub.map((e) => e.path)).toEqual(['sub/deep', 'sub/vocab.txt']);
    // Python encodes the path with no safe characters.
    const deep = (await (await fetch(`${url}/api/models/acme/clean/tree/main/sub%2Fdeep`)).json()) as Entry[];
    expect(deep.map((e) => e.path)).toEqual(['sub/deep/notes.txt']);
  });

  it('recursive lists everything; LFS entries carry lfs {oid, size, pointerSize}', async () => {
    const rec = (await (await fetch(`${url}/api/models/acme/clean/tree/main?recursive=True`)).json()) as Entry[];
    expect(rec.map((e) => e.path)).toEqual(['.gitattributes', 'README.md', 'config.json', 'model.safetensors', 'pytorch_model.bin', 'sub', 'sub/deep', 'sub/deep/notes.txt', 'sub/vocab.txt']);
    const st = rec.find((e) => e.path === 'model.safetensors')!;
    const content = file('acme/clean/model.safetensors');
    expect(st.lfs).toEqual({ oid: sha256(content), size: content.length, pointerSize: 125 + String(content.length).length });
    expect(st.size).toBe(content.length);
    expect(st.oid).toBe(gitBlobSha1(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(content)}\nsize ${content.length}\n`));
  });

  it('paginates with absolute Link URLs (page size 10)', async () => {
    const { entries, pages, links } = await all(`${url}/api/models/acme/many/tree/main?recursive=true&expand=false`);
    expect(pages).toBe(3);
    expect(entries).toHaveLength(27);
    expect(new Set(entries.map((e) => e.path)).size).toBe(27);
    for (const l of links) expect(l.startsWith(`<${url}/api/models/acme/many/tree/main?`)).toBe(true);
    expect(links[0]).toContain('recursive=true');
  });

  it('limit below the page size pages further; a bad cursor is a 400', async () => {
    const { entries, pages } = await all(`${url}/api/models/acme/many/tree/main?limit=4`);
    expect(pages).toBe(7);
    expect(entries).toHaveLength(26);
    expect((await fetch(`${url}/api/models/acme/many/tree/main?cursor=garbage`)).status).toBe(400);
  });

  it('a listing that spans a change of the repo is refused rather than mixed', async () => {
    const r = await fetch(`${url}/api/models/acme/many/tree/main`);
    const next = /^<([^>]+)>/.exec(r.headers.get('link')!)![1]!;
    writeFileSync(join(dir, 'acme/many/f00.txt'), 'changed');
    const r2 = await fetch(next);
    expect(r2.status).toBe(409);
    writeFileSync(join(dir, 'acme/many/f00.txt'), 'file 0\n');
  });

  it('expand adds lastCommit and the simulated securityFileStatus', async () => {
    const rec = (await (await fetch(`${url}/api/models/acme/mixed/tree/main?expand=true`)).json()) as Entry[];
    const bin = rec.find((e) => e.path === 'pytorch_model.bin')!;
    expect(bin.lastCommit).toMatchObject({ id: await commitOf('acme/mixed') });
    expect(bin.securityFileStatus).toMatchObject({ status: 'unsafe', avScan: { virusFound: false, virusNames: null } });
    expect(bin.securityFileStatus!['pickleImportScan']).toMatchObject({ highestSafetyLevel: 'dangerous' });
    const cfg = rec.find((e) => e.path === 'config.json')!;
    expect(cfg.securityFileStatus).toBeUndefined();
  });

  it('a tree of a file or a missing path is EntryNotFound', async () => {
    expect((await fetch(`${url}/api/models/acme/clean/tree/main/config.json`)).headers.get('x-error-code')).toBe('EntryNotFound');
    expect((await fetch(`${url}/api/models/acme/clean/tree/main/nope`)).headers.get('x-error-code')).toBe('EntryNotFound');
  });

  it('repo listing: author, search, limit and Link pagination', async () => {
    const { entries } = await all(`${url}/api/models?author=acme&limit=2`);
    expect(entries.map((e) => (e as unknown as { id: string }).id)).toEqual(['acme/clean', 'acme/many', 'acme/mixed']);
    const s = (await (await fetch(`${url}/api/models?search=MIX`)).json()) as { id: string }[];
    expect(s.map((e) => e.id)).toEqual(['acme/mixed']);
    const everything = (await (await fetch(`${url}/api/models`)).json()) as { id: string }[];
    expect(everything.map((e) => e.id)).toContain('tiny');
    const ds = (await (await fetch(`${url}/api/datasets`)).json()) as { id: string }[];
    expect(ds.map((e) => e.id)).toEqual(['acme/data']);
    const full = (await (await fetch(`${url}/api/models?search=tiny&full=true`)).json()) as { sha: string; siblings: unknown[] }[];
    expect(full[0]!.sha).toMatch(/^[0-9a-f]{40}$/);
  });
});

describe('paths-info', () => {
  it('form body with repeated paths= (Python)', async () => {
    const body = new URLSearchParams([
      ['paths', 'config.json'],
      ['paths', 'sub'],
      ['paths', 'missing'],
      ['paths', '../escape'],
      ['expand', 'True'],
    ]).toString();
    const r = await fetch(`${url}/api/models/acme/clean/paths-info/main`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(r.status).toBe(200);
    const out = (await r.json()) as { path: string; type: string; lastCommit?: unknown }[];
    expect(out.map((e) => `${e.type}:${e.path}`)).toEqual(['file:config.json', 'directory:sub']);
    expect(out[0]!.lastCommit).toBeDefined();
  });

  it('JSON body {paths, expand} (JS)', async () => {
    const r = await fetch(`${url}/api/models/acme/clean/paths-info/main`, { method: 'POST', body: JSON.stringify({ paths: ['model.safetensors'], expand: false }), headers: { 'content-type': 'application/json' } });
    const out = (await r.json()) as { path: string; lfs?: unknown }[];
    expect(out).toHaveLength(1);
    expect(out[0]!.lfs).toBeDefined();
    const bad = await fetch(`${url}/api/models/acme/clean/paths-info/main`, { method: 'POST', body: JSON.stringify({ paths: [1] }), headers: { 'content-type': 'application/json' } });
    expect(bad.status).toBe(400);
  });
});

describe('hostile input', () => {
  const cases: [string, number][] = [
    ['/acme/..%2F..%2Fetc/resolve/main/passwd', 400],
    ['/acme%2Fclean/resolve/main/config.json', 400],
    ['/acme/clean/resolve/main/..%2F..%2F..%2Fetc%2Fpasswd', 400],
    ['/acme/clean/resolve/main/../mixed/config.json', 400],
    ['/acme/clean/resolve/main/sub/../config.json', 400],
    ['/acme/clean/resolve/main//etc/passwd', 400],
    ['/acme/clean/resolve/main/%2Fetc%2Fpasswd', 400],
    ['/acme/clean/resolve/main/config.json%00.txt', 400],
    ['/acme/clean/resolve/main/a%0D%0AX-Evil:%201', 400],
    ['/acme/clean/resolve/main/sub%5C..%5C..%5Cx', 400],
    ['/acme/clean/resolve/main/%E0%A4%A', 400],
    ['/acme/clean/resolve/ma%0Ain/config.json', 400],
    ['/acme/clean/resolve/main/' + 'a/'.repeat(5000) + 'x', 414],
    ['/' + 'a'.repeat(200) + '/x/resolve/main/config.json', 400],
    ['/api/models/acme/..', 400],
    ['/api/models/acme/clean/tree/main/..%2F..', 400],
    ['/api/models/%2E%2E/clean', 400],
  ];
  for (const [target, status] of cases) {
    it(`${target.slice(0, 70)} → ${status}`, async () => {
      const r = await raw(url, target);
      expect(r.status).toBe(status);
      expect(r.headers['x-error-message']).toBeTruthy();
      expect(r.headers['x-repo-commit']).toBeUndefined();
    });
  }

  it('a symlink escaping the directory is neither listed nor served; one inside it is', async () => {
    const outside = makeOutsideSecret();
    const repo = join(dir, 'acme/links');
    mkdirSync(repo, { recursive: true });
    writeFileSync(join(repo, 'real.txt'), 'inside');
    symlinkSync(outside.file, join(repo, 'escape.txt'));
    symlinkSync(outside.dir, join(repo, 'escapedir'));
    symlinkSync(join(dir, 'acme/clean/config.json'), join(repo, 'shared.json'));
    symlinkSync('.', join(repo, 'loop'));
    const tree = (await (await fetch(`${url}/api/models/acme/links/tree/main?recursive=true`)).json()) as { path: string }[];
    expect(tree.map((e) => e.path).sort()).toEqual(['real.txt', 'shared.json']);
    const esc = await raw(url, '/acme/links/resolve/main/escape.txt');
    expect(esc.status).toBe(404);
    expect(esc.body.toString()).not.toContain('TOP SECRET');
    expect((await raw(url, '/acme/links/resolve/main/escapedir/secret.txt')).status).toBe(404);
    const shared = await raw(url, '/acme/links/resolve/main/shared.json');
    expect(shared.body.equals(file('acme/clean/config.json'))).toBe(true);
    // A repo directory that is itself a symlink out of DIR does not exist.
    symlinkSync(outside.dir, join(dir, 'acme/outrepo'));
    expect((await raw(url, '/acme/outrepo/resolve/main/secret.txt')).headers['x-error-code']).toBe('RepoNotFound');
    rmSync(repo, { recursive: true });
    rmSync(join(dir, 'acme/outrepo'));
    rmSync(outside.dir, { recursive: true });
  });

  it('files that shrink after hashing are re-read, never served short', async () => {
    const repo = join(dir, 'acme/shrink');
    mkdirSync(repo, { recursive: true });
    writeFileSync(join(repo, 'a.txt'), 'abcdefghij');
    const before = await raw(url, '/acme/shrink/resolve/main/a.txt', { method: 'HEAD' });
    truncateSync(join(repo, 'a.txt'), 3);
    const after = await raw(url, '/acme/shrink/resolve/main/a.txt');
    expect(after.status).toBe(200);
    expect(after.body.toString()).toBe('abc');
    expect(after.headers['x-repo-commit']).not.toBe(before.headers['x-repo-commit']);
    rmSync(repo, { recursive: true });
  });
});

function makeOutsideSecret(): { dir: string; file: string } {
  const d = join(dir, '..', `mg-hub-outside-${process.pid}-${Date.now()}`);
  mkdirSync(d, { recursive: true });
  const f = join(d, 'secret.txt');
  writeFileSync(f, 'TOP SECRET');
  return { dir: d, file: f };
}

describe('writes are refused', () => {
  const writes: [string, string][] = [
    ['POST', '/api/repos/create'],
    ['POST', '/api/models/acme/clean/commit/main'],
    ['POST', '/api/models/acme/clean/preupload/main'],
    ['PUT', '/acme/clean/resolve/main/config.json'],
    ['DELETE', '/api/repos/delete'],
    ['POST', '/acme/clean.git/info/lfs/objects/batch'],
    ['PATCH', '/api/models/acme/clean/settings'],
  ];
  for (const [method, target] of writes) {
    it(`${method} ${target} → 405`, async () => {
      const r = await raw(url, target, { method, body: '{"x":1}', headers: { 'content-type': 'application/octet-stream' } });
      expect(r.status).toBe(405);
      expect(r.headers['allow']).toBe('GET, HEAD');
      expect(r.headers['x-error-message']).toContain('read-only');
    });
  }
  it('the Xet token endpoints are refused with 403', async () => {
    const r = await fetch(`${url}/api/models/acme/clean/xet-read-token/main`);
    expect(r.status).toBe(403);
  });
  it('the control endpoints do not exist unless enabled', async () => {
    expect((await fetch(`${url}/-/hub/faults`)).status).toBe(404);
    expect((await fetch(`${url}/-/hub/faults`, { method: 'PUT', body: '[]', headers: { 'content-type': 'application/json' } })).status).toBe(405);
  });
});
