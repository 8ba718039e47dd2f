/**
 * torch.distributed.checkpoint directories as torch writes them: each .distcp shard is torch.save
 * zips end to end (one per tensor and per non-tensor object). Every item is scanned: a benign shard
 * is quiet, a payload in any item is found. The malicious object is pickled by DCP's own save
 * (pickling runs no payload) and never loaded.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { atLeast, scanBytes, scanPath, type Finding } from '../../src/index.js';
import { runPython } from '../helpers/python.js';

const loud = (f: Finding[]) => f.filter((x) => atLeast(x.severity, 'medium')).map((x) => `${x.severity} ${x.rule}: ${x.message}`);

describe('torch.distributed.checkpoint shards', () => {
  let py: ReturnType<typeof runPython>;
  beforeAll(() => {
    py = runPython(`
import torch, torch.distributed.checkpoint as dcp
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
dcp.save({'model': model.state_dict(), 'extra': {'step': 3, 'tag': 'run-1', 'lrs': [0.1, 0.01]}}, checkpoint_id=os.path.join(OUT, 'benign'))
class Payload:
    def __reduce__(self):
        return (os.system, ('echo mg',))
dcp.save({'model': model.state_dict(), 'extra': Payload()}, checkpoint_id=os.path.join(OUT, 'evil'))
`);
  }, 120_000);

  const shard = (dir: string) => {
    const f = readdirSync(join(py.dir, dir)).find((n) => n.endsWith('.distcp'))!;
    return { name: f, bytes: py.file(join(dir, f)) };
  };

  it('a benign shard is whole zips end to end, each scanned, nothing reported at medium or above', async () => {
    const { name, bytes } = shard('benign');
    const f = (await scanBytes(bytes, name)).files[0]!;
    expect(f.facts['zip.concatenatedArchives']).toBeGreaterThanOrEqual(5); // 4 tensors + the extra object
    expect(f.findings.map((x) => x.rule)).not.toContain('ZIP_PREPENDED_DATA');
    expect(loud(f.findings)).toEqual([]);
    expect(f.complete).toBe(true);
  });

  it('the whole benign checkpoint directory (shards and the .metadata pickle) is quiet', async () => {
    const r = await scanPath(join(py.dir, 'benign'));
    expect(r.files.map((f) => f.path.split('/').pop()).sort()).toContain('.metadata');
    expect(r.files.flatMap((f) => loud(f.findings).map((l) => `${f.path}: ${l}`))).toEqual([]);
  });

  it('os.system in a non-tensor item (loaded with weights_only=False) is found inside its item', async () => {
    const { name, bytes } = shard('evil');
    const f = (await scanBytes(bytes, name)).files[0]!;
    const sys = f.findings.find((x) => x.rule === 'PICKLE_DANGEROUS_GLOBAL' && x.evidence.canonical === 'os.system');
    expect(sys?.severity).toBe('critical');
    expect(sys?.location.path[1]).toMatch(/^<archive \d+ at \d+>$/);
  });

  it('junk before the archives is not a concatenation: still ZIP_PREPENDED_DATA', async () => {
    const { name, bytes } = shard('benign');
    const junk = new Uint8Array([...new TextEncoder().encode('not a zip, just bytes '), ...bytes]);
    const f = (await scanBytes(junk, name)).files[0]!;
    expect(f.findings.map((x) => x.rule)).toContain('ZIP_PREPENDED_DATA');
  });
});
