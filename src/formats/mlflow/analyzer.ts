/**
 * MLflow `MLmodel` files (YAML, claimed by content: a top-level `flavors:` mapping beside MLflow's
 * own keys). The file alone says what loading the model does: which artefacts each flavor's loader
 * unpickles (MLFLOW_PICKLE_ARTIFACT, info: the pickle itself is scanned as its own file), which
 * Python runs (MLFLOW_MODEL_CODE: `code` directories put on sys.path, a loader_module outside
 * MLflow, models-from-code files), and paths that leave the model directory (MLFLOW_PATH_ESCAPE).
 * Facts carry the rest for the directory check in src/scan/mlflow.ts (environment files, code
 * paths, the loaders and formats of the artefacts) and for the ML-BOM (recorded library versions).
 * This analyzer reads only the MLmodel's bytes; the directory around it is the scan layer's.
 */
import { lazyModule } from '../../core/lazy.js';
import { mlflowFlavorCatalogue } from '../../rules/mlflow-flavors.js';
import type { AnalysisContext, Analyzer, SniffInput } from '../types.js';
import { describeMlmodel, pathEscape, type MlmodelDescription } from './mlmodel.js';

// Loaded on first use: most scans meet no YAML.
const yaml = lazyModule<typeof import('yaml')>('yaml');

/** Real MLmodel files are a few kilobytes (signatures and metadata can reach hundreds). */
const MAX_BYTES = 4 * 1024 * 1024;
/**
 * A `flavors` key, in block style, flow style or JSON (MLflow reads MLmodel with yaml.safe_load,
 * which takes all three, so an attacker could write any of them).
 */
