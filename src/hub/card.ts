/**
 * Repo metadata the hub derives from files: the model card's YAML front matter (`cardData`) and,
 * for tests that simulate the upstream hub's scanners, the verdicts in `.hub-security.json`.
 */
import { readFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { SECURITY_FILE, type RepoSnapshot } from './store.js';

const MAX_CARD_BYTES = 1 << 20;
const MAX_JSON_BYTES = 1 << 20;

async function readCapped(abs: string, max: number): Promise<Buffer | null> {
  try {
    const fh = await open(abs, 'r');
    try {
      const buf = Buffer.alloc(max);
      const { bytesRead } = await fh.read(buf, 0, max, 0);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch {
    return null;
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** The README's front matter as a plain object; anything unparsable is simply no card data. */
export async function cardData(snapshot: RepoSnapshot): Promise<Record<string, Json> | null> {
  const readme = snapshot.byPath.get('README.md');
  if (!readme) return null;
  const bytes = await readCapped(readme.abs, MAX_CARD_BYTES);
  if (bytes === null) return null;
  const text = bytes.toString('utf8').replace(/^\uFEFF/, '');
  const m = /^---[ \t]*\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/.exec(text);
  if (!m) return null;
  try {
    const value: unknown = parseYaml(m[1]!, { maxAliasCount: 100, prettyErrors: false });
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
    // Through JSON: dates become strings and nothing YAML-specific reaches the response.
    return JSON.parse(JSON.stringify(value)) as Record<string, Json>;
  } catch {
    return null;
  }
}

/** `config.json`'s fields the hub repeats in model info (what `trust_remote_code` checks read). */
export async function configSummary(snapshot: RepoSnapshot): Promise<Record<string, Json> | null> {
  const f = snapshot.byPath.get('config.json');
  if (!f || f.size > MAX_JSON_BYTES) return null;
  try {
    const value: unknown = JSON.parse(await readFile(f.abs, 'utf8'));
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
    const src = value as Record<string, Json>;
    const out: Record<string, Json> = {};
    for (const k of ['architectures', 'model_type', 'auto_map', 'tokenizer_config']) if (k in src) out[k] = src[k]!;
    return out;
  } catch {
    return null;
  }
}

const FileVerdict = z.looseObject({
  status: z.string(),
  avScan: z.unknown().optional(),
  pickleImportScan: z.unknown().optional(),
});

const SecurityFile = z.strictObject({
  scansDone: z.boolean().default(true),
  files: z.record(z.string(), FileVerdict).default({}),
});

export type SecurityFile = z.infer<typeof SecurityFile>;

export type SecurityResult = { ok: true; value: SecurityFile | null } | { ok: false; message: string };

/** The simulated upstream verdicts of a repo, or null when the repo has none. */
export async function securityFile(snapshot: RepoSnapshot): Promise<SecurityResult> {
  const bytes = await readCapped(join(snapshot.dir, SECURITY_FILE), MAX_JSON_BYTES + 1);
  if (bytes === null) return { ok: true, value: null };
  if (bytes.length > MAX_JSON_BYTES) return { ok: false, message: `${SECURITY_FILE} is larger than ${MAX_JSON_BYTES} bytes` };
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    return { ok: false, message: `${SECURITY_FILE} is not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  const parsed = SecurityFile.safeParse(raw);
  if (!parsed.success) return { ok: false, message: `${SECURITY_FILE}: ${z.prettifyError(parsed.error).replace(/\s+/g, ' ')}` };
  return { ok: true, value: parsed.data };
}

export interface SecurityRepoStatus {
  scansDone: boolean;
  filesWithIssues: { path: string; level: string }[];
}

const ISSUE_LEVELS = new Set(['unsafe', 'caution']);

/** Without a verdict file nothing was scanned: `scansDone: false`, never an invented "clean". */
export function repoStatus(sec: SecurityFile | null, snapshot: RepoSnapshot): SecurityRepoStatus {
  if (sec === null) return { scansDone: false, filesWithIssues: [] };
  const filesWithIssues = Object.entries(sec.files)
    .filter(([path, v]) => ISSUE_LEVELS.has(v.status) && snapshot.byPath.has(path))
    .map(([path, v]) => ({ path, level: v.status }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  return { scansDone: sec.scansDone, filesWithIssues };
}

/** Per-file status in the hub's shape; the Python client indexes `status`, `avScan` and `pickleImportScan`. */
export function fileStatus(sec: SecurityFile | null, path: string): Record<string, unknown> | null {
  const v = sec?.files[path];
  if (!v) return null;
  return { ...v, status: v.status, avScan: v.avScan ?? { virusFound: false, virusNames: null }, pickleImportScan: v.pickleImportScan ?? null };
}
