import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { scanBytes } from '../../src/index.js';
import { summariseMarshal } from '../../src/formats/keras/marshal.js';
import { kerasRules, versionAffected } from '../../src/formats/keras/rules.js';
import { FIXTURES } from '../helpers/manifest.js';
import { PYTHON, runPython } from '../helpers/python.js';
import { buildZip, bytes } from '../helpers/zip-builder.js';

const fixture = (p: string) => new Uint8Array(readFileSync(join(FIXTURES, p)));
const scan = async (b: Uint8Array, name = 'm.keras') => (await scanBytes(b, name)).files[0]!;
type File = Awaited<ReturnType<typeof scan>>;
const only = (f: File, rule: string) => f.findings.filter((x) => x.rule === rule);

function kerasZip(config: unknown, extra: Array<{ name: string; data: Uint8Array }> = []): Uint8Array {
  return buildZip([
    { name: 'metadata.json', data: bytes(JSON.stringify({ keras_version: '3.10.0' })) },
    { name: 'config.json', data: bytes(JSON.stringify(config)) },
    ...extra,
  ]);
}
const dense = (name: string, over: Record<string, unknown> = {}) => ({ module: 'keras.layers', class_name: 'Dense', registered_name: null, config: { name, units: 2, ...over } });
const seq = (layers: unknown[], name = 'seq') => ({ module: 'keras', class_name: 'Sequential', registered_name: null, config: { name, layers } });

describe('Keras fixtures (real and hand-written)', () => {
  it('names the Lambda layer and the names its bytecode uses', async () => {
    const [f] = only(await scan(fixture('malicious/keras_lambda_bytecode.keras')), 'KERAS_LAMBDA_LAYER');
    expect(f!.severity).toBe('critical');
    expect(f!.message).toContain("Lambda layer 'sequential › lambda'");
    expect(String(f!.evidence.details!['names'])).toBe('__import__, system');
    expect(String(f!.evidence.details!['strings'])).toContain('echo modelgate-fixture');
  });

  it('finds a Lambda two models deep in a real Keras 3 save', async () => {
    const [f] = only(await scan(fixture('malicious/keras_lambda_nested.keras')), 'KERAS_LAMBDA_LAYER');
    expect(f!.message).toContain("'outer › with_lambda › deep_lambda'");
  });

  it('reports os.system used as an initializer as critical, with the canonical global', async () => {
    const [f] = only(await scan(fixture('malicious/keras_module_reference.keras')), 'KERAS_UNSAFE_MODULE_REFERENCE');
    expect(f!.severity).toBe('critical');
    expect(f!.evidence.canonical).toBe('os.system');
    expect(f!.evidence.details!['layer']).toBe('sequential › dense');
    expect(f!.references).toContain('CVE-2025-1550');
  });

  it('reports builtins.exec stored as a plain function', async () => {
    const [f] = only(await scan(fixture('malicious/keras_builtin_activation.keras')), 'KERAS_UNSAFE_MODULE_REFERENCE');
    expect(f!.evidence.global).toBe('builtins.exec');
    expect(f!.severity).toBe('critical');
  });

  it('reports get_file and enable_unsafe_deserialization by name', async () => {
    const [g] = only(await scan(fixture('malicious/keras_get_file.keras')), 'KERAS_DANGEROUS_REFERENCE');
    expect([g!.evidence.details!['name'], g!.severity]).toEqual(['get_file', 'high']);
    const f = await scan(fixture('malicious/keras_enable_unsafe.keras'));
    expect(only(f, 'KERAS_DANGEROUS_REFERENCE').map((x) => x.evidence.details!['name'])).toEqual(['enable_unsafe_deserialization']);
    expect(only(f, 'KERAS_LAMBDA_LAYER')).toHaveLength(1);
  });

  it('scans the pickled module inside a TorchModuleWrapper', async () => {
    const f = await scan(fixture('malicious/keras_torch_module_wrapper.keras'));
    expect(only(f, 'KERAS_DANGEROUS_REFERENCE')[0]!.evidence.details!['name']).toBe('TorchModuleWrapper');
    const p = only(f, 'PICKLE_DANGEROUS_GLOBAL');
    expect(p.map((x) => x.evidence.canonical)).toContain('os.system');
    expect(p[0]!.location.path.join(' › ')).toContain('torch_wrapper (TorchModuleWrapper module)');
  });

  it('reads Keras 2 function_type lambda in an .h5 and reports the version CVEs as facts', async () => {
    const f = await scan(fixture('malicious/keras2_lambda.h5'), 'm.h5');
    const [l] = only(f, 'KERAS_LAMBDA_LAYER');
    expect(l!.message).toContain("'sequential › k2_lambda'");
    expect(l!.message).toContain('Keras 2 function');
    expect(f.facts['keras.version']).toBe('2.12.0');
    expect(String(f.facts['keras.version_cves'])).toContain('CVE-2024-3660');
  });

  it('reads model_config from dense attribute storage', async () => {
    const f = await scan(fixture('malicious/keras_lambda_dense_attributes.h5'), 'm.h5');
    expect(only(f, 'KERAS_LAMBDA_LAYER')[0]!.message).toContain('k2_lambda');
  });

  it('keeps real benign models clean and reports what they are', async () => {
    const f = await scan(fixture('benign/keras_functional_nested.keras'));
    expect(f.findings).toEqual([]);
    expect(f.formats).toEqual(['keras', 'zip']);
    expect(f.facts['keras.classes']).toEqual(expect.arrayContaining(['Sequential', 'TimeDistributed', 'Bidirectional', 'LSTM']));
    const h = await scan(fixture('benign/keras_sequential.h5'), 'm.h5');
    expect(h.findings).toEqual([]);
    expect(h.facts['keras.backend']).toBe('torch');
  });
});

