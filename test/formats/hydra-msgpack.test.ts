import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { scanBytes } from '../../src/index.js';
import { FIXTURES } from '../helpers/manifest.js';
import { PYTHON, runPython } from '../helpers/python.js';

const fixture = (p: string) => new Uint8Array(readFileSync(join(FIXTURES, p)));
const scan = async (b: Uint8Array | string, name = 'x') => (await scanBytes(typeof b === 'string' ? new TextEncoder().encode(b) : b, name)).files[0]!;
type File = Awaited<ReturnType<typeof scan>>;
const only = (f: File, rule: string) => f.findings.filter((x) => x.rule === rule);

describe('Hydra / NeMo YAML', () => {
  it('reports builtins.exec in a .nemo tar as critical with its key path', async () => {
    const [f] = only(await scan(fixture('malicious/hydra_target.nemo')), 'HYDRA_UNSAFE_TARGET');
    expect(f!.severity).toBe('critical');
    expect(f!.evidence.details).toMatchObject({ key: 'preprocessor._target_', target: 'builtins.exec' });
    expect(f!.location.path.slice(1)).toEqual(['./model_config.yaml']);
    expect(f!.references).toContain('CVE-2025-23304');
  });

  it('reports subprocess.run in a gzipped .nemo', async () => {
    const [f] = only(await scan(fixture('malicious/hydra_target_gzip.nemo')), 'HYDRA_UNSAFE_TARGET');
    expect(f!.evidence.details!['target']).toBe('subprocess.run');
  });

  it('accepts nemo, torch.nn, torch.optim targets and the NeMo top-level target', async () => {
    const f = await scan(fixture('benign/nemo_asr.nemo'));
    expect(f.findings.filter((x) => x.severity !== 'info')).toEqual([]);
  });

  it('an unlisted target is medium where restore_from instantiates the config (model_config.yaml, a .nemo member), low elsewhere; a denied name inside nemo high', async () => {
    const text = 'model:\n  _target_: transformers.AutoModel\n  tok:\n    _target_: nemo_evil.Loader\n  cls:\n    _target_: nemo.utils.model_utils.import_class_by_path\n';
    const judged = async (name: string) => only(await scan(text, name), 'HYDRA_UNSAFE_TARGET').map((x) => [x.evidence.details!['target'], x.severity]);
    const onLoad = [
      ['nemo.utils.model_utils.import_class_by_path', 'high'],
      ['transformers.AutoModel', 'medium'],
      ['nemo_evil.Loader', 'medium'],
    ];
    expect(await judged('model_config.yaml')).toEqual(onLoad);
    expect(await judged('config.yaml')).toEqual([
      ['nemo.utils.model_utils.import_class_by_path', 'high'],
      ['transformers.AutoModel', 'low'],
      ['nemo_evil.Loader', 'low'],
    ]);
    const tar = execFileSync('python3', ['-c', `import io, sys, tarfile\nb = io.BytesIO()\nwith tarfile.open(fileobj=b, mode='w') as t:\n  d = sys.stdin.buffer.read()\n  i = tarfile.TarInfo('./model_config.yaml'); i.size = len(d); t.addfile(i, io.BytesIO(d))\nsys.stdout.buffer.write(b.getvalue())`], { input: text });
    const f = await scan(new Uint8Array(tar), 'asr.nemo');
    expect(only(f, 'HYDRA_UNSAFE_TARGET').map((x) => [x.evidence.details!['target'], x.severity])).toEqual(onLoad);
    expect(only(await scan(text, 'config.yaml'), 'HYDRA_UNSAFE_TARGET')[1]!.message).toBe(
      'model._target_ instantiates transformers.AutoModel, outside the allowlist: hydra.utils.instantiate imports and calls it when a script instantiates this config (no model loader does so by itself)',
    );
  });

  it('judges the callable a target reaches, not the allowed prefix it is written under', async () => {
    // torch.nn.parallel.distributed imports os: Hydra's locate takes .os.system as an attribute.
    const f = await scan(
      'a:\n  _target_: torch.nn.parallel.distributed.os.system\n  _args_: [id]\nb:\n  _target_: torch.nn.modules.module.functools.partial\nc:\n  _target_: torch.nn.Linear.__getattribute__\nd:\n  _target_: nemo.utils.os.system\n',
      'c.yaml',
    );
    const got = only(f, 'HYDRA_UNSAFE_TARGET').map((x) => [x.evidence.details!['target'], x.severity, x.evidence.canonical ?? null]);
    expect(got).toEqual([
      ['torch.nn.parallel.distributed.os.system', 'critical', 'os.system'],
      ['torch.nn.modules.module.functools.partial', 'critical', 'functools.partial'],
      ['torch.nn.Linear.__getattribute__', 'critical', 'torch.nn.Linear.__getattribute__'],
      ['nemo.utils.os.system', 'critical', 'os.system'],
    ]);
  });

  it('accepts the Lightning Trainer and globals the catalogue trusts with any arguments; an everyday training config is clean', async () => {
    const f = await scan(
      'model:\n  _target_: torch.nn.Sequential\ntrainer:\n  _target_: lightning.pytorch.Trainer\n  max_epochs: 3\n  callbacks:\n    - _target_: lightning.pytorch.callbacks.ModelCheckpoint\nlegacy:\n  _target_: pytorch_lightning.Trainer\nbuf:\n  _target_: collections.OrderedDict\nroot:\n  _target_: pathlib.PosixPath\n  _args_: [/tmp/runs]\n',
      'config.yaml',
    );
    expect(f.findings.filter((x) => x.severity !== 'info')).toEqual([]);
  });

  it('checks _target_ lines even when the YAML does not parse, and reports Python tags', async () => {
    const f = await scan('a: [unclosed\n_target_: os.system\nb: !!python/object/apply:os.system ["id"]\n', 'c.yaml');
    expect(only(f, 'HYDRA_CONFIG_MALFORMED')).toHaveLength(1);
    const targets = only(f, 'HYDRA_UNSAFE_TARGET').map((x) => x.evidence.details!['target'] ?? x.evidence.details!['tag']);
    expect(targets).toEqual(expect.arrayContaining(['os.system', '!!python/object/apply:os.system']));
  });

  it('stops an alias bomb with a finding', async () => {
    const bomb = 'a: &a [x, x]\n' + Array.from({ length: 12 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`).join('\n') + '\n_target_: nemo.Ok\n';
    const f = await scan(bomb, 'c.yaml');
    expect(only(f, 'HYDRA_CONFIG_MALFORMED')).toHaveLength(1);
  });

  it('never throws on arbitrary text with a _target_ line', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 300 }), fc.string({ maxLength: 40 }), async (pre, target) => {
        const f = await scan(`${pre}\n_target_: ${target}\n`, 'c.yaml');
        expect(f.findings.map((x) => x.rule)).not.toContain('SCAN_ERROR');
      }),
      { numRuns: 200 },
    );
  });
});

describe('Flax msgpack', () => {
  let py: ReturnType<typeof runPython>;
  beforeAll(() => {
    py = runPython(`
import msgpack, numpy as np
from flax import serialization
big = {'params': {'layer_%d' % i: {'kernel': np.ones((64, 64), np.float32)} for i in range(40)}}
open(os.path.join(OUT, 'big.msgpack'), 'wb').write(serialization.to_bytes(big))
open(os.path.join(OUT, 'ts.msgpack'), 'wb').write(msgpack.packb({'when': msgpack.Timestamp(1, 0), 'x': 1, 'name': 'modelgate'}))
open(os.path.join(OUT, 'trailing.msgpack'), 'wb').write(msgpack.packb({'alpha': 1, 'beta': [1, 2, 3], 'gamma': 'xyz'}) + b'\\x00\\x01')
`);
  }, 60_000);

  it('walks a real Flax checkpoint reading only structure', async () => {
    const b = py.file('big.msgpack');
    const r = (await scanBytes(b, 'flax_model.msgpack')).files[0]!;
    expect(r.formats).toEqual(['msgpack']);
    expect(r.findings).toEqual([]);
    expect(r.facts['msgpack.flax_extensions']).toEqual(['ndarray (1) × 40']);
    expect(r.bytesRead).toBeLessThan(b.length);
  });

  it('reports unknown extension codes (the msgpack timestamp is not Flax)', async () => {
    const [f] = only(await scan(py.file('ts.msgpack')), 'MSGPACK_UNKNOWN_EXTENSION');
    expect(f!.evidence.details).toMatchObject({ code: -1, count: 1 });
    expect(only(await scan(fixture('anomalies/msgpack_unknown_extension.msgpack')), 'MSGPACK_UNKNOWN_EXTENSION')[0]!.evidence.details!['code']).toBe(42);
  });

  it('reports truncation, trailing bytes and lying counts', async () => {
    expect(only(await scan(fixture('anomalies/msgpack_truncated.msgpack')), 'MSGPACK_MALFORMED')).toHaveLength(1);
    expect(only(await scan(py.file('trailing.msgpack')), 'MSGPACK_MALFORMED')[0]!.message).toContain('2 bytes follow');
    const lie = new Uint8Array([0x81, 0xa1, 0x61, 0xdd, 0x7f, 0xff, 0xff, 0xff, ...new Array(20).fill(0x01)]);
    expect(only(await scan(lie), 'MSGPACK_MALFORMED')[0]!.message).toContain('declares');
  });

  it('does not claim pickles or noise', async () => {
    const pickle = new Uint8Array([0x80, 0x04, 0x95, 0x05, 0, 0, 0, 0, 0, 0, 0, 0x4b, 0x01, 0x2e, 0x2e, 0x2e, 0x2e]);
    expect((await scan(pickle)).formats).not.toContain('msgpack');
  });

  it('survives mutations of a real checkpoint in bounded time', async () => {
    const base = fixture('benign/flax_model.msgpack');
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), async (muts) => {
        const b = base.slice();
        for (const [at, v] of muts) b[at] = v;
        const f = await scan(b);
        expect(f.findings.map((x) => x.rule)).not.toContain('SCAN_ERROR');
      }),
      { numRuns: 300 },
    );
  });
});

describe('Lightning CLI class_path', () => {
  const cli = (optimizer: string) => `model:\n  class_path: mypkg.models.Net\n  init_args:\n    width: 4\noptimizer:\n  class_path: ${optimizer}\n  init_args:\n    lr: 0.01\ntrainer:\n  callbacks:\n    - class_path: lightning.pytorch.callbacks.ModelCheckpoint\n      init_args:\n        monitor: val_loss\n    - class_path: EarlyStopping\n`;

  it('judges dotted class_path values: os.system high, an unknown package low, Lightning and torch.optim fine', async () => {
    const f = await scan(cli('os.system'), 'config.yaml');
    expect(f.formats).toContain('hydra-yaml');
    const hits = only(f, 'HYDRA_UNSAFE_TARGET').sort((a, b) => String(a.evidence.details!['key']).localeCompare(String(b.evidence.details!['key'])));
    expect(hits.map((x) => [x.evidence.details!['key'], x.evidence.details!['target'], x.severity])).toEqual([
      ['model.class_path', 'mypkg.models.Net', 'low'],
      ['optimizer.class_path', 'os.system', 'high'],
    ]);
    expect(hits[1]!.message).toContain('jsonargparse');
  });

  it('says nothing of a config naming only allowed classes', async () => {
    const f = await scan(cli('torch.optim.AdamW').replace('mypkg.models.Net', 'torch.nn.Linear'), 'config.yaml');
    expect(f.findings.filter((x) => x.severity !== 'info' && x.severity !== 'low')).toEqual([]);
  });
});

const hasGguf = (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import gguf, safetensors'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasGguf)('instantiation targets in weight metadata (safetensors and gguf libraries; needs gguf)', () => {
  let py: ReturnType<typeof runPython>;
  beforeAll(() => {
    py = runPython(`
import json, numpy as np, gguf
from safetensors.numpy import save_file
w = {'w': np.zeros((2, 2), np.float32)}
bad_yaml = "model:\\n  optim:\\n    _target_: torch.optim.AdamW\\n    lr: 0.001\\n  hook:\\n    _target_: os.system\\n    _args_: ['echo modelgate-fixture']\\n"
good_yaml = "model:\\n  optim:\\n    _target_: torch.optim.AdamW\\n    lr: 0.001\\n  encoder:\\n    _target_: nemo.collections.asr.modules.ConvASREncoder\\n"
save_file(w, os.path.join(OUT, 'bad_yaml.safetensors'), metadata={'format': 'pt', 'config': bad_yaml})
save_file(w, os.path.join(OUT, 'bad_json.safetensors'), metadata={'format': 'pt', 'hparams': json.dumps({'scheduler': {'_target_': 'subprocess.Popen', 'args': ['id']}})})
save_file(w, os.path.join(OUT, 'bad_top.safetensors'), metadata={'_target_': 'builtins.exec', '_args_': 'print(1)'})
save_file(w, os.path.join(OUT, 'bad_cli.safetensors'), metadata={'cli': json.dumps({'model': {'class_path': 'evil_pkg.Loader', 'init_args': {}}})})
save_file(w, os.path.join(OUT, 'bad_unknown.safetensors'), metadata={'config': json.dumps({'model': {'_target_': 'my_project.models.UNet'}})})
save_file(w, os.path.join(OUT, 'good.safetensors'), metadata={'format': 'pt', 'config': good_yaml, 'note': 'class_path and _target_ explained in prose'})
def write_gguf(name, value):
    g = gguf.GGUFWriter(os.path.join(OUT, name), 'llama')
    g.add_name('modelgate-tiny')
    g.add_string('training.config', value)
    g.add_tensor('w', np.zeros((32,), np.float32))
    g.write_header_to_file(); g.write_kv_data_to_file(); g.write_tensors_to_file(); g.close()
write_gguf('bad.gguf', bad_yaml)
write_gguf('good.gguf', good_yaml)
`);
  }, 60_000);

  const mediumPlus = (f: File) => f.findings.filter((x) => ['critical', 'high', 'medium'].includes(x.severity));

  it('reports os.system in a YAML config kept in safetensors __metadata__, and only it', async () => {
    const f = await scan(py.file('bad_yaml.safetensors'), 'm.safetensors');
    expect(f.formats).toEqual(['safetensors']);
    const hits = only(f, 'HYDRA_UNSAFE_TARGET');
    expect(hits.map((x) => [x.evidence.details!['target'], x.severity])).toEqual([['os.system', 'critical']]);
    expect(hits[0]!.evidence.details).toMatchObject({ key: 'model.hook._target_', source: '__metadata__["config"]' });
  });

  it('reports JSON configs, a metadata map that is itself a config, and class_path', async () => {
    const target = async (n: string) => only(await scan(py.file(n), 'm.safetensors'), 'HYDRA_UNSAFE_TARGET').map((x) => [x.evidence.details!['target'], x.severity]);
    expect(await target('bad_json.safetensors')).toEqual([['subprocess.Popen', 'critical']]);
    expect(await target('bad_top.safetensors')).toEqual([['builtins.exec', 'critical']]);
    // No weights loader instantiates metadata by itself: an unknown class (usually the author's own) is low.
    expect(await target('bad_cli.safetensors')).toEqual([['evil_pkg.Loader', 'low']]);
    expect(await target('bad_unknown.safetensors')).toEqual([['my_project.models.UNet', 'low']]);
  });

  it('reports os.system in a GGUF metadata string', async () => {
    const f = await scan(py.file('bad.gguf'), 'm.gguf');
    const hits = only(f, 'HYDRA_UNSAFE_TARGET');
    expect(hits.map((x) => [x.evidence.details!['target'], x.severity])).toEqual([['os.system', 'critical']]);
    expect(hits[0]!.evidence.details!['source']).toBe('metadata "training.config"');
    expect(f.facts['gguf.name']).toBe('modelgate-tiny');
  });

  it('says nothing at medium or above about allowed targets (torch.optim.AdamW, nemo)', async () => {
    expect(mediumPlus(await scan(py.file('good.safetensors'), 'm.safetensors'))).toEqual([]);
    expect(mediumPlus(await scan(py.file('good.gguf'), 'm.gguf'))).toEqual([]);
  });
});

describe('instantiation targets in safetensors metadata (hand-built headers)', () => {
  const safetensors = (metadata: Record<string, string>) => {
    const header = Buffer.from(JSON.stringify({ __metadata__: metadata, w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    return new Uint8Array(Buffer.concat([len, header, Buffer.alloc(4)]));
  };

  it('finds a target in one-line JSON and in YAML that does not parse, and Python tags', async () => {
    const f = await scan(safetensors({ a: '{"x": {"_target_": "builtins.eval", "y": [1, 2]}}', b: 'a: [unclosed\n_target_: os.popen\n', c: '!!python/object/apply:os.system ["id"]' }), 'm.safetensors');
    const got = only(f, 'HYDRA_UNSAFE_TARGET').map((x) => x.evidence.details!['target'] ?? x.evidence.details!['tag']).sort();
    expect(got).toEqual(['!!python/object/apply:os.system', 'builtins.eval', 'os.popen']);
    expect(only(f, 'HYDRA_UNSAFE_TARGET').every((x) => x.severity === 'critical')).toBe(true);
  });

  it('never throws on arbitrary metadata text holding a target key', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), fc.string({ maxLength: 40 }), fc.constantFrom('_target_', 'class_path'), async (pre, target, key) => {
        const f = await scan(safetensors({ config: `${pre}\n${key}: ${target}\n{"${key}": ${JSON.stringify(target)}}` }), 'm.safetensors');
        expect(f.findings.map((x) => x.rule)).not.toContain('SCAN_ERROR');
      }),
      { numRuns: 200 },
    );
  });

  it('walks a deeply nested config to its limit without failing', async () => {
    const deep = '['.repeat(5000) + '{"_target_": "os.system"}' + ']'.repeat(5000);
    const f = await scan(safetensors({ config: deep }), 'm.safetensors');
    expect(f.findings.map((x) => x.rule)).not.toContain('SCAN_ERROR');
    expect(only(f, 'HYDRA_UNSAFE_TARGET').map((x) => x.evidence.details!['target'])).toEqual(['os.system']);
  });
});
