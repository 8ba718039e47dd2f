import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { FormatId } from '../../src/formats/catalogue.js';
import { gzipSync } from 'node:zlib';
import { BufferSource } from '../../src/source/buffer.js';
import { compressedAnalyzers, zlibAnalyzer, lzmaAloneAnalyzer } from '../../src/formats/compressed.js';
import type { Analyzer, Claim } from '../../src/formats/types.js';
import { stubContext, rules, text, type StubOptions } from '../helpers/stub-context.js';
import { runPython, hasCommand } from '../helpers/python.js';

function best(b: Uint8Array): { a: Analyzer; claim: Claim } | null {
  let r: { a: Analyzer; claim: Claim } | null = null;
  for (const a of compressedAnalyzers) {
    const claim = a.sniff({ head: b.subarray(0, 4096), tail: new Uint8Array(0), size: b.length, name: 'f' });
    if (claim && (!r || claim.confidence > r.claim.confidence)) r = { a, claim };
  }
  return r;
}

async function scan(b: Uint8Array, opts: StubOptions = {}) {
  const hit = best(b);
  const { ctx, rec } = stubContext(opts);
  if (hit) await hit.a.analyze(new BufferSource('f', b), ctx, hit.claim);
  return { rec, id: hit?.a.id ?? null };
}

describe('compressed streams written by Python, joblib and zstd', () => {
  let py: ReturnType<typeof runPython>;
  beforeAll(() => {
    py = runPython(`
import gzip, bz2, lzma, zlib, joblib, pickle, subprocess, shutil
payload = pickle.dumps({'weights': list(range(2000))}, protocol=4)
open(os.path.join(OUT, 'payload'), 'wb').write(payload)
open(os.path.join(OUT, 'p.gz'), 'wb').write(gzip.compress(payload[:100]) + gzip.compress(payload[100:]))
open(os.path.join(OUT, 'p.bz2'), 'wb').write(bz2.compress(payload))
open(os.path.join(OUT, 'p.xz'), 'wb').write(lzma.compress(payload))
open(os.path.join(OUT, 'p.lzma'), 'wb').write(lzma.compress(payload, format=lzma.FORMAT_ALONE))
open(os.path.join(OUT, 'p.z'), 'wb').write(zlib.compress(payload))
obj = {'model': 'x' * 1000, 'n': 42}
for c in ['zlib', 'gzip', 'bz2', 'xz', 'lzma']:
    joblib.dump(obj, os.path.join(OUT, 'j.' + c), compress=(c, 3))
from joblib.numpy_pickle_compat import write_zfile
with open(os.path.join(OUT, 'j.zfile'), 'wb') as f:
    write_zfile(f, payload)
if shutil.which('zstd'):
    subprocess.run(['zstd', '-q', '-f', os.path.join(OUT, 'payload'), '-o', os.path.join(OUT, 'p.zst')], check=True)
`);
  }, 60_000);

  const cases: [string, string, string][] = [
    ['p.gz', 'gzip', '<gzip>'],
    ['p.bz2', 'bzip2', '<bzip2>'],
    ['p.xz', 'xz', '<xz>'],
    ['p.lzma', 'lzma', '<lzma>'],
    ['p.z', 'zlib', '<zlib>'],
    ['j.zfile', 'joblib-zfile', '<joblib zfile>'],
  ];
  for (const [file, id, member] of cases) {
    it(`${file}: sniffed as ${id}, decompressed to the original bytes`, async () => {
      const { rec, id: got } = await scan(py.file(file));
      expect(got).toBe(id);
      expect(rec.members.map((m) => m.name)).toEqual([member]);
      expect(rec.members[0]!.bytes).toEqual(py.file('payload'));
      expect(rec.findings).toEqual([]);
    });
  }

  it.skipIf(!hasCommand('zstd'))('p.zst: zstd CLI output', async () => {
    const { rec, id } = await scan(py.file('p.zst'));
    expect(id).toBe('zstd');
    expect(rec.members[0]!.bytes).toEqual(py.file('payload'));
  });

  for (const c of ['zlib', 'gzip', 'bz2', 'xz', 'lzma']) {
    it(`joblib compress=${c}: the member is the pickle`, async () => {
      const { rec, id } = await scan(py.file('j.' + c));
      expect(id).not.toBeNull();
      expect(rec.members).toHaveLength(1);
      expect(rec.members[0]!.head[0]).toBe(0x80); // PROTO
      expect(text(rec.members[0]!.bytes)).toContain('model');
      expect(rec.findings).toEqual([]);
    });
  }

  it('reports corrupt data after scanning what decoded', async () => {
    const gz = py.file('p.gz');
    const cut = gz.subarray(0, gz.length - 40);
    const { rec } = await scan(cut);
    expect(rules(rec)).toEqual(['ARCHIVE_CORRUPT']);
    expect(rec.findings[0]!.details.member).toBe('<gzip>');
    expect(rec.members[0]!.length).toBeGreaterThan(100);
  });

  it('reports truncated xz, bzip2 and lzma streams as corrupt', async () => {
    for (const f of ['p.xz', 'p.bz2', 'p.lzma']) {
      const b = py.file(f);
      const { rec } = await scan(b.subarray(0, Math.floor(b.length / 2)));
      expect(rules(rec), f).toEqual(['ARCHIVE_CORRUPT']);
    }
  });

  it('stops a gzip bomb by ratio', async () => {
    const bomb = new Uint8Array(gzipSync(Buffer.alloc(30 * 1024 * 1024)));
    const { rec } = await scan(bomb, { limits: { maxCompressionRatio: 200 } });
    expect(rules(rec)).toEqual(['ARCHIVE_BOMB']);
    expect(rec.findings[0]!.details).toMatchObject({ member: '<gzip>', limit: 'maxCompressionRatio' });
  });

  it('stops at maxDecompressedBytes', async () => {
    const bomb = new Uint8Array(gzipSync(Buffer.alloc(5 * 1024 * 1024)));
    const { rec } = await scan(bomb, { limits: { maxDecompressedBytes: 1024 * 1024 } });
    expect(rec.findings[0]!.details).toMatchObject({ limit: 'maxDecompressedBytes' });
    expect(rec.members[0]!.length).toBeLessThanOrEqual(1024 * 1024);
  });
});

describe('compressed: sniffing without false positives', () => {
  it('does not take text starting with x for zlib', () => {
    const b = new Uint8Array(Buffer.from('x^ this is text, not zlib at all'));
    expect(zlibAnalyzer.sniff({ head: b, tail: b, size: b.length, name: 'f' })).toBeNull();
  });
  it('does not take a pickle starting with EMPTY_LIST for lzma', () => {
    const b = new Uint8Array(Buffer.from(']q\x00(K\x01K\x02e.', 'latin1'));
    expect(lzmaAloneAnalyzer.sniff({ head: b, tail: b, size: b.length, name: 'f' })).toBeNull();
  });
  it('random bytes never make an analyzer throw', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...compressedAnalyzers), fc.uint8Array({ maxLength: 1024 }), async (a, b) => {
        const { ctx } = stubContext();
        await a.analyze(new BufferSource('f', b), ctx, { format: a.id as FormatId, confidence: 1, hint: { skip: 0 } });
      }),
      { numRuns: 300 },
    );
  });
});