describe('Keras config check', () => {
  it('flags a foreign module in a wrapper layer, at high when the target is not catalogued', async () => {
    const cfg = seq([{ module: 'keras.layers', class_name: 'TimeDistributed', registered_name: null, config: { name: 'td', layer: dense('inner', { kernel_initializer: { module: 'evilpkg.init', class_name: 'Boom', registered_name: null, config: {} } }) } }]);
    const [f] = only(await scan(kerasZip(cfg)), 'KERAS_UNSAFE_MODULE_REFERENCE');
    expect([f!.severity, f!.evidence.global, f!.evidence.details!['layer']]).toEqual(['high', 'evilpkg.init.Boom', 'seq › td › inner']);
  });

  it('does not confuse a look-alike namespace with keras', async () => {
    const [f] = only(await scan(kerasZip(seq([{ ...dense('d'), module: 'kerasx.layers' }]))), 'KERAS_UNSAFE_MODULE_REFERENCE');
    expect(f!.evidence.global).toBe('kerasx.layers.Dense');
  });

  it('treats unregistered plain functions as custom objects, not findings', async () => {
    const f = await scan(kerasZip(seq([dense('d', { activation: { module: 'builtins', class_name: 'function', config: 'my_act', registered_name: 'function' } })])));
    expect(f.findings).toEqual([]);
    expect(f.facts['keras.custom_objects']).toEqual(['my_act']);
  });

  it('reports Python files and executables inside the archive', async () => {
    const f = await scan(kerasZip(seq([]), [
      { name: 'assets/hook.py', data: bytes('import os\n') },
      { name: 'assets/vocab.bin', data: bytes('\x7fELF\x02\x01\x01') },
    ]));
    expect(only(f, 'KERAS_CODE_IN_ARCHIVE').map((x) => x.evidence.details!['member'])).toEqual(['assets/hook.py', 'assets/vocab.bin']);
  });

  it('reports a config that is not JSON, and one nested beyond the limit', async () => {
    const bad = buildZip([{ name: 'config.json', data: bytes('{"class_name": "Sequential", ') }]);
    expect(only(await scan(bad), 'KERAS_CONFIG_MALFORMED')[0]!.message).toContain('not valid JSON');
    let deep: unknown = dense('bottom');
    for (let i = 0; i < 300; i++) deep = [deep];
    const f = await scan(kerasZip(seq([deep])));
    expect(only(f, 'KERAS_CONFIG_MALFORMED')[0]!.message).toContain('deeper than 200');
    expect(f.complete).toBe(false);
  });

  it('never throws on arbitrary JSON configs', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 6 }), async (v) => {
        const f = await scan(kerasZip(v));
        expect(f.findings.map((x) => x.rule)).not.toContain('SCAN_ERROR');
      }),
      { numRuns: 150 },
    );
  }, 60_000);

  it('survives mutations of a real malicious archive and never goes clean silently', async () => {
    const base = fixture('malicious/keras_lambda_bytecode.keras');
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), async (muts) => {
        const b = base.slice();
        for (const [at, v] of muts) b[at] = v;
        const f = await scan(b);
        expect(f.findings.map((x) => x.rule)).not.toContain('SCAN_ERROR');
      }),
      { numRuns: 200 },
    );
  }, 60_000);
});

