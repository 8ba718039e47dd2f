import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BufferSource } from '../../src/source/buffer.js';
import { zipAnalyzer } from '../../src/formats/zip.js';
import { compressedAnalyzers } from '../../src/formats/compressed.js';
import { tarAnalyzer } from '../../src/formats/tar.js';
import { stubContext, rules, memberNames, text, type StubOptions } from '../helpers/stub-context.js';
import { buildZip, bytes, EVIL_PICKLE } from '../helpers/zip-builder.js';
import { runPython } from '../helpers/python.js';
import type { Claim } from '../../src/formats/types.js';
import { Engine } from '../../src/scan/engine.js';
import { FIXTURES } from '../helpers/manifest.js';

async function scan(archive: Uint8Array, opts: StubOptions = {}) {
  const { ctx, rec } = stubContext(opts);
  const src = new BufferSource('t.zip', archive);
  const claim = zipAnalyzer.sniff({ head: archive.subarray(0, 4096), tail: archive.subarray(Math.max(0, archive.length - 65 * 1024 - 100)), size: archive.length, name: 't.zip' });
  await zipAnalyzer.analyze(src, ctx, claim ?? ({ format: 'zip', confidence: 0 } as Claim));
  return { rec, claim };
}

function findingsOf(rec: Awaited<ReturnType<typeof scan>>['rec'], rule: string) {
  return rec.findings.filter((f) => f.rule === rule);
}

