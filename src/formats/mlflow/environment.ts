/**
 * The environment files an MLflow model declares, read as text (no I/O here; src/scan/mlflow.ts
 * reads the files): conda.yaml (conda specs and a `pip:` list), python_env.yaml (python version,
 * build dependencies and pip requirement lines, usually `-r requirements.txt`), and pip
 * requirement files. What matters is which library versions they PIN: `name==X` / `name===X` in
 * pip syntax, `name=X`, `name==X` or `name X build` in conda's. A range or a bare name pins
 * nothing (the resolver picks the version at install time), so it is listed, never matched.
 */
import { lazyModule } from '../../core/lazy.js';
import { normaliseLibraryName } from '../../rules/loader-vulns.js';

// Loaded on first use: most scans meet no YAML.
const yaml = lazyModule<typeof import('yaml')>('yaml');

export interface DeclaredPin {
  /** PEP 503-normalised PyPI name (conda names mapped: pytorch -> torch). */
  library: string;
  /** The version as written. */
  version: string;
  /** The requirement as written (clipped). */
  spec: string;
  file: string;
  line: number;
}

export interface EnvironmentDeclaration {
  pins: DeclaredPin[];
  /** Libraries named without a pinned version (ranges, bare names, URLs), normalised. */
  unpinned: string[];
  /** Requirement files pulled in with -r / -c, as written, with the file naming them. */
  includes: Array<{ path: string; from: string; constraint: boolean }>;
  /** `python:` of python_env.yaml, or the python spec of conda.yaml. */
  python: string | null;
  /** Why (part of) the file could not be read; each is a finding for the caller. */
  errors: string[];
}

