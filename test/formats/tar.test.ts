import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BufferSource } from '../../src/source/buffer.js';
import { tarAnalyzer, checksumOk } from '../../src/formats/tar.js';
import { zipAnalyzer } from '../../src/formats/zip.js';
import { compressedAnalyzers } from '../../src/formats/compressed.js';
import { stubContext, rules, memberNames, text, type StubOptions } from '../helpers/stub-context.js';
import { runPython } from '../helpers/python.js';

async function scan(archive: Uint8Array, opts: StubOptions = {}) {
  const { ctx, rec } = stubContext(opts);
  const claim = tarAnalyzer.sniff({ head: archive.subarray(0, 4096), tail: new Uint8Array(0), size: archive.length, name: 't.tar' });
  await tarAnalyzer.analyze(new BufferSource('t.tar', archive), ctx, claim ?? { format: 'tar', confidence: 0 });
  return { rec, claim };
}

const LONG = 'deep/' + 'd'.repeat(120) + '/data.pkl';

describe('tar: archives written by Python tarfile', () => {
  let py: ReturnType<typeof runPython>;
  beforeAll(() => {
    py = runPython(`
import tarfile, io
def add(t, name, data, **kw):
    info = tarfile.TarInfo(name); info.size = len(data)
    for k, v in kw.items(): setattr(info, k, v)
    t.addfile(info, io.BytesIO(data))
for fmt, fname in [(tarfile.USTAR_FORMAT, 'ustar.tar'), (tarfile.GNU_FORMAT, 'gnu.tar'), (tarfile.PAX_FORMAT, 'pax.tar')]:
    with tarfile.open(os.path.join(OUT, fname), 'w', format=fmt) as t:
        add(t, 'a.txt', b'alpha')
        if fmt != tarfile.USTAR_FORMAT:
            add(t, ${JSON.stringify(LONG)}, b'long name payload')
        else:
            add(t, ${JSON.stringify('p'.repeat(90) + '/' + 'q'.repeat(60))}, b'prefix payload')
        d = tarfile.TarInfo('dir'); d.type = tarfile.DIRTYPE; t.addfile(d)
with tarfile.open(os.path.join(OUT, 'legacy.tar'), 'w', format=tarfile.PAX_FORMAT) as t:
    for n in ['sys_info', 'pickle', 'storages', 'tensors']:
        add(t, n, b'\\x80\\x02}q\\x00.')
with tarfile.open(os.path.join(OUT, 'links.tar'), 'w') as t:
    add(t, 'real', b'data')
    s = tarfile.TarInfo('sym'); s.type = tarfile.SYMTYPE; s.linkname = '../../etc/passwd'; t.addfile(s)
    h = tarfile.TarInfo('hard'); h.type = tarfile.LNKTYPE; h.linkname = 'real'; t.addfile(h)
    add(t, '../escape.pkl', b'x')
with tarfile.open(os.path.join(OUT, 'many.tar'), 'w', format=tarfile.USTAR_FORMAT) as t:
    for i in range(50):
        add(t, 'm%d' % i, b'')
with tarfile.open(os.path.join(OUT, 'model.tar.gz'), 'w:gz') as t:
    add(t, 'archive/data.pkl', b'\\x80\\x02K\\x01.')
`);
  }, 60_000);

  for (const fmt of ['ustar', 'gnu', 'pax']) {
    it(`reads ${fmt} archives: names and contents`, async () => {
      const { rec, claim } = await scan(py.file(`${fmt}.tar`));
      expect(claim?.confidence).toBeGreaterThanOrEqual(0.9);
      const second = fmt === 'ustar' ? 'p'.repeat(90) + '/' + 'q'.repeat(60) : LONG;
      expect(memberNames(rec)).toEqual(['a.txt', second]);
      expect(text(rec.members[0]!.bytes)).toBe('alpha');
      expect(text(rec.members[1]!.bytes)).toBe(fmt === 'ustar' ? 'prefix payload' : 'long name payload');
      expect(rec.findings).toEqual([]);
      expect(rec.facts.get('tar.members')).toBe(3);
    });
  }

  it('marks legacy PyTorch tar checkpoints', async () => {
    const { rec } = await scan(py.file('legacy.tar'));
    expect(rec.facts.get('container')).toBe('pytorch-legacy-tar');
    expect(memberNames(rec)).toEqual(['sys_info', 'pickle', 'storages', 'tensors']);
  });

  it('reports links and traversal names', async () => {
    const { rec } = await scan(py.file('links.tar'));
    // The hard link to a member stays inside the archive: a fact, not a finding.
    const links = rec.findings.filter((f) => f.rule === 'ARCHIVE_SYMLINK');
    expect(links.map((f) => [f.details.member, f.details.kind, f.details.target, f.details.reason])).toEqual([['sym', 'symlink', '../../etc/passwd', 'its target climbs above the archive root']]);
    const trav = rec.findings.filter((f) => f.rule === 'ARCHIVE_PATH_TRAVERSAL').map((f) => f.details.member);
    expect(trav.sort()).toEqual(['../../etc/passwd', '../escape.pkl']);
    expect(rec.facts.get('archive.links')).toBe(2);
    expect(rec.facts.get('archive.links.inside')).toBe(1);
    expect(memberNames(rec)).toEqual(['real', '../escape.pkl']);
  });

  it('a Hugging Face cache snapshot (relative links to blobs) has no link finding; link chains that climb out do', async () => {
    const hf = runPython(`
import sys, tarfile, tempfile
sys.path.insert(0, ${JSON.stringify(join(process.cwd(), 'test/corpus/benign'))})
import gen_archives
root = tempfile.mkdtemp()
repo = gen_archives.hf_cache(root)
with tarfile.open(os.path.join(OUT, 'hf.tar'), 'w') as t:
    t.add(os.path.join(root, repo), arcname=repo)
def link(t, name, target):
    s = tarfile.TarInfo(name); s.type = tarfile.SYMTYPE; s.linkname = target; t.addfile(s)
with tarfile.open(os.path.join(OUT, 'chain.tar'), 'w') as t:
    link(t, 'deep/deeper/l1', '../../x')
    link(t, 'deep/deeper/chain', 'l1/../..')
    link(t, 'loop1', 'loop2/a')
    link(t, 'loop2', 'loop1/b')
    link(t, 'fine', 'deep/deeper/l1')
`);
    const { rec } = await scan(hf.file('hf.tar'));
    expect(rec.findings).toEqual([]);
    expect(rec.facts.get('archive.links')).toBe(3);
    expect(rec.facts.get('archive.links.inside')).toBe(3);
    expect(memberNames(rec).filter((n) => n.includes('/blobs/'))).toHaveLength(3);
    const chain = await scan(hf.file('chain.tar'));
    const sym = chain.rec.findings.filter((f) => f.rule === 'ARCHIVE_SYMLINK').map((f) => [f.details.member, f.details.reason]);
    expect(sym).toEqual([
      ['deep/deeper/chain', 'its target climbs above the archive root'],
      ['loop1', 'its target goes through too many links (a loop)'],
      ['loop2', 'its target goes through too many links (a loop)'],
    ]);
    expect(chain.rec.facts.get('archive.links.inside')).toBe(2);
  }, 60_000);

  it('caps the member count', async () => {
    const { rec } = await scan(py.file('many.tar'), { limits: { maxMembers: 10 } });
    expect(rules(rec)).toEqual(['ARCHIVE_TOO_MANY_MEMBERS']);
    expect(rec.members).toHaveLength(10);
    expect(rec.incomplete).toHaveLength(1);
  });

  it('reports a corrupt header after scanning the members before it', async () => {
    const t = py.file('ustar.tar').slice();
    t[512 + 512 + 10]! ^= 0xff; // second header's name, checksum no longer matches
    const { rec } = await scan(t);
    expect(rules(rec)).toEqual(['ARCHIVE_CORRUPT']);
    expect(rec.findings[0]!.offset).toBe(1024);
    expect(memberNames(rec)).toEqual(['a.txt']);
  });

  it('reports a truncated member and scans what is there', async () => {
    const t = py.file('gnu.tar').subarray(0, 512 + 3);
    const { rec } = await scan(t);
    expect(rules(rec)).toEqual(['ARCHIVE_CORRUPT']);
    expect(text(rec.members[0]!.bytes)).toBe('alp');
  });

  it('reads old v7 headers (no magic, checksum only)', async () => {
    const t = py.file('ustar.tar').slice(0, 1024 + 512 * 2);
    const h = t.subarray(0, 512);
    h.fill(0, 257, 265);
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.set(Buffer.from(sum.toString(8).padStart(6, '0') + '\0 ', 'latin1'), 148);
    expect(checksumOk(h)).toBe(true);
    const { rec, claim } = await scan(t.subarray(0, 1024));
    expect(claim?.confidence).toBe(0.75);
    expect(memberNames(rec)).toEqual(['a.txt']);
  });

  it('reads a .tar.gz through the gzip analyzer', async () => {
    const gz = py.file('model.tar.gz');
    const { ctx, rec } = stubContext({ analyzers: [zipAnalyzer, tarAnalyzer, ...compressedAnalyzers] });
    const gzip = compressedAnalyzers.find((a) => a.id === 'gzip')!;
    await gzip.analyze(new BufferSource('m.tar.gz', gz), ctx, gzip.sniff({ head: gz, tail: gz, size: gz.length, name: 'x' })!);
    expect(rec.members.map((m) => m.path.join(' › '))).toEqual(['<file> › <gzip>', '<file> › <gzip> › archive/data.pkl']);
    expect(rec.members[1]!.head[0]).toBe(0x80);
  });

  it('never throws on random bytes or mutated archives', async () => {
    const base = py.file('pax.tar');
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), async (b) => {
        await scan(b);
      }),
      { numRuns: 100 },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), async (muts) => {
        const t = base.slice();
        for (const [i, v] of muts) t[i] = v;
        await scan(t);
      }),
      { numRuns: 300 },
    );
  }, 60_000);
});

describe('tar: sniffing', () => {
  it('does not claim zeros or short heads', () => {
    expect(tarAnalyzer.sniff({ head: new Uint8Array(1024), tail: new Uint8Array(0), size: 1024, name: 'x' })).toBeNull();
    expect(tarAnalyzer.sniff({ head: new Uint8Array(100), tail: new Uint8Array(0), size: 100, name: 'x' })).toBeNull();
  });
});
