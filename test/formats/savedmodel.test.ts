import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { scanBytes, scanFile } from '../../src/index.js';
import { atLeast } from '../../src/core/findings.js';
import { FIXTURES } from '../helpers/manifest.js';
import { cat, functionDef, int, len, nodeDef, savedModel, strAttr } from '../helpers/protobuf.js';

const fixture = (rel: string) => join(FIXTURES, rel);
const file = async (rel: string) => (await scanFile(fixture(rel))).files[0]!;
const bytes = async (b: Uint8Array, name = 'saved_model.pb') => (await scanBytes(b, name)).files[0]!;
const rule = (f: Awaited<ReturnType<typeof file>>, id: string) => f.findings.filter((x) => x.rule === id);

describe('SavedModel: real files from tensorflow-cpu', () => {
  it('a Keras export has only the checkpoint saver ops, at info, and its facts', async () => {
    const f = await file('benign/tf_savedmodel_keras/saved_model.pb');
    expect(f.formats).toEqual(['tf-savedmodel']);
    expect(f.findings.filter((x) => atLeast(x.severity, 'low'))).toEqual([]);
    const host = rule(f, 'TF_HOST_OP');
    expect(host.map((x) => x.evidence.matched).sort()).toEqual(['MergeV2Checkpoints', 'RestoreV2', 'SaveV2', 'ShardedFilename']);
    expect(host.every((x) => x.severity === 'info' && /__inference__traced_(save|restore)_\d+/.test(x.message))).toBe(true);
    expect(f.facts['tensorflow.version']).toBe('2.21.0');
    expect(f.facts['savedmodel.tags']).toEqual(['serve']);
    expect(f.facts['tf.ops']).toContain('MatMul=1');
    expect(f.complete).toBe(true);
  });

  it('tf.io.read_file / write_file in a tf.function: ReadFile and WriteFile at high', async () => {
    const f = await file('malicious/tf_savedmodel_file_io/saved_model.pb');
    const high = rule(f, 'TF_HOST_OP').filter((x) => x.severity === 'high');
    expect(high.map((x) => x.evidence.matched).sort()).toEqual(['ReadFile', 'WriteFile']);
    expect(high[0]!.message).toMatch(/in function __inference_serve_\d+/);
    expect(high[0]!.references).toContain('Guardian PAIT-TF-200');
  });

  it('tf.py_function: EagerPyFunc at high', async () => {
    const f = await file('malicious/tf_savedmodel_py_function/saved_model.pb');
    expect(rule(f, 'TF_HOST_OP').filter((x) => x.severity === 'high').map((x) => x.evidence.matched)).toEqual(['EagerPyFunc']);
  });

  it('tf.print to a file: PrintV2 at high, quoting output_stream', async () => {
    const f = await file('malicious/tf_savedmodel_print_to_file/saved_model.pb');
    const p = rule(f, 'TF_HOST_OP').find((x) => x.evidence.matched === 'PrintV2')!;
    expect(p.severity).toBe('high');
    expect(p.message).toContain('output_stream=file:///tmp/modelgate-fixture/print.txt');
  });

  it('the hand-encoded host-ops graph: ReadFile, WriteFile and PyFunc in graph nodes', async () => {
    const f = await file('malicious/tf_savedmodel_host_ops/saved_model.pb');
    const ops = rule(f, 'TF_HOST_OP').map((x) => `${x.evidence.matched}:${x.severity}`);
    expect(ops.sort()).toEqual(['PyFunc:high', 'ReadFile:high', 'WriteFile:high']);
    expect(rule(f, 'TF_HOST_OP')[0]!.message).toContain("graph node '");
  });

  it('a 2^62-byte GraphDef is PROTOBUF_MALFORMED and marks the scan incomplete', async () => {
    const f = await file('anomalies/tf_savedmodel_huge_length/saved_model.pb');
    expect(rule(f, 'PROTOBUF_MALFORMED')[0]!.message).toContain('declares');
    expect(f.complete).toBe(false);
  });
});

