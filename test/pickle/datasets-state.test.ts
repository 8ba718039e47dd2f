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
b.__dict__["__module__"] = "this"
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
      `constructs ${CSV}, which is not known to be safe; its state sets __module__ to 'this': DatasetBuilder.__setstate__ imports that module and patches its open and os.path functions when the object is unpickled`,
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

describe('memory-mapped tables replay operations by name', () => {
  const TABLE = 'datasets.table.MemoryMappedTable';
  const table = (f: Finding[]) => f.find((x) => x.evidence.canonical === TABLE);
  const replay = (name: string, ...args: Part[]) => [op.MARK, op.BINUNICODE(name), op.MARK, ...args, op.TUPLE, op.EMPTY_DICT, op.TUPLE];
  const build = (...replays: Part[][]) =>
    asm(op.PROTO(2), op.GLOBAL('datasets.table', 'MemoryMappedTable'), op.EMPTY_TUPLE, op.NEWOBJ,
      op.EMPTY_DICT, op.MARK, op.BINUNICODE('path'), op.BINUNICODE('/cache/data.arrow'), op.BINUNICODE('replays'), op.EMPTY_LIST, op.MARK, ...replays.flat(), op.APPENDS, op.SETITEMS,
      op.BUILD, op.STOP);

  it('a table datasets pickled after slicing, selecting and casting stays low', async () => {
    const py = runPython(`
import pickle, pyarrow as pa
from datasets.table import MemoryMappedTable
path = os.path.join(OUT, "data.arrow")
t = pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})
with pa.OSFile(path, "wb") as sink, pa.ipc.new_stream(sink, t.schema) as w:
    w.write_table(t)
m = MemoryMappedTable.from_file(path).slice(0, 2).select(["a"]).cast(pa.schema([("a", pa.int32())]))
open(os.path.join(OUT, "table.pickle"), "wb").write(pickle.dumps(m, protocol=4))
`);
    const f = await findings(py.file('table.pickle'));
    expect(table(f)?.severity).toBe('low');
  });

  it('the operations datasets records (slice, cast, select...) stay low', async () => {
    expect(table(await findings(build(replay('slice', op.BININT1(0), op.BININT1(2)), replay('select', op.BINUNICODE('a')))))?.severity).toBe('low');
  });

  it('any other name is high: getattr walks from the table to any object', async () => {
    const d = table(await findings(build(replay('slice', op.BININT1(0)), replay('__getattribute__', op.BINUNICODE('__class__')))));
    expect(d?.severity).toBe('high');
    expect(d?.message).toMatch(/its state's replays call '__getattribute__' on the table with getattr when the object is unpickled, which is not one of the table operations datasets records$/);
  });
});
