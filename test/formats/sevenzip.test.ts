/**
 * 7z archives written by Debian's 7-Zip (7zz) at test time: the methods and filters 7-Zip and
 * py7zr use by default, encryption, links, corruption and limits, and mutated archives.
 * py7zr is not installable offline, so 7-Zip is the only writer; without it the tests skip.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { RULES } from '../../src/core/rules.js';
import { scanBytes, type FileReport } from '../../src/index.js';
import { sevenZipAnalyzer } from '../../src/formats/sevenzip/analyzer.js';
import { BufferSource } from '../../src/source/buffer.js';
import { decompress, type Codec } from '../../src/source/decompress.js';
import { SourceError } from '../../src/source/types.js';
import { stubContext, type StubOptions } from '../helpers/stub-context.js';
import { hasCommand, runPython } from '../helpers/python.js';

const SEVEN = ['7zz', '7z', '7za'].find(hasCommand);
const SKIP = SEVEN === undefined;
if (SKIP) console.warn('SKIP test/formats/sevenzip.test.ts: no 7-Zip binary (7zz, 7z or 7za); install the Debian package 7zip');

async function stubScan(bytes: Uint8Array, opts: StubOptions = {}) {
  const { ctx, rec } = stubContext(opts);
  await sevenZipAnalyzer.analyze(new BufferSource('a.7z', bytes), ctx, { format: '7z', confidence: 0.95 });
  return rec;
}

async function engineScan(bytes: Uint8Array, name = 'a.7z', limits = {}): Promise<FileReport> {
  return (await scanBytes(bytes, name, { limits })).files[0]!;
}

const AT_LEAST_MEDIUM = new Set(['medium', 'high', 'critical']);

describe.skipIf(SKIP)('7z archives written by 7-Zip', () => {
  let py: ReturnType<typeof runPython>;
  beforeAll(() => {
    py = runPython(`
import pickle, shutil, subprocess, torch
SEVEN = ${JSON.stringify(SEVEN ?? '7zz')}
src = os.path.join(OUT, 'src'); os.makedirs(os.path.join(src, 'sub')); os.makedirs(os.path.join(src, 'empty_dir'))
torch.manual_seed(0)
torch.save({'w': torch.randn(32, 32), 'b': torch.zeros(32)}, os.path.join(src, 'state_dict.pt'))
open(os.path.join(src, 'config.json'), 'w').write('{"hidden_size": 32}')
open(os.path.join(src, 'EMPTY'), 'w').close()
open(os.path.join(src, 'sub', 'notes.txt'), 'w').write('plain text ' * 100)
code = bytearray()
for i in range(3000):
    code += b'\\x55\\x48\\x89\\xe5\\xe8' + (0x1000 + 16 * i).to_bytes(4, 'little') + b'\\x5d\\xc3\\xe9' + (0x2000 - i).to_bytes(4, 'little', signed=True)
open(os.path.join(src, 'kernel.bin'), 'wb').write(bytes(code))
def sz(name, *args, cwd=src, what='.'):
    subprocess.run([SEVEN, 'a', '-bso0', '-bsp0', *args, os.path.join(OUT, name), what], cwd=cwd, check=True)
sz('default.7z')
sz('lzma.7z', '-m0=LZMA')
sz('copy.7z', '-m0=Copy')
sz('bcj.7z', '-m0=BCJ', '-m1=LZMA2')
sz('delta.7z', '-m0=Delta:4', '-m1=LZMA2')
sz('nonsolid.7z', '-ms=off')
sz('deflate.7z', '-m0=Deflate')
sz('bzip2.7z', '-m0=BZip2')
sz('header_encrypted.7z', '-mhe=on', '-psecret')
sz('content_encrypted.7z', '-psecret')
sz('ppmd.7z', '-m0=PPMd')
sz('bcj2.7z', '-m0=BCJ2', '-m1=LZMA', '-m2=LZMA', '-m3=LZMA', '-mb0s0:1', '-mb0s1:2', '-mb0s2:3')

class Payload:
    def __reduce__(self):
        return (os.system, ('echo modelgate-test',))
evil = os.path.join(OUT, 'evil'); os.makedirs(os.path.join(evil, 'models'))
open(os.path.join(evil, 'models', 'evil.pkl'), 'wb').write(pickle.dumps(Payload(), protocol=4))
open(os.path.join(evil, 'README.md'), 'w').write('nothing to see')
sz('evil.7z', cwd=evil)

links = os.path.join(OUT, 'links'); os.makedirs(os.path.join(links, 'snap', 'rev')); os.makedirs(os.path.join(links, 'blobs'))
open(os.path.join(links, 'blobs', 'abc'), 'w').write('{"a": 1}')
os.symlink('../../blobs/abc', os.path.join(links, 'snap', 'rev', 'config.json'))
os.symlink('../../../../etc/passwd', os.path.join(links, 'snap', 'rev', 'passwd'))
os.symlink('/etc/shadow', os.path.join(links, 'abs'))
sz('links.7z', '-snl', cwd=links)

many = os.path.join(OUT, 'many'); os.makedirs(many)
for i in range(40):
    open(os.path.join(many, 'f%02d' % i), 'w').write('x' * (i + 1))
sz('many.7z', cwd=many)
big = os.path.join(OUT, 'big'); os.makedirs(big)
open(os.path.join(big, 'zeros.bin'), 'wb').write(bytes(8 * 1024 * 1024))
sz('zeros.7z', cwd=big)
shutil.rmtree(big)
sz('empty.7z', cwd=many, what='nothing*')
`);
  }, 180_000);

  const original = (rel: string) => new Uint8Array(readFileSync(join(py.dir, 'src', rel)));

  for (const [file, methods] of [
    ['default.7z', ['LZMA2']],
    ['lzma.7z', ['LZMA']],
    ['copy.7z', ['Copy']],
    ['bcj.7z', ['LZMA2', 'BCJ (x86)']],
    ['delta.7z', ['LZMA2', 'Delta']],
    ['nonsolid.7z', ['LZMA2']],
    ['deflate.7z', ['Deflate']],
    ['bzip2.7z', ['BZip2']],
  ] as const) {
    it(`${file}: every member decodes to the original bytes, CRCs match`, async () => {
      const rec = await stubScan(py.file(file), { keepBytes: 4 * 1024 * 1024 });
      expect(rec.findings).toEqual([]);
      expect(rec.facts.get('7z.methods')).toEqual([...methods]);
      const byName = new Map(rec.members.map((m) => [m.name, m]));
      // Empty files and directories carry no stream: nothing to scan.
      expect([...byName.keys()].sort()).toEqual(['config.json', 'kernel.bin', 'state_dict.pt', 'sub/notes.txt']);
      for (const name of byName.keys()) expect(byName.get(name)!.bytes, name).toEqual(original(name));
      expect(rec.facts.get('7z.members')).toBe(7);
    });
  }

  it('a benign 7z of a torch state dict has no finding at medium or above, and its checkpoint is read', async () => {
    for (const file of ['default.7z', 'copy.7z', 'bcj.7z']) {
      const r = await engineScan(py.file(file), file);
      expect(r.findings.filter((f) => AT_LEAST_MEDIUM.has(f.severity)), file).toEqual([]);
      expect(r.formats, file).toEqual(['7z']);
      expect(r.complete).toBe(true);
      expect(r.facts['state_dict.pt: container'], file).toBe('pytorch-zip');
    }
  });

  it('a pickle inside a 7z is found, with the member path', async () => {
    const r = await engineScan(py.file('evil.7z'), 'evil.7z');
    const hit = r.findings.find((f) => f.rule === 'PICKLE_DANGEROUS_GLOBAL');
    expect(hit?.severity).toBe('critical');
    expect(hit?.location.path).toEqual(['evil.7z', 'models/evil.pkl']);
    expect(hit?.evidence.canonical ?? hit?.evidence.global).toMatch(/^(os|posix)\.system$/);
  });

  it('encrypted headers: ARCHIVE_ENCRYPTED, nothing clean', async () => {
    const rec = await stubScan(py.file('header_encrypted.7z'));
    expect(rec.findings.map((f) => f.rule)).toEqual(['ARCHIVE_ENCRYPTED']);
    expect(rec.findings[0]!.message).toContain('headers are encrypted');
    expect(rec.members).toEqual([]);
    expect(rec.incomplete.length).toBe(1);
  });

  it('encrypted contents: ARCHIVE_ENCRYPTED naming the members', async () => {
    const rec = await stubScan(py.file('content_encrypted.7z'));
    expect(rec.findings.map((f) => f.rule)).toEqual(['ARCHIVE_ENCRYPTED']);
    expect(rec.findings[0]!.message).toContain('state_dict.pt');
    expect(rec.findings[0]!.message).toContain('7zAES');
    expect(rec.members).toEqual([]);
  });

  it('other methods: ARCHIVE_UNSUPPORTED_METHOD (PPMd, BCJ2)', async () => {
    const ppmd = await stubScan(py.file('ppmd.7z'));
    expect(ppmd.findings.map((f) => [f.rule, f.details.method])).toEqual([['ARCHIVE_UNSUPPORTED_METHOD', '030401']]);
    const bcj2 = await stubScan(py.file('bcj2.7z'));
    expect(bcj2.findings.map((f) => f.rule)).toEqual(['ARCHIVE_UNSUPPORTED_METHOD']);
    expect(bcj2.findings[0]!.message).toContain('BCJ2');
    const r = await engineScan(py.file('ppmd.7z'));
    expect(r.complete).toBe(false);
  });

  it('links: inside the archive a fact, escaping or absolute a finding', async () => {
    const rec = await stubScan(py.file('links.7z'));
    const sym = rec.findings.filter((f) => f.rule === 'ARCHIVE_SYMLINK').map((f) => [f.details.member, f.details.target]);
    expect(sym.sort()).toEqual([
      ['abs', '/etc/shadow'],
      ['snap/rev/passwd', '../../../../etc/passwd'],
    ]);
    expect(rec.findings.filter((f) => f.rule === 'ARCHIVE_PATH_TRAVERSAL')).toHaveLength(2);
    expect(rec.facts.get('archive.links')).toBe(3);
    expect(rec.facts.get('archive.links.inside')).toBe(1);
    expect(rec.members.map((m) => m.name)).toEqual(['blobs/abc']);
  });

  it('member limit and decompression limits', async () => {
    const many = await stubScan(py.file('many.7z'), { limits: { maxMembers: 10 } });
    expect(many.findings.map((f) => f.rule)).toEqual(['ARCHIVE_TOO_MANY_MEMBERS']);
    expect(many.members).toHaveLength(10);
    const bomb = await stubScan(py.file('zeros.7z'), { limits: { maxDecompressedBytes: 1024 * 1024 } });
    expect(bomb.findings.map((f) => [f.rule, f.details.limit])).toContainEqual(['ARCHIVE_BOMB', 'maxDecompressedBytes']);
    const ratio = await stubScan(py.file('zeros.7z'), { limits: { maxCompressionRatio: 50 } });
    expect(ratio.findings.map((f) => [f.rule, f.details.limit])).toContainEqual(['ARCHIVE_BOMB', 'maxCompressionRatio']);
  });

  it('an archive with no files is read as empty', async () => {
    const rec = await stubScan(py.file('empty.7z'));
    expect(rec.findings).toEqual([]);
    expect(rec.facts.get('7z.members')).toBe(0);
  });

  it('corruption: header CRC, data CRC, truncation', async () => {
    const base = py.file('copy.7z');
    const hdr = base.slice();
    hdr[hdr.length - 5]! ^= 0xff;
    expect((await stubScan(hdr)).findings.map((f) => f.message)).toEqual([expect.stringContaining('header CRC mismatch')]);
    const start = base.slice();
    start[14]! ^= 1;
    expect((await stubScan(start)).findings.map((f) => f.message)).toEqual([expect.stringContaining('signature header CRC mismatch')]);
    const data = base.slice();
    data[40]! ^= 0xff;
    const d = await stubScan(data);
    expect(d.findings.filter((f) => f.rule === 'ARCHIVE_CORRUPT').map((f) => f.message)).toEqual([expect.stringContaining('CRC-32 of the data does not match')]);
    const cut = await stubScan(base.subarray(0, base.length - 40));
    expect(cut.findings.map((f) => f.rule)).toEqual(['ARCHIVE_CORRUPT']);
    const solid = py.file('default.7z').slice();
    solid[200]! ^= 0x55;
    const s = await engineScan(solid);
    expect(s.findings.some((f) => f.rule === 'ARCHIVE_CORRUPT')).toBe(true);
    expect(s.complete).toBe(false);
  });

  it('mutated archives always end in a well-formed verdict', async () => {
    const seeds = ['default.7z', 'bcj.7z', 'delta.7z', 'lzma.7z', 'copy.7z', 'header_encrypted.7z', 'evil.7z'].map((f) => py.file(f));
    const mutation = fc.record({
      seed: fc.integer({ min: 0, max: seeds.length - 1 }),
      flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      cut: fc.option(fc.nat(), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(mutation, async (m) => {
        let b = seeds[m.seed]!.slice();
        for (const [pos, v] of m.flips) b[pos % b.length] = v;
        if (m.cut !== undefined) b = b.subarray(0, m.cut % (b.length + 1));
        const r = await engineScan(b, 'm.7z', { timeoutMs: 10_000, maxDecompressedBytes: 64 * 1024 * 1024 });
        for (const f of r.findings) expect(RULES.has(f.rule), f.rule).toBe(true);
        if (!r.complete) expect(r.findings.some((f) => f.rule === 'SCAN_INCOMPLETE' || RULES.get(f.rule)?.unscannable)).toBe(true);
      }),
      { numRuns: 150 },
    );
  }, 120_000);
});

describe('raw 7z codecs on hostile bytes', () => {
  const cases: Array<[Codec, Uint8Array]> = [
    ['lzma-raw', Uint8Array.from([0x5d, 0, 0, 1, 0])],
    ['lzma2-raw', Uint8Array.from([16])],
    ['bcj-x86', new Uint8Array(0)],
    ['delta', Uint8Array.from([3])],
  ];
  it('random bodies fail only with a SourceError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...cases), fc.uint8Array({ maxLength: 4096 }), async ([codec, props], body) => {
        const s = decompress(new BufferSource('x', body), codec, 'x', { maxBytes: 16 * 1024 * 1024, maxRatio: 1e9, props, declaredSize: 100_000 });
        try {
          for (let at = 0; ; ) {
            const b = await s.read(at, 1 << 20);
            if (b.length === 0) break;
            at += b.length;
          }
        } catch (e) {
          expect(e).toBeInstanceOf(SourceError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('Delta and BCJ invert what Python lzma encodes with the same filters', () => {
    const out = execFileSync('python3', [
      '-c',
      `import lzma, sys
data = bytes((i * 7 + (i >> 5)) & 0xff for i in range(70000)) + b''.join(b'\\xe8' + (i * 40).to_bytes(4, 'little') + b'\\x90\\x90' for i in range(5000))
for f in [{'id': lzma.FILTER_DELTA, 'dist': 3}, {'id': lzma.FILTER_X86}]:
    raw = lzma.compress(data, format=lzma.FORMAT_RAW, filters=[f, {'id': lzma.FILTER_LZMA2, 'dict_size': 1 << 20}])
    only = lzma.decompress(raw, format=lzma.FORMAT_RAW, filters=[{'id': lzma.FILTER_LZMA2, 'dict_size': 1 << 20}])
    sys.stdout.write(only.hex() + ' ')
sys.stdout.write(data.hex())`,
    ]).toString();
    const [deltaIn, bcjIn, expected] = out.split(' ').map((h) => new Uint8Array(Buffer.from(h, 'hex')));
    return Promise.all(
      [
        ['delta', deltaIn!, Uint8Array.from([2])],
        ['bcj-x86', bcjIn!, new Uint8Array(0)],
      ].map(async ([codec, input, props]) => {
        const s = decompress(new BufferSource('x', input as Uint8Array), codec as Codec, 'x', { maxBytes: 1 << 24, maxRatio: 1e9, props: props as Uint8Array });
        const b = await s.read(0, 1 << 24);
        expect(Buffer.from(b).equals(Buffer.from(expected!)), String(codec)).toBe(true);
      }),
    );
  });
});

/** A minimal 7z writer (Copy method, one folder per file) for structures 7-Zip never writes. */
function handMade(opts: { gap?: Uint8Array; files: Array<{ name: string; data: Uint8Array; attributes?: number }>; numFilesOverride?: number[] }): Uint8Array {
  const num = (n: number): number[] => (n < 0x80 ? [n] : n < 0x4000 ? [0x80 | (n >> 8), n & 0xff] : [0xc0 | (n >> 16), n & 0xff, (n >> 8) & 0xff]);
  const gap = opts.gap ?? new Uint8Array(0);
  const packed = Buffer.concat([Buffer.from(gap), ...opts.files.map((f) => Buffer.from(f.data))]);
  const h: number[] = [0x01, 0x04, 0x06, ...num(gap.length), ...num(opts.files.length), 0x09];
  for (const f of opts.files) h.push(...num(f.data.length));
  h.push(0x00, 0x07, 0x0b, ...num(opts.files.length), 0x00);
  for (let i = 0; i < opts.files.length; i++) h.push(0x01, 0x01, 0x00);
  h.push(0x0c);
  for (const f of opts.files) h.push(...num(f.data.length));
  h.push(0x00, 0x00, 0x05, ...(opts.numFilesOverride ?? num(opts.files.length)));
  const names = Buffer.concat(opts.files.map((f) => Buffer.from(f.name + '\0', 'utf16le')));
  h.push(0x11, ...num(names.length + 1), 0x00, ...names);
  if (opts.files.some((f) => f.attributes !== undefined)) {
    const attrs = Buffer.alloc(4 * opts.files.length);
    opts.files.forEach((f, i) => attrs.writeUInt32LE((f.attributes ?? 0x20) >>> 0, 4 * i));
    h.push(0x15, ...num(attrs.length + 2), 0x01, 0x00, ...attrs);
  }
  h.push(0x00, 0x00);
  const header = Buffer.from(h);
  const start = Buffer.alloc(20);
  start.writeUInt32LE(packed.length, 0);
  start.writeUInt32LE(header.length, 8);
  start.writeUInt32LE(crc32(header) >>> 0, 16);
  const sig = Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0, 4, 0, 0, 0, 0]);
  sig.writeUInt32LE(crc32(start) >>> 0, 8);
  return new Uint8Array(Buffer.concat([sig, start, packed, header]));
}

