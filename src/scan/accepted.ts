/**
 * Accepted findings: a file kept in the repository (`.modelgate-accept.yaml`) listing findings
 * someone reviewed and accepted, with the gateway's waiver fields (`path` in place of `repo`,
 * since a repository scan knows files, not repositories). A covered finding stays in every
 * report, marked accepted with its reason, and stops counting for `--fail-on`; an entry past
 * its `expiresAt` no longer covers anything, so acceptance has to be renewed, not forgotten.
 *
 * ```yaml
 * - path: models/legacy/*.pkl          # glob, relative to this file's directory (scan/glob.ts)
 *   rule: PICKLE_UNKNOWN_GLOBAL        # a finding kind (docs/rules/)
 *   reason: sklearn pipeline of ours, reviewed in PR 412
 *   expiresAt: 2026-06-30              # a date (00:00 UTC) or an ISO date-time with a zone
 * - sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
 *   reason: vendor checkpoint, checked by hand
 *   expiresAt: 2026-01-31T12:00:00Z
 * ```
 *
 * Every field an entry sets must match (as for waivers); `path` and `sha256` are of the
 * scanned file, even when the finding sits in one of its archive members.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { lazyModule } from '../core/lazy.js';
import { z } from 'zod';
import { RULES } from '../core/rules.js';
import { compilePathGlob, globMatches, GlobError, type PathGlob } from './glob.js';
import type { FileReport, ScanReport } from './report.js';

// Loaded on first use: most scans meet no YAML.
const yaml = lazyModule<typeof import('yaml')>('yaml');

/** The file cannot be read or is malformed: a usage error, one line. */
export class AcceptFileError extends Error {}

export interface AcceptEntry {
  /** The entry's `id`, else `#n`. */
  label: string;
  path: PathGlob | null;
  sha256: string | null;
  rule: string | null;
  reason: string;
  expiresAt: string;
  /** `expiresAt` in ms since the epoch. */
  expires: number;
}

export interface AcceptList {
  /** As found or given, for messages and reports. */
  file: string;
  /** `path` globs are relative to this directory (absolute). */
  dir: string;
  entries: AcceptEntry[];
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

const EntrySchema = z
  .object({
    id: z.string().min(1).max(100).optional(),
    path: z.string().min(1).max(1000).optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hexadecimal digits')
      .optional(),
    rule: z.string().min(1).max(100).optional(),
    reason: z.string().trim().min(3, 'must say why the finding is accepted (at least 3 characters)').max(1000),
    expiresAt: z.string().refine((s) => (DATE.test(s) || DATE_TIME.test(s)) && Number.isFinite(Date.parse(s)), 'must be a date (2026-06-30) or an ISO date-time with a zone (2026-06-30T12:00:00Z)'),
  })
  .strict()
  .refine((e) => e.path !== undefined || e.sha256 !== undefined || e.rule !== undefined, { message: 'an entry needs at least one of path, sha256, rule' });

function oneLine(s: string): string {
  return s.split('\n')[0]!.trim();
}

/** Reads and checks the file; a bad entry names its position and field. */
export async function loadAcceptList(file: string): Promise<AcceptList> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? String(e));
    throw new AcceptFileError(`cannot read accepted-findings file ${file}: ${why}`);
  }
  return parseAcceptList(text, file);
}

