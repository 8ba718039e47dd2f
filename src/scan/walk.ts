/**
 * Expands the paths a user gives into the files to scan: directories recursively, every file
 * whatever its name (content decides the format), symlinks followed once (Hugging Face caches
 * are symlink farms) with loop protection. Unreadable entries are reported, never skipped.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface WalkEntry {
  path: string;
  /** Set when the entry could not be listed or stat'ed. */
  error?: string;
}

export async function* walkPaths(paths: readonly string[]): AsyncGenerator<WalkEntry> {
  const seenDirs = new Set<string>();
  for (const p of paths) yield* walkOne(p, seenDirs);
}

async function* walkOne(path: string, seenDirs: Set<string>): AsyncGenerator<WalkEntry> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    yield { path, error: describe(e) };
    return;
  }
  if (st.isFile()) {
    yield { path };
    return;
  }
  if (!st.isDirectory()) {
    yield { path, error: 'not a regular file or directory' };
    return;
  }
  let real: string;
  try {
    real = await realpath(path);
  } catch (e) {
    yield { path, error: describe(e) };
    return;
  }
  if (seenDirs.has(real)) return;
  seenDirs.add(real);
  let names: string[];
  try {
    names = (await readdir(path)).sort();
  } catch (e) {
    yield { path, error: describe(e) };
    return;
  }
  for (const name of names) yield* walkOne(join(path, name), seenDirs);
}

function describe(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return 'no such file or directory';
  if (err.code === 'EACCES' || err.code === 'EPERM') return 'permission denied';
  if (err.code === 'ELOOP') return 'too many levels of symbolic links';
  return err.code ?? String(e);
}