describe('Keras inside other containers and helpers', () => {
  let py: ReturnType<typeof runPython>;
  beforeAll(() => {
    py = runPython(`
import tarfile, marshal, io
src = ${JSON.stringify(join(FIXTURES, 'malicious/keras_lambda_bytecode.keras'))}
with tarfile.open(os.path.join(OUT, 'bundle.tar.gz'), 'w:gz') as t:
    t.add(src, arcname='models/model.keras')
def outer(x):
    def inner(y):
        import subprocess
        return subprocess.check_output(['id'])
    return inner
open(os.path.join(OUT, 'code.marshal'), 'wb').write(marshal.dumps(outer.__code__))
`);
  }, 60_000);

  it('finds the Lambda in a .keras inside a tar.gz (no size known up front)', async () => {
    const f = await scan(py.file('bundle.tar.gz'), 'bundle.tar.gz');
    const [l] = only(f, 'KERAS_LAMBDA_LAYER');
    expect(l!.location.path.slice(1).join(' › ')).toContain('models/model.keras');
  });

  it('lists names of nested code objects from real marshal data', () => {
    const s = summariseMarshal(py.file('code.marshal'));
    expect(s.error).toBeUndefined();
    expect(s.functions).toEqual(['inner', 'outer']);
    expect(s.names).toEqual(expect.arrayContaining(['subprocess', 'check_output']));
  });

  it('stops cleanly on garbage marshal data', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (b) => void summariseMarshal(b)));
    expect(summariseMarshal(new Uint8Array([0xe3, 0, 0])).error).toContain('code object');
  });

  it('matches version ranges from rules/keras-cves.yaml', () => {
    const rules = kerasRules();
    const cve = rules.cves.find((c) => c.id === 'CVE-2025-1550')!;
    expect([versionAffected('3.8.0', cve.affected), versionAffected('3.9.0', cve.affected), versionAffected('2.15.0', cve.affected)]).toEqual([true, false, false]);
  });
});

const hasKeras = (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import keras, h5py'], { stdio: 'ignore', env: { ...process.env, KERAS_BACKEND: 'torch' } });
    return true;
  } catch {
    return false;
  }
})();

