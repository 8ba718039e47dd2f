/**
 * The `datasets-builder-state` condition of rules/call-conditions.yaml: Hugging Face datasets'
 * DatasetBuilder.__setstate__ sets `self.__dict__ = d` and calls
 * extend_dataset_builder_for_streaming(self), which imports `builder.__module__` with
 * importlib.import_module and patches that module's open, os.path.*, glob, gzip.open, numpy.load,
 * pandas.read_* ... with fsspec wrappers carrying the state's storage_options and token. A class
 * attribute such as __module__ is shadowed by an instance-dict entry of the same name, so a state
 * that sets `__module__` chooses the module that is imported (import side effects: antigravity
 * starts a browser) and patched (`builtins` would reroute every open() of the process).
 */
import type { CallCondition } from '../../rules/call-conditions.js';
import { render, type Value } from '../../pickle/values.js';
import { updatedValue } from './argparser-state.js';
import { STATE_OK as OK, UNREAD_DICT, type StateVerdict } from './state-lookup.js';
const MODULE = '__module__';

/** Judges the state one BUILD hands a DatasetBuilder class. */
export function judgeDatasetsBuilderState(state: Value): StateVerdict {
  // Only a dict can become __dict__ (anything else raises TypeError before the import).
  if (state.k !== 'dict') return state.k === 'unknown' || state.k === 'call' || state.k === 'attr' ? { ok: false, why: `its state is ${render(state)}, which the scanner cannot read`, seen: false } : OK;
  const v = updatedValue(state, MODULE);
  if (v === undefined) return OK;
  if (v === null) return UNREAD_DICT;
  return {
    ok: false,
    why: `its state sets __module__ to ${render(v)}: DatasetBuilder.__setstate__ imports that module and patches its open and os.path functions when the object is unpickled`,
    seen: true,
  };
}

/**
 * The `datasets-table-state` condition: MemoryMappedTable.__setstate__ memory-maps the state's
 * `path` and replays its `replays` on the table as `getattr(table, name)(*args, **kwargs)`
 * (datasets/table.py, _apply_replays). datasets records only its own table operations there; a
 * name outside that list (`__class__`, `__getattribute__`, `to_pandas`...) walks from the table to
 * any Python object and calls it. The state's path is a host file read by design (every pickled
 * memory-mapped table names its cache file) and is not judged here.
 */
export function judgeDatasetsTableState(entry: CallCondition, state: Value): StateVerdict {
  if (state.k !== 'dict') return state.k === 'unknown' || state.k === 'call' || state.k === 'attr' ? { ok: false, why: `its state is ${render(state)}, which the scanner cannot read`, seen: false } : OK;
  const replays = updatedValue(state, 'replays');
  if (replays === null) return UNREAD_DICT;
  if (replays === undefined || replays.k === 'none') return OK;
  if (replays.k !== 'list' && replays.k !== 'tuple') {
    return { ok: false, why: `its state's replays ${render(replays)} cannot be read, and each is called on the table by name when the object is unpickled`, seen: false };
  }
  // A harmful name among the items the machine kept is reported as seen, before asking whether
  // the list was kept whole.
  for (const r of replays.items) {
    const name = (r.k === 'tuple' || r.k === 'list') && r.items.length === 3 ? r.items[0]! : undefined;
    if (name?.k !== 'str') return { ok: false, why: `its state's replay ${render(r)} cannot be read, and each is called on the table by name when the object is unpickled`, seen: false };
    if (!entry.replayMethods.has(name.v)) {
      return { ok: false, why: `its state's replays call ${render(name)} on the table with getattr when the object is unpickled, which is not one of the table operations datasets records`, seen: true };
    }
  }
  if (replays.items.length < replays.len) return { ok: false, why: `its state's replays are longer than the scanner keeps, and each is called on the table by name when the object is unpickled`, seen: false };
  return OK;
}