describe('7z structures 7-Zip does not write', () => {
  // protocol 2: GLOBAL 'os system', the argument, TUPLE1, REDUCE, STOP
  const PAYLOAD = new Uint8Array(Buffer.from("\x80\x02cos\nsystem\nX\x04\x00\x00\x00echoq\x00\x85R.", 'latin1'));

  it('the hand-made writer makes archives the analyzer reads cleanly', async () => {
    const rec = await stubScan(handMade({ files: [{ name: 'a.txt', data: new TextEncoder().encode('hello') }] }));
    expect(rec.findings).toEqual([]);
    expect(rec.members.map((m) => [m.name, Buffer.from(m.bytes!).toString()])).toEqual([['a.txt', 'hello']]);
  });

  it('bytes in the packed area that belong to no member are reported and scanned', async () => {
    const b = handMade({ gap: PAYLOAD, files: [{ name: 'a.txt', data: new TextEncoder().encode('hello') }] });
    const r = await engineScan(b, 'gap.7z');
    expect(r.findings.find((f) => f.rule === 'ARCHIVE_CORRUPT')?.message).toBe(`${PAYLOAD.length} bytes at offset 32 belong to no member of the 7z archive; scanned as <unlisted data at 32>`);
    const hit = r.findings.find((f) => f.rule === 'PICKLE_DANGEROUS_GLOBAL');
    expect(hit?.location.path).toEqual(['gap.7z', '<unlisted data at 32>']);
  });

  it('behind an unreadable header the data is still scanned', async () => {
    const b = handMade({ gap: PAYLOAD, files: [{ name: 'a.txt', data: new TextEncoder().encode('hello') }] });
    b[b.length - 3]! ^= 0xff; // breaks the header CRC: 7-Zip opens nothing, a pickle reader at offset 32 still would
    const r = await engineScan(b, 'broken.7z');
    expect(r.findings.find((f) => f.rule === 'ARCHIVE_CORRUPT')?.message).toContain('header CRC mismatch');
    expect(r.findings.find((f) => f.rule === 'PICKLE_DANGEROUS_GLOBAL')?.location.path).toEqual(['broken.7z', '<7z data after an unreadable header>']);
  });

  it('links marked by a Unix mode or the reparse-point bit are judged; a directory bit does not hide data', async () => {
    const enc = (t: string) => new TextEncoder().encode(t);
    const rec = await stubScan(
      handMade({
        files: [
          { name: 'm/config.json', data: enc('../blobs/x'), attributes: (0o120777 << 16) | 0x8000 | 0x20 },
          { name: 'm/up', data: enc('../../etc/passwd'), attributes: 0x400 | 0x20 },
          { name: 'm/win', data: Uint8Array.from([0x0c, 0, 0, 0xa0, 0, 0, 0, 0]), attributes: 0x400 },
          { name: 'm/blob.pkl', data: PAYLOAD, attributes: 0x10 },
        ],
      }),
    );
    expect(rec.findings.filter((f) => f.rule === 'ARCHIVE_SYMLINK').map((f) => f.message)).toEqual([
      'm/win is a symbolic link whose target could not be read',
      'm/up is a symbolic link to "../../etc/passwd", which leaves the archive: its target climbs above the archive root',
    ]);
    expect(rec.facts.get('archive.links.inside')).toBe(1);
    expect(rec.members.map((m) => m.name)).toEqual(['m/blob.pkl']);
  });

  it('a header declaring millions of files is corrupt, read in bounded time and memory', async () => {
    const b = handMade({ files: [{ name: 'a', data: new Uint8Array([1]) }], numFilesOverride: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00] });
    const rec = await stubScan(b);
    expect(rec.findings.map((f) => f.rule)).toEqual(['ARCHIVE_CORRUPT']);
    expect(rec.findings[0]!.message).toMatch(/file count \d+ is larger than the header could describe/);
  });
});
