#!/usr/bin/env node
// Prepares the Python environments the tests drive (the real huggingface_hub, transformers, torch,
// scikit-learn... that write fixtures and act as clients), so that `npm test` on a fresh clone
// needs nothing else. Runs before the tests; never fails them: a missing environment makes the
// tests that need it skip or fail with their own reason, and this script says why here.
//
// For each environment: an explicit MG_PYTHON / MG_PYTHON_HUB2 is the user's choice and is left
// alone; otherwise the machine-wide /opt/mg-venv(-hub2) is used when present, else a venv in the
// checkout (.venv-clients, .venv-hub2) is created. Either is brought up to its requirements file
// when that file changed since the last install (a stamp beside the venv records its sha256), so
// a run with nothing to do costs one hash, not a pip resolve.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENVIRONMENTS } from '../test/helpers/python-envs.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const say = (line) => process.stderr.write(`test-env: ${line}\n`);

function run(cmd, args, extraEnv = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...extraEnv } });
  return r.status === 0;
}

for (const env of ENVIRONMENTS) {
  if (process.env[env.variable]) continue;
  const dir = existsSync(join(env.machineDir, 'bin', 'python')) ? env.machineDir : join(root, env.localDir);
  const python = join(dir, 'bin', 'python');
  const requirements = join(root, env.requirements);
  const digest = createHash('sha256').update(readFileSync(requirements)).digest('hex');
  const stamp = join(dir, '.modelgate-requirements.sha256');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === digest) continue;
  if (!existsSync(python)) {
    say(`creating ${dir} for ${env.requirements} (first run only; this takes a few minutes)`);
    if (!run('python3', ['-m', 'venv', dir])) {
      say(`could not create ${dir} (is python3 with venv installed?); tests needing ${env.requirements} will skip or fail and say why`);
      continue;
    }
  }
  say(`installing ${env.requirements} into ${dir}`);
  const ok = run(python, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', '--timeout', '5', '--retries', '0', '-r', requirements], { PIP_RETRIES: '0' });
  if (ok) writeFileSync(stamp, `${digest}\n`);
  else say(`could not install ${env.requirements} into ${dir}; tests needing those packages will skip or fail and say why`);
}
