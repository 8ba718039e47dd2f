/**
 * The GitHub Action (action.yml) as a runner would drive it: the scan step's command and its
 * INPUT_* variables are read from action.yml itself, `${{ inputs.x }}` filled from the values a
 * workflow would give or the declared defaults, with GITHUB_OUTPUT, GITHUB_STEP_SUMMARY,
 * RUNNER_TEMP and GITHUB_ACTION_PATH set and the workspace as working directory. Runs the compiled
 * CLI (npm test builds first).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { FIXTURES } from '../helpers/manifest.js';

const ROOT = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);
/** Each case starts the CLI once or twice; generous for a loaded machine, never a timing assertion. */
const CASE_TIMEOUT = 5 * 60_000;

interface Step {
  id?: string;
  name?: string;
  if?: string;
  uses?: string;
  run?: string;
  shell?: string;
  env?: Record<string, string>;
  with?: Record<string, string>;
}
interface ActionYaml {
  inputs: Record<string, { default?: string }>;
  outputs: Record<string, { value: string }>;
  runs: { using: string; steps: Step[] };
}

/** Every case's workspace and runner temp folder live under one directory, removed at the end. */
const scratch = mkdtempSync(join(tmpdir(), 'mg-action-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const action = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as ActionYaml;
const steps = action.runs.steps;
const scanStep = steps.find((s) => s.id === 'scan')!;

/** The scan step's env as the runner expands it for the given workflow inputs. */
function stepEnv(given: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(scanStep.env ?? {})) {
    env[k] = v.replace(/\$\{\{\s*inputs\.([\w-]+)\s*\}\}/g, (_, name: string) => {
      if (!(name in action.inputs)) throw new Error(`action.yml maps an undeclared input: ${name}`);
      return given[name] ?? action.inputs[name]!.default ?? '';
    });
  }
  return env;
}

interface StepResult {
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  workspace: string;
}

async function runScanStep(files: Record<string, string>, given: Record<string, string>): Promise<StepResult> {
  const workspace = mkdtempSync(join(scratch, 'workspace-'));
  for (const [rel, fixture] of Object.entries(files)) {
    mkdirSync(join(workspace, rel, '..'), { recursive: true });
    copyFileSync(join(FIXTURES, fixture), join(workspace, rel));
  }
  const runnerTemp = `${workspace}-runner-temp`;
  mkdirSync(runnerTemp);
  const outputFile = join(runnerTemp, 'github_output');
  const summaryFile = join(runnerTemp, 'step_summary');
  writeFileSync(outputFile, '');
  writeFileSync(summaryFile, '');
  // the step's `run:` line, with the variable the runner sets for composite actions
  const command = scanStep.run!.trim();
  expect(command).toBe('node "$GITHUB_ACTION_PATH/action/scan.mjs"');
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    GITHUB_WORKSPACE: workspace,
    GITHUB_ACTION_PATH: ROOT,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    RUNNER_TEMP: runnerTemp,
    ...stepEnv(given),
  };
  let code = 0;
  let stdout = '';
  let stderr = '';
  try {
    ({ stdout, stderr } = await run('bash', ['-e', '-c', command], { cwd: workspace, env }));
  } catch (e) {
    ({ code, stdout, stderr } = e as { code: number; stdout: string; stderr: string });
  }
  const outputs: Record<string, string> = {};
  for (const line of readFileSync(outputFile, 'utf8').split('\n').filter(Boolean)) {
    const eq = line.indexOf('=');
    outputs[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return { code, stdout, stderr, outputs, summary: readFileSync(summaryFile, 'utf8'), workspace };
}

interface Sarif {
  version: string;
  runs: { tool: { driver: { name: string } }; results: { ruleId: string; level: string; locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }[] }[];
}

describe('action.yml', () => {
  it('is a composite action: scan step, then the SARIF upload whatever the verdict, then the failure', () => {
    expect(action.runs.using).toBe('composite');
    const names = steps.map((s) => s.id ?? s.uses ?? s.name);
    const scanAt = steps.indexOf(scanStep);
    const upload = steps.find((s) => s.uses?.startsWith('github/codeql-action/upload-sarif@'))!;
    const fail = steps.find((s) => s.if?.includes('steps.scan.outputs.failed'))!;
    expect(steps.indexOf(upload), names.join(', ')).toBeGreaterThan(scanAt);
    expect(steps.indexOf(fail)).toBeGreaterThan(steps.indexOf(upload));
    expect(upload.uses).toBe('github/codeql-action/upload-sarif@v4');
    expect(upload.if).toContain('always()');
    expect(upload.with?.['sarif_file']).toBe('${{ steps.scan.outputs.sarif-file }}');
    expect(fail.run).toContain('exit 1');
    // inputs reach shells only through env, never spliced into a script
    for (const s of steps) expect(s.run ?? '', s.name).not.toMatch(/\$\{\{\s*inputs\./);
    for (const [name, out] of Object.entries(action.outputs)) expect(out.value).toBe(`\${{ steps.scan.outputs.${name} }}`);
  });
});

describe('action/scan.mjs with a runner environment (slow-ish: scans twice per run)', () => {
  it('a malicious model: SARIF with the rule at its workspace-relative path, outputs, summary; the step itself passes', async () => {
    const r = await runScanStep(
      { 'models/evil.pt': 'malicious/torch_zip_reduce.pt', 'models/good.pt': 'benign/torch_state_dict.pt' },
      { paths: 'models\n' },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.outputs).toEqual({ 'sarif-file': r.outputs['sarif-file'], 'exit-code': '1', findings: '1', failed: 'true' });
    expect(r.outputs['sarif-file']).toMatch(/-runner-temp\/modelgate\.sarif$/);
    const sarif = JSON.parse(readFileSync(r.outputs['sarif-file']!, 'utf8')) as Sarif;
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.runs[0]!.tool.driver.name).toBe('modelgate');
    expect(sarif.runs[0]!.results.map((x) => [x.ruleId, x.level, x.locations[0]!.physicalLocation.artifactLocation.uri])).toEqual([
      ['PICKLE_DANGEROUS_GLOBAL', 'error', 'models/evil.pt'],
    ]);
    expect(r.summary).toContain('modelgate: 1 of 2 files with findings at or above medium');
    expect(r.summary).toContain('`PICKLE_DANGEROUS_GLOBAL`');
    expect(r.stdout).toContain('findings at or above medium');
  }, CASE_TIMEOUT);

  it('a benign model: empty SARIF results and nothing fails', async () => {
    const r = await runScanStep({ 'weights/model.pt': 'benign/torch_state_dict.pt' }, { paths: 'weights/model.pt', 'sarif-file': 'reports/out.sarif' });
    expect(r.code).toBe(0);
    expect(r.outputs).toEqual({ 'sarif-file': join(r.workspace, 'reports', 'out.sarif'), 'exit-code': '0', findings: '0', failed: 'false' });
    const sarif = JSON.parse(readFileSync(join(r.workspace, 'reports', 'out.sarif'), 'utf8')) as Sarif;
    expect(sarif.runs[0]!.results).toEqual([]);
    expect(r.summary).toMatch(/^✅/);
  }, CASE_TIMEOUT);

  it('fail-on none reports the finding without failing; fail-on critical still fails on a critical one', async () => {
    const none = await runScanStep({ 'm.pt': 'malicious/torch_zip_reduce.pt' }, { paths: 'm.pt', 'fail-on': 'none', summary: 'false' });
    expect(none.code).toBe(0);
    expect(none.outputs).toMatchObject({ 'exit-code': '1', findings: '1', failed: 'false' });
    expect(none.summary).toBe('');
    const critical = await runScanStep({ 'm.pt': 'malicious/torch_zip_reduce.pt' }, { paths: 'm.pt', 'fail-on': 'critical', summary: 'false' });
    expect(critical.outputs).toMatchObject({ 'exit-code': '1', failed: 'true' });
  }, CASE_TIMEOUT);

  it('a path that does not exist fails the step with the scanner\'s one line, and no SARIF to upload', async () => {
    const r = await runScanStep({}, { paths: 'missing-dir' });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('modelgate: no such file or directory: missing-dir\n');
    expect(r.outputs).toEqual({ 'exit-code': '2', failed: 'true' });
    expect(existsSync(join(`${r.workspace}-runner-temp`, 'modelgate.sarif'))).toBe(false);
  }, CASE_TIMEOUT);

  it('no model file: the step fails with exit 3 and the scanner\'s line, unless allow-no-models is true', async () => {
    const strict = await runScanStep({ 'docs/README.md': 'repos/acme/tiny-bert/README.md' }, { summary: 'false', 'upload-sarif': 'false' });
    expect(strict.code).toBe(3);
    expect(strict.stderr).toBe('modelgate: no model file found: 1 file scanned, only text, empty files or data of no recognised format\n');
    expect(strict.outputs).toEqual({ 'exit-code': '3', failed: 'true' });
    const lenient = await runScanStep({ 'docs/README.md': 'repos/acme/tiny-bert/README.md' }, { summary: 'false', 'allow-no-models': 'true' });
    expect(lenient.code).toBe(0);
    expect(lenient.outputs).toMatchObject({ 'exit-code': '0', findings: '0', failed: 'false' });
  }, CASE_TIMEOUT);

  it('a bad fail-on value is refused in one line before scanning', async () => {
    const r = await runScanStep({ 'm.pt': 'benign/torch_state_dict.pt' }, { 'fail-on': 'severe' });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("modelgate action: fail-on must be one of critical, high, medium, low, none, got 'severe'\n");
    expect(r.outputs).toEqual({});
  }, CASE_TIMEOUT);
});
