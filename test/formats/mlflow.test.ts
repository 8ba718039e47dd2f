/**
 * MLflow models (issue 13, item 3): the MLmodel analyzer on its own (bytes only), and the model
 * directory read as one model when the MLmodel is scanned from disk (environment pins against the
 * loader-vulnerability catalogue, code files). Fixtures: fixtures/gen_mlflow.py (MLflow's text
 * files by hand, mlflow not being installable; artefacts by cloudpickle, scikit-learn, torch).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { atLeast } from '../../src/core/findings.js';
import { isPolicyFormatName } from '../../src/formats/catalogue.js';
import { parseCondaEnv, parsePythonEnv, parseRequirements } from '../../src/formats/mlflow/environment.js';
import { scanBytes, scanFile, scanPath } from '../../src/index.js';
import { loaderVulnCatalogue } from '../../src/rules/loader-vulns.js';
import { mlflowFlavorCatalogue } from '../../src/rules/mlflow-flavors.js';
import type { FileReport } from '../../src/scan/report.js';
import { FIXTURES } from '../helpers/manifest.js';

const fx = (p: string) => join(FIXTURES, p);
const scan = async (text: string, name = 'MLmodel') => (await scanBytes(new TextEncoder().encode(text), name)).files[0]!;
const only = (f: FileReport, rule: string) => f.findings.filter((x) => x.rule === rule);
const loud = (f: FileReport) => f.findings.filter((x) => atLeast(x.severity, 'medium')).map((x) => `${x.severity} ${x.rule}: ${x.message}`);
const tmp = mkdtempSync(join(tmpdir(), 'mg-mlflow-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SKLEARN = `artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    python_version: 3.10.17
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.6.1
mlflow_version: 2.22.0
model_uuid: 4166e5d9593e4fcd9b5ebb620e2b5694
utc_time_created: '2025-05-20 03:12:04.551265'
`;

function modelDir(name: string, files: Record<string, string>): string {
  const dir = join(tmp, name);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

describe('MLmodel analyzer (the file alone)', () => {
  it('claims an MLmodel by content, whatever its name, and lists what it declares', async () => {
    const f = await scan(SKLEARN, 'renamed.yaml');
    expect(f.formats).toEqual(['mlflow-model']);
    expect(f.facts).toMatchObject({
      'mlflow.flavors': ['python_function', 'sklearn'],
      'mlflow.version': '2.22.0',
      'mlflow.loader_module': 'mlflow.sklearn',
      'mlflow.declared_libraries': ['mlflow==2.22.0', 'scikit-learn==1.6.1'],
      'mlflow.env_files': ['conda.yaml', 'python_env.yaml'],
      'mlflow.pickle_artifacts': ['model.pkl'],
      'mlflow.loaders': ['mlflow', 'scikit-learn'],
      'mlflow.artifact_formats': ['pickle'],
    });
  });

  it('reports the pickle a flavor unpickles (info: the pickle is judged on its own)', async () => {
    const f = await scan(SKLEARN);
    expect(f.findings.map((x) => [x.rule, x.severity, x.message])).toEqual([
      ['MLFLOW_PICKLE_ARTIFACT', 'info', 'loading the model unpickles model.pkl (sklearn pickled_model, serialization_format cloudpickle); what that pickle does is reported on the file itself'],
    ]);
    expect(f.findings[0]!.evidence.files).toEqual(['model.pkl']);
  });

  it('reports python_model of a custom pyfunc model, compressed or not', async () => {
    const pyfunc = (extra: string) => `flavors:\n  python_function:\n    cloudpickle_version: 3.1.1\n    loader_module: mlflow.pyfunc.model\n    python_model: python_model.pkl${extra}\n    python_version: 3.12.11\nmlflow_version: 3.1.4\n`;
    expect(only(await scan(pyfunc('')), 'MLFLOW_PICKLE_ARTIFACT').map((x) => x.message)).toEqual([
      'loading the model unpickles python_model.pkl (python_function python_model, cloudpickle.load); what that pickle does is reported on the file itself',
    ]);
    const xz = await scan(pyfunc('.xz\n    python_model_compression: lzma'));
    expect(only(xz, 'MLFLOW_PICKLE_ARTIFACT')[0]!.message).toContain('python_model.pkl.xz (python_function python_model, cloudpickle.load after lzma decompression)');
    expect(xz.facts['mlflow.declared_libraries']).toEqual(['mlflow==3.1.4', 'cloudpickle==3.1.1']);
  });

  it('does not call skops or a LightGBM Booster a pickle', async () => {
    const skops = await scan(SKLEARN.replace('serialization_format: cloudpickle', 'serialization_format: skops').replaceAll('model.pkl', 'model.skops'));
    expect(only(skops, 'MLFLOW_PICKLE_ARTIFACT')).toEqual([]);
    const booster = await scan('flavors:\n  lightgbm:\n    data: model.lgb\n    lgb_version: 4.7.0\n    model_class: lightgbm.basic.Booster\n  python_function:\n    loader_module: mlflow.lightgbm\nmlflow_version: 2.22.0\n');
    expect(only(booster, 'MLFLOW_PICKLE_ARTIFACT')).toEqual([]);
    const sklearnApi = await scan('flavors:\n  lightgbm:\n    data: model.pkl\n    model_class: lightgbm.sklearn.LGBMClassifier\n  python_function:\n    loader_module: mlflow.lightgbm\nmlflow_version: 2.22.0\n');
    expect(only(sklearnApi, 'MLFLOW_PICKLE_ARTIFACT').map((x) => x.evidence.details)).toEqual([{ flavor: 'lightgbm', key: 'data', path: 'model.pkl' }]);
  });

  it('reports code that loading runs: code paths, a loader_module outside MLflow, models from code', async () => {
    const f = await scan('flavors:\n  python_function:\n    code: code\n    data: model.pkl\n    loader_module: custom_loader\nmlflow_version: 2.22.0\n');
    expect(only(f, 'MLFLOW_MODEL_CODE').map((x) => [x.severity, x.message])).toEqual([
      ['low', 'loading runs Python shipped with the model: puts code first on sys.path (python_function code), so its modules are imported before installed ones; imports loader_module custom_loader, which is not part of MLflow'],
    ]);
    // MLflow joins only the basename of model_code_path to the model directory.
    const fromCode = await scan('flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.loaders.code_model\n    model_code_path: /Users/me/project/agent.py\nmlflow_version: 2.22.0\n');
    expect(only(fromCode, 'MLFLOW_MODEL_CODE')[0]!.message).toBe('loading runs Python shipped with the model: runs agent.py to build the model (models from code)');
    expect(only(fromCode, 'MLFLOW_PATH_ESCAPE')).toEqual([]);
    expect(only(await scan(SKLEARN), 'MLFLOW_MODEL_CODE')).toEqual([]);
  });

  it('reports paths that leave the model directory (absolute, .., URL, Windows), not relative ones', async () => {
    const f = await scan(`flavors:
  python_function:
    artifacts:
      scaler:
        path: ../secrets/scaler.pkl
        uri: ./scaler.pkl
      ok:
        path: artifacts/ok.pkl
    env: /etc/conda.yaml
    loader_module: mlflow.pyfunc.model
    python_model: s3://bucket/python_model.pkl
  pytorch:
    model_data: C:\\models\\data
mlflow_version: 3.1.4
`);
    expect(only(f, 'MLFLOW_PATH_ESCAPE').map((x) => [x.severity, x.evidence.details!['key'], x.evidence.details!['path']])).toEqual([
      ['high', 'python_model', 's3://bucket/python_model.pkl'],
      ['high', 'artifacts.scaler.path', '../secrets/scaler.pkl'],
      ['high', 'model_data', 'C:\\models\\data'],
      ['high', 'env', '/etc/conda.yaml'],
    ]);
    expect(only(f, 'MLFLOW_PATH_ESCAPE')[0]!.message).toBe('python_function python_model "s3://bucket/python_model.pkl" is a URL, not a file of the model: loading the model reads that path instead of a file of the model');
  });

  it('reports what does not read as an MLmodel', async () => {
    const broken = await scan('flavors:\n  python_function: [unclosed\nmlflow_version: 2.0.0\n');
    expect(only(broken, 'MLFLOW_CONFIG_MALFORMED').map((x) => [x.severity, x.message.split(':')[0]])).toEqual([['medium', 'MLmodel does not parse as YAML']]);
    const noLoader = await scan('flavors:\n  python_function:\n    python_version: 3.10.0\nmlflow_version: 2.0.0\n');
    expect(only(noLoader, 'MLFLOW_CONFIG_MALFORMED').map((x) => x.message)).toEqual(['MLmodel: python_function has no loader_module']);
  });

  it('reads flow-style and minimal MLmodels too (yaml.safe_load takes them)', async () => {
    const flow = await scan('{flavors: {sklearn: {pickled_model: ../../up/model.pkl, serialization_format: pickle}}, run_id: r1}\n');
    expect(flow.formats).toEqual(['mlflow-model']);
    expect(only(flow, 'MLFLOW_PATH_ESCAPE').map((x) => x.evidence.details!['path'])).toEqual(['../../up/model.pkl']);
    const minimal = await scan('flavors:\n  pytorch:\n    model_data: data\n');
    expect(only(minimal, 'MLFLOW_PICKLE_ARTIFACT').map((x) => x.evidence.files)).toEqual([['data']]);
  });

  it('never takes a file from the analyzers that already claim it (Python, JSON config, Hydra)', async () => {
    const py = await scan('"""Example MLmodel:\nflavors:\n  python_function:\n    loader_module: x\n"""\nimport os\nos.system("id")\n', 'loader.py');
    expect(py.formats).toEqual(['python']);
    expect(only(py, 'PYTHON_DANGEROUS_CALL').map((x) => x.severity)).toEqual(['critical']);
    const json = await scan('{"flavors": {}, "run_id": "x", "chat_template": "{{ cycler.__init__.__globals__.os.popen(\'id\').read() }}"}', 'tokenizer_config.json');
    expect(json.formats).toEqual(['json']);
    expect(only(json, 'CHAT_TEMPLATE_SANDBOX_ESCAPE').length).toBeGreaterThan(0);
    const hydra = await scan('flavors:\n  python_function:\n    loader_module: mlflow.sklearn\nrun_id: r\nmodel:\n  _target_: os.system\n', 'model_config.yaml');
    expect(hydra.formats).toEqual(['hydra-yaml']);
    expect(only(hydra, 'HYDRA_UNSAFE_TARGET')).toHaveLength(1);
  });

  it('leaves other YAML alone: a conda.yaml, or `flavors:` without MLflow keys', async () => {
    expect((await scan('channels:\n- conda-forge\ndependencies:\n- python=3.10\n', 'conda.yaml')).formats).toEqual(['text']);
    expect((await scan('flavors:\n  vanilla: {}\ntoppings: [nuts]\n', 'menu.yaml')).formats).toEqual(['text']);
  });

  it('never throws and always ends in a verdict on arbitrary MLmodel-looking text', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), fc.string({ maxLength: 60 }), async (body, value) => {
        const f = await scan(`flavors:\n  ${body}\n  python_function:\n    loader_module: ${value}\nmlflow_version: ${value}\n`);
        expect(f.findings.every((x) => x.rule !== 'SCAN_ERROR')).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('environment files', () => {
  it('reads pip pins and leaves ranges, wildcards, URLs and options unpinned', () => {
    const env = parseRequirements('mlflow==2.22.0\n# comment\nnumpy>=1.2,<3\ntorch == 2.5.1+cpu ; python_version >= "3.9"\nscipy==1.11.*\n-r extra.txt\n--index-url https://x\npkg @ https://example.com/pkg.whl\nkeras===3.8.0  # pinned\nscikit_learn==1.5.\\\n2\n', 'requirements.txt');
    expect(env.pins.map((p) => [p.library, p.version, p.line])).toEqual([
      ['mlflow', '2.22.0', 1],
      ['torch', '2.5.1+cpu', 4],
      ['keras', '3.8.0', 9],
      ['scikit-learn', '1.5.2', 10],
    ]);
    expect(env.unpinned).toEqual(['numpy', 'scipy', 'pkg']);
    expect(env.includes).toEqual([{ path: 'extra.txt', from: 'requirements.txt', constraint: false }]);
  });

  it('reads conda specs (channel prefixes, conda names, builds) and the pip list', () => {
    const env = parseCondaEnv('channels:\n- conda-forge\ndependencies:\n- python=3.10.14\n- pip<=24.2\n- conda-forge::pytorch=2.5.1=py310_cpu\n- numpy 1.26.4 py310h0\n- scipy=1.11.*\n- pandas>=2\n- pip:\n  - mlflow==2.14.1\nname: mlflow-env\n', 'conda.yaml');
    expect(env.pins.map((p) => `${p.library}==${p.version}@${p.line}`)).toEqual(['torch==2.5.1@6', 'numpy==1.26.4@7', 'mlflow==2.14.1@11']);
    expect(env.unpinned).toEqual(['scipy', 'pandas']);
    expect(env.python).toBe('3.10.14');
    expect(parseCondaEnv('dependencies: [unclosed', 'conda.yaml').errors[0]).toMatch(/^conda\.yaml does not parse as YAML/);
  });

  it('reads python_env.yaml and its -r line', () => {
    const env = parsePythonEnv('python: 3.10.17\nbuild_dependencies:\n- pip==25.1.1\n- setuptools==80.0.0\ndependencies:\n- -r requirements.txt\n- -c constraints.txt\n', 'python_env.yaml');
    expect(env.python).toBe('3.10.17');
    expect(env.pins).toEqual([]);
    expect(env.includes.map((i) => [i.path, i.constraint])).toEqual([['requirements.txt', false], ['constraints.txt', true]]);
  });
});

describe('an MLflow model directory read as one model', () => {
  it('reports a pinned vulnerable loader with its CVE, version, files and fix (medium when it loads the artefacts)', async () => {
    const f = (await scanFile(fx('malicious/mlflow_vulnerable_env/MLmodel'))).files[0]!;
    const env = only(f, 'MLFLOW_ENV_VULNERABLE');
    expect(env.filter((x) => x.severity === 'medium').map((x) => x.message)).toEqual([
      "the model's environment pins torch==2.5.1 (conda.yaml:6, conda.yaml:11, requirements.txt:4), affected by CVE-2025-32434 (weights_only, critical in the loader catalogue); fixed in 2.6.0",
      "the model's environment pins torch==2.5.1 (conda.yaml:6, conda.yaml:11, requirements.txt:4), affected by CVE-2026-24747 (weights_only, high in the loader catalogue); fixed in 2.10.0",
    ]);
    expect(env[0]!.evidence.details).toMatchObject({ library: 'torch', version: '2.5.1', id: 'CVE-2025-32434', fixed: '2.6.0' });
    expect(env[0]!.references.slice(0, 2)).toEqual(['CVE-2025-32434', 'GHSA-53q9-r3pm-6pq6']);
    // MLflow 2.14.1's flaws are in the pmdarima, statsmodels and dspy flavors and in Recipes, not in this pytorch model's loader.
    expect(env.filter((x) => x.severity === 'low').map((x) => x.evidence.details!['id'])).toEqual(['CVE-2024-37055', 'CVE-2024-37060', 'CVE-2026-96804', 'CVE-2026-96775']);
    expect(f.maxSeverity).toBe('medium');
    expect(f.facts['mlflow.environment']).toEqual(['cloudpickle==3.0.0', 'mlflow==2.14.1', 'numpy==1.26.4', 'torch==2.5.1']);
    expect(f.facts['mlflow.environment_files']).toEqual(['conda.yaml', 'python_env.yaml', 'requirements.txt']);
  });

  it('rates an MLflow flaw medium for a model of the flavor it is in', async () => {
    const dir = modelDir('pmdarima', {
      MLmodel: 'flavors:\n  pmdarima:\n    data: model.pmd\n    pmdarima_version: 2.0.4\n  python_function:\n    env: conda.yaml\n    loader_module: mlflow.pmdarima\nmlflow_version: 2.14.1\n',
      'conda.yaml': 'dependencies:\n- pip:\n  - mlflow==2.14.1\n',
    });
    const f = (await scanFile(join(dir, 'MLmodel'))).files[0]!;
    expect(only(f, 'MLFLOW_ENV_VULNERABLE').map((x) => [x.evidence.details!['id'], x.severity])).toEqual([
      ['CVE-2024-37055', 'medium'],
      ['CVE-2024-37060', 'low'],
      ['CVE-2026-96804', 'low'],
      ['CVE-2026-96775', 'low'],
    ]);
    expect(f.facts['mlflow.missing_artifacts']).toEqual(['model.pmd']);
  });

  it('keeps a benign sklearn model clean at medium and above, artefact and all', async () => {
    const r = await scanPath(fx('benign/mlflow_sklearn'));
    for (const f of r.files) expect(loud(f), f.path).toEqual([]);
    const mlmodel = r.files.find((x) => x.path.endsWith('MLmodel'))!;
    expect(only(mlmodel, 'MLFLOW_PICKLE_ARTIFACT')).toHaveLength(1);
    expect(mlmodel.complete).toBe(true);
  });

  it('lists the code files a code path ships; the loader itself keeps its own finding', async () => {
    const r = await scanPath(fx('malicious/mlflow_code_loader'));
    const mlmodel = r.files.find((x) => x.path.endsWith('MLmodel'))!;
    expect(only(mlmodel, 'MLFLOW_MODEL_CODE')[0]!.evidence.files).toEqual(['code/custom_loader.py']);
    expect(mlmodel.facts['mlflow.code_files']).toEqual(['code/custom_loader.py']);
    const loader = r.files.find((x) => x.path.endsWith('custom_loader.py'))!;
    expect(only(loader, 'PYTHON_DANGEROUS_CALL').map((x) => [x.severity, x.message])).toContainEqual(['critical', 'calls os.system at line 8']);
  });

  it('names the pyfunc pickle from the MLmodel, and the pickle calls os.system', async () => {
    const r = await scanPath(fx('malicious/mlflow_pyfunc_pickle'));
    const mlmodel = r.files.find((x) => x.path.endsWith('MLmodel'))!;
    expect(only(mlmodel, 'MLFLOW_PICKLE_ARTIFACT').map((x) => x.evidence.files)).toEqual([['python_model.pkl']]);
    const pkl = r.files.find((x) => x.path.endsWith('python_model.pkl'))!;
    expect(only(pkl, 'PICKLE_DANGEROUS_GLOBAL').map((x) => [x.severity, x.evidence.canonical])).toEqual([['critical', 'os.system']]);
  });

  it('fails closed on an environment file it cannot read or parse, and never reads outside the model', async () => {
    const dir = modelDir('broken-env', {
      MLmodel: SKLEARN,
      'conda.yaml/keep': '',
      'python_env.yaml': 'python: [unclosed\n',
      'requirements.txt': '-r ../../outside.txt\nmlflow\n',
    });
    writeFileSync(join(tmp, 'outside.txt'), 'torch==2.5.1\n');
    const f = (await scanFile(join(dir, 'MLmodel'))).files[0]!;
    expect(only(f, 'MLFLOW_CONFIG_MALFORMED').map((x) => [x.severity, x.message.split(':')[0]])).toEqual([
      ['medium', 'environment file conda.yaml is not a regular file'],
      ['medium', 'environment'],
    ]);
    expect(only(f, 'MLFLOW_CONFIG_MALFORMED')[1]!.message).toMatch(/^environment: python_env\.yaml does not parse as YAML/);
    expect(only(f, 'MLFLOW_ENV_VULNERABLE')).toEqual([]);
    expect(f.facts['mlflow.environment_unpinned']).toEqual(['mlflow']);
    expect(f.complete).toBe(false);
  });
});

describe('rules/mlflow-flavors.yaml', () => {
  const flavors = [...mlflowFlavorCatalogue().flavors.values()];
  const vulns = new Map(loaderVulnCatalogue().entries.map((e) => [e.id, e]));

  it('names only formats the scanner reports, and MLflow entries of the loader catalogue', () => {
    expect(flavors.length).toBeGreaterThan(10);
    for (const f of flavors) {
      for (const fmt of f.formats) expect(isPolicyFormatName(fmt), `${f.flavor}: ${fmt}`).toBe(true);
      for (const id of f.mlflowVulnerabilities) expect(vulns.get(id)?.library, `${f.flavor}: ${id}`).toBe('mlflow');
      expect(f.references.length).toBeGreaterThan(0);
    }
  });
});
