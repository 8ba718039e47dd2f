/**
 * Per format: scan time and bytes read for a small and a large (≥ 1 GB where the format allows)
 * file made by the real library. Scan cost must not grow with tensor data: the table reports
 * the large/small ratios. Each scan runs in a fresh process (bench/measure.ts).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface FormatRow {
  format: string;
  small: { size: number; ms: number; bytesRead: number };
  large: { size: number; ms: number; bytesRead: number };
}

/** Python that writes `<dir>/<name>` for a given total of tensor elements (float32). */
const MAKERS: Record<string, { file: string; code: (path: string, elems: number) => string }> = {
  safetensors: {
    file: 'model.safetensors',
    code: (p, n) => `import torch
from safetensors.torch import save_file
k = 8
save_file({f'w{i}': torch.zeros(${n} // k) for i in range(k)}, ${JSON.stringify(p)})`,
  },
  'pytorch zip': {
    file: 'model.pt',
    code: (p, n) => `import torch
k = 8
torch.save({f'w{i}': torch.zeros(${n} // k) for i in range(k)}, ${JSON.stringify(p)})`,
  },
  gguf: {
    file: 'model.gguf',
    code: (p, n) => `import numpy as np, gguf
w = gguf.GGUFWriter(${JSON.stringify(p)}, 'llama')
w.add_context_length(4096)
w.add_chat_template("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\\n{% endfor %}")
k = 8
for i in range(k):
    w.add_tensor(f'blk.{i}.weight', np.zeros(${n} // k, dtype=np.float32))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()`,
  },
  'keras .h5': {
    file: 'model.h5',
    code: (p, n) => `import h5py, json, numpy as np
cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [{"class_name": "Dense", "config": {"name": "d", "units": 4}}]}}
with h5py.File(${JSON.stringify(p)}, 'w') as f:
    f.attrs['model_config'] = json.dumps(cfg)
    f.attrs['keras_version'] = '2.15.0'
    f.attrs['backend'] = 'tensorflow'
    g = f.create_group('model_weights')
    g.create_dataset('w', data=np.zeros(${n}, dtype=np.float32))`,
  },
  'onnx (external data)': {
    file: 'model.onnx',
    code: (p, n) => `import numpy as np, onnx, os
from onnx import helper, numpy_helper, TensorProto
w = numpy_helper.from_array(np.zeros(${n}, dtype=np.float32), 'w')
g = helper.make_graph([helper.make_node('Identity', ['w'], ['y'])], 'g', [], [helper.make_tensor_value_info('y', TensorProto.FLOAT, [${n}])], [w])
m = helper.make_model(g)
onnx.save_model(m, ${JSON.stringify(p)}, save_as_external_data=True, all_tensors_to_one_file=True, location='model.onnx.data', size_threshold=0)`,
  },
  npy: {
    file: 'array.npy',
    code: (p, n) => `import numpy as np
np.save(${JSON.stringify(p)}, np.zeros(${n}, dtype=np.float32))`,
  },
};

export function formatBench(root: string, python: string, measure: (...paths: string[]) => { ms: number; bytesRead: number }): FormatRow[] {
  const rows: FormatRow[] = [];
  const sizes = { small: 256 * 1024, large: 256 * 1024 * 1024 }; // float32 elements: 1 MiB and 1 GiB
  for (const [format, maker] of Object.entries(MAKERS)) {
    const out: Partial<FormatRow> = { format };
    for (const which of ['small', 'large'] as const) {
      const dir = join(root, 'bench', 'out', 'formats', `${format.replace(/[^a-z0-9]+/gi, '-')}-${which}`);
      const path = join(dir, maker.file);
      if (!existsSync(path)) {
        mkdirSync(dir, { recursive: true });
        execFileSync(python, ['-c', maker.code(path, sizes[which])], { stdio: ['ignore', 'inherit', 'inherit'] });
      }
      const runs = [measure(path), measure(path), measure(path)].sort((a, b) => a.ms - b.ms);
      const med = runs[1]!;
      out[which] = { size: statSync(path).size, ms: med.ms, bytesRead: med.bytesRead };
    }
    rows.push(out as FormatRow);
  }
  return rows;
}
