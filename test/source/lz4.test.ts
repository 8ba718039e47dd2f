/**
 * LZ4 frames written by the real `lz4` Python package (every frame option it offers), and
 * hostile frames: each ends in the original bytes or a SourceError, in bounded time and memory.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BufferSource } from '../../src/source/buffer.js';
import { SourceError } from '../../src/source/types.js';
import { DecompressingSource, type DecompressOptions } from '../../src/source/decompress.js';
import { xxh32 } from '../../src/source/codecs/xxh32.js';
import { runPython } from '../helpers/python.js';

const OPEN: DecompressOptions = { maxBytes: 1e12, maxRatio: 1e9 };

function lz4(b: Uint8Array, opts: Partial<DecompressOptions> = {}) {
  return new DecompressingSource('m', new BufferSource('c', b), 'lz4', { ...OPEN, ...opts });
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

async function failure(b: Uint8Array, opts: Partial<DecompressOptions> = {}): Promise<SourceError> {
  const e = await readAll(lz4(b, opts)).then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(SourceError);
  return e as SourceError;
}

const VARIANTS = [
  'default',
  'linked',
  'independent_256k',
  'checksums_1m',
  'hc_4m',
  'nosize_64k',
  'stored',
  'concat_skippable',
  'empty',
];

describe('LZ4 frames written by the lz4 package', () => {
  let py: ReturnType<typeof runPython>;
  beforeAll(() => {
    py = runPython(`
import random, struct, lz4.frame as F
random.seed(11)
parts = []
for i in range(40000):
    parts.append(bytes([random.randrange(256)]) * random.randrange(1, 40))
    parts.append(random.randbytes(random.randrange(0, 24)))
    if i % 700 == 0:
        parts.append(b'a long repeated phrase ' * 300)
data = b''.join(parts)
open(os.path.join(OUT, 'data'), 'wb').write(data)
def w(name, b):
    open(os.path.join(OUT, name), 'wb').write(b)
w('default', F.compress(data))
w('linked', F.compress(data, block_linked=True, block_size=F.BLOCKSIZE_MAX64KB))
w('independent_256k', F.compress(data, block_linked=False, block_size=F.BLOCKSIZE_MAX256KB))
w('checksums_1m', F.compress(data, block_size=F.BLOCKSIZE_MAX1MB, content_checksum=True, block_checksum=True, store_size=True))
w('hc_4m', F.compress(data, compression_level=F.COMPRESSIONLEVEL_MINHC, block_size=F.BLOCKSIZE_MAX4MB, content_checksum=True))
w('nosize_64k', F.compress(data, store_size=False, block_size=F.BLOCKSIZE_MAX64KB, block_linked=True))
# incompressible data is stored as uncompressed blocks (high bit of the block size)
rnd = random.randbytes(300000)
open(os.path.join(OUT, 'rnd'), 'wb').write(rnd)
w('stored', F.compress(rnd, content_checksum=True, block_checksum=True))
# two frames around a skippable frame, as LZ4 readers accept
skip = struct.pack('<II', 0x184D2A5A, 5) + b'hello'
h = len(data) // 2
w('concat_skippable', F.compress(data[:h]) + skip + F.compress(data[h:], content_checksum=True))
w('empty', F.compress(b''))
`);
  }, 60_000);

  for (const v of VARIANTS) {
    it(`${v}: decodes to the original bytes`, async () => {
      const want = v === 'stored' ? py.file('rnd') : v === 'empty' ? new Uint8Array(0) : py.file('data');
      const out = await readAll(lz4(py.file(v)), 77_777);
      expect(out.length).toBe(want.length);
      expect(Buffer.compare(out, want)).toBe(0);
    }, 30_000);
  }

  it('a bit flip in a block with block checksums is caught by the checksum', async () => {
    const b = py.file('checksums_1m').slice();
    b[200]! ^= 0x10;
    const e = await failure(b);
    expect(e.kind).toBe('corrupt');
    expect(e.message).toBe('LZ4 block checksum mismatch');
  });

  it('a changed header byte fails the header checksum', async () => {
    const b = py.file('default').slice();
    b[4]! ^= 0x20; // toggles block independence
    const e = await failure(b);
    expect(e.message).toBe('LZ4 frame header checksum mismatch');
  });

  it('truncated frames are corrupt, with the bytes before the cut still served', async () => {
    const b = py.file('checksums_1m');
    for (const cut of [3, 6, 12, 500, b.length >> 1, b.length - 2]) {
      const e = await failure(b.subarray(0, cut));
      expect(e.kind, `cut at ${cut}`).toBe('corrupt');
      expect(e.message, `cut at ${cut}`).toMatch(/^(compressed data ends inside|LZ4 data ends inside)/);
    }
  });

  it('a wrong content checksum is caught', async () => {
    const b = py.file('hc_4m').slice();
    b[b.length - 1]! ^= 1;
    expect((await failure(b)).message).toBe('LZ4 content checksum mismatch');
  });

  it('trailing garbage after the last frame is corrupt', async () => {
    const b = new Uint8Array([...py.file('default'), 1, 2, 3, 4]);
    expect((await failure(b)).message).toBe('bytes after the last LZ4 frame are not a frame');
  });

  it('output limits apply', async () => {
    const e = await failure(py.file('default'), { maxBytes: 100_000 });
    expect(e.kind).toBe('limit');
    expect(e.details.limit).toBe('maxDecompressedBytes');
  });
});

function header(flg: number, bd: number, extra: number[] = []): number[] {
  const d = new Uint8Array([flg, bd, ...extra]);
  return [0x04, 0x22, 0x4d, 0x18, flg, bd, ...extra, (xxh32(d) >>> 8) & 0xff];
}
const le32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];

describe('hostile LZ4 frames', () => {
  it('xxh32 matches the published test values', () => {
    expect(xxh32(new Uint8Array(0))).toBe(0x02cc5d05);
    expect(xxh32(new TextEncoder().encode('a'))).toBe(0x550d7456);
    expect(xxh32(new TextEncoder().encode('abc'))).toBe(0x32d153ff);
    expect(xxh32(new TextEncoder().encode('Nobody inspects the spammish repetition'))).toBe(0xe2293b2f);
  });

  it('a block larger than the declared maximum is refused before it is read', async () => {
    const b = new Uint8Array([...header(0x60, 0x40), ...le32(0x7fffffff)]);
    const e = await failure(b);
    expect(e.message).toBe('LZ4 block larger than the frame allows');
  });

  it('a match before the start of the output is corrupt', async () => {
    // token: 1 literal, match 4; literal 'A'; offset 5 (only 1 byte exists)
    const block = [0x10, 0x41, 0x05, 0x00, 0x00];
    const b = new Uint8Array([...header(0x60, 0x40), ...le32(block.length), ...block, ...le32(0)]);
    expect((await failure(b)).message).toBe('LZ4 match offset points before the data');
  });

  it('a block whose output passes the block maximum is corrupt (no unbounded growth)', async () => {
    // 1 literal then a match of 4 + 15 + 255*300 bytes: far more than 64 KiB.
    const block = [0x1f, 0x41, 0x01, 0x00, ...new Array(300).fill(255), 0x00];
    const b = new Uint8Array([...header(0x60, 0x40), ...le32(block.length), ...block, ...le32(0)]);
    expect((await failure(b)).message).toBe('LZ4 block output exceeds the block maximum');
  });

  it('a declared content size that does not match is corrupt', async () => {
    const block = [0x30, 0x61, 0x62, 0x63];
    const b = new Uint8Array([...header(0x68, 0x40, [...le32(10), ...le32(0)]), ...le32(block.length), ...block, ...le32(0)]);
    expect((await failure(b)).message).toBe('LZ4 frame content is shorter than declared');
  });

  it('dictionaries and the legacy format are unsupported, reserved bits corrupt', async () => {
    expect((await failure(new Uint8Array([...header(0x61, 0x40, le32(7))]))).kind).toBe('unsupported');
    expect((await failure(new Uint8Array([0x02, 0x21, 0x4c, 0x18, 0, 0, 0, 0]))).kind).toBe('unsupported');
    expect((await failure(new Uint8Array(header(0x62, 0x40)))).message).toBe('LZ4 frame descriptor reserved bit set');
    expect((await failure(new Uint8Array(header(0x60, 0x30)))).message).toBe('LZ4 block maximum size code is invalid');
  });

  it('random bodies after a valid header end in data or a SourceError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(0x40, 0x60, 0x64, 0x70, 0x78), fc.uint8Array({ maxLength: 4096 }), async (flg, body) => {
        const extra = flg & 0x08 ? [...le32(body.length), 0, 0, 0, 0] : [];
        const b = new Uint8Array([...header(flg, 0x40, extra), ...body]);
        try {
          await readAll(lz4(b, { maxBytes: 64 * 1024 * 1024 }), 1 << 20);
        } catch (e) {
          expect(e).toBeInstanceOf(SourceError);
        }
      }),
      { numRuns: 400 },
    );
  }, 60_000);

  it('random blocks decode or fail as corrupt', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: 600 }), { minLength: 1, maxLength: 5 }), async (blocks) => {
        const bytes = [...header(0x40, 0x40)];
        for (const bl of blocks) bytes.push(...le32(bl.length), ...bl);
        bytes.push(...le32(0));
        try {
          await readAll(lz4(new Uint8Array(bytes)));
        } catch (e) {
          expect(e).toBeInstanceOf(SourceError);
          expect((e as SourceError).kind).toBe('corrupt');
        }
      }),
      { numRuns: 400 },
    );
  }, 60_000);
});
