// The Python environments the tests use, in one place: tools/test-env.mjs creates and updates
// them before `npm test`, and test/helpers/python-env.ts finds them. Plain JavaScript so the
// set-up script runs before anything is compiled.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The checkout: the nearest folder up with a package.json (this file also runs compiled, from
// dist/test/helpers, where '../..' would be dist/).
function checkoutRoot() {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) return resolve(dirname(fileURLToPath(import.meta.url)), '../..');
    dir = up;
  }
  return dir;
}
const root = checkoutRoot();

export const ENVIRONMENTS = [
  { variable: 'MG_PYTHON', requirements: 'test/requirements.txt', machineDir: '/opt/mg-venv', localDir: '.venv-clients' },
  { variable: 'MG_PYTHON_HUB2', requirements: 'test/requirements-hub2.txt', machineDir: '/opt/mg-venv-hub2', localDir: '.venv-hub2' },
];

/**
 * The interpreter of an environment: the variable, else the machine's venv, else the checkout's;
 * the machine path when none exists (callers check and skip).
 * @param {'MG_PYTHON' | 'MG_PYTHON_HUB2'} variable
 * @returns {string}
 */
export function pythonOf(variable) {
  const env = ENVIRONMENTS.find((e) => e.variable === variable);
  if (!env) throw new Error(`unknown Python environment ${variable}`);
  const explicit = process.env[variable];
  if (explicit) return explicit;
  for (const dir of [env.machineDir, join(root, env.localDir)]) {
    const p = join(dir, 'bin', 'python');
    if (existsSync(p)) return p;
  }
  return join(env.machineDir, 'bin', 'python');
}
