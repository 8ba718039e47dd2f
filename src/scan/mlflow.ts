/**
 * An MLflow model is a directory: the MLmodel file (read by src/formats/mlflow/) and what sits
 * beside it. When a scanned MLmodel is a file on disk, this reads the rest of the model the way
 * MLflow's tools would, and adds to the MLmodel's report:
 *  - the environment files (conda.yaml, python_env.yaml and the requirement files it pulls in
 *    with -r/-c, requirements.txt): every pinned library version is a fact
 *    (`mlflow.environment`, read by the ML-BOM), and a pin the loader-vulnerability catalogue
 *    lists is MLFLOW_ENV_VULNERABLE, naming the CVE, the pinned and the fixed versions. Medium
 *    when the pinned library is one that reads this model's artefacts (or, for MLflow itself,
 *    when the flaw is in this model's flavor), low otherwise: the environment does not make the
 *    model's bytes run code, it makes the deployment that restores it vulnerable to files like them;
 *  - the Python files under the `code` paths (fact `mlflow.code_files`, and the files of the
 *    MLFLOW_MODEL_CODE finding), which a directory scan also scans one by one;
 *  - the artefacts the MLmodel names that are missing (fact `mlflow.missing_artifacts`).
 * The artefacts themselves (pickles, weights) are scanned as the files they are.
 *
 * The directory is read through `ModelDirectory`: files on disk here, the listed objects of a
 * remote scan (S3 prefix, Hub repository) in src/remote/, so a model kept where MLflow keeps
 * artefacts gets the same checks as one on disk.
 */
