/**
 * The real Python client (`huggingface_hub`) against the local hub. The server pages listings by
 * 2 so every listing the client makes goes through Link pagination.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHub, type HubServer } from '../../src/hub/server.js';
import { HUB_PYTHON, NO_PYTHON_REASON, lastJson, makeHubDir, runPy } from './helpers.js';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function filesUnder(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(root, p)] = sha256(readFileSync(p));
    }
  };
  walk(root);
  return out;
}

const PY_HASH_TREE = `
import hashlib, os, json
def tree(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = hashlib.sha256(open(p, 'rb').read()).hexdigest()
    return out
`;

if (HUB_PYTHON === null) console.warn(`test/hub/python-client.test.ts skipped: ${NO_PYTHON_REASON}`);

describe.skipIf(HUB_PYTHON === null)(`huggingface_hub (Python)${HUB_PYTHON === null ? ` — skipped: ${NO_PYTHON_REASON}` : ''}`, () => {
  let dir: string;
  let url: string;
  let app: HubServer;
  let close: () => Promise<void>;

  beforeAll(async () => {
    dir = makeHubDir();
    // Big enough that the client writes a 10 MiB chunk before a cut, so it resumes with a Range.
    mkdirSync(join(dir, 'acme/big'), { recursive: true });
    const big = Buffer.alloc(25 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    writeFileSync(join(dir, 'acme/big/weights.safetensors'), big);
    ({ app, url, close } = await startHub({ dir, pageSize: 2 }));
  });
  afterAll(async () => {
    await close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    app.hub.faults.clear();
    app.hub.clearRequests();
  });

  it('snapshot_download: byte-identical files, snapshot named by the served commit', async () => {
    const r = await runPy(
      `${PY_HASH_TREE}
from huggingface_hub import snapshot_download, model_info
p = snapshot_download('acme/clean')
print(json.dumps({'path': p, 'files': tree(p), 'sha': model_info('acme/clean').sha}))`,
      url,
    );
    const out = lastJson<{ path: string; files: Record<string, string>; sha: string }>(r);
    expect(out.files).toEqual(filesUnder(join(dir, 'acme/clean')));
    expect(out.path.endsWith(`/snapshots/${out.sha}`)).toBe(true);
    // snapshot_download lists through the paginated tree, then fetches by commit.
    const urls = app.hub.requests.map((x) => x.url);
    expect(urls.some((u) => u.includes('/tree/') && u.includes('cursor='))).toBe(true);
    expect(urls.filter((u) => u.startsWith(`/acme/clean/resolve/${out.sha}/`)).length).toBeGreaterThanOrEqual(7);
  });

  it('hf_hub_download: LFS blobs are cached under their sha256, regular files under their git sha1', async () => {
    const r = await runPy(
      `import os, json
from huggingface_hub import hf_hub_download
a = hf_hub_download('acme/clean', 'model.safetensors')
b = hf_hub_download('acme/clean', 'sub/deep/notes.txt')
c = hf_hub_download('tiny', 'config.json')
print(json.dumps({'a': os.path.basename(os.path.realpath(a)), 'b': os.path.basename(os.path.realpath(b)), 'c': open(c).read()}))`,
      url,
    );
    const out = lastJson<{ a: string; b: string; c: string }>(r);
    expect(out.a).toBe(sha256(readFileSync(join(dir, 'acme/clean/model.safetensors'))));
    const notes = readFileSync(join(dir, 'acme/clean/sub/deep/notes.txt'));
    expect(out.b).toBe(createHash('sha1').update(`blob ${notes.length}\0`).update(notes).digest('hex'));
    expect(out.c).toBe(readFileSync(join(dir, 'tiny/config.json'), 'utf8'));
  });

  it('model_info, list_repo_files, get_paths_info, file_exists, refs, commits, list_models', async () => {
    const r = await runPy(
      `import json
from huggingface_hub import HfApi, model_info, list_repo_files, get_paths_info, file_exists, list_models
api = HfApi()
mi = model_info('acme/mixed', securityStatus=True, files_metadata=True)
clean = model_info('acme/clean')
pi = get_paths_info('acme/mixed', ['pytorch_model.bin', 'config.json', 'missing'], expand=True)
print(json.dumps({
  'sha': mi.sha,
  'siblings': sorted(s.rfilename for s in mi.siblings),
  'lfs': [s.lfs.sha256 for s in mi.siblings if s.rfilename == 'pytorch_model.bin'][0],
  'security': mi.security_repo_status,
  'license': clean.card_data.license,
  'files': list_repo_files('acme/many'),
  'paths': [(p.path, p.security['status'] if getattr(p, 'security', None) else None) for p in pi],
  'exists': [file_exists('acme/clean', 'config.json'), file_exists('acme/clean', 'nope.json'), file_exists('acme/data', 'train.csv', repo_type='dataset')],
  'refs': [b.target_commit for b in api.list_repo_refs('acme/clean').branches],
  'commits': [c.commit_id for c in api.list_repo_commits('acme/clean')],
  'clean_sha': clean.sha,
  'models': [m.id for m in list_models(author='acme')],
  'limited': [m.id for m in list_models(limit=3)],
}))`,
      url,
    );
    const out = lastJson<Record<string, unknown>>(r);
    expect(out['sha']).toMatch(/^[0-9a-f]{40}$/);
    expect(out['siblings']).toEqual(['config.json', 'model.safetensors', 'pytorch_model.bin']);
    expect(out['lfs']).toBe(sha256(readFileSync(join(dir, 'acme/mixed/pytorch_model.bin'))));
    expect(out['security']).toEqual({ scansDone: true, filesWithIssues: [{ path: 'pytorch_model.bin', level: 'unsafe' }] });
    expect(out['license']).toBe('apache-2.0');
    expect(out['files']).toEqual([...Array.from({ length: 25 }, (_, i) => `f${String(i).padStart(2, '0')}.txt`), 'dir/inner.txt'].sort());
    expect(out['paths']).toEqual([
      ['pytorch_model.bin', 'unsafe'],
      ['config.json', null],
    ]);
    expect(out['exists']).toEqual([true, false, true]);
    expect(out['refs']).toEqual([out['clean_sha']]);
    expect(out['commits']).toEqual([out['clean_sha']]);
    expect(out['models']).toEqual(['acme/big', 'acme/clean', 'acme/many', 'acme/mixed']);
    expect((out['limited'] as string[]).length).toBe(3);
  });

  it('errors map to the client’s exception classes', async () => {
    const r = await runPy(
      `import json
from huggingface_hub import hf_hub_download, snapshot_download
out = {}
for name, fn in [
  ('entry', lambda: hf_hub_download('acme/clean', 'missing.txt')),
  ('repo', lambda: hf_hub_download('acme/nothere', 'config.json')),
  ('rev', lambda: hf_hub_download('acme/clean', 'config.json', revision='v1.0')),
  ('snap', lambda: snapshot_download('acme/nothere')),
]:
  try:
    fn(); out[name] = None
  except Exception as e:
    out[name] = type(e).__name__
print(json.dumps(out))`,
      url,
    );
    expect(lastJson(r)).toEqual({ entry: 'RemoteEntryNotFoundError', repo: 'RepositoryNotFoundError', rev: 'RevisionNotFoundError', snap: 'RepositoryNotFoundError' });
  });

  it('datasets: snapshot_download with repo_type="dataset"', async () => {
    const r = await runPy(
      `${PY_HASH_TREE}
from huggingface_hub import snapshot_download
print(json.dumps(tree(snapshot_download('acme/data', repo_type='dataset'))))`,
      url,
    );
    expect(lastJson(r)).toEqual(filesUnder(join(dir, 'datasets/acme/data')));
  });

  it('a body cut mid-stream is resumed with a Range request and the file arrives intact', async () => {
    app.hub.faults.set([{ path: '/acme/big/resolve/*/weights.safetensors', method: 'GET', times: 1, action: { kind: 'truncate', afterBytes: 15 * 1024 * 1024 } }]);
    const r = await runPy(
      `import hashlib, json
from huggingface_hub import hf_hub_download
p = hf_hub_download('acme/big', 'weights.safetensors')
print(json.dumps(hashlib.sha256(open(p, 'rb').read()).hexdigest()))`,
      url,
    );
    expect(lastJson(r)).toBe(sha256(readFileSync(join(dir, 'acme/big/weights.safetensors'))));
    const gets = app.hub.requests.filter((x) => x.method === 'GET' && x.url.includes('weights.safetensors'));
    expect(gets).toHaveLength(2);
    expect(gets[1]!.range).toBe(`bytes=${10 * 1024 * 1024}-`);
    expect(gets[1]!.status).toBe(206);
  });

  it('a resume answered with 200 (Range ignored) still ends with the right bytes', async () => {
    app.hub.faults.set([
      { path: '/acme/big/resolve/*/weights.safetensors', method: 'GET', times: 1, action: { kind: 'truncate', afterBytes: 12 * 1024 * 1024 } },
      { path: '/acme/big/resolve/*/weights.safetensors', method: 'GET', times: 1, action: { kind: 'ignoreRange' } },
    ]);
    const r = await runPy(
      `import hashlib, json
from huggingface_hub import hf_hub_download
p = hf_hub_download('acme/big', 'weights.safetensors')
print(json.dumps(hashlib.sha256(open(p, 'rb').read()).hexdigest()))`,
      url,
    );
    expect(lastJson(r)).toBe(sha256(readFileSync(join(dir, 'acme/big/weights.safetensors'))));
    const gets = app.hub.requests.filter((x) => x.method === 'GET');
    expect(gets.map((g) => g.status)).toEqual([200, 200]);
  });

  it('a HEAD answered 503 + Retry-After is retried by the client', async () => {
    app.hub.faults.set([{ path: '/acme/clean/resolve/*/config.json', method: 'HEAD', times: 1, action: { kind: 'status', status: 503, retryAfter: 1 } }]);
    const r = await runPy(
      `import json
from huggingface_hub import hf_hub_download
print(json.dumps(open(hf_hub_download('acme/clean', 'config.json')).read()))`,
      url,
    );
    expect(lastJson(r)).toBe(readFileSync(join(dir, 'acme/clean/config.json'), 'utf8'));
    expect(app.hub.requests.map((x) => [x.method, x.status])).toEqual([
      ['HEAD', 503],
      ['HEAD', 200],
      ['GET', 200],
    ]);
  });

  it('a 5xx on the download is an HfHubHTTPError naming the status', async () => {
    app.hub.faults.set([{ path: '/acme/clean/resolve/*/config.json', method: 'GET', action: { kind: 'status', status: 502, message: 'bad gateway upstream' } }]);
    const r = await runPy(
      `import json
from huggingface_hub import hf_hub_download
try:
  hf_hub_download('acme/clean', 'config.json'); print(json.dumps(None))
except Exception as e:
  print(json.dumps([type(e).__name__, str(e)]))`,
      url,
    );
    const [cls, msg] = lastJson<[string, string]>(r);
    expect(cls).toBe('HfHubHTTPError');
    expect(msg).toContain('502');
    expect(msg).toContain('bad gateway upstream');
  });

  it('the hub-style LFS redirect to the CDN route works with the real client', async () => {
    const hub = await startHub({ dir, lfsRedirect: true });
    try {
      const r = await runPy(
        `${PY_HASH_TREE}
from huggingface_hub import snapshot_download
print(json.dumps(tree(snapshot_download('acme/clean'))))`,
        hub.url,
      );
      expect(lastJson(r)).toEqual(filesUnder(join(dir, 'acme/clean')));
      expect(hub.app.hub.requests.some((x) => x.url.startsWith('/-/cdn/'))).toBe(true);
    } finally {
      await hub.close();
    }
  });
});
