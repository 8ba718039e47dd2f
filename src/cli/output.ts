/**
 * `-o FILE` for the commands that write a report: checked before the work starts (a long scan
 * should not end in "cannot write"), and any failure to write is one usage line.
 */
import { stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsReason, UsageError } from './errors.js';

export async function checkOutputPath(path: string): Promise<void> {
  const dir = dirname(path);
  let st;
  try {
    st = await stat(dir);
  } catch (e) {
    throw new UsageError(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? `no such directory ${dir}` : fsReason(e)}`);
  }
  if (!st.isDirectory()) throw new UsageError(`cannot write ${path}: ${dir} is not a directory`);
  try {
    if ((await stat(path)).isDirectory()) throw new UsageError(`cannot write ${path}: is a directory`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    // Absent: it will be created.
  }
}

export async function writeOutput(path: string, text: string): Promise<void> {
  try {
    await writeFile(path, text);
  } catch (e) {
    throw new UsageError(`cannot write ${path}: ${fsReason(e)}`);
  }
}