describe('zip: archives written by real tools', () => {
  let py: ReturnType<typeof runPython>;
  beforeAll(() => {
    py = runPython(`
import zipfile, numpy as np, torch
torch.save({'w': torch.zeros(3)}, os.path.join(OUT, 'model.pt'))
class M(torch.nn.Module):
    def forward(self, x):
        return x + 1
torch.jit.save(torch.jit.script(M()), os.path.join(OUT, 'script.pt'))
np.savez(os.path.join(OUT, 'arrays.npz'), a=np.arange(3), b=np.ones(2))
with zipfile.ZipFile(os.path.join(OUT, 'methods.zip'), 'w') as z:
    z.writestr('stored.txt', b'stored payload', compress_type=zipfile.ZIP_STORED)
    z.writestr('deflated.txt', b'deflated payload ' * 100, compress_type=zipfile.ZIP_DEFLATED)
    z.writestr('bz.txt', b'bzip2 payload ' * 100, compress_type=zipfile.ZIP_BZIP2)
    z.writestr('lz.txt', b'lzma payload ' * 100, compress_type=zipfile.ZIP_LZMA)
with zipfile.ZipFile(os.path.join(OUT, 'zip64.zip'), 'w') as z:
    with z.open('big.bin', 'w', force_zip64=True) as f:
        f.write(b'zip64 member')
    z.writestr('small.txt', b'small')
`);
  }, 60_000);

  it('reads a torch.save checkpoint and marks it pytorch-zip', async () => {
    const { rec, claim } = await scan(py.file('model.pt'));
    expect(claim?.confidence).toBe(0.95);
    expect(rec.facts.get('container')).toBe('pytorch-zip');
    const pkl = rec.members.find((m) => m.name.endsWith('/data.pkl'));
    expect(pkl?.head[0]).toBe(0x80);
    expect(memberNames(rec)).toContain('model/version');
    expect(rules(rec)).not.toContain('ZIP_CRC_MISMATCH');
    expect(rules(rec)).not.toContain('TORCHSCRIPT_CODE');
    expect(rec.facts.get('zip.members')).toBe(rec.members.length);
  });

  it('emits TORCHSCRIPT_CODE once for a scripted module', async () => {
    const { rec } = await scan(py.file('script.pt'));
    expect(rec.facts.get('container')).toBe('pytorch-zip');
    const ts = findingsOf(rec, 'TORCHSCRIPT_CODE');
    expect(ts).toHaveLength(1);
    expect(ts[0]!.message).toMatch(/script\/code\//);
    expect(rules(rec)).not.toContain('ZIP_CRC_MISMATCH');
  });

  it('marks numpy.savez output as npz', async () => {
    const { rec } = await scan(py.file('arrays.npz'));
    expect(rec.facts.get('container')).toBe('npz');
    expect(memberNames(rec).sort()).toEqual(['a.npy', 'b.npy']);
    expect(text(rec.members[0]!.head.subarray(1, 6))).toBe('NUMPY');
  });

  it('decodes stored, deflate, bzip2 and lzma members', async () => {
    const { rec } = await scan(py.file('methods.zip'));
    const got = Object.fromEntries(rec.members.map((m) => [m.name, text(m.bytes)]));
    expect(got['stored.txt']).toBe('stored payload');
    expect(got['deflated.txt']).toBe('deflated payload '.repeat(100));
    expect(got['bz.txt']).toBe('bzip2 payload '.repeat(100));
    expect(got['lz.txt']).toBe('lzma payload '.repeat(100));
    expect(rec.findings).toEqual([]);
  });

  it('reads ZIP64 archives written by Python', async () => {
    const { rec } = await scan(py.file('zip64.zip'));
    expect(Object.fromEntries(rec.members.map((m) => [m.name, text(m.bytes)]))).toEqual({ 'big.bin': 'zip64 member', 'small.txt': 'small' });
    expect(rec.findings).toEqual([]);
  });
});

describe('zip: header tricks', () => {
  it('scans a member whose local name differs from the central name (CVE-2025-1944)', async () => {
    const z = buildZip([{ name: 'archive/data.pkl', localName: 'archive/data.txt', data: EVIL_PICKLE }]);
    const { rec } = await scan(z);
    const f = findingsOf(rec, 'ZIP_HEADER_MISMATCH');
    expect(f).toHaveLength(1);
    expect(f[0]!.details.member).toBe('archive/data.pkl');
    expect(f[0]!.details.localName).toBe('archive/data.txt');
    expect(memberNames(rec)).toEqual(['archive/data.pkl']);
    expect(rec.members[0]!.bytes).toEqual(EVIL_PICKLE);
  });

  it('scans both readings when local and central methods disagree', async () => {
    const z = buildZip([{ name: 'a.pkl', method: 0, localMethod: 8, data: EVIL_PICKLE }]);
    const { rec } = await scan(z);
    expect(findingsOf(rec, 'ZIP_HEADER_MISMATCH')[0]!.details).toMatchObject({ centralMethod: 0, localMethod: 8 });
    expect(memberNames(rec)).toEqual(['a.pkl', 'a.pkl (as the local header says: deflate, ' + EVIL_PICKLE.length + ' bytes)']);
    expect(rec.members[0]!.bytes).toEqual(EVIL_PICKLE);
    // The stored bytes are not valid deflate: the second reading is reported corrupt, the first still scanned.
    expect(findingsOf(rec, 'ARCHIVE_CORRUPT').length + findingsOf(rec, 'ZIP_CRC_MISMATCH').length).toBeGreaterThan(0);
  });

  it('scans both readings when compressed sizes disagree', async () => {
    const z = buildZip([{ name: 'a.pkl', data: EVIL_PICKLE, localCompressedSize: 5 }]);
    const { rec } = await scan(z);
    expect(findingsOf(rec, 'ZIP_HEADER_MISMATCH')).toHaveLength(1);
    expect(rec.members.map((m) => m.length)).toEqual([EVIL_PICKLE.length, 5]);
  });

  it('reports encryption flags but scans a member that is not really encrypted (CVE-2025-1945)', async () => {
    const z = buildZip([{ name: 'archive/data.pkl', data: EVIL_PICKLE, flags: 0x1 }]);
    const { rec } = await scan(z);
    expect(findingsOf(rec, 'ZIP_UNUSUAL_FLAGS')[0]!.details).toMatchObject({ member: 'archive/data.pkl', flags: 1 });
    expect(rules(rec)).not.toContain('ARCHIVE_ENCRYPTED');
    expect(rec.members[0]!.bytes).toEqual(EVIL_PICKLE);
  });

  it('reports flags 0x20 and 0x40 too', async () => {
    const z = buildZip([
      { name: 'a', data: 'x', flags: 0x20 },
      { name: 'b', data: 'y', flags: 0x40 },
    ]);
    const { rec } = await scan(z);
    expect(findingsOf(rec, 'ZIP_UNUSUAL_FLAGS').map((f) => f.details.member)).toEqual(['a', 'b']);
  });

  it('reports ARCHIVE_ENCRYPTED when the data does not match its CRC under the encryption flag', async () => {
    const cipher = new Uint8Array(64).map((_, i) => (i * 197 + 13) & 0xff);
    const z = buildZip([{ name: 'secret.pkl', data: cipher, flags: 0x1, crc: 0x12345678 }]);
    const { rec } = await scan(z);
    expect(findingsOf(rec, 'ARCHIVE_ENCRYPTED')[0]!.details.member).toBe('secret.pkl');
    expect(rules(rec)).not.toContain('ZIP_CRC_MISMATCH');
    expect(memberNames(rec)).toEqual(['secret.pkl']);
  });

  it('reports a CRC mismatch and still scans the member (CVE-2025-10156)', async () => {
    const z = buildZip([{ name: 'archive/data.pkl', data: EVIL_PICKLE, method: 8, crc: 0xdeadbeef }]);
    const { rec } = await scan(z);
    const f = findingsOf(rec, 'ZIP_CRC_MISMATCH');
    expect(f).toHaveLength(1);
    expect(f[0]!.details).toMatchObject({ member: 'archive/data.pkl', stored: '0xdeadbeef' });
    expect(rec.members[0]!.bytes).toEqual(EVIL_PICKLE);
  });

  it('scans bytes prepended to the archive as <prepended data>', async () => {
    const z = buildZip([{ name: 'archive/data.pkl', data: 'benign' }], { prepend: EVIL_PICKLE });
    const { rec, claim } = await scan(z);
    expect(claim).toMatchObject({ format: 'zip', confidence: 0.85 });
    expect(findingsOf(rec, 'ZIP_PREPENDED_DATA')[0]!.details.bytes).toBe(EVIL_PICKLE.length);
    expect(memberNames(rec)).toEqual(['<prepended data>', 'archive/data.pkl']);
    expect(rec.members[0]!.bytes).toEqual(EVIL_PICKLE);
    expect(text(rec.members[1]!.bytes)).toBe('benign');
  });

  it('also finds prepended bytes when offsets were rewritten to be absolute', async () => {
    const z = buildZip([{ name: 'm', data: 'member' }], { prepend: 'PREFIX', absoluteOffsets: true });
    const { rec } = await scan(z);
    expect(memberNames(rec)).toEqual(['<prepended data>', 'm']);
    expect(text(rec.members[0]!.bytes)).toBe('PREFIX');
    expect(text(rec.members[1]!.bytes)).toBe('member');
  });

  it('scans every duplicate', async () => {
    const z = buildZip([
      { name: 'archive/data.pkl', data: 'first' },
      { name: 'archive/data.pkl', data: EVIL_PICKLE },
    ]);
    const { rec } = await scan(z);
    const f = findingsOf(rec, 'ZIP_DUPLICATE_NAME');
    expect(f).toHaveLength(1);
    expect(f[0]!.details).toMatchObject({ member: 'archive/data.pkl', count: 2 });
    expect(rec.members.map((m) => text(m.bytes))).toEqual(['first', text(EVIL_PICKLE)]);
  });

  it('reads a hand-made ZIP64 archive with prepended bytes', async () => {
    const z = buildZip([{ name: 'x.pkl', data: EVIL_PICKLE, method: 8 }], { zip64: true, prepend: 'junk' });
    const { rec } = await scan(z);
    expect(memberNames(rec)).toEqual(['<prepended data>', 'x.pkl']);
    expect(rec.members[1]!.bytes).toEqual(EVIL_PICKLE);
    expect(rules(rec)).toEqual(['ZIP_PREPENDED_DATA']);
  });

  it('flags path traversal names', async () => {
    const names = ['../evil.pkl', '/etc/passwd', 'a\\..\\b', 'C:/win.ini', 'ok/fine.txt'];
    const { rec } = await scan(buildZip(names.map((name) => ({ name, data: 'x' }))));
    expect(findingsOf(rec, 'ARCHIVE_PATH_TRAVERSAL').map((f) => f.details.member)).toEqual(names.slice(0, 4));
    expect(memberNames(rec)).toEqual(names);
  });

  it('flags symlinks from unix mode bits that lead outside the archive', async () => {
    const link = (name: string, data: string, method = 0) => ({ name, data, method, externalAttributes: (0o120777 << 16) >>> 0 });
    const { rec } = await scan(
      buildZip([
        link('link', '/etc/passwd'),
        link('snap/rev/up', '../../../secret', 8),
        { name: 'blobs/abc', data: 'weights' },
        link('snap/rev/config.json', '../../blobs/abc', 8),
        link('snap/rev/sibling', 'config.json'),
      ]),
    );
    expect(findingsOf(rec, 'ARCHIVE_SYMLINK').map((f) => [f.details.member, f.details.target])).toEqual([
      ['link', '/etc/passwd'],
      ['snap/rev/up', '../../../secret'],
    ]);
    expect(findingsOf(rec, 'ARCHIVE_PATH_TRAVERSAL').map((f) => f.details.link)).toEqual(['link', 'snap/rev/up']);
    expect(rec.facts.get('archive.links')).toBe(4);
    expect(rec.facts.get('archive.links.inside')).toBe(2);
  });

  it('a symlink whose target cannot be read is still reported', async () => {
    const { rec } = await scan(buildZip([{ name: 'link', data: 'x'.repeat(5000), externalAttributes: (0o120777 << 16) >>> 0 }]));
    expect(findingsOf(rec, 'ARCHIVE_SYMLINK').map((f) => f.message)).toEqual(['link is a symbolic link whose target could not be read']);
  });

  it('stops a ratio bomb with ARCHIVE_BOMB', async () => {
    const zeros = new Uint8Array(20 * 1024 * 1024);
    const z = buildZip([{ name: 'bomb.bin', data: zeros, method: 8, uncompressedSize: 1000 }]);
    const { rec } = await scan(z, { limits: { maxCompressionRatio: 100 } });
    const f = findingsOf(rec, 'ARCHIVE_BOMB');
    expect(f).toHaveLength(1);
    expect(f[0]!.details).toMatchObject({ member: 'bomb.bin', limit: 'maxCompressionRatio' });
    expect(rec.members[0]!.length).toBeLessThan(20 * 1024 * 1024);
  });

  it('reports declared sizes that are bombs without decompressing', async () => {
    const z = buildZip([{ name: 'b', data: 'abc', method: 8, uncompressedSize: 0xfffffff0 }]);
    const { rec } = await scan(z, { limits: { maxDecompressedBytes: 1 << 30 } });
    expect(findingsOf(rec, 'ARCHIVE_BOMB')[0]!.details).toMatchObject({ member: 'b', declared: 0xfffffff0 });
  });

  it('stops when the per-file decompression budget is spent', async () => {
    const data = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
    const { rec } = await scan(buildZip([{ name: 'big', data, method: 8 }]), { totalBudget: 1024 * 1024 });
    expect(findingsOf(rec, 'ARCHIVE_BOMB')[0]!.details.limit).toBe('maxTotalDecompressedBytes');
  });

  it('caps the member count', async () => {
    const entries = Array.from({ length: 20_000 }, (_, i) => ({ name: `m${i}`, data: 'x' }));
    const { rec } = await scan(buildZip(entries), { limits: { maxMembers: 10_000 }, readAll: false });
    expect(findingsOf(rec, 'ARCHIVE_TOO_MANY_MEMBERS')[0]!.details).toMatchObject({ members: 20_000, limit: 10_000 });
    expect(rec.members).toHaveLength(10_000);
    expect(rec.facts.get('zip.members')).toBe(20_000);
    expect(rec.incomplete).toHaveLength(1);
  }, 30_000);

  it('reports a broken central directory and still scans the entries before it', async () => {
    const z = buildZip([
      { name: 'one', data: 'first' },
      { name: 'two', data: 'second' },
    ]);
    const cd = Buffer.from(z).lastIndexOf(Buffer.from('PK\x01\x02', 'latin1'));
    z[cd + 1] = 0x00; // break the second central record's signature
    const { rec } = await scan(z);
    expect(findingsOf(rec, 'ARCHIVE_CORRUPT')[0]!.details).toMatchObject({ entriesRead: 1 });
    expect(memberNames(rec)).toEqual(['one']);
  });

  it('reports an unsupported method', async () => {
    const { rec } = await scan(buildZip([{ name: 'd64', data: 'zz', method: 9 }]));
    expect(findingsOf(rec, 'ARCHIVE_UNSUPPORTED_METHOD')[0]!.details).toMatchObject({ member: 'd64', method: 9 });
  });

  it('reports a bad local header and scans the other members', async () => {
    const z = buildZip([
      { name: 'bad', data: 'b' },
      { name: 'good', data: 'g' },
    ]);
    z[1] = 0; // first local header signature
    const { rec } = await scan(z);
    expect(findingsOf(rec, 'ARCHIVE_CORRUPT')[0]!.details.member).toBe('bad');
    expect(memberNames(rec)).toEqual(['good']);
  });

  it('reports an entry count that disagrees with the directory and scans all entries', async () => {
    const z = buildZip(
      [
        { name: 'a', data: '1' },
        { name: 'hidden', data: EVIL_PICKLE },
      ],
      { declaredEntries: 1 },
    );
    const { rec } = await scan(z);
    expect(findingsOf(rec, 'ZIP_HEADER_MISMATCH')[0]!.details).toMatchObject({ declared: 1, found: 2 });
    expect(memberNames(rec)).toEqual(['a', 'hidden']);
  });

  it('scans what it can of a zip without an end record', async () => {
    const z = buildZip([{ name: 'p.pkl', data: EVIL_PICKLE }]);
    const cut = z.subarray(0, Buffer.from(z).indexOf(Buffer.from('PK\x01\x02', 'latin1')));
    const { rec } = await scan(cut);
    expect(rules(rec)).toContain('ARCHIVE_CORRUPT');
    expect(rec.members[0]!.bytes).toEqual(EVIL_PICKLE);
  });

  it('reads a zip inside a gzip stream (unknown size) through the engine-like stub', async () => {
    const { gzipSync } = await import('node:zlib');
    const inner = buildZip([{ name: 'archive/data.pkl', data: EVIL_PICKLE, method: 8 }]);
    const gz = new Uint8Array(gzipSync(inner));
    const { ctx, rec } = stubContext({ analyzers: [zipAnalyzer, tarAnalyzer, ...compressedAnalyzers] });
    const gzip = compressedAnalyzers.find((a) => a.id === 'gzip')!;
    await gzip.analyze(new BufferSource('m.zip.gz', gz), ctx, gzip.sniff({ head: gz, tail: gz, size: gz.length, name: 'x' })!);
    expect(rec.members.map((m) => m.path.join(' › '))).toEqual(['<file> › <gzip>', '<file> › <gzip> › archive/data.pkl']);
    expect(rec.members[1]!.bytes).toEqual(EVIL_PICKLE);
  });

  it('does not claim random data or a plain pickle', () => {
    const head = EVIL_PICKLE;
    expect(zipAnalyzer.sniff({ head, tail: head, size: head.length, name: 'x.pt' })).toBeNull();
  });
});

describe('zip: robustness', () => {
  it('never throws on random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), async (b) => {
        await scan(b);
      }),
      { numRuns: 200 },
    );
  });

  it('never throws on mutated valid archives', async () => {
    const base = buildZip([
      { name: 'archive/data.pkl', data: EVIL_PICKLE, method: 8 },
      { name: 'archive/version', data: '3\n' },
      { name: 'archive/data/0', data: new Uint8Array(300).fill(7), method: 8 },
    ]);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), async (muts) => {
        const z = base.slice();
        for (const [i, v] of muts) z[i] = v;
        await scan(z);
      }),
      { numRuns: 300 },
    );
  }, 60_000);

  it('survives hostile sizes in the end record', async () => {
    const z = buildZip([{ name: 'a', data: 'x' }]);
    const eocd = z.length - 22;
    bytes(z).set([0xff, 0xff, 0xff, 0x7f], eocd + 12);
    const { rec } = await scan(z);
    expect(rules(rec)).toContain('ARCHIVE_CORRUPT');
  });
});

