import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { gzipSync } from 'node:zlib';
import { BufferSource } from '../../src/source/buffer.js';
import { SourceError } from '../../src/source/types.js';
import { DecompressingSource, type Codec, type DecompressOptions } from '../../src/source/decompress.js';
import { runPython, hasCommand } from '../helpers/python.js';

const OPEN: DecompressOptions = { maxBytes: 1e12, maxRatio: 1e9 };

function source(b: Uint8Array, codec: Codec, opts: Partial<DecompressOptions> = {}) {
  return new DecompressingSource('m', new BufferSource('c', b), codec, { ...OPEN, ...opts });
}

async function readAll(s: DecompressingSource, step = 100_000): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let at = 0; ; ) {
    const b = await s.read(at, step);
    if (b.length === 0) break;
    parts.push(b.slice());
    at += b.length;
  }
  return new Uint8Array(Buffer.concat(parts));
}

describe('decompressing sources against real encoders', () => {
  let py: ReturnType<typeof runPython>;
  const files: [string, Codec][] = [
    ['d.gz', 'gzip'],
    ['d.z', 'zlib'],
    ['d.raw', 'deflate-raw'],
    ['d.bz2', 'bzip2'],
    ['d.xz', 'xz'],
    ['d.lzma', 'lzma-alone'],
    ['d9.lzma', 'lzma-alone'],
    ['d.lzma-sized', 'lzma-alone'],
  ];
  beforeAll(() => {
    py = runPython(`
import gzip, bz2, lzma, zlib, random, subprocess, shutil
random.seed(7)
parts = []
for i in range(60000):
    parts.append(bytes([random.randrange(256)]) * random.randrange(1, 30))
    parts.append(random.randbytes(random.randrange(0, 20)))
    if i % 1000 == 0:
        parts.append(b'repeat me please ' * 200)
data = b''.join(parts)
open(os.path.join(OUT, 'data'), 'wb').write(data)
h = len(data) // 2
open(os.path.join(OUT, 'd.gz'), 'wb').write(gzip.compress(data[:h]) + gzip.compress(data[h:]))
open(os.path.join(OUT, 'd.z'), 'wb').write(zlib.compress(data[:h]) + zlib.compress(data[h:]))
c = zlib.compressobj(6, zlib.DEFLATED, -15); open(os.path.join(OUT, 'd.raw'), 'wb').write(c.compress(data) + c.flush())
open(os.path.join(OUT, 'd.bz2'), 'wb').write(bz2.compress(data[:h], 1) + bz2.compress(data[h:], 9))
open(os.path.join(OUT, 'd.xz'), 'wb').write(lzma.compress(data[:h]) + lzma.compress(data[h:], preset=1))
open(os.path.join(OUT, 'd.lzma'), 'wb').write(lzma.compress(data, format=lzma.FORMAT_ALONE))
open(os.path.join(OUT, 'd9.lzma'), 'wb').write(lzma.compress(data, format=lzma.FORMAT_ALONE, preset=9 | lzma.PRESET_EXTREME))
# a .lzma with the size in the header and no end marker (as the xz tool's --format=lzma cannot, liblzma raw can)
enc = lzma.compress(data, format=lzma.FORMAT_RAW, filters=[{'id': lzma.FILTER_LZMA1, 'dict_size': 1 << 20}])
props = bytes([0x5d]) + (1 << 20).to_bytes(4, 'little') + len(data).to_bytes(8, 'little')
open(os.path.join(OUT, 'd.lzma-sized'), 'wb').write(props + enc)
if shutil.which('zstd'):
    subprocess.run(['zstd', '-q', '-f', '-3', os.path.join(OUT, 'data'), '-o', os.path.join(OUT, 'd.zst')], check=True)
    subprocess.run(['zstd', '-q', '-f', '--single-thread', '-19', '--no-check', os.path.join(OUT, 'data'), '-o', os.path.join(OUT, 'd19.zst')], check=True)
`);
  }, 120_000);

  for (const [file, codec] of files) {
    it(`${file} (${codec}) decodes to the original bytes`, async () => {
      const out = await readAll(source(py.file(file), codec));
      expect(out.length).toBe(py.file('data').length);
      expect(Buffer.compare(out, py.file('data'))).toBe(0);
    }, 30_000);
  }

  it.skipIf(!hasCommand('zstd'))('zstd CLI output decodes (with and without checksums, multiple frames)', async () => {
    const a = py.file('d.zst');
    const b = py.file('d19.zst');
    const both = new Uint8Array(Buffer.concat([a, b]));
    const out = await readAll(source(both, 'zstd'));
    expect(Buffer.compare(out, Buffer.concat([py.file('data'), py.file('data')]))).toBe(0);
  }, 30_000);

  it('serves backward reads by restarting, forward reads without restarting', async () => {
    const data = py.file('data');
    const s = source(py.file('d.xz'), 'xz', { windowBytes: 64 * 1024 });
    const far = await s.read(2_000_000, 10);
    expect(far).toEqual(data.subarray(2_000_000, 2_000_010));
    expect(await s.read(2_000_000 - 1000, 10)).toEqual(data.subarray(1_999_000, 1_999_010));
    expect(s.restartCount()).toBe(0);
    expect(await s.read(5, 10)).toEqual(data.subarray(5, 15));
    expect(s.restartCount()).toBe(1);
    expect(s.size).toBeNull();
  });

  it('returns bytes decoded before corruption, then rejects', async () => {
    const gz = py.file('d.gz');
    const s = source(gz.subarray(0, 300_000), 'gzip');
    const first = await s.read(0, 10_000_000);
    expect(first.length).toBeGreaterThan(100_000);
    expect(Buffer.compare(first, py.file('data').subarray(0, first.length))).toBe(0);
    const err = await s.read(first.length, 10).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceError);
    expect((err as SourceError).kind).toBe('corrupt');
  });
});

