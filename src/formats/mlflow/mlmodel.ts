/**
 * What an MLmodel file says will happen when the model loads, from its parsed YAML: the flavors,
 * the files each flavor's loader opens (and whether it unpickles them), the Python that runs
 * (python_function's loader_module, `code` directories put on sys.path, models-from-code files),
 * the environment files, and the library versions recorded at save time. Pure: the caller parses
 * and reports; nothing here touches the file system.
 */
import { flavorUnpickles, type MlflowFlavorCatalogue } from '../../rules/mlflow-flavors.js';

export interface PickleArtifact {
  /** Path relative to the model directory, as written. */
  path: string;
  flavor: string;
  key: string;
  /** How it is unpickled, when the MLmodel says (`cloudpickle.load`, the sklearn serialization_format). */
  how: string | null;
  reason: string;
  references: readonly string[];
}

export interface PathRef {
  flavor: string;
  key: string;
  path: string;
}

export interface MlmodelDescription {
  flavors: string[];
  /** Flavors the catalogue does not know (their files are not described). */
  unknownFlavors: string[];
  mlflowVersion: string | null;
  pythonVersion: string | null;
  loaderModule: string | null;
  pickles: PickleArtifact[];
  /** `code` directories (python_function or any flavor) MLflow puts first on sys.path. */
  codePaths: PathRef[];
  /** models-from-code: the Python file (relative, basename as MLflow takes it) run to build the model. */
  modelCodeFile: string | null;
  /** Every path the MLmodel names (artefacts, code, env files, artifacts), for the escape check. */
  paths: PathRef[];
  envFiles: string[];
  /** `name==version` of libraries whose versions the MLmodel records (mlflow_version, sklearn_version...). */
  libraries: string[];
  /** PyPI names of the libraries that read the artefacts when the model loads. */
  loaders: string[];
  /** Scanner format ids of the artefacts. */
  formats: string[];
  /** MLflow loader-vulns ids concerning this model's flavors. */
  flavorVulnerabilities: string[];
  /** Structural problems (flavors not a mapping, python_function without loader_module...). */
  problems: string[];
}

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => v !== null && typeof v === 'object' && !Array.isArray(v);
const text = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v : typeof v === 'number' ? String(v) : null);

const MAX_FLAVORS = 64;
const MAX_ARTIFACTS = 256;
/** The loader of python_model: mlflow.pyfunc.model and the chat/agent loaders built on it. */
const PYTHON_MODEL_LOADERS = /^mlflow\.pyfunc\.(model|loaders\.(chat_model|chat_agent|responses_agent))$/;
const CODE_MODEL_LOADER = 'mlflow.pyfunc.loaders.code_model';
const PYFUNC_REFERENCES = ['https://mlflow.org/docs/latest/python_api/mlflow.pyfunc.html', 'https://github.com/mlflow/mlflow/blob/master/mlflow/pyfunc/model.py'];

/** The last path component, as Python's os.path.basename takes it on POSIX. */
function basename(p: string): string {
  const parts = p.split('/');
  return parts[parts.length - 1]!;
}

function describePyfunc(conf: Rec, d: MlmodelDescription): void {
  const loader = text(conf['loader_module']);
  d.loaderModule = loader;
  if (loader === null) d.problems.push('python_function has no loader_module');
  d.pythonVersion = text(conf['python_version']);
  const code = text(conf['code']);
  if (code !== null) {
    d.codePaths.push({ flavor: 'python_function', key: 'code', path: code });
    d.paths.push({ flavor: 'python_function', key: 'code', path: code });
  }
  for (const key of ['data', 'model_path']) {
    const p = text(conf[key]);
    if (p !== null) d.paths.push({ flavor: 'python_function', key, path: p });
  }
  const codeFile = text(conf['model_code_path']);
  // MLflow joins only the file's basename to the model directory (pyfunc/model.py).
  if (codeFile !== null) d.modelCodeFile = basename(codeFile);
  else if (loader === CODE_MODEL_LOADER) d.problems.push(`loader_module ${CODE_MODEL_LOADER} without model_code_path`);
  const pm = text(conf['python_model']);
  if (pm !== null) {
    const compression = text(conf['python_model_compression']);
    d.pickles.push({
      path: pm,
      flavor: 'python_function',
      key: 'python_model',
      how: compression ? `cloudpickle.load after ${compression} decompression` : 'cloudpickle.load',
      reason: 'mlflow.pyfunc.load_model unpickles python_model with cloudpickle to rebuild the PythonModel (its class and functions travel by value).',
      references: PYFUNC_REFERENCES,
    });
    d.paths.push({ flavor: 'python_function', key: 'python_model', path: pm });
    d.loaders.push('cloudpickle', 'mlflow');
    d.formats.push('pickle');
    const cp = text(conf['cloudpickle_version']);
    if (cp !== null) d.libraries.push(`cloudpickle==${cp}`);
  } else if (loader !== null && PYTHON_MODEL_LOADERS.test(loader) && codeFile === null) {
    d.problems.push(`loader_module ${loader} without python_model`);
  }
  const artifacts = conf['artifacts'];
  if (isRec(artifacts)) {
    for (const [name, info] of Object.entries(artifacts).slice(0, MAX_ARTIFACTS)) {
      const p = isRec(info) ? text(info['path']) : null;
      if (p !== null) d.paths.push({ flavor: 'python_function', key: `artifacts.${name}.path`, path: p });
    }
  }
  const env = conf['env'];
  if (typeof env === 'string') d.envFiles.push(env);
  else if (isRec(env)) for (const k of ['conda', 'virtualenv']) {
    const p = text(env[k]);
    if (p !== null) d.envFiles.push(p);
  }
}

