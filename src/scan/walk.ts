/**
 * Expands the paths a user gives into the files to scan: directories recursively, every file
 * whatever its name (content decides the format), symlinks followed once (Hugging Face caches
 * are symlink farms) with loop protection. Unreadable entries are reported, never skipped; only
 * files a selector (--include / --exclude) leaves out are, and they are counted.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { normaliseRelative } from './glob.js';
import type { PathSelector } from './select.js';

export interface WalkEntry {
  path: string;
  /** Set when the entry could not be listed or stat'ed. */
  error?: string;
  /** Set when the selector left the file out (it is not scanned). */
  excluded?: true;
}

export async function* walkPaths(paths: readonly string[], select?: PathSelector): AsyncGenerator<WalkEntry> {
  const seenDirs = new Set<string>();
  // A file named on the command line is matched by the path as given; a directory's files by
  // their path below it.
  for (const p of paths) yield* walkOne(p, normaliseRelative(p), true, seenDirs, select);
}

async function* walkOne(path: string, rel: string, top: boolean, seenDirs: Set<string>, select: PathSelector | undefined): AsyncGenerator<WalkEntry> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    // A dangling link the globs leave out is left out, not reported unreadable.
    if (select && !select.selects(rel)) yield { path, excluded: true };
    else yield { path, error: describe(e) };
    return;
  }
  if (st.isFile()) {
    if (select && !select.selects(rel)) yield { path, excluded: true };
    else yield { path };
    return;
  }
  if (!st.isDirectory()) {
    yield { path, error: 'not a regular file or directory' };
    return;
  }
  const base = top ? '' : rel;
  if (!top && select?.prunes(base)) return;
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
  for (const name of names) yield* walkOne(join(path, name), base ? `${base}/${name}` : name, false, seenDirs, select);
}

function describe(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return 'no such file or directory';
  if (err.code === 'EACCES' || err.code === 'EPERM') return 'permission denied';
  if (err.code === 'ELOOP') return 'too many levels of symbolic links';
  return err.code ?? String(e);
}
