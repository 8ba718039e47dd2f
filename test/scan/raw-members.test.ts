/**
 * Tensor storages are read by torch.load as raw numbers: only a magic number makes one a file of
 * another format. Random weights open like msgpack often enough (a fixmap byte, then a container
 * claiming more items than follow), which made torch.distributed.checkpoint shards of a freshly
 * initialised model flag MSGPACK_MALFORMED now and then. Files come from the real torch.save.
 */
import { describe, expect, it } from 'vitest';
import { atLeast, scanBytes, type Finding } from '../../src/index.js';
import { runPython } from '../helpers/python.js';

const loud = (f: Finding[]) => f.filter((x) => atLeast(x.severity, 'medium')).map((x) => `${x.severity} ${x.rule}: ${x.message}`);

describe('members read as raw numbers', () => {
  const py = runPython(`
import torch, pickle
# fixmap {'a': array32 of 107,994 items} and then numbers: msgpack's heuristic sniff would claim it.
head = [0x81, 0xa1, 0x61, 0xdd, 0x00, 0x01, 0xa5, 0xe2] + [1] * 56
torch.save({'w': torch.tensor(head, dtype=torch.uint8)}, os.path.join(OUT, 'looks_msgpack.pt'))
# a storage that is a whole pickle, magic number and all, is still recognised.
inner = pickle.dumps({'x': 1}, protocol=2)
torch.save({'w': torch.tensor(list(inner), dtype=torch.uint8)}, os.path.join(OUT, 'holds_pickle.pt'))
`);

  it('a storage that opens like msgpack is not read as msgpack', async () => {
    const f = (await scanBytes(py.file('looks_msgpack.pt'), 'looks_msgpack.pt')).files[0]!;
    expect(loud(f.findings)).toEqual([]);
    expect(f.findings.map((x) => x.rule)).not.toContain('MSGPACK_MALFORMED');
    expect(f.members?.find((m) => m.path.join(' › ') === 'looks_msgpack/data/0')?.formats).toEqual(['unknown']);
  });

  it('a storage holding a pickle is still recognised by its magic number', async () => {
    const f = (await scanBytes(py.file('holds_pickle.pt'), 'holds_pickle.pt')).files[0]!;
    expect(f.members?.find((m) => m.path.join(' › ') === 'holds_pickle/data/0')?.formats).toEqual(['pickle']);
  });
});