describe('limits', () => {
  const zeros = new Uint8Array(gzipSync(Buffer.alloc(8 * 1024 * 1024)));

  it('maxBytes rejects with a limit error carrying details', async () => {
    const s = source(zeros, 'gzip', { maxBytes: 1024 * 1024 });
    const err = (await readAll(s).catch((e: unknown) => e)) as SourceError;
    expect(err.kind).toBe('limit');
    expect(err.details).toMatchObject({ limit: 'maxDecompressedBytes', max: 1024 * 1024 });
  });

  it('ratio is checked only after the grace amount', async () => {
    const small = new Uint8Array(gzipSync(Buffer.alloc(512 * 1024)));
    expect((await readAll(source(small, 'gzip', { maxRatio: 2 }))).length).toBe(512 * 1024);
    const err = (await readAll(source(zeros, 'gzip', { maxRatio: 100 })).catch((e: unknown) => e)) as SourceError;
    expect(err.details).toMatchObject({ limit: 'maxCompressionRatio', max: 100 });
  });

  it('charges the per-file budget once, even across restarts', async () => {
    let charged = 0;
    const s = source(zeros, 'gzip', { charge: (n) => (charged += n) < 1e12, windowBytes: 1024 });
    await s.read(3_000_000, 10);
    await s.read(0, 10);
    await s.read(3_000_000, 10);
    expect(charged).toBeGreaterThanOrEqual(3_000_010);
    expect(charged).toBeLessThan(3_500_000);
    const t = source(zeros, 'gzip', { charge: () => false });
    expect(((await t.read(0, 10).catch((e: unknown) => e)) as SourceError).details.limit).toBe('maxTotalDecompressedBytes');
  });

  it('refuses zstd frames declaring windows beyond 128 MiB without allocating them', async () => {
    // Frame header: magic, FHD (no single segment), window descriptor for 2 GiB.
    const frame = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00, (21 << 3) | 0, 0x01, 0x00, 0x00]);
    const err = (await source(frame, 'zstd').read(0, 10).catch((e: unknown) => e)) as SourceError;
    expect(err.kind).toBe('unsupported');
  });

  it('an .lzma header declaring a 4 GiB dictionary costs nothing up front', async () => {
    const hdr = new Uint8Array([0x5d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0]);
    const err = (await source(hdr, 'lzma-alone').read(0, 10).catch((e: unknown) => e)) as SourceError;
    expect(err).toBeInstanceOf(SourceError);
  });
});

describe('hostile input never escapes as anything but a SourceError', () => {
  const codecs: Codec[] = ['deflate-raw', 'zlib', 'gzip', 'bzip2', 'xz', 'lzma-alone', 'zip-lzma', 'zstd'];
  const prefixes: Partial<Record<Codec, number[]>> = {
    'deflate-raw': [],
    zlib: [0x78, 0x9c],
    gzip: [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3],
    bzip2: [0x42, 0x5a, 0x68, 0x39, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59],
    xz: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 0, 4, 0xe6, 0xd6, 0xb4, 0x46],
    'lzma-alone': [0x5d, 0, 0, 0x80, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0],
    'zip-lzma': [9, 20, 5, 0, 0x5d, 0, 0, 0x10, 0, 0],
    zstd: [0x28, 0xb5, 0x2f, 0xfd],
  };
  it('random bodies after valid-looking headers', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...codecs), fc.uint8Array({ maxLength: 4096 }), async (codec, body) => {
        const b = new Uint8Array([...(prefixes[codec] ?? []), ...body]);
        const s = source(b, codec, { maxBytes: 64 * 1024 * 1024 });
        try {
          await readAll(s, 1 << 20);
        } catch (e) {
          expect(e).toBeInstanceOf(SourceError);
        }
      }),
      { numRuns: 400 },
    );
  }, 120_000);

  it('bit flips in real streams', async () => {
    const data = new Uint8Array(200_000).map((_, i) => (i % 251 < 40 ? i % 7 : (i * 2654435761) >>> 24));
    const { execFileSync } = await import('node:child_process');
    const enc = (fmt: string) =>
      new Uint8Array(
        execFileSync('python3', ['-c', `import sys,lzma,bz2;d=sys.stdin.buffer.read();sys.stdout.buffer.write(${fmt})`], { input: data, maxBuffer: 1 << 24 }),
      );
    const samples: [Codec, Uint8Array][] = [
      ['bzip2', enc('bz2.compress(d)')],
      ['xz', enc('lzma.compress(d)')],
      ['lzma-alone', enc('lzma.compress(d, format=lzma.FORMAT_ALONE)')],
      ['gzip', new Uint8Array(gzipSync(data))],
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...samples), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), async ([codec, b], flips) => {
        const m = b.slice();
        for (const [i, x] of flips) m[i % m.length]! ^= x;
        try {
          await readAll(source(m, codec, { maxBytes: 32 * 1024 * 1024 }), 1 << 20);
        } catch (e) {
          expect(e).toBeInstanceOf(SourceError);
        }
      }),
      { numRuns: 200 },
    );
  }, 120_000);
});