/** Describes a parsed MLmodel document. `problems` says what does not look like one. */
export function describeMlmodel(doc: unknown, catalogue: MlflowFlavorCatalogue): MlmodelDescription {
  const d: MlmodelDescription = {
    flavors: [],
    unknownFlavors: [],
    mlflowVersion: null,
    pythonVersion: null,
    loaderModule: null,
    pickles: [],
    codePaths: [],
    modelCodeFile: null,
    paths: [],
    envFiles: [],
    libraries: [],
    loaders: [],
    formats: [],
    flavorVulnerabilities: [],
    problems: [],
  };
  if (!isRec(doc)) {
    d.problems.push('the document is not a YAML mapping');
    return d;
  }
  d.mlflowVersion = text(doc['mlflow_version']);
  if (d.mlflowVersion !== null) d.libraries.push(`mlflow==${d.mlflowVersion}`);
  const flavors = doc['flavors'];
  if (!isRec(flavors)) {
    d.problems.push('"flavors" is not a mapping');
    return d;
  }
  const entries = Object.entries(flavors);
  if (entries.length > MAX_FLAVORS) d.problems.push(`more than ${MAX_FLAVORS} flavors; the rest were not read`);
  for (const [name, raw] of entries.slice(0, MAX_FLAVORS)) {
    d.flavors.push(name);
    const conf: Rec = isRec(raw) ? raw : {};
    if (!isRec(raw) && raw !== null) d.problems.push(`flavor ${name} is not a mapping`);
    if (name === 'python_function') {
      describePyfunc(conf, d);
      continue;
    }
    const code = text(conf['code']);
    if (code !== null) {
      d.codePaths.push({ flavor: name, key: 'code', path: code });
      d.paths.push({ flavor: name, key: 'code', path: code });
    }
    const f = catalogue.flavors.get(name);
    if (!f) {
      d.unknownFlavors.push(name);
      continue;
    }
    const version = f.versionKey ? text(conf[f.versionKey]) : null;
    if (version !== null) d.libraries.push(`${f.library}==${version}`);
    d.loaders.push(...f.loaders, 'mlflow');
    d.formats.push(...f.formats);
    d.flavorVulnerabilities.push(...f.mlflowVulnerabilities);
    const unpickles = flavorUnpickles(f, conf);
    for (const key of f.paths) {
      const p = text(conf[key]);
      if (p === null) continue;
      d.paths.push({ flavor: name, key, path: p });
      if (!unpickles) continue;
      const fmt = text(conf['serialization_format']);
      d.pickles.push({ path: p, flavor: name, key, how: fmt ? `serialization_format ${fmt}` : null, reason: f.reason, references: f.references });
    }
  }
  d.envFiles = [...new Set(d.envFiles)];
  for (const e of d.envFiles) d.paths.push({ flavor: 'python_function', key: 'env', path: e });
  d.loaders = [...new Set(d.loaders)].sort();
  d.formats = [...new Set(d.formats)].sort();
  d.flavorVulnerabilities = [...new Set(d.flavorVulnerabilities)].sort();
  d.libraries = [...new Set(d.libraries)];
  return d;
}

/**
 * Why a path named by an MLmodel leaves the model directory, or null when it stays inside:
 * MLflow joins it to the model directory with os.path.join, so an absolute path replaces the
 * directory and `..` climbs out of it; a URL is not a file of the model at all.
 */
export function pathEscape(p: string): string | null {
  if (p.includes('\0')) return 'contains a NUL byte';
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(p)) return 'is a URL, not a file of the model';
  if (p.startsWith('/') || p.startsWith('\\') || /^[A-Za-z]:[\\/]/.test(p)) return 'is absolute: os.path.join drops the model directory';
  if (p.split(/[\\/]+/).includes('..')) return 'climbs out of the model directory with ..';
  return null;
}
