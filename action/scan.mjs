#!/usr/bin/env node
/**
 * The scanning step of the GitHub Action (action.yml). It reads what a runner gives a composite
 * action's step: its inputs as INPUT_* variables (mapped in action.yml, never interpolated into a
 * shell), GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and RUNNER_TEMP; the working directory is the
 * workspace, so SARIF paths come out relative to the repository root as code scanning wants them.
 *
 * It runs `modelgate scan` from this checkout (bin/modelgate.js) and always exits 0 when the scan
 * itself worked, findings or not: the SARIF upload comes after it and must run, and the action's
 * last step fails the job from the `failed` output. A usage or internal error (exit 2, or any
 * code other than 0 and 1) fails this step at once with the scanner's own line on stderr.
 *
 * Inputs (all optional): INPUT_PATHS (one per line, default "."), INPUT_FAIL_ON (critical | high |
 * medium | low | none; default medium), INPUT_SARIF_FILE (default $RUNNER_TEMP/modelgate.sarif),
 * INPUT_SUMMARY ("true": a Markdown report in the job summary), INPUT_ALLOW_NO_MODELS ("true": no
 * model file found passes with an empty report instead of exit 3), INPUT_ARGS (more `scan` flags,
 * split on whitespace). Outputs: sarif-file, exit-code, findings (SARIF results), failed.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = join(dirname(dirname(fileURLToPath(import.meta.url))), 'bin', 'modelgate.js');
const SEVERITIES = ['critical', 'high', 'medium', 'low'];

function input(name, fallback) {
  const v = process.env[`INPUT_${name}`]?.trim();
  return v ? v : fallback;
}

function die(message) {
  process.stderr.write(`modelgate action: ${message}\n`);
  process.exit(2);
}

/** Appends `name=value` lines to GITHUB_OUTPUT (or prints them when run by hand). */
function setOutputs(outputs) {
  const lines = Object.entries(outputs).map(([k, v]) => {
    const s = String(v);
    if (/[\r\n]/.test(s)) die(`output ${k} would span lines: ${JSON.stringify(s)}`);
    return `${k}=${s}\n`;
  });
  if (process.env.GITHUB_OUTPUT) appendFileSync(process.env.GITHUB_OUTPUT, lines.join(''));
  else process.stdout.write(lines.join(''));
}

function scan(args) {
  return spawnSync(process.execPath, [BIN, 'scan', '--no-progress', ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    env: { ...process.env, NO_COLOR: '1' },
  });
}

const paths = input('PATHS', '.').split(/\r?\n/).map((p) => p.trim()).filter((p) => p !== '');
const failOn = input('FAIL_ON', 'medium');
if (failOn !== 'none' && !SEVERITIES.includes(failOn)) die(`fail-on must be one of ${[...SEVERITIES, 'none'].join(', ')}, got '${failOn}'`);
const sarifFile = resolve(input('SARIF_FILE', join(process.env.RUNNER_TEMP || tmpdir(), 'modelgate.sarif')));
const extra = input('ARGS', '').split(/\s+/).filter((a) => a !== '');
if (input('ALLOW_NO_MODELS', 'false') === 'true') extra.unshift('--allow-no-models');
const summary = input('SUMMARY', 'true') === 'true';
// `none` still needs a threshold for the exit code and the summary's verdict line
const threshold = failOn === 'none' ? 'medium' : failOn;

try {
  mkdirSync(dirname(sarifFile), { recursive: true });
} catch (e) {
  die(`cannot create the folder of ${sarifFile}: ${e.message}`);
}

// `--` ends the options, so a path that starts with '-' is still a path
const run = scan(['--format', 'sarif', '--output', sarifFile, '--fail-on', threshold, ...extra, '--', ...paths]);
const code = run.status ?? 2;
if (run.stderr) process.stderr.write(run.stderr);
if (code !== 0 && code !== 1) {
  setOutputs({ 'exit-code': code, failed: 'true' });
  // the scanner's own line says why; add one only when it said nothing
  if (!run.stderr) process.stderr.write(`modelgate action: modelgate scan exited with ${run.error ? run.error.message : `code ${code}`}\n`);
  process.exit(code);
}

let findings;
try {
  findings = JSON.parse(readFileSync(sarifFile, 'utf8')).runs.reduce((n, r) => n + (r.results?.length ?? 0), 0);
} catch (e) {
  die(`the SARIF report ${sarifFile} is unreadable: ${e.message}`);
}

if (summary && process.env.GITHUB_STEP_SUMMARY) {
  const md = scan(['--format', 'markdown', '--fail-on', threshold, ...extra, '--', ...paths]);
  if (md.status === 0 || md.status === 1) appendFileSync(process.env.GITHUB_STEP_SUMMARY, `${md.stdout}\n`);
  else process.stderr.write(`modelgate action: no job summary (the Markdown scan exited with ${md.status}): ${md.stderr}`);
}

const failed = code === 1 && failOn !== 'none';
setOutputs({ 'sarif-file': sarifFile, 'exit-code': code, findings, failed: String(failed) });
process.stdout.write(`modelgate: ${findings} result(s) in ${sarifFile}; ${failed ? `findings at or above ${failOn}` : 'nothing fails the job'}\n`);