describe('zip members hinted to the byte source', () => {
  it('passes the local-header ranges of the coming members to prefetch, in member order', async () => {
    const bytesOf = new Uint8Array(readFileSync(join(FIXTURES, 'benign', 'torch_state_dict.pt')));
    const hinted: { offset: number; length: number }[] = [];
    class Hinted extends BufferSource {
      prefetch(ranges: readonly { offset: number; length: number }[]): void {
        hinted.push(...ranges);
      }
    }
    await new Engine({}).scanSource(new Hinted('torch_state_dict.pt', bytesOf), 'torch_state_dict.pt');
    // Every member's local header (signature PK\3\4) is hinted exactly once, with its name's length.
    const dv = new DataView(bytesOf.buffer, bytesOf.byteOffset, bytesOf.byteLength);
    expect(hinted.length).toBeGreaterThan(2);
    expect(new Set(hinted.map((h) => h.offset)).size).toBe(hinted.length);
    for (const h of hinted) {
      expect(dv.getUint32(h.offset, true)).toBe(0x04034b50);
      expect(h.length).toBe(30 + dv.getUint16(h.offset + 26, true));
    }
    expect(hinted.map((h) => h.offset)).toEqual([...hinted.map((h) => h.offset)].sort((a, b) => a - b));
  });
});
