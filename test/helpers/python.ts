/**
 * Builds fixtures with real tools (Python's zipfile/tarfile/gzip/bz2/lzma, the zstd CLI) into a
 * temporary directory, so tests exercise the bytes those libraries really write.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { pythonOf } from './python-envs.mjs';

// The test environment (tools/test-env.mjs makes it before `npm test`), else the system's python3.
export const PYTHON = existsSync(pythonOf('MG_PYTHON')) ? pythonOf('MG_PYTHON') : 'python3';

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs a Python script with OUT set to a fresh directory; returns a reader for files written there. */
export function runPython(script: string): { dir: string; file: (name: string) => Uint8Array } {
  const dir = mkdtempSync(join(tmpdir(), 'mg-fixture-'));
  // A file, not -c: TorchScript needs the source of the classes it compiles.
  const path = join(dir, 'make_fixture.py');
  writeFileSync(path, `import os\nOUT = ${JSON.stringify(dir)}\n${script}`);
  execFileSync(PYTHON, [path], { stdio: ['ignore', 'ignore', 'inherit'] });
  return { dir, file: (name) => new Uint8Array(readFileSync(join(dir, name))) };
}
