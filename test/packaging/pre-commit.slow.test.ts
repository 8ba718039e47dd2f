/**
 * SLOW (several minutes; needs the npm registry): the pre-commit hook (.pre-commit-hooks.yaml) run
 * by the real pre-commit, as `pre-commit try-repo` runs a hook repository before anyone adopts it.
 * The hook repository is this checkout as it is now, committed into a temporary git repository;
 * pre-commit installs it the way it installs every `language: node` hook (nodeenv on the system
 * Node, then `npm install -g git+file://<clone>`, which builds dist/ through `prepare`), then
 * runs it in another temporary repository on a malicious and a benign model.
 * pre-commit comes from the MG_PYTHON environment (test/requirements.txt).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/manifest.js';
import { pythonOf } from '../helpers/python-envs.mjs';
import { cleanEnv, copyCheckout, explain, runCommand, type Ran } from '../helpers/install.js';

const SLOW = 30 * 60_000;
const PYTHON = pythonOf('MG_PYTHON');

function preCommitMissing(): string | null {
  try {
    execFileSync(PYTHON, ['-m', 'pre_commit', '--version'], { stdio: 'ignore' });
    return null;
  } catch {
    return `no pre-commit in ${PYTHON} (test/requirements.txt; npm run test:env installs it)`;
  }
}
const missing = preCommitMissing();

const work = mkdtempSync(join(tmpdir(), 'mg-pre-commit-'));
const hookRepo = join(work, 'hook-repo');
const project = join(work, 'project');
const env = cleanEnv({
  PRE_COMMIT_HOME: join(work, 'pre-commit-home'),
  // the dependencies once fetched are in the user's npm cache: no need to revalidate them
  npm_config_prefer_offline: 'true',
});

function git(cwd: string, ...args: string[]): void {
  execFileSync('git', ['-c', 'user.name=modelgate test', '-c', 'user.email=test@modelgate.invalid', '-c', 'init.defaultBranch=main', ...args], { cwd, stdio: 'ignore' });
}

/**
 * `pre-commit try-repo` installs the hook into a throwaway store on every call (minutes each): the
 * two calls below run side by side.
 */
function tryRepo(...args: string[]): Promise<Ran> {
  return runCommand(PYTHON, ['-m', 'pre_commit', 'try-repo', '--color', 'never', hookRepo, 'modelgate', ...args], { cwd: project, env });
}

describe.skipIf(missing !== null)(`pre-commit try-repo with the modelgate hook (slow: installs from the npm registry)${missing ? ` — SKIPPED: ${missing}` : ''}`, () => {
  beforeAll(() => {
    copyCheckout(hookRepo, { linkNodeModules: false });
    git(hookRepo, 'init', '-q');
    git(hookRepo, 'add', '-A');
    git(hookRepo, 'commit', '-q', '-m', 'modelgate as it is being tested');
    mkdirSync(join(project, 'models'), { recursive: true });
    copyFileSync(join(FIXTURES, 'malicious', 'torch_zip_reduce.pt'), join(project, 'models', 'evil.pt'));
    copyFileSync(join(FIXTURES, 'benign', 'torch_state_dict.pt'), join(project, 'models', 'good.pt'));
    writeFileSync(join(project, 'notes.txt'), 'not a model\n');
    git(project, 'init', '-q');
    git(project, 'add', '-A');
  });

  afterAll(() => rmSync(work, { recursive: true, force: true }), SLOW);

  it.concurrent('fails the commit on a malicious model, naming the rule', async () => {
    const bad = await tryRepo('--files', 'models/evil.pt', 'models/good.pt', 'notes.txt');
    expect(bad.code, explain('pre-commit on the malicious model', bad)).toBe(1);
    expect(bad.stdout).toMatch(/modelgate \(scan model files\)\.+Failed/);
    expect(bad.stdout).toContain('- exit code: 1');
    expect(bad.stdout).toContain('PICKLE_DANGEROUS_GLOBAL  calls os.system');
    expect(bad.stdout).toMatch(/models\/evil\.pt › archive\/data\.pkl @ offset \d+/);
  }, SLOW);

  it.concurrent('passes a benign model, and hands the scanner only the model files', async () => {
    const good = await tryRepo('--verbose', '--files', 'models/good.pt', 'notes.txt');
    expect(good.code, explain('pre-commit on the benign model', good)).toBe(0);
    expect(good.stdout).toMatch(/modelgate \(scan model files\)\.+Passed/);
    expect(good.stdout).toMatch(/models\/good\.pt .*\bok\b/);
    // notes.txt is not a model file name: the hook never received it
    expect(good.stdout).toMatch(/Scanned 1 file in/);
    expect(good.stdout).not.toContain('notes.txt');
  }, SLOW);
});
