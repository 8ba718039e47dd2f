/**
 * Carve-outs: exact safe globals under a dangerous prefix, each listed with a reason in the
 * dangerous entry it belongs to. Constructing pathlib.PosixPath or a DCP metadata dataclass runs
 * nothing; everything else under those prefixes (Path.write_text, torch.distributed.rpc) stays
 * dangerous, and so does any longer path through a carved-out name.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultGlobalCatalogue, loadGlobalCatalogue, parseGlobalRules } from '../../src/rules/globals.js';
import { atLeast, scanBytes, type Finding } from '../../src/index.js';
import { asm, op } from '../helpers/asm.js';

const cat = defaultGlobalCatalogue();
const split = (p: string): [string, string] => {
  const i = p.lastIndexOf('.');
  return [p.slice(0, i), p.slice(i + 1)];
};
const loud = (f: Finding[]) => f.filter((x) => atLeast(x.severity, 'medium')).map((x) => `${x.severity} ${x.rule}: ${x.message}`);

const CARVED = [
  'pathlib.PosixPath',
  'pathlib.PurePosixPath',
  'pathlib.WindowsPath',
  'pathlib.PureWindowsPath',
  'pathlib.Path',
  'torch.distributed.checkpoint.metadata.Metadata',
  'torch.distributed.checkpoint.metadata.TensorStorageMetadata',
  'torch.distributed.checkpoint.metadata.BytesStorageMetadata',
  'torch.distributed.checkpoint.metadata.ChunkStorageMetadata',
  'torch.distributed.checkpoint.metadata.TensorProperties',
  'torch.distributed.checkpoint.metadata.MetadataIndex',
  'torch.distributed.checkpoint.metadata.StorageMeta',
  'torch.distributed.checkpoint.metadata._MEM_FORMAT_ENCODING',
  'torch.distributed.checkpoint.filesystem._StorageInfo',
];

const STILL_DANGEROUS: Array<[string, string]> = [
  ['pathlib.PosixPath.write_text', 'high'],
  ['pathlib.PosixPath.unlink', 'high'],
  ['pathlib.Path.open', 'high'],
  ['pathlib.Path.write_bytes', 'high'],
  ['pathlib.os.system', 'critical'],
  ['torch.distributed.rpc.rpc_sync', 'critical'],
  ['torch.distributed.init_process_group', 'high'],
  ['torch.distributed.checkpoint.filesystem.FileSystemReader', 'high'],
  ['torch.distributed.checkpoint.metadata.Metadata.__init__', 'high'],
];

describe('carve-outs under dangerous prefixes', () => {
  for (const g of CARVED) {
    it(`${g} is safe (listed in its dangerous entry's carve_outs)`, () => {
      expect(cat.classify(...split(g)).verdict).toBe('safe');
    });
  }
  for (const [g, sev] of STILL_DANGEROUS) {
    it(`${g} stays dangerous (${sev})`, () => {
      const r = cat.classify(...split(g));
      expect(r.verdict).toBe('dangerous');
      expect(r.severity).toBe(sev);
    });
  }

  it('PosixPath("data", "train") as a pickle writes it is quiet; a call of PosixPath.write_text is not', async () => {
    const ok = (await scanBytes(asm(op.GLOBAL('pathlib', 'PosixPath'), op.STRING('data'), op.STRING('train'), op.TUPLE2, op.REDUCE, op.STOP), 'p.pkl')).files[0]!;
    expect(loud(ok.findings)).toEqual([]);
    const bad = (await scanBytes(asm(op.PROTO(4), op.SHORT_BINUNICODE('pathlib'), op.SHORT_BINUNICODE('PosixPath.write_text'), op.STACK_GLOBAL,
      op.GLOBAL('pathlib', 'PosixPath'), op.STRING('/tmp/x'), op.TUPLE1, op.REDUCE, op.STRING('owned'), op.TUPLE2, op.REDUCE, op.STOP), 'w.pkl')).files[0]!;
    const w = bad.findings.find((x) => x.rule === 'PICKLE_DANGEROUS_GLOBAL' && x.evidence.canonical === 'pathlib.PosixPath.write_text');
    expect(w?.severity).toBe('high');
  });
});

describe('carve-outs are refused unless exact, inside their entry, and unclaimed by another danger', () => {
  const yaml = (dangerous: string) => `version: 1\naliases: []\nsafe: []\ndangerous:\n${dangerous}`;
  const load = (text: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-carve-'));
    writeFileSync(join(dir, 'globals.yaml'), text);
    return loadGlobalCatalogue(join(dir, 'globals.yaml'), null);
  };
  const entry = (match: string, carve: string, sev = 'high') =>
    `  - match: ${match}\n    severity: ${sev}\n    reason: r\n    references: [x]\n` + (carve ? `    carve_outs:\n      - { match: ${carve}, reason: r, references: [x] }\n` : '');

  it('a carve-out outside its entry is an error', () => {
    expect(() => parseGlobalRules(yaml(entry('pathlib', 'os.PathLike')))).toThrow(/is not under pathlib/);
  });
  it('a carve-out without a reason is an error', () => {
    expect(() => parseGlobalRules(yaml('  - match: pathlib\n    severity: high\n    reason: r\n    references: [x]\n    carve_outs:\n      - { match: pathlib.Path, references: [x] }\n'))).toThrow(/reason/);
  });
  it('a carve-out also matched by a deeper dangerous entry that does not list it is an error', () => {
    expect(() => load(yaml(entry('torch.distributed', 'torch.distributed.rpc.RRef') + entry('torch.distributed.rpc', '', 'critical')))).toThrow(/torch.distributed.rpc, which does not carve it out/);
  });
  it('a valid carve-out makes only the exact path safe', () => {
    const c = load(yaml(entry('pathlib', 'pathlib.PosixPath')));
    expect(c.classify('pathlib', 'PosixPath').verdict).toBe('safe');
    expect(c.classify('pathlib', 'PosixPath.write_text').verdict).toBe('dangerous');
    expect(c.classify('pathlib', 'PurePath').verdict).toBe('dangerous');
  });
});
