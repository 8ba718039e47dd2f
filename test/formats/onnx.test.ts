import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { scanBytes, scanFile, scanPath } from '../../src/index.js';
import { atLeast } from '../../src/core/findings.js';
import { FIXTURES } from '../helpers/manifest.js';
import { cat, int, len } from '../helpers/protobuf.js';
import { PYTHON, runPython } from '../helpers/python.js';

const fixture = (rel: string) => join(FIXTURES, rel);
const file = async (rel: string) => (await scanFile(fixture(rel))).files[0]!;
const bytes = async (b: Uint8Array, name = 'model.onnx') => (await scanBytes(b, name)).files[0]!;
const rule = (f: Awaited<ReturnType<typeof file>>, id: string) => f.findings.filter((x) => x.rule === id);

// ONNX messages for hand-built edge cases (field numbers from onnx.proto)
const opset = (domain: string, version: number) => len(8, cat(len(1, domain), int(2, version)));
const node = (name: string, op: string, domain = '') => cat(len(1, 'X'), len(2, 'Y'), len(3, name), len(4, op), ...(domain ? [len(7, domain)] : []));
const external = (name: string, location: string, extra: Array<[string, string]> = []) =>
  cat(int(1, 2), int(2, 1), len(8, name), ...[['location', location], ...extra].map(([k, v]) => len(13, cat(len(1, k!), len(2, v!)))), int(14, 1));
function model(graph: { nodes?: Uint8Array[]; initializers?: Uint8Array[] }, extra: Uint8Array[] = []): Uint8Array {
  const g = cat(...(graph.nodes ?? []).map((n) => len(1, n)), len(2, 'g'), ...(graph.initializers ?? []).map((t) => len(5, t)));
  return cat(int(1, 8), len(2, 'modelgate-test'), len(7, g), opset('', 17), ...extra);
}

describe('ONNX: real files from onnx and torch', () => {
  it.each(['benign/torch_linear.onnx', 'benign/onnx_helper_if.onnx', 'benign/onnx_external_data/model.onnx'])('%s has nothing at low or above', async (rel) => {
    const f = await file(rel);
    expect(f.formats).toEqual(['onnx']);
    expect(f.findings.filter((x) => atLeast(x.severity, 'low'))).toEqual([]);
    expect(f.complete).toBe(true);
  });

  it('reports ir_version, producer, opsets, subgraph nesting and external data files as facts', async () => {
    const t = await file('benign/torch_linear.onnx');
    expect(t.facts['onnx.producer']).toMatch(/^pytorch 2\./);
    expect(t.facts['onnx.ir_version']).toBeGreaterThanOrEqual(7);
    expect(t.facts['onnx.opsets']).toEqual(expect.arrayContaining([expect.stringMatching(/^ai\.onnx=\d+$/)]));
    const h = await file('benign/onnx_helper_if.onnx');
    expect(h.facts['onnx.max_graph_nesting']).toBe(2);
    expect(h.facts['onnx.graphs']).toBe(3);
    expect((await file('benign/onnx_external_data/model.onnx')).facts['onnx.external_data']).toEqual(['weights.bin']);
  });

  it.each([
    ['malicious/onnx_external_data_parent.onnx', '../../etc/passwd', 'climbs out with ..'],
    ['malicious/onnx_external_data_absolute.onnx', '/etc/passwd', 'is absolute'],
    ['malicious/onnx_external_data_windows.onnx', 'C:\\Windows\\win.ini', 'Windows drive path'],
  ])('%s: ONNX_EXTERNAL_DATA_PATH (high) names %s', async (rel, location, why) => {
    const f = await file(rel);
    const e = rule(f, 'ONNX_EXTERNAL_DATA_PATH');
    expect(e).toHaveLength(1);
    expect(e[0]!.severity).toBe('high');
    expect(e[0]!.evidence.details?.['location']).toBe(location);
    expect(e[0]!.evidence.details?.['tensor']).toBe('W');
    expect(e[0]!.message).toContain(why);
    expect(e[0]!.references).toContain('CVE-2022-25882');
  });

  it('a node in a custom domain is ONNX_CUSTOM_DOMAIN (medium) naming the domain and op', async () => {
    const f = await file('malicious/onnx_custom_domain.onnx');
    const c = rule(f, 'ONNX_CUSTOM_DOMAIN');
    expect(c).toHaveLength(1);
    expect(c[0]!.severity).toBe('medium');
    expect(c[0]!.evidence.matched).toBe('com.modelgate.fixture');
    expect(c[0]!.message).toContain('FixtureOp');
  });

  it('the hand-encoded fixture has both the traversal and the custom domain', async () => {
    const f = await file('malicious/onnx_external_data_traversal.onnx');
    expect(rule(f, 'ONNX_EXTERNAL_DATA_PATH')[0]!.evidence.details?.['location']).toBe('../../../../etc/passwd');
    expect(rule(f, 'ONNX_CUSTOM_DOMAIN')[0]!.evidence.matched).toBe('com.modelgate.fixture');
  });

  it('raw_data shorter than dims × dtype is ONNX_TENSOR_SIZE_ANOMALY', async () => {
    const f = await file('anomalies/onnx_raw_data_size_mismatch.onnx');
    expect(rule(f, 'ONNX_TENSOR_SIZE_ANOMALY')[0]!.message).toContain('is 32 bytes but raw_data holds 8');
  });

  it('subgraphs nested past the protobuf limit are PROTOBUF_TOO_DEEP, not a crash', async () => {
    const f = await file('anomalies/onnx_nested_graphs_too_deep.onnx');
    expect(rule(f, 'PROTOBUF_TOO_DEEP')).toHaveLength(1);
    expect(f.complete).toBe(false);
  });
});