const FLAVORS_KEY = /(^|[{,\s])["']?flavors["']?[ \t]*:/m;
/** Keys MLflow writes at the top level of every MLmodel since 1.x (Model.to_dict), and loader_module. */
const MLMODEL_KEY = /(^|[{,\s])["']?(artifact_path|utc_time_created|time_created|mlflow_version|model_uuid|model_id|run_id|model_size_bytes|saved_input_example_info|databricks_runtime|loader_module)["']?[ \t]*:/m;
const MAX_LISTED = 100;

let flavorKey: RegExp | null = null;

/** A flavor the catalogue knows (or python_function) used as a key: enough for a minimal MLmodel. */
function knownFlavorKey(): RegExp {
  flavorKey ??= new RegExp(`(^|[{,\\s])["']?(python_function|${[...mlflowFlavorCatalogue().flavors.keys()].join('|')})["']?[ \\t]*:`, 'm');
  return flavorKey;
}

function sniffMlmodel(input: SniffInput): boolean {
  const h = input.head;
  if (h.length === 0 || h.includes(0)) return false;
  // The patterns are ASCII: a head cut inside a multi-byte character decodes well enough.
  const text = new TextDecoder('utf-8', { fatal: false }).decode(h.subarray(0, 64 * 1024));
  return FLAVORS_KEY.test(text) && (MLMODEL_KEY.test(text) || knownFlavorKey().test(text));
}

function reportCode(ctx: AnalysisContext, d: MlmodelDescription): void {
  const parts: string[] = [];
  const files: string[] = [];
  for (const c of d.codePaths) {
    parts.push(`puts ${c.path} first on sys.path (${c.flavor} ${c.key}), so its modules are imported before installed ones`);
    files.push(c.path);
  }
  if (d.modelCodeFile !== null) {
    parts.push(`runs ${d.modelCodeFile} to build the model (models from code)`);
    files.push(d.modelCodeFile);
  }
  const custom = d.loaderModule !== null && !d.loaderModule.startsWith('mlflow.');
  if (custom) parts.push(`imports loader_module ${d.loaderModule}, which is not part of MLflow`);
  if (parts.length === 0) return;
  ctx.emit({
    rule: 'MLFLOW_MODEL_CODE',
    message: `loading runs Python shipped with the model: ${parts.join('; ')}`,
    evidence: {
      reason: 'mlflow.pyfunc.load_model and the flavor loaders import this code with the rights of whoever loads the model, before any weights are read',
      files: [...new Set(files)],
      details: { ...(d.loaderModule !== null ? { loader_module: d.loaderModule } : {}), paths: [...new Set(files)].join(', ') },
    },
    references: ['https://mlflow.org/docs/latest/python_api/mlflow.pyfunc.html', 'https://mlflow.org/docs/latest/model/models-from-code.html'],
  });
}

function report(ctx: AnalysisContext, d: MlmodelDescription): void {
  ctx.fact('mlflow.flavors', d.flavors);
  if (d.unknownFlavors.length) ctx.fact('mlflow.unknown_flavors', d.unknownFlavors);
  if (d.mlflowVersion !== null) ctx.fact('mlflow.version', d.mlflowVersion.slice(0, 64));
  if (d.pythonVersion !== null) ctx.fact('mlflow.python_version', d.pythonVersion.slice(0, 64));
  if (d.loaderModule !== null) ctx.fact('mlflow.loader_module', d.loaderModule.slice(0, 200));
  if (d.libraries.length) ctx.fact('mlflow.declared_libraries', d.libraries.slice(0, MAX_LISTED));
  if (d.envFiles.length) ctx.fact('mlflow.env_files', d.envFiles.slice(0, MAX_LISTED));
  const code = [...d.codePaths.map((c) => c.path), ...(d.modelCodeFile !== null ? [d.modelCodeFile] : [])];
  if (code.length) ctx.fact('mlflow.code_paths', [...new Set(code)].slice(0, MAX_LISTED));
  if (d.pickles.length) ctx.fact('mlflow.pickle_artifacts', [...new Set(d.pickles.map((p) => p.path))].slice(0, MAX_LISTED));
  if (d.loaders.length) ctx.fact('mlflow.loaders', d.loaders);
  if (d.formats.length) ctx.fact('mlflow.artifact_formats', d.formats);
  if (d.flavorVulnerabilities.length) ctx.fact('mlflow.flavor_vulnerabilities', d.flavorVulnerabilities);

  for (const problem of d.problems) ctx.emit({ rule: 'MLFLOW_CONFIG_MALFORMED', message: `MLmodel: ${problem}` });
  const escaped = new Set<string>();
  for (const ref of d.paths) {
    const why = pathEscape(ref.path);
    if (why === null || escaped.has(`${ref.flavor}|${ref.key}|${ref.path}`)) continue;
    escaped.add(`${ref.flavor}|${ref.key}|${ref.path}`);
    ctx.emit({
      rule: 'MLFLOW_PATH_ESCAPE',
      message: `${ref.flavor} ${ref.key} ${JSON.stringify(ref.path.slice(0, 200))} ${why}: loading the model reads that path instead of a file of the model`,
      evidence: { details: { flavor: ref.flavor, key: ref.key, path: ref.path.slice(0, 500) } },
      references: ['https://mlflow.org/docs/latest/models.html#storage-format'],
    });
  }
  for (const p of d.pickles) {
    ctx.emit({
      rule: 'MLFLOW_PICKLE_ARTIFACT',
      message: `loading the model unpickles ${p.path} (${p.flavor} ${p.key}${p.how !== null ? `, ${p.how}` : ''}); what that pickle does is reported on the file itself`,
      evidence: { reason: p.reason, files: [p.path], details: { flavor: p.flavor, key: p.key, path: p.path.slice(0, 500), ...(p.how !== null ? { how: p.how } : {}) } },
      references: [...p.references],
    });
  }
  reportCode(ctx, d);
}

export const mlflowModelAnalyzer: Analyzer = {
  id: 'mlflow-model',
  version: '1',
  description: 'MLflow MLmodel files: flavors, artefacts their loaders unpickle, code on sys.path, loader_module, models-from-code, environment files, paths leaving the model directory',
  sniff(input) {
    // Below every other text claim (Python, JSON, Jinja, Hydra: 0.6-0.7): a file that is also one
    // of those is read as that, so adding MLmodel keys to a config or a module never hides it from
    // the checks it already had. The price: an MLmodel written as JSON, or one with `_target_`
    // keys, is read only as JSON / Hydra config.
    return sniffMlmodel(input) ? { format: 'mlflow-model', confidence: 0.55 } : null;
  },
  async analyze(source, ctx) {
    const bytes = await source.read(0, MAX_BYTES + 1);
    if (bytes.length > MAX_BYTES) {
      ctx.emit({ rule: 'MLFLOW_CONFIG_MALFORMED', message: `MLmodel is larger than ${MAX_BYTES} bytes; it was not read` });
      ctx.incomplete('MLmodel above the size limit');
      return;
    }
    const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
    let doc: unknown;
    try {
      // MLflow reads MLmodel with yaml.safe_load: aliases are legal, Python tags are not.
      doc = yaml().parse(text, { maxAliasCount: 100, uniqueKeys: false, prettyErrors: false, logLevel: 'error' });
    } catch (e) {
      ctx.emit({ rule: 'MLFLOW_CONFIG_MALFORMED', message: `MLmodel does not parse as YAML: ${(e as Error).message.split('\n')[0]}` });
      return;
    }
    report(ctx, describeMlmodel(doc, mlflowFlavorCatalogue()));
  },
};