describe('SavedModel: grading and edge cases (hand-built graphs)', () => {
  it('checkpoint ops outside the saver are medium; under the TF1 save/ scope they are info', async () => {
    const f = await bytes(savedModel({ nodes: [nodeDef('exfil/SaveV2', 'SaveV2'), nodeDef('save/RestoreV2', 'RestoreV2')] }));
    const byOp = Object.fromEntries(rule(f, 'TF_HOST_OP').map((x) => [x.evidence.matched, x.severity]));
    expect(byOp).toEqual({ SaveV2: 'medium', RestoreV2: 'info' });
  });

  it('PrintV2 to stderr is not reported; PrintV2 to a file is, even with the attribute before the op', async () => {
    const quiet = await bytes(savedModel({ nodes: [nodeDef('p', 'PrintV2', strAttr('output_stream', 'stderr'))] }));
    expect(rule(quiet, 'TF_HOST_OP')).toEqual([]);
    const loud = await bytes(savedModel({ nodes: [cat(strAttr('output_stream', 'file:///tmp/x'), len(1, 'p'), len(2, 'PrintV2'))] }));
    expect(rule(loud, 'TF_HOST_OP').map((x) => x.evidence.matched)).toEqual(['PrintV2']);
  });

  it('the last op field wins, as in the C++ parser', async () => {
    const f = await bytes(savedModel({ nodes: [cat(len(1, 'n'), len(2, 'Const'), len(2, 'ReadFile'))] }));
    expect(rule(f, 'TF_HOST_OP').map((x) => x.evidence.matched)).toEqual(['ReadFile']);
  });

  it('an op outside the stock runtime is TF_CUSTOM_OP; a call to a library function is not', async () => {
    const f = await bytes(
      savedModel({
        nodes: [nodeDef('a', 'ZapFixtureOp'), nodeDef('b', '__inference_helper_7')],
        functions: [functionDef('__inference_helper_7', nodeDef('m', 'MatMul'))],
      }),
    );
    const custom = rule(f, 'TF_CUSTOM_OP');
    expect(custom.map((x) => x.evidence.matched)).toEqual(['ZapFixtureOp']);
    expect(custom[0]!.severity).toBe('medium');
  });

  it('an asset whose file name climbs out of assets/ is TF_ASSET_PATH_TRAVERSAL', async () => {
    const f = await bytes(savedModel({ nodes: [nodeDef('c', 'Const')], assets: ['vocab.txt', '../../../etc/passwd'] }));
    const t = rule(f, 'TF_ASSET_PATH_TRAVERSAL');
    expect(t).toHaveLength(1);
    expect(t[0]!.severity).toBe('high');
    expect(t[0]!.message).toContain('../../../etc/passwd');
  });

  it('is recognised by content under any name, and a look-alike head is not', async () => {
    const data = readFileSync(fixture('malicious/tf_savedmodel_file_io/saved_model.pb'));
    expect((await bytes(data, 'weights.bin')).formats).toEqual(['tf-savedmodel']);
    expect((await bytes(cat(int(1, 1), len(2, 'just a string, not a MetaGraphDef')), 'x.bin')).formats).not.toContain('tf-savedmodel');
  });

  it('mutated real SavedModels never make the analyzer throw', async () => {
    const base = new Uint8Array(readFileSync(fixture('malicious/tf_savedmodel_file_io/saved_model.pb')));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), async (muts) => {
        const b = base.slice();
        for (const [i, v] of muts) b[i] = v;
        const f = await bytes(b, 'm.pb');
        expect(f.findings.filter((x) => x.rule === 'SCAN_ERROR')).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });
});

describe('keras_metadata.pb', () => {
  it('a Lambda layer in tf.keras metadata is KERAS_LAMBDA_LAYER, reported once', async () => {
    const f = await file('malicious/tf_keras_lambda_savedmodel/keras_metadata.pb');
    expect(f.formats).toEqual(['keras-metadata']);
    const l = rule(f, 'KERAS_LAMBDA_LAYER');
    expect(l).toHaveLength(1);
    expect(l[0]!.severity).toBe('critical');
    expect(String(l[0]!.evidence.details?.['layer'])).toMatch(/double$/);
    expect(l[0]!.message).toContain('marshalled Python bytecode');
  });

  it('a benign tf.keras model has no findings and lists its layer classes', async () => {
    const f = await file('benign/tf_keras_legacy_savedmodel/keras_metadata.pb');
    expect(f.findings).toEqual([]);
    expect(f.facts['keras_metadata.classes']).toEqual(expect.arrayContaining(['Sequential', 'Dense']));
  });
});
