/**
 * For the tests that install modelgate the ways users do (npm pack, npx, pre-commit): a copy of
 * the checkout to build from, an environment free of the test runner's npm state, and a child
 * process runner that never throws.
 */
import { spawn } from 'node:child_process';
import { cpSync, realpathSync, symlinkSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');

/** What a checkout holds that is not the project: installed or built state, local data. */
const NOT_SOURCE = /^(node_modules|dist|\.git|\.venv[^/]*|bench\/out|modelgate-data|tmp|[^/]*\.tgz|[^/]*\.log)(\/|$)/;

/**
 * The checkout as it is now (uncommitted edits included) copied to `dest`, with node_modules
 * linked rather than copied (unless `linkNodeModules` is false: a copy to be committed and
 * installed from git must not carry it). Building there, never in the checkout, keeps the dist/
 * other tests run from untouched while they run.
 */
export function copyCheckout(dest: string, { linkNodeModules = true } = {}): void {
  cpSync(ROOT, dest, {
    recursive: true,
    filter: (src) => {
      const rel = relative(ROOT, src).split(sep).join('/');
      return rel === '' || !NOT_SOURCE.test(rel);
    },
  });
  if (linkNodeModules) symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(dest, 'node_modules'));
}

/**
 * The environment with the npm state of the command that started the tests removed (`npm test`
 * exports its prefix, lifecycle and package variables, which would redirect a nested install).
 * The user's npm configuration (registry, cache, ~/.npmrc) stays.
 */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (/^npm_(lifecycle_|package_|command$|execpath$|node_execpath$)/i.test(k)) continue;
    if (/^npm_config_(global|prefix|local_prefix|global_prefix|dry_run|ignore_scripts|yes|package|call|workspaces?|include_workspace_root)$/i.test(k)) continue;
    if (k === 'INIT_CWD' || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return { ...env, NO_COLOR: '1', ...extra };
}

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; a non-zero exit is a result, not an exception. */
export function runCommand(cmd: string, args: string[], opts: { cwd: string; env: Record<string, string> }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

/** A failure message that shows what the command said. */
export function explain(what: string, r: Ran): string {
  return `${what} exited ${r.code}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}`;
}
