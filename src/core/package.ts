import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/**
 * The package root (the directory holding package.json), from src/ under vitest, dist/src/ after
 * tsc or dist/cli/ bundled. Found once: a scan asks for it for every catalogue it loads.
 */
export function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return (root = dir);
    dir = dirname(dir);
  }
  throw new Error('cannot locate the modelgate package root (package.json)');
}

let cached: string | null = null;

export function packageVersion(): string {
  if (cached === null) {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string };
    cached = pkg.version ?? '0.0.0';
  }
  return cached;
}
