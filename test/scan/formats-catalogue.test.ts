/**
 * Format ids come from one catalogue (src/formats/catalogue.ts) that analyzers' claims are
 * type-checked against; the repository summary and remote streaming derive their format sets
 * from it (issue 10, item 14), so they cannot drift from what the analyzers report.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatsWhere, isFormatId } from '../../src/formats/catalogue.js';
import type { Claim, FindingDraft } from '../../src/formats/types.js';
import { scanPath } from '../../src/index.js';
import { STREAM_FORMATS } from '../../src/remote/scan.js';
import { FIXTURES } from '../helpers/manifest.js';

const root = mkdtempSync(join(tmpdir(), 'mg-formats-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('format catalogue', () => {
  it('a repository with config.json and a legacy (non-zip) pytorch_model.bin reports pickle-based weights', async () => {
    const dir = join(root, 'legacy');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'bert' }));
    copyFileSync(join(FIXTURES, 'benign', 'torch_state_dict_legacy.pt'), join(dir, 'pytorch_model.bin'));
    const report = await scanPath(dir);
    expect(report.files.find((f) => f.path.endsWith('pytorch_model.bin'))!.formats).toEqual(['pytorch-legacy']);
    const w = report.repositories![0]!.weights;
    expect(w.pickle).toEqual(['pytorch_model.bin']);
    expect(w.advice).toBe('only pickle-based weights (pytorch_model.bin): loading runs pickle; load with torch.load(weights_only=True) or convert to safetensors in a sandbox');
  });

  it('every format the scanner reports for the benign and malicious fixtures is catalogued', async () => {
    const report = await scanPath([join(FIXTURES, 'benign'), join(FIXTURES, 'malicious')]);
    const seen = new Set(report.files.flatMap((f) => [...f.formats, ...f.members.flatMap((m) => m.formats)]));
    expect(seen.size).toBeGreaterThan(15);
    expect([...seen].filter((x) => !isFormatId(x))).toEqual([]);
  });

  it('derives the pickle-based, executable and streamed sets', () => {
    expect([...formatsWhere('pickle')].sort()).toEqual(['joblib-zfile', 'pickle', 'pytorch-legacy']);
    expect([...formatsWhere('executable')].sort()).toEqual(['elf', 'macho', 'pe', 'script']);
    expect([...STREAM_FORMATS].sort()).toEqual(['bzip2', 'gzip', 'joblib-zfile', 'lz4', 'lzma', 'pickle', 'xz', 'zlib', 'zstd']);
  });
});

describe('typed vocabularies (checked by tsc, which `npm test` runs first)', () => {
  it('a claim of an uncatalogued format and a finding of an unknown rule do not compile', () => {
    // @ts-expect-error -- 'pytorch-zip' is a policy refinement, not a format an analyzer claims
    const claim: Claim = { format: 'pytorch-zip', confidence: 1 };
    // @ts-expect-error -- no such rule in src/core/rules.ts
    const draft: FindingDraft = { rule: 'PICKLE_EVIL', message: 'x' };
    const ok: FindingDraft = { rule: 'SCAN_ERROR', message: 'x' };
    expect([claim.format, draft.rule, ok.rule]).toEqual(['pytorch-zip', 'PICKLE_EVIL', 'SCAN_ERROR']);
  });
});
