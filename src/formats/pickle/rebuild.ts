/**
 * dill and cloudpickle carry Python functions and classes by value: the pickle rebuilds code
 * objects from bytecode, functions and classes around them, cells for closures. Rebuilding runs
 * none of that code; it runs when something calls the function (or constructs the class with
 * __init__) — during the load, or later in the program. So the helpers are judged by the code
 * they rebuild (the names it uses) and by whether the load calls it, not by their names.
 */
import type { Value } from '../../pickle/values.js';

export type RebuildRole =
  | 'code' // builds a code object from bytecode
  | 'function' // wraps a code object into a function
  | 'class' // builds a class (type(name, bases, dict))
  | 'cell' // closure cells
  | 'setstate' // fills the __dict__ / attributes of a rebuilt function or class
  | 'setattr' // setattr(obj, name, value): benign only on a rebuilt cell, function or class
  | 'type' // looks a type up by name in the types module (_load_type('CodeType'))
  | 'import' // imports a module by name (cloudpickle.subimport)
  | 'data' // builds a plain value (sentinels, dict views)
  | 'module'; // the helper module itself, referenced to getattr a helper from it

const CLOUDPICKLE_MODULES = ['cloudpickle.cloudpickle', 'cloudpickle.cloudpickle_fast', 'joblib.externals.cloudpickle.cloudpickle', 'srsly.cloudpickle.cloudpickle'];

const CLOUDPICKLE: Record<string, RebuildRole> = {
  _make_function: 'function',
  _make_skeleton_class: 'class',
  _make_skeleton_enum: 'class',
  _class_setstate: 'setstate',
  _function_setstate: 'setstate',
  _make_cell: 'cell',
  _make_empty_cell: 'cell',
  _builtin_type: 'type',
  subimport: 'import',
  _get_dataclass_field_type_sentinel: 'data',
  _make_dict_keys: 'data',
  _make_dict_values: 'data',
  _make_dict_items: 'data',
};

const DILL: Record<string, RebuildRole> = {
  _create_code: 'code',
  _create_function: 'function',
  _create_type: 'class',
  _create_namedtuple: 'class',
  _create_cell: 'cell',
  _setattr: 'setattr',
  _load_type: 'type',
  _import_module: 'import',
};

export const REBUILDERS: ReadonlyMap<string, RebuildRole> = new Map<string, RebuildRole>([
  ...CLOUDPICKLE_MODULES.flatMap((m) => Object.entries(CLOUDPICKLE).map(([n, r]): [string, RebuildRole] => [`${m}.${n}`, r])),
  ...Object.entries(DILL).map(([n, r]): [string, RebuildRole] => [`dill._dill.${n}`, r]),
  ['dill._dill', 'module'],
]);

/** Types the type-lookup helpers return whose construction is part of rebuilding code. */
export const TYPE_ROLES: Record<string, RebuildRole> = {
  CodeType: 'code',
  FunctionType: 'function',
  LambdaType: 'function',
  CellType: 'cell',
};

/**
 * Names in a code object that mean the code reaches process, eval or import machinery. A code
 * object lists every global and attribute name it uses (co_names) without saying which is which,
 * so this is a hint, chosen among names that are almost never benign attributes: `eval` and
 * `compile` are left out because model code calls `model.eval()` and `torch.compile`.
 */
export const DANGEROUS_CODE_NAMES = new Set([
  'system', 'popen', 'Popen', 'spawnl', 'spawnle', 'spawnlp', 'spawnv', 'spawnve', 'spawnvp', 'spawnvpe',
  'execl', 'execle', 'execlp', 'execlpe', 'execv', 'execve', 'execvp', 'execvpe', 'posix_spawn', 'posix_spawnp',
  'fork', 'forkpty', 'exec', '__import__', 'import_module', 'subprocess', 'check_output', 'check_call', 'getoutput',
  'getstatusoutput', 'run_path', 'run_module', '__builtins__', '__globals__', '__subclasses__', '__code__',
  'CDLL', 'PyDLL', 'ctypes', 'marshal', 'pty', 'load_library',
]);

/** Strings among a code constructor's arguments (names, variable names, string constants). */
export function codeStrings(args: readonly Value[]): { strings: string[]; complete: boolean } {
  const strings: string[] = [];
  let complete = true;
  const visit = (v: Value, depth: number) => {
    if (v.k === 'str') strings.push(v.v);
    else if (v.k === 'tuple' && depth < 2) {
      if (v.items.length < v.len) complete = false;
      for (const x of v.items) visit(x, depth + 1);
    } else if (v.k === 'unknown') complete = false;
  };
  for (const a of args) visit(a, 0);
  return { strings, complete };
}
