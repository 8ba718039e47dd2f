import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { scanBytes } from '../../src/index.js';
import { FIXTURES } from '../helpers/manifest.js';
import { runPython } from '../helpers/python.js';

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

  it('reports an unlisted target at high, a look-alike prefix, and a denied name inside nemo', async () => {
    const f = await scan('model:\n  _target_: transformers.AutoModel\n  tok:\n    _target_: nemo_evil.Loader\n  cls:\n    _target_: nemo.utils.model_utils.import_class_by_path\n', 'c.yaml');
    const got = only(f, 'HYDRA_UNSAFE_TARGET').map((x) => [x.evidence.details!['target'], x.severity]);
    expect(got).toEqual([
      ['transformers.AutoModel', 'high'],
      ['nemo_evil.Loader', 'high'],
      ['nemo.utils.model_utils.import_class_by_path', 'high'],
    ]);
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