const MAX_LINES = 20_000;
const MAX_SPEC = 200;
const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?/;
const PIP_LINE = /^(?<name>[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*(?<specs>[^;@]*?)\s*(?:@\s*(?<url>\S.*?))?\s*(?:;.*)?$/;
/** Conda package names that are another name on PyPI (the catalogue is keyed by PyPI names). */
const CONDA_NAMES: Readonly<Record<string, string>> = { pytorch: 'torch', 'pytorch-cpu': 'torch', 'pytorch-gpu': 'torch', 'py-xgboost': 'xgboost', 'py-xgboost-cpu': 'xgboost', 'tensorflow-cpu': 'tensorflow', 'tensorflow-gpu': 'tensorflow' };
/** Not libraries a model loads with. */
const SKIP = new Set(['python', 'pip', 'setuptools', 'wheel']);

export function emptyDeclaration(): EnvironmentDeclaration {
  return { pins: [], unpinned: [], includes: [], python: null, errors: [] };
}

function canonical(name: string): string {
  const n = normaliseLibraryName(name);
  return CONDA_NAMES[n] ?? n;
}

function clip(s: string): string {
  return s.length > MAX_SPEC ? `${s.slice(0, MAX_SPEC - 1)}…` : s;
}

/** pip: the version `==X` / `===X` pins, or null (ranges, wildcards, several pins that disagree). */
function pipPin(specs: string): string | null {
  let pin: string | null = null;
  for (const raw of specs.split(',')) {
    const m = /^\s*(===|==)\s*([^\s,]+)\s*$/.exec(raw);
    if (!m) continue;
    if (m[2]!.endsWith('.*')) return null;
    if (pin !== null && pin !== m[2]) return null;
    pin = m[2]!;
  }
  return pin;
}

/** One pip requirement line (comment and continuation already removed) into `out`. */
function addPipLine(out: EnvironmentDeclaration, text: string, file: string, line: number): void {
  const t = text.trim();
  if (t === '') return;
  const opt = /^(-r|--requirement|-c|--constraint)(?:\s+|=)(\S+)/.exec(t);
  if (opt) {
    out.includes.push({ path: opt[2]!, from: file, constraint: opt[1] === '-c' || opt[1] === '--constraint' });
    return;
  }
  // Other options (--index-url, -e, -f...) install from elsewhere or configure pip: no pin.
  if (t.startsWith('-')) return;
  const m = PIP_LINE.exec(t);
  if (!m?.groups) {
    // A URL or path requirement (git+https://..., ./pkg.whl): nothing to match by name.
    return;
  }
  const library = canonical(m.groups['name']!);
  if (SKIP.has(library)) return;
  const version = m.groups['url'] === undefined ? pipPin(m.groups['specs'] ?? '') : null;
  if (version === null) out.unpinned.push(library);
  else out.pins.push({ library, version, spec: clip(t), file, line });
}

/** pip requirement lines as a requirements.txt holds them (comments, `\` continuations, options). */
export function parseRequirements(text: string, file: string, into: EnvironmentDeclaration = emptyDeclaration(), firstLine = 1): EnvironmentDeclaration {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (lines.length > MAX_LINES) into.errors.push(`${file} has more than ${MAX_LINES} lines; the rest was not read`);
  let pending = '';
  let start = firstLine;
  lines.slice(0, MAX_LINES).forEach((raw, i) => {
    // pip: `#` starts a comment at the line start or after whitespace (a URL fragment keeps it).
    const noComment = raw.replace(/(^|\s)#.*$/, '');
    if (pending === '') start = firstLine + i;
    if (/\\\s*$/.test(noComment)) {
      // pip joins a continued line to the next one as is (no space added).
      pending += noComment.replace(/\\\s*$/, '');
      return;
    }
    addPipLine(into, pending + noComment, file, start);
    pending = '';
  });
  if (pending !== '') addPipLine(into, pending, file, start);
  return into;
}

/** A conda match spec (`numpy=1.26.4=py311_0`, `conda-forge::pytorch==2.5.1`, `scipy 1.11.4 py311h`). */
function addCondaSpec(out: EnvironmentDeclaration, spec: string, file: string, line: number): void {
  const t = spec.trim().replace(/^[^\s:]+::/, '');
  const m = NAME.exec(t);
  if (!m) return;
  const library = canonical(m[0]);
  let rest = t.slice(m[0].length).trim();
  if (library === 'python') {
    out.python ??= rest.replace(/^=+/, '').split(/[=\s]/)[0] || null;
    return;
  }
  if (SKIP.has(library)) return;
  // `name=X`, `name==X`, `name X [build]`, `name=X=build`: X pins when it has no wildcard or range.
  let version: string | null = null;
  const eq = /^(==?)\s*([^=\s,|<>!~*]+)(?:[=\s].*)?$/.exec(rest);
  if (eq) version = eq[2]!;
  else if (rest !== '' && !/^[<>=!~]/.test(rest)) {
    rest = rest.split(/\s+/)[0]!;
    if (!/[*,|<>]/.test(rest)) version = rest;
  }
  if (version === null || version.includes('*')) out.unpinned.push(library);
  else out.pins.push({ library, version, spec: clip(spec.trim()), file, line });
}

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => v !== null && typeof v === 'object' && !Array.isArray(v);

function yamlDoc(text: string, file: string, out: EnvironmentDeclaration): Rec | null {
  let doc: unknown;
  try {
    doc = yaml().parse(text, { maxAliasCount: 100, uniqueKeys: false, prettyErrors: false, logLevel: 'error' });
  } catch (e) {
    out.errors.push(`${file} does not parse as YAML (${(e as Error).message.split('\n')[0]})`);
    return null;
  }
  if (!isRec(doc)) {
    out.errors.push(`${file} is not a YAML mapping`);
    return null;
  }
  return doc;
}

/** The line a YAML list item sits on, for messages: found by its text, 0 when not found. */
function lineOf(text: string, item: string): number {
  const i = text.indexOf(item);
  return i < 0 ? 0 : text.slice(0, i).split('\n').length;
}

/** conda.yaml as MLflow writes it: `dependencies:` conda specs and one `pip:` list. */
export function parseCondaEnv(text: string, file: string, into: EnvironmentDeclaration = emptyDeclaration()): EnvironmentDeclaration {
  const doc = yamlDoc(text, file, into);
  if (!doc) return into;
  const deps = doc['dependencies'];
  if (deps === undefined || deps === null) return into;
  if (!Array.isArray(deps)) {
    into.errors.push(`${file}: "dependencies" is not a list`);
    return into;
  }
  for (const d of deps.slice(0, MAX_LINES)) {
    if (typeof d === 'string') addCondaSpec(into, d, file, lineOf(text, d));
    else if (typeof d === 'number') continue;
    else if (isRec(d) && Array.isArray(d['pip'])) {
      for (const p of d['pip'].slice(0, MAX_LINES)) if (typeof p === 'string') addPipLine(into, p.replace(/(^|\s)#.*$/, ''), file, lineOf(text, p));
    } else into.errors.push(`${file}: a dependency is neither a spec nor a pip list`);
  }
  return into;
}

/** python_env.yaml (MLflow's virtualenv description): python, build_dependencies, dependencies. */
export function parsePythonEnv(text: string, file: string, into: EnvironmentDeclaration = emptyDeclaration()): EnvironmentDeclaration {
  const doc = yamlDoc(text, file, into);
  if (!doc) return into;
  const py = doc['python'];
  if (typeof py === 'string' || typeof py === 'number') into.python ??= String(py);
  for (const key of ['build_dependencies', 'dependencies']) {
    const list = doc[key];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) {
      into.errors.push(`${file}: "${key}" is not a list`);
      continue;
    }
    for (const p of list.slice(0, MAX_LINES)) if (typeof p === 'string') addPipLine(into, p.replace(/(^|\s)#.*$/, ''), file, lineOf(text, p));
  }
  return into;
}
