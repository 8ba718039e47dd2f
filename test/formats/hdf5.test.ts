import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { scanBytes } from '../../src/index.js';
import { BufferSource } from '../../src/source/buffer.js';
import { readRootAttributes } from '../../src/formats/hdf5/file.js';
import { FIXTURES } from '../helpers/manifest.js';
import { runPython } from '../helpers/python.js';

const fixture = (p: string) => new Uint8Array(readFileSync(join(FIXTURES, p)));
const scan = async (b: Uint8Array) => (await scanBytes(b, 'x.h5')).files[0]!;
const rules = (f: Awaited<ReturnType<typeof scan>>) => f.findings.map((x) => x.rule);

async function attrs(b: Uint8Array) {
  return readRootAttributes(new BufferSource('x.h5', b), b.length, () => false);
}
const strings = (r: Awaited<ReturnType<typeof attrs>>, name: string) => {
  const a = r.attributes.find((x) => x.name === name);
  return a?.value.kind === 'strings' ? a.value.values : null;
};

describe('HDF5 reader on files written by h5py', () => {
  let py: ReturnType<typeof runPython>;
  beforeAll(() => {
    py = runPython(`
import h5py, numpy as np, json
with h5py.File(os.path.join(OUT, 'v0_fixed.h5'), 'w') as f:
    f.attrs['model_config'] = np.bytes_(b'{"class_name": "Fixed"}')
with h5py.File(os.path.join(OUT, 'v3_compact.h5'), 'w', libver='latest') as f:
    f.attrs['model_config'] = '{"class_name": "Compact"}'
with h5py.File(os.path.join(OUT, 'dense_huge.h5'), 'w', libver='latest') as f:
    for i in range(12): f.attrs['a%d' % i] = 'v%d' % i
    f.attrs['model_config'] = '{"class_name": "Huge", "pad": "' + 'x' * 20000 + '"}'
    f.attrs['fixed_huge'] = np.bytes_(b'q' * 9000)
with h5py.File(os.path.join(OUT, 'many.h5'), 'w', libver='latest') as f:
    for i in range(300): f.attrs['attribute_%04d' % i] = 'value %d' % i
with h5py.File(os.path.join(OUT, 'continuation.h5'), 'w') as f:
    for i in range(150): f.attrs['attr%d' % i] = 'w' * i
    f.attrs['model_config'] = '{"class_name": "Cont"}'
with h5py.File(os.path.join(OUT, 'userblock.h5'), 'w', userblock_size=1024) as f:
    f.attrs['model_config'] = '{"class_name": "UB"}'
with h5py.File(os.path.join(OUT, 'ordered.h5'), 'w', libver='latest', track_order=True) as f:
    for i in range(20): f.attrs['a%d' % i] = 'v%d' % i
`);
  }, 60_000);

  it('reads a fixed-length string from a superblock 0 file', async () => {
    const r = await attrs(py.file('v0_fixed.h5'));
    expect(r.superblock.version).toBe(0);
    expect(strings(r, 'model_config')).toEqual(['{"class_name": "Compact"}'.replace('Compact', 'Fixed')]);
  });

  it('reads a variable-length string from a superblock 3 / OHDR v2 file', async () => {
    const r = await attrs(py.file('v3_compact.h5'));
    expect([r.superblock.version, r.objectHeaderVersion]).toEqual([3, 2]);
    expect(strings(r, 'model_config')).toEqual(['{"class_name": "Compact"}']);
  });

  it('reads dense attributes, including huge fractal heap objects', async () => {
    const r = await attrs(py.file('dense_huge.h5'));
    expect(r.problems).toEqual([]);
    const mc = r.attributes.find((a) => a.name === 'model_config')!;
    expect(mc.storage).toBe('dense');
    expect(strings(r, 'model_config')![0]).toHaveLength(20_000 + 33);
    expect(strings(r, 'fixed_huge')![0]).toBe('q'.repeat(9000));
    expect(strings(r, 'a11')).toEqual(['v11']);
  });

  it('walks a v2 B-tree deeper than one leaf (300 dense attributes)', async () => {
    const r = await attrs(py.file('many.h5'));
    expect(r.attributes).toHaveLength(300);
    expect(strings(r, 'attribute_0299')).toEqual(['value 299']);
  });

  it('follows v1 continuation blocks, a user block and creation-order tracking', async () => {
    expect(strings(await attrs(py.file('continuation.h5')), 'model_config')).toEqual(['{"class_name": "Cont"}']);
    expect(strings(await attrs(py.file('userblock.h5')), 'model_config')).toEqual(['{"class_name": "UB"}']);
    expect(strings(await attrs(py.file('ordered.h5')), 'a19')).toEqual(['v19']);
  });

  it('reports a continuation block that points back at itself', async () => {
    const b = py.file('continuation.h5').slice();
    // Find the root header's continuation message (type 0x10) and aim it at the root header.
    const root = Number(new DataView(b.buffer).getBigUint64(64, true));
    const size = new DataView(b.buffer).getUint32(root + 8, true);
    let patched = false;
    for (let p = root + 16; p + 8 <= root + 16 + size; ) {
      const type = b[p]! | (b[p + 1]! << 8);
      const len = b[p + 2]! | (b[p + 3]! << 8);
      if (type === 0x10) {
        new DataView(b.buffer).setBigUint64(p + 8, BigInt(root + 16), true);
        patched = true;
        break;
      }
      p += 8 + len;
    }
    expect(patched).toBe(true);
    const f = await scan(b);
    expect(rules(f)).toContain('HDF5_MALFORMED');
  });

  it('reports an HDF5 file without model_config as non-Keras, with no finding', async () => {
    const f = await scan(py.file('many.h5'));
    expect(f.formats).toEqual(['hdf5']);
    expect(f.findings).toEqual([]);
    expect(String(f.facts['hdf5.content'])).toContain('not a Keras model');
  });
});

describe('HDF5 hostile structure', () => {
  const plain = fixture('benign/hdf5_plain_data.h5');

  it('reports a root object header address past the end of the file', async () => {
    const f = await scan(fixture('anomalies/hdf5_root_header_out_of_bounds.h5'));
    expect(rules(f)).toContain('HDF5_MALFORMED');
    expect(f.complete).toBe(false);
  });

  it('reports a truncated file and never calls it clean', async () => {
    const f = await scan(fixture('malicious/keras_lambda.h5').subarray(0, 700));
    expect(rules(f).some((r) => r === 'HDF5_MALFORMED' || r === 'KERAS_LAMBDA_LAYER')).toBe(true);
  });

  it('survives random byte mutations of real files in bounded time', async () => {
    const bases = [plain, fixture('malicious/keras_lambda.h5'), fixture('malicious/keras_lambda_dense_attributes.h5')];
    await fc.assert(
      fc.asyncProperty(fc.nat(bases.length - 1), fc.array(fc.tuple(fc.nat(100_000), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), async (which, muts) => {
        const b = bases[which]!.slice();
        for (const [at, v] of muts) b[at % b.length] = v;
        const f = await scan(b);
        expect(rules(f)).not.toContain('SCAN_ERROR');
      }),
      { numRuns: 150 },
    );
  }, 120_000);
});
