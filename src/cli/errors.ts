/**
 * What the CLI reports as a usage error: the user's input is wrong (a flag, a path, a file they
 * named). `main` prints it as one line on stderr and exits 2; never "internal error".
 */
export class UsageError extends Error {}

/** A file-system error code in words, for messages about the user's own files. */
export function fsReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT': return 'no such file or directory';
    case 'ENOTDIR': return 'a part of the path is not a directory';
    case 'EISDIR': return 'is a directory';
    case 'EACCES':
    case 'EPERM': return 'permission denied';
    case 'EROFS': return 'read-only file system';
    case 'ENOSPC': return 'no space left on the device';
    case 'ELOOP': return 'too many levels of symbolic links';
    case 'ENAMETOOLONG': return 'file name too long';
    default: return code ?? (e instanceof Error ? e.message : String(e));
  }
}

/** Error codes that say something about a path the user gave, not about modelgate. */
export const USER_FS_CODES: ReadonlySet<string> = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'ELOOP', 'ENAMETOOLONG', 'EEXIST']);
