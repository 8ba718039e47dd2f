import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { scanBytes, scanFile } from '../../src/index.js';
import { FIXTURES } from '../helpers/manifest.js';

const fixture = (rel: string) => join(FIXTURES, rel);
const file = async (rel: string) => (await scanFile(fixture(rel))).files[0]!;
const bytes = async (b: Uint8Array, name = 'model.tflite') => (await scanBytes(b, name)).files[0]!;
const rule = (f: Awaited<ReturnType<typeof file>>, id: string) => f.findings.filter((x) => x.rule === id);

describe('TFLite: real files from the TFLite converter', () => {
  it('a converted Dense model has no findings and its facts', async () => {
    const f = await file('benign/dense.tflite');
    expect(f.formats).toEqual(['tflite']);
    expect(f.findings).toEqual([]);
    expect(f.facts).toMatchObject({ 'tflite.schema_version': 3, 'tflite.subgraphs': 1, 'tflite.operators': 1, 'tflite.operator_codes': 1 });
  });

  it('a custom code the stock interpreter registers (TFLite_Detection_PostProcess) is a fact, not a finding', async () => {
    const f = await file('benign/tflite_stock_custom_op.tflite');
    expect(f.findings).toEqual([]);
    expect(f.facts['tflite.custom_codes']).toEqual(['TFLite_Detection_PostProcess']);
  });

  it('Flex ops: FlexReadFile is TF_HOST_OP at high, and every Flex op is TFLITE_FLEX_OP', async () => {
    const f = await file('malicious/tflite_flex_readfile.tflite');
    const host = rule(f, 'TF_HOST_OP');
    expect(host.map((x) => `${x.evidence.matched}:${x.severity}`)).toEqual(['ReadFile:high']);
    expect(host[0]!.message).toContain('FlexReadFile');
    const flex = rule(f, 'TFLITE_FLEX_OP');
    expect(flex.map((x) => x.evidence.matched).sort()).toEqual(['ReadFile', 'StringLength']);
    expect(flex.every((x) => x.severity === 'medium')).toBe(true);
  });

  it('a custom op without a stock kernel is TFLITE_CUSTOM_OP naming it', async () => {
    const f = await file('malicious/tflite_custom_op.tflite');
    const c = rule(f, 'TFLITE_CUSTOM_OP');
    expect(c).toHaveLength(1);
    expect(c[0]!.evidence.matched).toBe('Betainc');
    expect(c[0]!.severity).toBe('medium');
  });

  it('a truncated model is TFLITE_MALFORMED and incomplete; a bad opcode index is TFLITE_MALFORMED', async () => {
    const t = await file('anomalies/tflite_truncated.tflite');
    expect(rule(t, 'TFLITE_MALFORMED')[0]!.message).toContain('outside the 516-byte file');
    expect(t.complete).toBe(false);
    const i = await file('anomalies/tflite_opcode_index_out_of_range.tflite');
    expect(rule(i, 'TFLITE_MALFORMED')[0]!.message).toContain('opcode index 7');
  });

  it('sniffs the TFL3 identifier only with a root offset inside the file', async () => {
    const fake = new Uint8Array(64);
    fake.set([0xff, 0xff, 0xff, 0x7f, 0x54, 0x46, 0x4c, 0x33]);
    expect((await bytes(fake)).formats).not.toContain('tflite');
    const real = readFileSync(fixture('benign/dense.tflite'));
    expect((await bytes(real, 'labels.txt')).formats).toEqual(['tflite']);
  });

  it('mutated real TFLite models never make the analyzer throw', async () => {
    const base = new Uint8Array(readFileSync(fixture('malicious/tflite_flex_readfile.tflite')));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), async (muts) => {
        const b = base.slice();
        for (const [i, v] of muts) b[i] = v;
        const f = await bytes(b);
        expect(f.findings.filter((x) => x.rule === 'SCAN_ERROR')).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
