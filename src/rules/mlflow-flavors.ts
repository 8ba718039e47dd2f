/**
 * rules/mlflow-flavors.yaml: what MLflow's loader for each flavor does with the files an MLmodel
 * names (which keys are paths, whether they are unpickled, which libraries read them). Loaded once
 * and validated strictly: a bad entry is an error naming it, never a silently shorter list.
 */
import { parseCatalogueText, readCatalogue } from './catalogue-data.js';
import { CVE_ID, GHSA_ID, normaliseLibraryName } from './loader-vulns.js';
import { str, strList } from './tf-ops.js';

export interface MlflowFlavor {
  readonly flavor: string;
  /** PEP 503-normalised PyPI name. */
  readonly library: string;
  readonly versionKey: string | null;
  readonly paths: readonly string[];
  readonly unpickles: boolean;
  /** Flavor key -> values for which the loader does not unpickle. */
  readonly unless: Readonly<Record<string, readonly string[]>>;
  /** PEP 503-normalised PyPI names of the libraries that read the artefacts. */
  readonly loaders: readonly string[];
  readonly formats: readonly string[];
  readonly mlflowVulnerabilities: readonly string[];
  readonly reason: string;
  readonly references: readonly string[];
}

export interface MlflowFlavorCatalogue {
  readonly version: string;
  readonly flavors: ReadonlyMap<string, MlflowFlavor>;
}

const KEYS = new Set(['flavor', 'library', 'version_key', 'paths', 'unpickles', 'unless', 'loaders', 'formats', 'mlflow_vulnerabilities', 'reason', 'references']);
const IDENT = /^[a-z][a-z0-9_]{0,63}$/;
const FORMAT_ID = /^[a-z0-9][a-z0-9-]{0,39}$/;

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => v !== null && typeof v === 'object' && !Array.isArray(v);

function fail(file: string, where: string, msg: string): never {
  throw new Error(`${file}: ${where}: ${msg}`);
}

function parseEntry(file: string, raw: unknown, i: number): MlflowFlavor {
  const where = isRec(raw) && typeof raw['flavor'] === 'string' ? raw['flavor'] : `flavors[${i}]`;
  if (!isRec(raw)) fail(file, where, 'must be a mapping');
  for (const k of Object.keys(raw)) if (!KEYS.has(k)) fail(file, where, `unknown key "${k}"`);
  const flavor = str(file, where, raw, 'flavor');
  if (!IDENT.test(flavor)) fail(file, where, '"flavor" must be a lower_snake_case key');
  const versionKey = raw['version_key'] === undefined ? null : str(file, where, raw, 'version_key');
  const paths = strList(file, where, raw, 'paths', false);
  for (const p of [...paths, ...(versionKey ? [versionKey] : [])]) if (!IDENT.test(p)) fail(file, where, `key "${p}" is not a flavor key`);
  if (typeof raw['unpickles'] !== 'boolean') fail(file, where, '"unpickles" must be true or false');
  const unlessRaw = raw['unless'] ?? {};
  if (!isRec(unlessRaw)) fail(file, where, '"unless" must be a mapping of key to values');
  const unless: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(unlessRaw)) {
    if (!IDENT.test(k) || !Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== '')) fail(file, where, `"unless.${k}" must be a list of values`);
    unless[k] = v as string[];
  }
  const loaders = strList(file, where, raw, 'loaders', true).map(normaliseLibraryName);
  const formats = strList(file, where, raw, 'formats', false);
  for (const f of formats) if (!FORMAT_ID.test(f)) fail(file, where, `format "${f}" is not a format id`);
  const vulns = strList(file, where, raw, 'mlflow_vulnerabilities', false);
  for (const v of vulns) if (!CVE_ID.test(v) && !GHSA_ID.test(v)) fail(file, where, `"${v}" is not a CVE or GHSA id`);
  return {
    flavor,
    library: normaliseLibraryName(str(file, where, raw, 'library')),
    versionKey,
    paths,
    unpickles: raw['unpickles'],
    unless,
    loaders,
    formats,
    mlflowVulnerabilities: vulns,
    reason: str(file, where, raw, 'reason').trim(),
    references: strList(file, where, raw, 'references', true),
  };
}

export function parseMlflowFlavors(text: string, file = 'rules/mlflow-flavors.yaml'): Map<string, MlflowFlavor> {
  return flavorsOf(parseCatalogueText('mlflow-flavors.yaml', text), file);
}

function flavorsOf(doc: unknown, file: string): Map<string, MlflowFlavor> {
  if (!isRec(doc) || doc['version'] !== 1 || !Array.isArray(doc['flavors'])) fail(file, 'document', 'needs version: 1 and a flavors list');
  const out = new Map<string, MlflowFlavor>();
  (doc['flavors'] as unknown[]).forEach((raw, i) => {
    const e = parseEntry(file, raw, i);
    if (e.flavor === 'python_function') fail(file, e.flavor, 'python_function is read by the analyzer, not the catalogue');
    if (out.has(e.flavor)) fail(file, e.flavor, 'duplicate flavor');
    out.set(e.flavor, e);
  });
  return out;
}

let cached: MlflowFlavorCatalogue | null = null;

export function mlflowFlavorCatalogue(): MlflowFlavorCatalogue {
  if (cached) return cached;
  const { sha256, data } = readCatalogue('mlflow-flavors.yaml');
  cached = { version: `1+${sha256.slice(0, 12)}`, flavors: flavorsOf(data, 'rules/mlflow-flavors.yaml') };
  return cached;
}

/** Whether the flavor's loader unpickles its paths, given the flavor's own configuration. */
export function flavorUnpickles(f: MlflowFlavor, conf: Readonly<Record<string, unknown>>): boolean {
  if (!f.unpickles) return false;
  for (const [key, values] of Object.entries(f.unless)) {
    const v = conf[key];
    if (typeof v === 'string' && values.includes(v)) return false;
  }
  return true;
}
