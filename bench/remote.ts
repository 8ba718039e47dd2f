/**
 * Remote scans of multi-GB files served by the local hub on loopback: bytes fetched (target
 * under 0.1 % of each file), requests and wall time, with the hub's CDN redirect on and an
 * optional per-request latency. The files are written by the real libraries (torch.save,
 * safetensors, gguf) into bench/out/remote-hub, never committed.
 *
 *   node dist/bench/remote.js [latencyMs]        (or: npm run bench -- remote)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHub } from '../src/hub/server.js';
import { scanRemote } from '../src/remote/scan.js';
import { pythonOf } from '../test/helpers/python-envs.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const out = join(root, 'bench', 'out');
export const hubDir = join(out, 'remote-hub');
const python = existsSync(pythonOf('MG_PYTHON')) ? pythonOf('MG_PYTHON') : 'python3';

function py(code: string): void {
  execFileSync(python, ['-c', code], { stdio: ['ignore', 'inherit', 'inherit'] });
}

/** A decoder-style layer stack: 40 layers of 9 tensors (attention, MLP, norms), about 2 GiB of float32. */
const LAYERS = `
def layers():
    import torch
    sd = {}
    for i in range(40):
        for n in ('q', 'k', 'v', 'o'):
            sd[f'model.layers.{i}.self_attn.{n}_proj.weight'] = torch.zeros(1024, 1024)
        for n in ('gate', 'up'):
            sd[f'model.layers.{i}.mlp.{n}_proj.weight'] = torch.zeros(2816, 1024)
        sd[f'model.layers.{i}.mlp.down_proj.weight'] = torch.zeros(1024, 2816)
        sd[f'model.layers.{i}.input_layernorm.weight'] = torch.ones(1024)
        sd[f'model.layers.{i}.post_attention_layernorm.weight'] = torch.ones(1024)
    return sd
`;

export interface Case {
  repo: string;
  file: string;
  what: string;
  make: (path: string) => void;
}

export const CASES: Case[] = [
  {
    repo: 'bench/torch-few',
    file: 'pytorch_model.bin',
    what: 'PyTorch zip, 9 tensors (8 × 256 MiB), torch.save',
    make: (p) => {
      const shared = join(out, 'big-2gb.pt');
      if (existsSync(shared)) linkSync(shared, p);
      else py(`import torch\nsd = {f'layer{i}.weight': torch.zeros(64, 1024, 1024) for i in range(8)}\nsd['bias'] = torch.zeros(10)\ntorch.save(sd, ${JSON.stringify(p)})`);
    },
  },
  {
    repo: 'bench/torch-layers',
    file: 'pytorch_model.bin',
    what: 'PyTorch zip, 360 tensors (40 decoder layers, 4–11 MiB each), torch.save',
    make: (p) => py(`${LAYERS}\nimport torch\ntorch.save(layers(), ${JSON.stringify(p)})`),
  },
  {
    repo: 'bench/safetensors-layers',
    file: 'model.safetensors',
    what: 'safetensors, the same 360 tensors, safetensors.torch.save_file',
    make: (p) => py(`${LAYERS}\nfrom safetensors.torch import save_file\nsave_file(layers(), ${JSON.stringify(p)}, metadata={'format': 'pt'})`),
  },
  {
    repo: 'bench/gguf-layers',
    file: 'model.gguf',
    what: 'GGUF v3, 360 f32 tensors and a 32,000-token vocabulary, gguf.GGUFWriter',
    make: (p) =>
      py(`import numpy as np, gguf
w = gguf.GGUFWriter(${JSON.stringify(p)}, 'llama')
w.add_block_count(40); w.add_context_length(4096); w.add_embedding_length(1024); w.add_feed_forward_length(2816); w.add_head_count(16)
w.add_tokenizer_model('llama')
w.add_token_list([f'tok{i}'.encode() for i in range(32000)])
w.add_token_scores([0.0] * 32000)
w.add_token_types([1] * 32000)
for i in range(40):
    for n in ('q', 'k', 'v', 'o'):
        w.add_tensor(f'blk.{i}.attn_{n}.weight', np.zeros((1024, 1024), dtype=np.float32))
    for n in ('gate', 'up'):
        w.add_tensor(f'blk.{i}.ffn_{n}.weight', np.zeros((2816, 1024), dtype=np.float32))
    w.add_tensor(f'blk.{i}.ffn_down.weight', np.zeros((1024, 2816), dtype=np.float32))
    w.add_tensor(f'blk.{i}.attn_norm.weight', np.ones(1024, dtype=np.float32))
    w.add_tensor(f'blk.{i}.ffn_norm.weight', np.ones(1024, dtype=np.float32))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()`),
  },
];

/** Writes the multi-GB files (once; they stay in bench/out/remote-hub); the S3 bench reads them too. */
export function makeRemoteFiles(): void {
  for (const c of CASES) {
    const p = join(hubDir, c.repo, c.file);
    if (existsSync(p)) continue;
    mkdirSync(dirname(p), { recursive: true });
    process.stderr.write(`making ${p} ...\n`);
    c.make(p);
  }
}

export async function benchRemote(latencyMs = 0): Promise<string[]> {
  makeRemoteFiles();
  const hub = await startHub({ dir: hubDir, lfsRedirect: true, latencyMs });
  const cdn = new URL(hub.url);
  cdn.hostname = cdn.hostname === '127.0.0.1' ? 'localhost' : '127.0.0.1';
  const rows: string[] = [];
  try {
    for (const c of CASES) {
      const size = statSync(join(hubDir, c.repo, c.file)).size;
      // The hub hashes a repo on first sight (multi-GB): do that outside the measurement.
      await fetch(`${hub.url}/api/models/${c.repo}/revision/main`).then((r) => r.arrayBuffer());
      const t0 = performance.now();
      const r = await scanRemote([`hf://${c.repo}/${c.file}`], { endpoint: hub.url, token: null, allowedHosts: [cdn.host] });
      const ms = performance.now() - t0;
      if (!r.ok) throw new Error(`${c.repo}: ${r.error.message}`);
      const f = r.report.files[0]!;
      const fetched = f.remote!.bytesFetched;
      const pct = (100 * fetched) / size;
      rows.push(
        `| ${c.what} | ${(size / 2 ** 30).toFixed(2)} GiB | ${fetched.toLocaleString('en')} B | ${pct.toFixed(4)} % ${pct < 0.1 ? '✓' : '✗'} | ${f.remote!.requests} | ${ms.toFixed(0)} ms | ${f.maxSeverity ?? 'clean'}${f.complete ? '' : ', incomplete'} |`,
      );
    }
  } finally {
    await hub.close();
  }
  return [
    `Remote scans through the local hub on loopback (LFS answered by a 302 to its "CDN" host, as huggingface.co does), per-request latency ${latencyMs} ms; \`modelgate scan hf://…\` code path (scanRemote).`,
    '',
    '| file | size | bytes fetched | of the file (target < 0.1 %) | requests | wall time | verdict |',
    '|---|---|---|---|---|---|---|',
    ...rows,
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const latency = Number(process.argv[2] ?? 0);
  for (const line of await benchRemote(Number.isFinite(latency) ? latency : 0)) console.log(line);
}