describe('ONNX: edge cases (hand-built models)', () => {
  it('com.microsoft contrib ops and model-local functions are not custom domains', async () => {
    const fn = len(25, cat(len(1, 'MyBlock'), len(10, 'local.fn'), len(7, node('inner', 'Relu'))));
    const f = await bytes(model({ nodes: [node('a', 'FusedMatMul', 'com.microsoft'), node('b', 'MyBlock', 'local.fn')] }, [opset('local.fn', 1), fn]));
    expect(rule(f, 'ONNX_CUSTOM_DOMAIN')).toEqual([]);
    expect(f.facts['onnx.nodes']).toBe(3);
  });

  it('UNC and ~ external locations escape too; a subdirectory does not', async () => {
    const f = await bytes(model({ initializers: [external('a', '\\\\server\\share\\w.bin'), external('b', '~/w.bin'), external('c', 'data/w.bin')] }));
    expect(rule(f, 'ONNX_EXTERNAL_DATA_PATH').map((x) => x.evidence.details?.['tensor'])).toEqual(['a', 'b']);
  });

  it('an absurd external length is ONNX_TENSOR_SIZE_ANOMALY', async () => {
    const f = await bytes(model({ initializers: [external('w', 'w.bin', [['length', '99999999999999999999']])] }));
    expect(rule(f, 'ONNX_TENSOR_SIZE_ANOMALY')[0]!.message).toContain('external data length');
  });

  it('does not read initializer data: a 20 MB raw_data costs a few KB', async () => {
    const raw = new Uint8Array(20 << 20);
    const t = cat(int(1, 5 << 20), int(2, 1), len(8, 'big'), len(9, raw));
    const f = await bytes(model({ nodes: [node('n', 'Relu')], initializers: [t] }));
    expect(f.findings).toEqual([]);
    expect(f.formats).toEqual(['onnx']);
    expect(f.bytesRead).toBeLessThan(256 * 1024);
  });

  it('is recognised by content under any name', async () => {
    const data = readFileSync(fixture('benign/torch_linear.onnx'));
    expect((await bytes(data, 'weights.bin')).formats).toEqual(['onnx']);
  });

  it('mutated real ONNX models never make the analyzer throw', async () => {
    const base = new Uint8Array(readFileSync(fixture('benign/onnx_helper_if.onnx')));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), async (muts) => {
        const b = base.slice();
        for (const [i, v] of muts) b[i] = v;
        const f = await bytes(b, 'm.onnx');
        expect(f.findings.filter((x) => x.rule === 'SCAN_ERROR')).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});

const hasOnnx = (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import onnx'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasOnnx)('ONNX external data reached through symbolic links (models saved by onnx; needs onnx)', () => {
  let py: ReturnType<typeof runPython>;
  beforeAll(() => {
    py = runPython(`
import shutil, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
def save(d, location):
    os.makedirs(os.path.join(d, os.path.dirname(location)), exist_ok=True)
    w = numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(4, 4), 'W')
    g = helper.make_graph([helper.make_node('MatMul', ['X', 'W'], ['Y'])], 'g',
        [helper.make_tensor_value_info('X', TensorProto.FLOAT, [1, 4])], [helper.make_tensor_value_info('Y', TensorProto.FLOAT, [1, 4])], [w])
    onnx.save_model(helper.make_model(g), os.path.join(d, 'model.onnx'), save_as_external_data=True, all_tensors_to_one_file=True, location=location, size_threshold=0)
def relink(d, name, target):
    p = os.path.join(d, name)
    os.remove(p)
    os.symlink(target, p)
save(os.path.join(OUT, 'plain'), 'weights.bin')
save(os.path.join(OUT, 'abs'), 'weights.bin'); relink(os.path.join(OUT, 'abs'), 'weights.bin', '/etc/passwd')
save(os.path.join(OUT, 'dangling'), 'weights.bin'); relink(os.path.join(OUT, 'dangling'), 'weights.bin', '/home/victim-modelgate/.ssh/id_rsa')
os.makedirs(os.path.join(OUT, 'outside'))
shutil.copy(os.path.join(OUT, 'plain', 'weights.bin'), os.path.join(OUT, 'outside', 'w.bin'))
save(os.path.join(OUT, 'dirlink'), 'data/w.bin')
shutil.rmtree(os.path.join(OUT, 'dirlink', 'data')); os.symlink('../outside', os.path.join(OUT, 'dirlink', 'data'))
save(os.path.join(OUT, 'inner'), 'weights.bin')
os.makedirs(os.path.join(OUT, 'inner', 'store'))
shutil.move(os.path.join(OUT, 'inner', 'weights.bin'), os.path.join(OUT, 'inner', 'store', 'real.bin'))
os.symlink('store/real.bin', os.path.join(OUT, 'inner', 'weights.bin'))
# A Hugging Face cache: the snapshot links the model and its data file to blobs/.
save(os.path.join(OUT, 'hf', 'tmp'), 'model.onnx_data')
os.makedirs(os.path.join(OUT, 'hf', 'blobs')); os.makedirs(os.path.join(OUT, 'hf', 'snapshots', 'rev'))
for name, blob in [('model.onnx', 'aaaa'), ('model.onnx_data', 'bbbb')]:
    shutil.move(os.path.join(OUT, 'hf', 'tmp', name), os.path.join(OUT, 'hf', 'blobs', blob))
    os.symlink('../../blobs/' + blob, os.path.join(OUT, 'hf', 'snapshots', 'rev', name))
os.rmdir(os.path.join(OUT, 'hf', 'tmp'))
# The same layouts inside tar archives (tarfile stores links as link members).
import tarfile
def tar(name, members):
    with tarfile.open(os.path.join(OUT, name), 'w') as t:
        for arc, kind, value in members:
            if kind == 'file':
                t.add(value, arcname=arc)
            else:
                i = tarfile.TarInfo(arc); i.type = tarfile.SYMTYPE; i.linkname = value; t.addfile(i)
plain = os.path.join(OUT, 'plain')
tar('abs.tar', [('m/model.onnx', 'file', os.path.join(plain, 'model.onnx')), ('m/weights.bin', 'link', '/etc/passwd')])
tar('escape.tar', [('./model.onnx', 'file', os.path.join(plain, 'model.onnx')), ('./weights.bin', 'link', '../../home/user/.ssh/id_rsa')])
tar('dirlink.tar', [('m/model.onnx', 'file', os.path.join(OUT, 'dirlink', 'model.onnx')), ('m/data', 'link', '/etc')])
tar('inside.tar', [('m/model.onnx', 'file', os.path.join(plain, 'model.onnx')), ('m/store/real.bin', 'file', os.path.join(plain, 'weights.bin')), ('m/weights.bin', 'link', 'store/real.bin')])
tar('chain.tar', [('m/model.onnx', 'file', os.path.join(plain, 'model.onnx')), ('m/weights.bin', 'link', 'store/w.bin'), ('m/store', 'link', '../../outside')])
`);
  }, 60_000);

  const one = async (dir: string) => (await scanFile(join(py.dir, dir, 'model.onnx'))).files[0]!;
  const links = (f: Awaited<ReturnType<typeof one>>) => rule(f, 'ONNX_EXTERNAL_DATA_PATH');

  it('reports weights.bin that is a link to /etc/passwd', async () => {
    const f = await one('abs');
    const [x] = links(f);
    expect(x!.severity).toBe('high');
    expect(x!.evidence.details).toMatchObject({ location: 'weights.bin', target: '/etc/passwd' });
    expect(x!.message).toContain('symbolic link');
    expect(f.maxSeverity).toBe('high');
  });

  it('reports a dangling link by where it points', async () => {
    const [x] = links(await one('dangling'));
    expect(x!.evidence.details!['target']).toBe('/home/victim-modelgate/.ssh/id_rsa');
    expect(x!.message).toContain('absent on this machine');
  });

  it('reports a directory link that carries data/w.bin out of the model directory, also in a directory scan', async () => {
    const [x] = links(await one('dirlink'));
    expect(x!.evidence.details!['target']).toBe(join(py.dir, 'outside', 'w.bin'));
    const r = await scanPath(join(py.dir, 'dirlink'));
    const model = r.files.find((f) => f.path.endsWith('model.onnx'))!;
    expect(links(model)).toHaveLength(1);
  });

  it('follows links inside tar archives: absolute, escaping, directory and chained links are reported', async () => {
    const got = async (name: string) => links((await scanFile(join(py.dir, name))).files[0]!).map((x) => x.evidence.details!['target']);
    expect(await got('abs.tar')).toEqual(['/etc/passwd']);
    expect(await got('escape.tar')).toEqual(['../../home/user/.ssh/id_rsa']);
    expect(await got('dirlink.tar')).toEqual(['/etc/w.bin']);
    expect(await got('chain.tar')).toEqual(['../outside/w.bin']);
    const f = (await scanFile(join(py.dir, 'abs.tar'))).files[0]!;
    const x = links(f)[0]!;
    expect(x.severity).toBe('high');
    expect(x.location.path.slice(1)).toEqual(['m/model.onnx']);
  });

  it('accepts a tar whose link stays inside the archive', async () => {
    const f = (await scanFile(join(py.dir, 'inside.tar'))).files[0]!;
    expect(links(f)).toEqual([]);
  });

  it('accepts plain external data, a link inside the model directory, and a Hugging Face cache snapshot', async () => {
    for (const d of ['plain', 'inner', join('hf', 'snapshots', 'rev')]) {
      const f = await one(d);
      expect(f.facts['onnx.external_data'], d).toBeDefined();
      expect(f.findings.filter((x) => atLeast(x.severity, 'low')), d).toEqual([]);
    }
  });
});
