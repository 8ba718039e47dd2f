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
import { render, type Value } from '../../pickle/values.js';
import { updatedValue, type StateVerdict } from './argparser-state.js';

const OK: StateVerdict = { ok: true };
const MODULE = '__module__';

/** Judges the state one BUILD hands a DatasetBuilder class. */
export function judgeDatasetsBuilderState(state: Value): StateVerdict {
  // Only a dict can become __dict__ (anything else raises TypeError before the import).
  if (state.k !== 'dict') return state.k === 'unknown' || state.k === 'call' || state.k === 'attr' ? { ok: false, why: `its state is ${render(state)}, which the scanner cannot read`, seen: false } : OK;
  const v = updatedValue(state, MODULE);
  if (v === undefined) return OK;
  if (v === null) return { ok: false, why: 'its state is a dict larger than the scanner keeps', seen: false };
  return {
    ok: false,
    why: `its state sets __module__ to ${render(v)}: DatasetBuilder.__setstate__ imports that module and patches its open and os.path functions when the object is unpickled`,
    seen: true,
  };
}
