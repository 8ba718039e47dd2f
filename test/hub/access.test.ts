/** Gated and private repositories on the local hub: the answers huggingface.co gives. */
import { join } from 'node:path';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '../../src/hub/server.js';
import { FIXTURES } from '../helpers/manifest.js';

describe('hub access lists', () => {
  let hub: Awaited<ReturnType<typeof startHub>>;
  beforeAll(async () => {
    hub = await startHub({
      dir: join(FIXTURES, 'repos'),
      logger: false,
      access: [
        { repo: 'acme/tiny-bert', mode: 'gated', tokens: ['hf_ok'] },
        { repo: 'datasets/acme/tiny-dataset', mode: 'private', tokens: ['hf_ok'] },
      ],
    });
  });
  afterAll(async () => hub?.close());

  const get = (path: string, token?: string) => fetch(hub.url + path, token ? { headers: { authorization: `Bearer ${token}` } } : {});

  it('answers a gated repository by token: 200, 401 GatedRepo without one, 403 GatedRepo with another', async () => {
    expect((await get('/acme/tiny-bert/resolve/main/config.json', 'hf_ok')).status).toBe(200);
    const anon = await get('/acme/tiny-bert/resolve/main/config.json');
    expect([anon.status, anon.headers.get('x-error-code')]).toEqual([401, 'GatedRepo']);
    expect(anon.headers.get('x-error-message')).toBe('Access to model acme/tiny-bert is restricted. You must have access to it and be authenticated to access it. Please log in.');
    const other = await get('/api/models/acme/tiny-bert', 'hf_nope');
    expect([other.status, other.headers.get('x-error-code')]).toEqual([403, 'GatedRepo']);
    const info = (await (await get('/api/models/acme/tiny-bert', 'hf_ok')).json()) as { gated: unknown; private: unknown };
    expect(info).toMatchObject({ gated: 'manual', private: false });
  });

  it('hides a private repository: 401 without a token, 404 with another, RepoNotFound either way', async () => {
    const anon = await get('/datasets/acme/tiny-dataset/resolve/main/README.md');
    expect([anon.status, anon.headers.get('x-error-code')]).toEqual([401, 'RepoNotFound']);
    const other = await get('/api/datasets/acme/tiny-dataset', 'hf_nope');
    expect([other.status, other.headers.get('x-error-code')]).toEqual([404, 'RepoNotFound']);
    const ok = (await (await get('/api/datasets/acme/tiny-dataset', 'hf_ok')).json()) as { private: unknown };
    expect(ok.private).toBe(true);
    // Repositories not listed stay public.
    expect((await get('/acme/evil-bert/resolve/main/config.json')).status).toBe(200);
  });
});