import { lstat, readFile, readdir, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { SEVERITY_RANK, type Finding, type Severity } from '../core/findings.js';
import { emptyDeclaration, parseCondaEnv, parsePythonEnv, parseRequirements, type DeclaredPin, type EnvironmentDeclaration } from '../formats/mlflow/environment.js';
import { pathEscape } from '../formats/mlflow/mlmodel.js';
import { GHSA_ID, CVE_ID, loaderVulnCatalogue, vulnerabilitiesOfLibraries, type LoaderVulnMatch } from '../rules/loader-vulns.js';
import type { FileReport } from './report.js';

const MAX_ENV_BYTES = 1024 * 1024;
const MAX_ENV_FILES = 16;
const MAX_CODE_FILES = 2000;
const MAX_CODE_DEPTH = 12;
const MAX_FINDINGS = 200;
const REQUIREMENTS = 'requirements.txt';

function stringList(v: FileReport['facts'][string] | undefined): string[] {
  return Array.isArray(v) ? v : [];
}

function add(report: FileReport, f: Omit<Finding, 'location'>): void {
  report.findings.push({ ...f, location: { path: [report.path] } });
  // An environment file that could not be read or parsed is part of the model left unseen.
  if (f.rule === 'MLFLOW_CONFIG_MALFORMED') report.complete = false;
  if (report.maxSeverity === null || SEVERITY_RANK[f.severity] > SEVERITY_RANK[report.maxSeverity]) report.maxSeverity = f.severity;
}

/** What the checks read of the directory an MLmodel sits in; paths are relative, with '/'. */
export interface ModelDirectory {
  /** A regular file's text (at most `limit` bytes, else an error), `null` when absent (MLflow would fail, nothing runs), or why not. */
  readText(rel: string, limit: number): Promise<string | null | { error: string }>;
  /** Files at or below `rel` (`rel` itself when it is a file), in path order, at most `max`, at most `maxDepth` levels down. */
  filesUnder(rel: string, max: number, maxDepth: number): Promise<string[]>;
  exists(rel: string): Promise<boolean>;
}

/** The directory on disk. */
export function localDirectory(dir: string): ModelDirectory {
  return {
    async readText(rel, limit) {
      try {
        // Followed like MLflow follows it (a Hugging Face cache links every file to a blob).
        const st = await stat(join(dir, rel));
        if (!st.isFile()) return { error: 'is not a regular file' };
        if (st.size > limit) return { error: `is larger than ${limit} bytes` };
        return (await readFile(join(dir, rel))).toString('utf8');
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return null;
        return { error: code ?? String(e) };
      }
    },
    async filesUnder(rel, max, maxDepth) {
      const out: string[] = [];
      const walk = async (r: string, depth: number): Promise<void> => {
        if (out.length >= max || depth > maxDepth) return;
        let st;
        try {
          st = await lstat(join(dir, r));
        } catch {
          return;
        }
        if (st.isFile() || st.isSymbolicLink()) {
          out.push(r);
          return;
        }
        if (!st.isDirectory()) return;
        let names: string[];
        try {
          names = (await readdir(join(dir, r))).sort();
        } catch {
          return;
        }
        for (const name of names) await walk(posix.join(r, name), depth + 1);
      };
      await walk(rel, 0);
      return out;
    },
    async exists(rel) {
      try {
        await lstat(join(dir, rel));
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** Reads the environment files, following -r/-c includes that stay inside the model directory. */
async function readEnvironment(dir: ModelDirectory, declared: readonly string[], report: FileReport): Promise<{ env: EnvironmentDeclaration; read: string[] }> {
  const env = emptyDeclaration();
  const queue = [...declared, REQUIREMENTS];
  const seen = new Set<string>();
  const read: string[] = [];
  while (queue.length && seen.size < MAX_ENV_FILES) {
    const rel = posix.normalize(queue.shift()!.replace(/\\/g, '/'));
    // Declared files that leave the directory are the analyzer's MLFLOW_PATH_ESCAPE; never read them.
    if (seen.has(rel) || pathEscape(rel) !== null) continue;
    seen.add(rel);
    const text = await dir.readText(rel, MAX_ENV_BYTES);
    if (text === null) continue;
    if (typeof text !== 'string') {
      add(report, { rule: 'MLFLOW_CONFIG_MALFORMED', severity: 'medium', message: `environment file ${rel} ${text.error}: its pins could not be checked`, evidence: { details: { file: rel } }, references: [] });
      continue;
    }
    read.push(rel);
    const before = env.includes.length;
    if (/\.ya?ml$/i.test(rel) && /^(python|build_dependencies)\s*:/m.test(text)) parsePythonEnv(text, rel, env);
    else if (/\.ya?ml$/i.test(rel)) parseCondaEnv(text, rel, env);
    else parseRequirements(text, rel, env);
    for (const inc of env.includes.slice(before)) queue.push(posix.join(posix.dirname(rel), inc.path));
  }
  for (const error of env.errors) add(report, { rule: 'MLFLOW_CONFIG_MALFORMED', severity: 'medium', message: `environment: ${error}`, evidence: {}, references: [] });
  return { env, read };
}

function relevant(m: LoaderVulnMatch, facts: FileReport['facts']): boolean {
  const loaders = new Set(stringList(facts['mlflow.loaders']));
  const formats = new Set(stringList(facts['mlflow.artifact_formats']));
  if (m.library === 'mlflow') return stringList(facts['mlflow.flavor_vulnerabilities']).includes(m.id);
  // Library-only entries (no formats) are not reached through a model file at all.
  const entryFormats = loaderVulnCatalogue().entries.find((e) => e.id === m.id)?.formats ?? [];
  return loaders.has(m.library) && entryFormats.some((f) => formats.has(f));
}

function reportPins(report: FileReport, pins: readonly DeclaredPin[]): void {
  const byPin = new Map<string, DeclaredPin[]>();
  for (const p of pins) {
    const key = `${p.library}==${p.version}`;
    byPin.set(key, [...(byPin.get(key) ?? []), p]);
  }
  if (byPin.size) report.facts['mlflow.environment'] = [...byPin.keys()].sort().slice(0, 500);
  let n = 0;
  for (const [key, list] of [...byPin.entries()].sort()) {
    const { library, version } = list[0]!;
    for (const m of vulnerabilitiesOfLibraries({ [library]: version })) {
      if (++n > MAX_FINDINGS) return;
      const severity: Severity = relevant(m, report.facts) ? 'medium' : 'low';
      const where = [...new Set(list.map((p) => (p.line > 0 ? `${p.file}:${p.line}` : p.file)))].join(', ');
      const fixed = m.fixedVersion ? `fixed in ${m.fixedVersion}` : 'no fixed release published';
      const ids = [m.id, ...m.aliases.filter((a) => CVE_ID.test(a) || GHSA_ID.test(a))];
      const why = severity === 'medium' ? '' : library === 'mlflow' ? "; the flaw is not in the loaders of this model's flavors" : `; ${library} does not read this model's artefacts`;
      add(report, {
        rule: 'MLFLOW_ENV_VULNERABLE',
        severity,
        message: `the model's environment pins ${key} (${where}), affected by ${m.id} (${m.feature}, ${m.severity} in the loader catalogue); ${fixed}${why}`,
        evidence: {
          reason: m.reason,
          details: { library, version, id: m.id, fixed: m.fixedVersion ?? 'none', feature: m.feature, catalogueSeverity: m.severity, declaredIn: where },
        },
        references: [...ids, ...m.references],
      });
    }
  }
}

/** Python files under a code path (a directory MLflow puts on sys.path, or one file). */
async function codeFiles(dir: ModelDirectory, rel: string, out: string[]): Promise<void> {
  const root = posix.normalize(rel.replace(/\\/g, '/'));
  const found = await dir.filesUnder(root, MAX_CODE_FILES - out.length, MAX_CODE_DEPTH);
  for (const f of found) if (f.endsWith('.py') || f === root) out.push(f);
}

/** Adds the directory's facts and findings to a scanned MLmodel's report (see the header). */
export async function checkMlflowModel(dir: ModelDirectory, report: FileReport): Promise<void> {
  if (!report.formats.includes('mlflow-model')) return;
  const { env, read } = await readEnvironment(dir, stringList(report.facts['mlflow.env_files']), report);
  if (read.length) report.facts['mlflow.environment_files'] = read;
  if (env.python !== null) report.facts['mlflow.environment_python'] = env.python.slice(0, 64);
  if (env.unpinned.length) report.facts['mlflow.environment_unpinned'] = [...new Set(env.unpinned)].sort().slice(0, 500);
  reportPins(report, env.pins);

  const code: string[] = [];
  for (const c of stringList(report.facts['mlflow.code_paths'])) if (pathEscape(c) === null) await codeFiles(dir, c, code);
  if (code.length) {
    report.facts['mlflow.code_files'] = code;
    const f = report.findings.find((x) => x.rule === 'MLFLOW_MODEL_CODE');
    if (f) f.evidence.files = code.slice(0, 100);
  }
  const missing: string[] = [];
  for (const a of stringList(report.facts['mlflow.pickle_artifacts'])) if (pathEscape(a) === null && !(await dir.exists(posix.normalize(a.replace(/\\/g, '/'))))) missing.push(a);
  if (missing.length) report.facts['mlflow.missing_artifacts'] = missing;
  report.findings.sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]);
}
