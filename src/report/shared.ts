/**
 * Pieces the report renderers share: severity mappings, where a finding sits, and the cleaning
 * of strings that came out of the scanned files (member names, call chains, messages quoting them).
 */
import { createHash } from 'node:crypto';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Finding, Severity } from '../core/findings.js';

/** GitHub code scanning turns this number into its own critical/high/medium/low label. */
export const SECURITY_SEVERITY: Record<Severity, string> = { critical: '9.5', high: '8.0', medium: '5.5', low: '3.0', info: '1.0' };

export type SarifLevel = 'error' | 'warning' | 'note';

export const SARIF_LEVEL: Record<Severity, SarifLevel> = { critical: 'error', high: 'error', medium: 'warning', low: 'note', info: 'note' };

/** Archive members below the scanned file: the location chain without the file itself. */
export function memberChain(f: Finding): string[] {
  return f.location.path.slice(1);
}

export const CHAIN_SEPARATOR = ' › ';

/**
 * Control characters, line and paragraph separators and bidirectional overrides become visible
 * `<U+XXXX>` tokens: a member name must not break a line of the report or reorder what a
 * reviewer reads (a right-to-left override makes `evil‮kp.` display as `evil.pk`).
 */
export function visible(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g, (c) => `<U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}>`);
}

/** Shortens a string from the file (a megabyte call chain, say) to what a report can show. */
export function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  return `${s.slice(0, Math.max(0, max - 1))}…`;
}

/**
 * The scanned file's path as a relative URI under `root` (GitHub code scanning wants
 * repository-relative paths with forward slashes and no `..`), or an absolute file: URI when
 * the file lies outside the root.
 */
export function artifactUri(path: string, root: string): { uri: string; relative: boolean } {
  const abs = resolve(root, path);
  const rel = relative(resolve(root), abs);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return { uri: pathToFileURL(abs).href, relative: false };
  return { uri: rel.split(sep).map(encodeURIComponent).join('/'), relative: true };
}

/** A short stable hash; the 0 byte keeps ("ab","c") and ("a","bc") apart. */
export function stableHash(parts: readonly string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);
}

/** CVE and GHSA identifiers among a finding's references (the rest are URLs). */
export function advisoryIds(refs: readonly string[]): string[] {
  return refs.filter((r) => /^(CVE-\d{4}-\d{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3})$/i.test(r));
}

export function advisoryUrl(id: string): string {
  return /^CVE-/i.test(id) ? `https://nvd.nist.gov/vuln/detail/${id.toUpperCase()}` : `https://github.com/advisories/${id}`;
}

export function isHttpUrl(s: string): boolean {
  return /^https?:\/\/[^\s]+$/i.test(s);
}