// Keras' lookup layers need TensorFlow to be built, which the test environment lacks: a real
// Keras model is saved, then its config gets the lookup layer as Keras serialises it (a
// hand-written but faithful object), in .keras (config.json) and .h5 (model_config attribute).
describe.skipIf(!hasKeras)('Keras layers that read host files (real Keras saves, config rewritten; needs keras)', () => {
  let py: ReturnType<typeof runPython>;
  beforeAll(() => {
    process.env['KERAS_BACKEND'] = 'torch';
    py = runPython(`
import json, zipfile, h5py, keras
m = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2, name='dense')])
m.save(os.path.join(OUT, 'base.keras'))
keras.saving.save_model(m, os.path.join(OUT, 'base.h5'))
def lookup(cls, vocab, key='vocabulary'):
    return {'module': 'keras.layers', 'class_name': cls, 'registered_name': None,
            'config': {'name': 'lookup', 'trainable': True, 'dtype': 'float32', 'max_tokens': None,
                       'num_oov_indices': 1, 'mask_token': None, 'oov_token': '[UNK]', key: vocab,
                       'output_mode': 'int', 'sparse': False, 'pad_to_max_tokens': False}}
def rewrite(cfg, layer):
    cfg = json.loads(cfg)
    cfg['config']['layers'].insert(1, layer)
    return json.dumps(cfg)
def keras_variant(name, layer):
    with zipfile.ZipFile(os.path.join(OUT, 'base.keras')) as src, zipfile.ZipFile(os.path.join(OUT, name), 'w') as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == 'config.json':
                data = rewrite(data, layer).encode()
            dst.writestr(item, data)
def h5_variant(name, layer):
    import shutil
    shutil.copy(os.path.join(OUT, 'base.h5'), os.path.join(OUT, name))
    with h5py.File(os.path.join(OUT, name), 'r+') as f:
        f.attrs['model_config'] = rewrite(f.attrs['model_config'], layer)
keras_variant('passwd.keras', lookup('StringLookup', '/etc/passwd'))
keras_variant('gcs.keras', lookup('TextVectorization', 'gs://attacker-bucket/vocab.txt'))
keras_variant('escape.keras', lookup('IntegerLookup', '../../../home/user/.aws/credentials'))
keras_variant('relative.keras', lookup('StringLookup', 'vocab.txt'))
keras_variant('inline.keras', lookup('StringLookup', ['a', 'b', 'c']))
h5_variant('passwd.h5', lookup('StringLookup', '/proc/self/environ'))
h5_variant('inline.h5', lookup('StringLookup', ['a', 'b', 'c']))
`);
  }, 120_000);

  const mediumPlus = (f: File) => f.findings.filter((x) => ['critical', 'high', 'medium'].includes(x.severity));

  it('reports an absolute vocabulary path in config.json, naming layer, key and path', async () => {
    const f = await scan(py.file('passwd.keras'));
    const [h] = only(f, 'KERAS_HOST_FILE_REFERENCE');
    expect(h!.severity).toBe('high');
    expect(h!.evidence.details).toMatchObject({ class_name: 'StringLookup', key: 'vocabulary', path: '/etc/passwd', source: 'config.json' });
    expect(h!.message).toContain('is absolute');
  });

  it('reports a gfile URL and a path climbing out with ..', async () => {
    const [g] = only(await scan(py.file('gcs.keras')), 'KERAS_HOST_FILE_REFERENCE');
    expect(g!.severity).toBe('high');
    expect(g!.message).toContain('is a URL');
    const [e] = only(await scan(py.file('escape.keras')), 'KERAS_HOST_FILE_REFERENCE');
    expect(e!.severity).toBe('high');
    expect(e!.evidence.details).toMatchObject({ class_name: 'IntegerLookup', path: '../../../home/user/.aws/credentials' });
  });

  it('reports the path in a legacy .h5 model_config attribute', async () => {
    const [h] = only(await scan(py.file('passwd.h5'), 'm.h5'), 'KERAS_HOST_FILE_REFERENCE');
    expect(h!.severity).toBe('high');
    expect(h!.evidence.details).toMatchObject({ path: '/proc/self/environ', source: 'model_config attribute' });
  });

  it('keeps a relative vocabulary path at low, and says nothing of an inline vocabulary', async () => {
    const r = await scan(py.file('relative.keras'));
    expect(only(r, 'KERAS_HOST_FILE_REFERENCE').map((x) => x.severity)).toEqual(['low']);
    expect(mediumPlus(r)).toEqual([]);
    for (const [name, display] of [['inline.keras', 'm.keras'], ['inline.h5', 'm.h5'], ['base.keras', 'm.keras'], ['base.h5', 'm.h5']] as const) {
      const f = await scan(py.file(name), display);
      expect(f.findings.filter((x) => x.rule === 'KERAS_HOST_FILE_REFERENCE'), name).toEqual([]);
      expect(mediumPlus(f), name).toEqual([]);
    }
  });
});