export function parseAcceptList(text: string, file: string): AcceptList {
  let doc: unknown;
  try {
    doc = yaml().parse(text);
  } catch (e) {
    throw new AcceptFileError(`${file}: not valid YAML: ${oneLine((e as Error).message)}`);
  }
  if (doc === null || doc === undefined) doc = [];
  if (!Array.isArray(doc)) throw new AcceptFileError(`${file}: expected a list of entries (- path: ..., rule: ..., reason: ..., expiresAt: ...)`);
  const entries: AcceptEntry[] = [];
  for (const [i, raw] of doc.entries()) {
    const res = EntrySchema.safeParse(raw);
    if (!res.success) {
      // A misspelt field explains a missing one: report it first.
      const issue = res.error.issues.find((x) => x.code === 'unrecognized_keys') ?? res.error.issues[0]!;
      const key = issue.path.map(String).join('.');
      const msg =
        issue.code === 'unrecognized_keys'
          ? `unknown field ${issue.keys.map((k) => `'${k}'`).join(', ')} (fields: id, path, sha256, rule, reason, expiresAt)`
          : issue.code === 'invalid_type' && /received undefined/.test(issue.message)
            ? 'missing'
            : oneLine(issue.message);
      throw new AcceptFileError(`${file}: entry ${i + 1}: ${key ? `${key}: ` : ''}${msg}`);
    }
    const e = res.data;
    if (e.rule !== undefined && !RULES.has(e.rule)) throw new AcceptFileError(`${file}: entry ${i + 1}: rule: unknown finding kind '${e.rule}' (see docs/rules/)`);
    let path: PathGlob | null = null;
    if (e.path !== undefined) {
      try {
        path = compilePathGlob(e.path);
      } catch (err) {
        if (err instanceof GlobError) throw new AcceptFileError(`${file}: entry ${i + 1}: path: ${err.message}`);
        throw err;
      }
    }
    entries.push({
      label: e.id ?? `#${i + 1}`,
      path,
      sha256: e.sha256?.toLowerCase() ?? null,
      rule: e.rule ?? null,
      reason: e.reason,
      expiresAt: e.expiresAt,
      expires: Date.parse(DATE.test(e.expiresAt) ? `${e.expiresAt}T00:00:00Z` : e.expiresAt),
    });
  }
  return { file, dir: resolve(dirname(file)), entries };
}

export function activeEntries(list: AcceptList, now: Date): AcceptEntry[] {
  return list.entries.filter((e) => e.expires > now.getTime());
}

export function expiredEntries(list: AcceptList, now: Date): AcceptEntry[] {
  return list.entries.filter((e) => e.expires <= now.getTime());
}

/** The file's path relative to the list's directory, or null when it is not a local file below it. */
function relativeTo(list: AcceptList, file: FileReport, isLocal: (f: FileReport) => boolean): string | null {
  if (!isLocal(file)) return null;
  const rel = relative(list.dir, resolve(file.path));
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return null;
  return rel.split(sep).join('/');
}

/**
 * Computes the sha256 of the local files that need one: files with findings, without a hash
 * yet, when an active entry matches by sha256. Reads only those files.
 */
export async function hashForAcceptance(report: ScanReport, list: AcceptList, now: Date, isLocal: (f: FileReport) => boolean): Promise<void> {
  if (!activeEntries(list, now).some((e) => e.sha256 !== null)) return;
  for (const f of report.files) {
    if (f.sha256 || f.findings.length === 0 || !isLocal(f)) continue;
    try {
      f.sha256 = await sha256File(f.path);
    } catch {
      // Unreadable now: no hash, so no sha256 entry can cover it (fail closed).
    }
  }
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => h.update(chunk))
      .on('error', reject)
      .on('end', () => resolvePromise(h.digest('hex')));
  });
}

/**
 * Marks the findings active entries cover (first matching entry wins) and records the file in
 * the report. `isLocal` says which reports are files on disk (path entries can match them).
 */
export function applyAcceptList(report: ScanReport, list: AcceptList, now: Date, isLocal: (f: FileReport) => boolean): void {
  const active = activeEntries(list, now);
  let accepted = 0;
  for (const file of report.files) {
    const rel = relativeTo(list, file, isLocal);
    const sha = file.sha256?.toLowerCase() ?? null;
    for (const finding of file.findings) {
      const entry = active.find((e) => (e.path === null || (rel !== null && globMatches(e.path, rel))) && (e.sha256 === null || e.sha256 === sha) && (e.rule === null || e.rule === finding.rule));
      if (!entry) continue;
      finding.accepted = { file: list.file, entry: entry.label, reason: entry.reason, expiresAt: entry.expiresAt };
      accepted++;
    }
  }
  report.summary.accepted = accepted;
  report.acceptFile = { path: list.file, entries: list.entries.length, expired: expiredEntries(list, now).map((e) => ({ entry: e.label, expiresAt: e.expiresAt })) };
}
