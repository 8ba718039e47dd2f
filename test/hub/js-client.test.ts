/**
 * The real JS client (`@huggingface/hub`) against the local hub: it probes with `Range: bytes=0-0`,
 * reads sizes from Content-Range, checks existence through `/raw/`, and pages through Link headers.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadFile, fileDownloadInfo, fileExists, listFiles, modelInfo, pathsInfo } from '@huggingface/hub';
import { startHub, type HubServer } from '../../src/hub/server.js';
import { makeHubDir } from './helpers.js';

let dir: string;
let hubUrl: string;
let app: HubServer;
let close: () => Promise<void>;

beforeAll(async () => {
  dir = makeHubDir();
  ({ app, url: hubUrl, close } = await startHub({ dir, pageSize: 3 }));
});
afterAll(async () => {
  await close();
  rmSync(dir, { recursive: true, force: true });
});

describe('@huggingface/hub (JS)', () => {
  it('downloadFile returns the exact bytes, LFS and regular, nested paths included', async () => {
    for (const path of ['pytorch_model.bin', 'model.safetensors', 'config.json', 'sub/deep/notes.txt']) {
      const blob = await downloadFile({ repo: 'acme/clean', path, hubUrl });
      expect(blob).not.toBeNull();
      const bytes = Buffer.from(await blob!.arrayBuffer());
      expect(bytes.equals(readFileSync(join(dir, 'acme/clean', path)))).toBe(true);
    }
    // The client's probe is a one-byte range request.
    expect(app.hub.requests.some((r) => r.range === 'bytes=0-0' && r.status === 206)).toBe(true);
  });

  it('downloadFile of a missing file is null; of a missing repo, an error', async () => {
    expect(await downloadFile({ repo: 'acme/clean', path: 'nope.bin', hubUrl })).toBeNull();
    await expect(downloadFile({ repo: 'acme/nothere', path: 'config.json', hubUrl })).rejects.toThrow(/Repository Not Found/);
  });

  it('fileDownloadInfo reports the LFS sha256 as etag and the size', async () => {
    const info = await fileDownloadInfo({ repo: 'acme/clean', path: 'model.safetensors', hubUrl });
    const content = readFileSync(join(dir, 'acme/clean/model.safetensors'));
    expect(info?.size).toBe(content.length);
    expect(info?.etag).toMatch(/^"[0-9a-f]{64}"$/);
  });

  it('fileExists, through /raw/', async () => {
    expect(await fileExists({ repo: 'acme/clean', path: 'config.json', hubUrl })).toBe(true);
    expect(await fileExists({ repo: 'acme/clean', path: 'model.safetensors', hubUrl })).toBe(true);
    expect(await fileExists({ repo: 'acme/clean', path: 'missing.txt', hubUrl })).toBe(false);
    expect(await fileExists({ repo: { type: 'dataset', name: 'acme/data' }, path: 'train.csv', hubUrl })).toBe(true);
  });

  it('listFiles pages through Link headers (page size 3)', async () => {
    const all: { path: string; type: string; lfs?: { oid: string } }[] = [];
    for await (const f of listFiles({ repo: 'acme/clean', recursive: true, hubUrl })) all.push(f);
    expect(all.map((f) => f.path)).toEqual(['.gitattributes', 'README.md', 'config.json', 'model.safetensors', 'pytorch_model.bin', 'sub', 'sub/deep', 'sub/deep/notes.txt', 'sub/vocab.txt']);
    expect(all.find((f) => f.path === 'pytorch_model.bin')?.lfs?.oid).toMatch(/^[0-9a-f]{64}$/);
    expect(app.hub.requests.filter((r) => r.url.startsWith('/api/models/acme/clean/tree/')).length).toBe(3);
    const sub: string[] = [];
    for await (const f of listFiles({ repo: 'acme/clean', path: 'sub', hubUrl })) sub.push(f.path);
    expect(sub).toEqual(['sub/deep', 'sub/vocab.txt']);
  });

  it('pathsInfo sends JSON and gets entries back', async () => {
    const out = await pathsInfo({ repo: 'acme/clean', paths: ['config.json', 'model.safetensors'], hubUrl });
    expect(out.map((e) => e.path)).toEqual(['config.json', 'model.safetensors']);
    expect(out[1]!.lfs).toBeDefined();
  });

  it('modelInfo', async () => {
    const info = await modelInfo({ name: 'acme/clean', hubUrl, additionalFields: ['sha', 'cardData'] });
    expect(info.name).toBe('acme/clean');
    expect(info.id).toMatch(/^[0-9a-f]{24}$/);
    expect((info as unknown as { sha: string }).sha).toMatch(/^[0-9a-f]{40}$/);
  });
});
