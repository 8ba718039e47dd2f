/**
 * A temporary directory of Hub repositories for remote-scan tests, made from the committed
 * fixtures plus one larger PyTorch-style zip built here (a malicious pickle next to tensor
 * storages), so that "a fraction of the bytes" means something.
 */
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { buildZip, EVIL_PICKLE } from '../helpers/zip-builder.js';

export const FIXTURES = resolve(import.meta.dirname, '../../fixtures');

/** Tensor storages in the big checkpoint, and their size. */
export const BIG_STORAGES = 16;
export const BIG_STORAGE_BYTES = 2 * 1024 * 1024;

function put(root: string, rel: string, content: string | Uint8Array): void {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, content);
}

function copy(root: string, rel: string, fixture: string): void {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  copyFileSync(join(FIXTURES, fixture), p);
}

/** A PyTorch checkpoint layout (data.pkl, version, byteorder, data/N) whose pickle calls os.system. */
export function bigEvilTorchZip(): Uint8Array {
  const entries = [
    { name: 'big/data.pkl', data: EVIL_PICKLE },
    { name: 'big/byteorder', data: 'little' },
    { name: 'big/version', data: '3\n' },
  ];
  for (let i = 0; i < BIG_STORAGES; i++) {
    const data = new Uint8Array(BIG_STORAGE_BYTES);
    data.fill(i + 1);
    entries.push({ name: `big/data/${i}`, data: data as unknown as string });
  }
  return buildZip(entries);
}

/**
 * acme/evil-bert, acme/tiny-bert, acme/mixed   copies of fixtures/repos
 * acme/big-evil                                 bigEvilTorchZip() as pytorch_model.bin (~32 MiB)
 * acme/clean-torch                              a benign torch zip and safetensors
 * datasets/acme/evil-data                       a malicious pickle in a dataset
 */
export function makeRemoteHubDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'mg-remote-hub-'));
  for (const repo of ['evil-bert', 'tiny-bert', 'mixed']) {
    for (const f of ['README.md', 'config.json', 'pytorch_model.bin', 'model.safetensors', 'optimizer.pt']) {
      try {
        copy(root, `acme/${repo}/${f}`, `repos/acme/${repo}/${f}`);
      } catch {
        /* not every repo has every file */
      }
    }
  }
  put(root, 'acme/big-evil/pytorch_model.bin', bigEvilTorchZip());
  put(root, 'acme/big-evil/config.json', '{"model_type": "bert"}\n');
  copy(root, 'acme/clean-torch/pytorch_model.bin', 'benign/torch_state_dict.pt');
  copy(root, 'acme/clean-torch/model.safetensors', 'benign/model.safetensors');
  put(root, 'acme/clean-torch/config.json', '{"model_type": "bert"}\n');
  put(
    root,
    'acme/storage-pickle/pytorch_model.bin',
    buildZip([
      { name: 'm/data.pkl', data: '\x80\x02}q\x00.' },
      { name: 'm/version', data: '3\n' },
      { name: 'm/data/0', data: EVIL_PICKLE },
    ]),
  );
  copy(root, 'datasets/acme/evil-data/data/payload.pkl', 'malicious/builtins_exec.pkl');
  put(root, 'datasets/acme/evil-data/README.md', '# data\n');
  return root;
}
