/**
 * Expands the paths a user gives into the files to scan: directories recursively, every file
 * whatever its name (content decides the format), symlinks followed once (Hugging Face caches
 * are symlink farms) with loop protection. Unreadable entries are reported, never skipped; only
 * files a selector (--include / --exclude) leaves out are, and they are counted.
 *
 * A link below a directory being scanned is followed only while it stays inside that directory
 * (or, in a Hugging Face cache, inside the repository's `blobs/` next to `snapshots/`). One that
 * leads elsewhere is reported and not read: a checked-out repository is untrusted, and a
 * `weights.bin -> ~/.ssh/id_rsa` (or `-> /proc/self/environ` in CI) would otherwise be read and
 * shown in the report as if it were the repository's own file.
 *
 * The file system is asked synchronously (the walk serves the command line and scanPath, which
 * list their paths before scanning anything): each asynchronous stat was a thread-pool round trip,
 * several per file, a large part of a small file's scan.
 */
import { lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
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
  for (const p of paths) {
    // What the user named is trusted, a link included; what lies below it is held to it.
    const root = realOrNull(p);
    yield* walkOne(p, normaliseRelative(p), true, seenDirs, select, root);
  }
}

function realOrNull(p: string): string | null {
  try {
    return realpathSync.native(p);
  } catch {
    return null;
  }
}

const inside = (p: string, dir: string): boolean => {
  const r = relative(dir, p);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
};

/** Where a link below `root` leads when that is outside it (and not a cache blob), else null. */
function escapes(path: string, root: string): string | null {
  let target: string;
  try {
    if (!lstatSync(path).isSymbolicLink()) return null;
    target = realpathSync.native(path);
  } catch {
    return null; // dangling or unreadable: stat below reports it
  }
  if (inside(target, root)) return null;
  // Hugging Face cache: snapshots/<rev>/<file> -> ../../blobs/<hash>, scanned from a snapshot.
  for (let d = dirname(path); d !== dirname(d); d = dirname(d)) {
    if (basename(d) !== 'snapshots') continue;
    const blobs = realOrNull(join(dirname(d), 'blobs'));
    if (blobs && inside(target, blobs)) return null;
    break;
  }
  return target;
}

async function* walkOne(path: string, rel: string, top: boolean, seenDirs: Set<string>, select: PathSelector | undefined, root: string | null): AsyncGenerator<WalkEntry> {
  if (!top && root !== null) {
    const target = escapes(path, root);
    if (target !== null) {
      // Left out like what it leads to would be: a file the globs do not select, a pruned directory.
      let isDir = false;
      try {
        isDir = statSync(path).isDirectory();
      } catch {
        // unreadable: treated as a file
      }
      if (select && (isDir ? select.prunes(rel) : !select.selects(rel))) yield { path, excluded: true };
      else yield { path, error: `symbolic link to ${target}, outside the scanned directory ${root}; not followed` };
      return;
    }
  }
  let st;
  try {
    st = statSync(path);
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
    real = realpathSync.native(path);
  } catch (e) {
    yield { path, error: describe(e) };
    return;
  }
  if (seenDirs.has(real)) return;
  seenDirs.add(real);
  let names: string[];
  try {
    names = readdirSync(path).sort();
  } catch (e) {
    yield { path, error: describe(e) };
    return;
  }
  for (const name of names) yield* walkOne(join(path, name), base ? `${base}/${name}` : name, false, seenDirs, select, root);
}

function describe(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return 'no such file or directory';
  if (err.code === 'EACCES' || err.code === 'EPERM') return 'permission denied';
  if (err.code === 'ELOOP') return 'too many levels of symbolic links';
  return err.code ?? String(e);
}
