/**
 * Hostile input is the normal case: random and mutated inputs always end in a report, never an
 * exception, and every finding is a known kind. Limits turn pathological inputs into findings.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RULES } from '../../src/core/rules.js';
import { scanBytes, type FileReport } from '../../src/index.js';
import { ANALYZERS } from '../../src/scan/registry.js';
import type { Analyzer } from '../../src/formats/types.js';
import { FIXTURES } from '../helpers/manifest.js';

function wellFormed(f: FileReport): void {
  for (const x of f.findings) {
    expect(RULES.has(x.rule), `unknown rule ${x.rule}`).toBe(true);
    // SCAN_ERROR means an analyzer threw: hostile bytes must end in a finding about the bytes
    // (corrupt, truncated, limit), never in a crash, which the fuzzing is here to find.
    expect(x.rule, x.message).not.toBe('SCAN_ERROR');
    expect(x.location.path[0]).toBe(f.path);
  }
  if (!f.complete) expect(f.findings.some((x) => x.rule === 'SCAN_INCOMPLETE' || RULES.get(x.rule)?.unscannable)).toBe(true);
}

const SEEDS = [
  'malicious/torch_zip_reduce.pt',
  'malicious/joblib_array_then_reduce.joblib.gz',
  'malicious/npy_object_reduce.npy',
  'malicious/stack_global_memo_desync.pkl',
  'malicious/torch_legacy_payload_in_4th_pickle.pt',
  'malicious/nested_pickle_zip_tar.tar.gz',
  'benign/sklearn_pipeline.joblib.xz',
  'benign/model.safetensors',
  'benign/arrays_compressed.npz',
  'benign/training_args.bin',
].map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(join(FIXTURES, f))) }));

const limits = { timeoutMs: 10_000, maxDecompressedBytes: 64 * 1024 * 1024 };

describe('random and mutated inputs', () => {
  it('random bytes always produce a well-formed report', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (bytes) => {
        const r = await scanBytes(bytes, 'random.bin', { limits });
        expect(r.files).toHaveLength(1);
        wellFormed(r.files[0]!);
      }),
      { numRuns: 300 },
    );
  });

  it('bytes that start like a pickle always produce a well-formed report', async () => {
    const opcodeish = fc.array(fc.constantFrom(...'()0123FIJKLMNPQRSTUVXabcdeghijlopqrstu}]'.split('').map((c) => c.charCodeAt(0)), 0x80, 0x81, 0x85, 0x86, 0x87, 0x8c, 0x93, 0x94, 0x95, 0x0a, 0x2e, 0x02, 0x04), { maxLength: 512 });
    await fc.assert(
      fc.asyncProperty(opcodeish, async (ops) => {
        const r = await scanBytes(Uint8Array.from([0x80, 0x04, ...ops]), 'ops.pkl', { limits });
        wellFormed(r.files[0]!);
      }),
      { numRuns: 300 },
    );
  });

  it('mutated real fixtures (flips, truncations, insertions) always produce a well-formed report', async () => {
    const mutation = fc.record({
      seed: fc.integer({ min: 0, max: SEEDS.length - 1 }),
      flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
      cut: fc.option(fc.nat(), { nil: undefined }),
      insert: fc.option(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 64 })), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(mutation, async (m) => {
        const base = SEEDS[m.seed]!;
        let b = base.bytes.slice();
        for (const [pos, v] of m.flips) b[pos % b.length] = v;
        if (m.insert) {
          const at = m.insert[0] % (b.length + 1);
          b = Uint8Array.from([...b.subarray(0, at), ...m.insert[1], ...b.subarray(at)]);
        }
        if (m.cut !== undefined) b = b.subarray(0, m.cut % (b.length + 1));
        const r = await scanBytes(b, base.name, { limits });
        wellFormed(r.files[0]!);
      }),
      { numRuns: 200 },
    );
  });
});

describe('analyzer crashes are findings', () => {
  const crashing: Analyzer = {
    id: 'crashes-in-sniff',
    version: '1',
    description: 'test analyzer whose sniff throws',
    sniff: () => {
      throw new RangeError('offset is out of bounds');
    },
    analyze: async () => undefined,
  };

  it('a sniff that throws makes the file unscannable with a SCAN_ERROR naming the analyzer', async () => {
    const f = (await scanBytes(new TextEncoder().encode('hello\n'), 'readme.txt', { analyzers: [crashing, ...ANALYZERS] })).files[0]!;
    const errors = f.findings.filter((x) => x.rule === 'SCAN_ERROR');
    expect(errors.map((x) => x.message)).toEqual(['analyzer failed while sniffing (crashes-in-sniff analyzer): offset is out of bounds']);
    expect(f.complete).toBe(false);
    expect(f.maxSeverity).toBe('medium');
  });

  it('a sniff that throws on a member marks the container incomplete and keeps the other findings', async () => {
    const bytes = new Uint8Array(readFileSync(join(FIXTURES, 'malicious/torch_zip_reduce.pt')));
    const onlyMembers: Analyzer = { ...crashing, sniff: (input) => (input.name.endsWith('.pkl') ? crashing.sniff(input) : null) };
    const f = (await scanBytes(bytes, 'model.pt', { analyzers: [onlyMembers, ...ANALYZERS] })).files[0]!;
    expect(f.findings.some((x) => x.rule === 'SCAN_ERROR' && x.location.path.length === 2)).toBe(true);
    expect(f.maxSeverity).toBe('critical');
    expect(f.complete).toBe(false);
  });
});

describe('pathological inputs end in findings', () => {
  it('a list nested more deeply than the stack limit stops with a stack anomaly', async () => {
    const n = 1_200_000;
    const b = new Uint8Array(2 + n + (n - 1) + 1);
    b.set([0x80, 0x02]);
    b.fill(0x5d, 2, 2 + n); // EMPTY_LIST
    b.fill(0x61, 2 + n, 2 + n + n - 1); // APPEND
    b[b.length - 1] = 0x2e;
    const f = (await scanBytes(b, 'deep.pkl')).files[0]!;
    expect(f.findings.map((x) => x.message)).toContain('EMPTY_LIST: stack deeper than 1000000');
  });

  it('a time budget that runs out marks the file incomplete', async () => {
    const parts = [0x80, 0x04, 0x5d, 0x28];
    for (let i = 0; i < 400_000; i++) parts.push(0x4b, 1);
    parts.push(0x65, 0x2e);
    const f = (await scanBytes(Uint8Array.from(parts), 'slow.pkl', { limits: { maxPickleOps: 100_000 } })).files[0]!;
    expect(f.complete).toBe(false);
    expect(f.findings.map((x) => x.message)).toContain('not completely scanned: pickle interpretation stopped: more than 100000 opcodes');
  });

  it('an empty input is reported as empty, complete, with no finding', async () => {
    const f = (await scanBytes(new Uint8Array(0), 'empty')).files[0]!;
    expect(f.formats).toEqual(['empty']);
    expect(f.findings).toEqual([]);
    expect(f.complete).toBe(true);
  });

  it('nesting beyond the depth limit is a finding, not a recursion', async () => {
    const f = (await scanBytes(new Uint8Array(readFileSync(join(FIXTURES, 'bad-input', 'zip_nested_12_levels.zip'))), 'nested.zip', { limits: { maxDepth: 4 } })).files[0]!;
    const deep = f.findings.filter((x) => x.rule === 'ARCHIVE_TOO_DEEP');
    expect(deep).toHaveLength(1);
    expect(deep[0]!.location.path).toHaveLength(5);
    expect(f.complete).toBe(false);
  });
});
