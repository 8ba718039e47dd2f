/**
 * Session-6 red team of the gateway: each test names the hole it pins down and failed against
 * the code before its fix. The upstream is the real local hub behind test/gateway/liar.ts (a
 * proxy that answers chosen requests itself, as a hub that renamed a repository would).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redirectedRepo } from '../../src/gateway/upstream.js';
import { ADMIN, HAVE_PYTHON, py, startStack, tempHome, type Stack } from './stack.js';
import { startLiar, type Liar } from './liar.js';

const POLICY = `
version: attacks-s6
rules:
  repositories:
    action: block
    deny: ['acme/denied-*']
`;

let s: Stack;
let liar: Liar;

function repo(name: string, files: Record<string, string>): void {
  const dir = join(s.repos, ...name.split('/'));
  for (const [f, bytes] of Object.entries(files)) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    writeFileSync(join(dir, f), bytes);
  }
}

async function get(path: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body: string }> {
  const r = await fetch(s.base + path, init);
  return { status: r.status, headers: r.headers, body: await r.text() };
}

interface AuditRow {
  verdict: string;
  method: string;
  repo: string;
  path: string | null;
  message: string | null;
}

async function audit(repoId: string): Promise<AuditRow[]> {
  const r = await fetch(`${s.base}/admin/audit?repo=${encodeURIComponent(repoId)}&limit=100`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return ((await r.json()) as { records: AuditRow[] }).records;
}

const DENIED_BYTES = 'bytes of a denied repository\n';

beforeAll(async () => {
  liar = await startLiar();
  s = await startStack({ policy: POLICY, config: { upstream: liar.url, maxDownloads: 1, downloadQueueMax: 1, upstreamTimeoutMs: 3000 } });
  liar.target = s.hub.url;
  for (const f of ['a', 'b', 'c']) repo(`acme/busy-${f}`, { 'w.txt': `modelgate attack-suite filler busy-${f}\n`.repeat(100) });
  repo('acme/renamed', { 'w.txt': 'the old bytes\n' });
  repo('acme/denied-moved', { 'w.txt': DENIED_BYTES });
  repo('acme/new-name', { 'w.txt': 'the new bytes\n' });
  // The Hub answers a renamed (or transferred) repository's old name with a 307 to its new name.
  liar.handlers.push((req, res) => {
    const url = req.url ?? '';
    const from = ['/acme/renamed/', '/acme/old-name/', '/api/models/acme/old-name/'].find((p) => url.startsWith(p));
    if (from === undefined) return false;
    const to = from.replace('renamed', 'denied-moved').replace('old-name', 'new-name');
    res.writeHead(307, { location: url.replace(from, to) });
    res.end();
    return true;
  });
}, 60_000);

afterAll(async () => {
  await s?.close();
  await liar?.close();
});

describe('1: a same-origin redirect to another repository', () => {
  it("is passed on as the Hub's rename (307 to the current name on this gateway), never followed: the current name is judged", async () => {
    const moved = 'upstream says acme/renamed is now acme/denied-moved';
    for (const method of ['HEAD', 'GET']) {
      const r = await get('/acme/renamed/resolve/main/w.txt', { method, redirect: 'manual' });
      expect([r.status, r.headers.get('location'), r.headers.get('x-error-message'), r.headers.get('x-repo-commit')]).toEqual([307, '/acme/denied-moved/resolve/main/w.txt', moved, null]);
      expect(r.body).not.toContain(DENIED_BYTES);
    }
    // Nothing was decided or served under the old name: nothing to audit there.
    expect(await audit('acme/renamed')).toEqual([]);
    // Followed (as clients do), the current name is judged: denied, and audited under that name.
    const followed = await get('/acme/renamed/resolve/main/w.txt');
    expect(followed.status).toBe(403);
    expect(followed.headers.get('x-error-message')).toContain('acme/denied-moved is denied by "acme/denied-*"');
    expect((await audit('acme/denied-moved')).map((x) => [x.method, x.verdict])).toEqual([['GET', 'block']]);
  });

  it('a rename to an allowed repository downloads through the real huggingface_hub, judged under the current name', async (t) => {
    if (!HAVE_PYTHON) return t.skip();
    const home = tempHome();
    const r = await py(s.base, home, 'download', 'acme/old-name', 'w.txt');
    expect(r.ok).toBe(true);
    expect(readFileSync(r.path!, 'utf8')).toBe('the new bytes\n');
    expect((await audit('acme/new-name')).map((x) => [x.method, x.verdict])).toEqual([
      ['GET', 'allow'],
      ['HEAD', 'allow'],
    ]);
    // Refused under its current name, the rename reaches the client as the refusal, not as bytes.
    const denied = await py(s.base, tempHome(), 'download', 'acme/renamed', 'w.txt');
    expect(denied.ok).toBe(false);
    expect(denied.message).toContain('acme/denied-moved is denied by "acme/denied-*"');
  });

  it('the API passes a rename on the same way (model_info of the old name reaches the current one)', async () => {
    const r = await get('/api/models/acme/old-name/revision/main', { redirect: 'manual' });
    expect([r.status, r.headers.get('location')]).toEqual([307, '/api/models/acme/new-name/revision/main']);
    const followed = await get('/api/models/acme/old-name/revision/main');
    expect(followed.status).toBe(200);
    expect((JSON.parse(followed.body) as { id: string }).id).toBe('acme/new-name');
  });

  it("tells the Hub's own redirects (same repository, its resolve cache, case) from another repository's", () => {
    const t = { type: 'model' as const, id: 'acme/x' };
    const u = (p: string) => new URL(p, 'https://huggingface.co');
    expect(redirectedRepo(t, u('/api/resolve-cache/models/acme/x/0123456789abcdef0123456789abcdef01234567/f.txt?etag=1'))).toBeNull();
    expect(redirectedRepo(t, u('/ACME/X/resolve/main/f.txt'))).toBeNull();
    expect(redirectedRepo(t, u('/repos/ab/cd/0123'))).toBeNull();
    expect(redirectedRepo(t, u('/acme/y/resolve/main/f.txt'))).toBe('acme/y');
    expect(redirectedRepo(t, u('/datasets/acme/x/resolve/main/f.txt'))).toBe('datasets/acme/x');
    expect(redirectedRepo(t, u('/api/resolve-cache/models/acme/xy/0123/f.txt'))).toBe('models/acme/xy');
    expect(redirectedRepo(t, u('/api/resolve-cache/datasets/acme/x/0123/f.txt'))).toBe('datasets/acme/x');
    expect(redirectedRepo({ type: 'model', id: 'gpt2' }, u('/api/resolve-cache/models/gpt2/0123/f.txt'))).toBeNull();
  });
});

describe('7: downloads are admitted, not started without bound', () => {
  it('past maxDownloads a download waits its turn; past downloadQueueMax it is refused (503, Retry-After, audited)', async () => {
    // busy-a's download stalls after 10 bytes: it holds the one slot until the per-read timeout.
    s.hub.app.hub.faults.set([{ method: 'GET', path: '/acme/busy-a/resolve/**', times: 1, action: { kind: 'stall', afterBytes: 10 } }]);
    s.hub.app.hub.clearRequests();
    const a = get('/acme/busy-a/resolve/main/w.txt');
    while (!s.hub.app.hub.requests.some((r) => r.method === 'GET' && r.url.startsWith('/acme/busy-a/resolve/'))) await new Promise((r) => setTimeout(r, 20));
    const b = get('/acme/busy-b/resolve/main/w.txt');
    while (s.gw.ctx.files.slots.queued < 1) await new Promise((r) => setTimeout(r, 20));
    const msg = 'modelgate is busy: 1 downloads running and 1 waiting (maxDownloads 1, downloadQueueMax 1); retry shortly';
    const c = await get('/acme/busy-c/resolve/main/w.txt');
    expect(c.status).toBe(503);
    expect(c.headers.get('x-error-message')).toBe(msg);
    expect(c.headers.get('retry-after')).toBe('10');
    expect(JSON.parse(c.body)).toEqual({ error: msg });
    expect((await audit('acme/busy-c')).map((x) => [x.method, x.verdict, x.message])).toEqual([['GET', 'error', msg]]);
    // Nothing of busy-c was asked for upstream beyond its metadata.
    expect(s.hub.app.hub.requests.filter((r) => r.method === 'GET' && r.url.startsWith('/acme/busy-c/resolve/'))).toEqual([]);
    expect((await a).status).toBe(502);
    const rb = await b;
    expect([rb.status, rb.headers.get('x-error-message')]).toEqual([200, null]);
    expect(rb.body).toBe('modelgate attack-suite filler busy-b\n'.repeat(100));
    expect(s.gw.ctx.files.slots.running).toBe(0);
    // The slot is free again: busy-c downloads now.
    expect((await get('/acme/busy-c/resolve/main/w.txt')).status).toBe(200);
  });
});

describe('1: names the Hub reserves for its routes', () => {
  it('a model URL led by models/, api/ or spaces/ is a 400, not repository "models/gpt2" judged while a hub serves gpt2', async () => {
    for (const [path, first] of [
      ['/models/denied-x/resolve/main/w.txt', 'models'],
      ['/Models/acme/resolve/main/w.txt', 'Models'],
      ['/api/denied-x/resolve/main/w.txt', 'api'],
      ['/api/models/models/denied-x', 'models'],
    ] as const) {
      const r = await get(path);
      expect([path, r.status, r.headers.get('x-error-message')]).toEqual([path, 400, `bad request: "${first}" is reserved by the Hub: it names no organisation or repository`]);
    }
    // Datasets keep their prefix: it is the repository type, not part of the id.
    expect((await get('/datasets/acme/tiny-dataset/resolve/main/README.md')).status).toBe(200);
  });
});
