/**
 * Hugging Face datasets builders import the module their state names: DatasetBuilder.__setstate__
 * calls extend_dataset_builder_for_streaming, which imports builder.__module__ (an instance-dict
 * entry shadows the class attribute) and patches its open(). Builders are pickled by the real
 * datasets; hand-assembled pickles cover the states no library writes. Nothing is ever loaded.
 */
import { describe, expect, it } from 'vitest';
import { scanBytes, type Finding } from '../../src/index.js';
import { asm, op, type Part } from '../helpers/asm.js';
import { runPython } from '../helpers/python.js';

async function findings(bytes: Uint8Array): Promise<Finding[]> {
  return (await scanBytes(bytes, 'builder.pickle')).files[0]!.findings;
}
const CSV = 'datasets.packaged_modules.csv.csv.Csv';
const csv = (f: Finding[]) => f.find((x) => x.rule === 'PICKLE_UNKNOWN_GLOBAL' && x.evidence.canonical === CSV);

describe('datasets builders pickled by datasets', () => {
  const py = runPython(`
import os, pickle, tempfile
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
from datasets.packaged_modules.csv.csv import Csv
with open(os.path.join(OUT, "d.csv"), "w") as f:
    f.write("a,b\\n1,2\\n")
b = Csv(cache_dir=os.path.join(OUT, "cache"), data_files={"train": os.path.join(OUT, "d.csv")})
with open(os.path.join(OUT, "plain.pickle"), "wb") as f:
    pickle.dump(b, f, protocol=4)
b.__dict__["__module__"] = "antigravity"
with open(os.path.join(OUT, "module.pickle"), "wb") as f:
    pickle.dump(b, f, protocol=4)
`);

  it('a builder as datasets writes it stays a low construction', async () => {
    expect(csv(await findings(py.file('plain.pickle')))?.severity).toBe('low');
  });

  it('a builder whose state names the module to import is high', async () => {
    const d = csv(await findings(py.file('module.pickle')));
    expect(d?.severity).toBe('high');
    expect(d?.message).toBe(
      `constructs ${CSV}, which is not known to be safe; its state sets __module__ to 'antigravity': DatasetBuilder.__setstate__ imports that module and patches its open and os.path functions when the object is unpickled`,
    );
    expect(d?.evidence.opcode).toBe('BUILD');
  });
});

describe('states no library writes', () => {
  const dictOf = (...pairs: Part[]) => [op.EMPTY_DICT, op.MARK, ...pairs, op.SETITEMS];
  const build = (...state: Part[]) => asm(op.PROTO(2), op.GLOBAL('datasets.builder', 'GeneratorBasedBuilder'), op.EMPTY_TUPLE, op.NEWOBJ, ...state, op.BUILD, op.STOP);
  const base = (f: Finding[]) => f.find((x) => x.evidence.canonical === 'datasets.builder.GeneratorBasedBuilder');

  it('__module__ set to an object the scanner cannot read is high too: any value is imported', async () => {
    expect(base(await findings(build(...dictOf(op.BINUNICODE('__module__'), op.GLOBAL('mylib', 'Name'), op.EMPTY_TUPLE, op.NEWOBJ))))?.severity).toBe('high');
  });

  it('a state that is not a dict never reaches the import: low', async () => {
    expect(base(await findings(build(op.BINUNICODE('__module__'), op.BINUNICODE('os'), op.TUPLE2)))?.severity).toBe('low');
  });
});
