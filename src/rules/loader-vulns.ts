/**
 * rules/loader-vulns.yaml: vulnerabilities of the libraries that load model files, by version.
 * Loaded once and validated strictly (a bad entry is an error naming the entry, never a silently
 * shorter list), and matched against a client's library versions and the formats of a file.
 * Pure apart from reading the catalogue file; the gateway policy decides what to do with matches.
 */
import type { Severity } from '../core/findings.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../core/package.js';
import { compiledDocument, parseCatalogueText } from './catalogue-data.js';
import { ruleFileDigest } from './source-digests.js';
import { compareVersions, inRange, parseRange, parseVersion, type Pep440Version, type Range } from './pep440.js';

/** File features an entry may require; derived from scan facts by fileFeatures(). */
export const FILE_FEATURES = ['chat_template', 'external_data', 'remote_code'] as const;
export type FileFeature = (typeof FILE_FEATURES)[number];

const ENTRY_SEVERITIES: readonly Severity[] = ['critical', 'high', 'medium', 'low'];

export interface AffectedRange {
  readonly text: string;
  readonly range: Range;
}

export interface LoaderVuln {
  readonly id: string;
  readonly aliases: readonly string[];
  /** PEP 503-normalised PyPI name. */
  readonly library: string;
  readonly affected: readonly AffectedRange[];
  readonly fixed: readonly string[];
  readonly formats: readonly string[];
  readonly requires: readonly FileFeature[];
  readonly feature: string;
  readonly severity: Severity;
  readonly reason: string;
  readonly references: readonly string[];
}

export interface LoaderVulnCatalogue {
  readonly version: string;
  readonly entries: readonly LoaderVuln[];
}

/** A catalogue that does not validate; `entry` names the offending entry (its id or index). */
export class LoaderVulnCatalogueError extends Error {
  readonly kind = 'loader-vulns-invalid' as const;
  constructor(
    readonly file: string,
    readonly entry: string,
    detail: string,
  ) {
    super(`${file}: ${entry}: ${detail}`);
    this.name = 'LoaderVulnCatalogueError';
  }
}

export const CVE_ID = /^CVE-\d{4}-\d{4,}$/;
// GHSA ids use a restricted base-32 alphabet in three groups of four.
export const GHSA_ID = /^GHSA(-[23456789cfghjmpqrvwx]{4}){3}$/;
const PYSEC_ID = /^PYSEC-\d{4}-\d+$/;
const PEP508_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$/;
const FORMAT_ID = /^[a-z0-9][a-z0-9-]{0,39}$/;
const FEATURE_ID = /^[a-z][a-z0-9_]{0,39}$/;
const ENTRY_KEYS = new Set(['id', 'aliases', 'library', 'affected', 'fixed', 'formats', 'requires', 'feature', 'severity', 'reason', 'references']);

/** PEP 503 normalisation: case-folded, runs of `-`, `_`, `.` become one `-`. */
export function normaliseLibraryName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => v !== null && typeof v === 'object' && !Array.isArray(v);

function strings(fail: (m: string) => never, o: Rec, key: string, opts: { required: boolean; nonEmpty: boolean }): string[] {
  const v = o[key];
  if (v === undefined && !opts.required) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x.trim() !== '')) fail(`"${key}" must be a list of non-empty strings`);
  if (opts.nonEmpty && v.length === 0) fail(`"${key}" must not be empty`);
  if (new Set(v).size !== v.length) fail(`"${key}" has duplicates`);
  return v as string[];
}

function text(fail: (m: string) => never, o: Rec, key: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v.trim() === '') fail(`"${key}" must be a non-empty string`);
  return v;
}

function isUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}

function parseEntry(file: string, raw: unknown, index: number): LoaderVuln {
  const label = isRec(raw) && typeof raw['id'] === 'string' ? raw['id'] : `vulnerabilities[${index}]`;
  const fail = (m: string): never => {
    throw new LoaderVulnCatalogueError(file, label, m);
  };
  if (!isRec(raw)) fail('must be a mapping');
  const o = raw as Rec;
  for (const k of Object.keys(o)) if (!ENTRY_KEYS.has(k)) fail(`unknown key "${k}"`);
  const id = text(fail, o, 'id');
  if (!CVE_ID.test(id) && !GHSA_ID.test(id)) fail('"id" must be CVE-YYYY-NNNN or GHSA-xxxx-xxxx-xxxx');
  const aliases = strings(fail, o, 'aliases', { required: false, nonEmpty: false });
  for (const a of aliases) if (!CVE_ID.test(a) && !GHSA_ID.test(a) && !PYSEC_ID.test(a)) fail(`alias "${a}" is not a CVE, GHSA or PYSEC id`);
  const library = text(fail, o, 'library');
  if (!PEP508_NAME.test(library)) fail(`"library" "${library}" is not a PyPI project name`);
  const affected = strings(fail, o, 'affected', { required: true, nonEmpty: true }).map((t) => {
    const range = parseRange(t);
    if (!range) fail(`affected range "${t}" is not a PEP 440 specifier list`);
    return { text: t, range: range! };
  });
  const fixed = strings(fail, o, 'fixed', { required: true, nonEmpty: false });
  for (const f of fixed) {
    const v = parseVersion(f);
    if (!v) fail(`fixed version "${f}" is not a PEP 440 version`);
    if (affected.some((a) => inRange(v!, a.range, f))) fail(`fixed version "${f}" falls inside an affected range`);
  }
  const formats = strings(fail, o, 'formats', { required: true, nonEmpty: false });
  for (const f of formats) if (!FORMAT_ID.test(f)) fail(`format "${f}" is not a format id`);
  const requires = strings(fail, o, 'requires', { required: false, nonEmpty: false });
  for (const r of requires) if (!(FILE_FEATURES as readonly string[]).includes(r)) fail(`requires "${r}" is not one of ${FILE_FEATURES.join(', ')}`);
  if (requires.length > 0 && formats.length === 0) fail('"requires" without formats can never match');
  const feature = text(fail, o, 'feature');
  if (!FEATURE_ID.test(feature)) fail(`feature "${feature}" must be a lower_snake_case tag`);
  const severity = text(fail, o, 'severity');
  if (!(ENTRY_SEVERITIES as readonly string[]).includes(severity)) fail(`"severity" must be one of ${ENTRY_SEVERITIES.join(', ')}`);
  const reason = text(fail, o, 'reason');
  const references = strings(fail, o, 'references', { required: true, nonEmpty: true });
  for (const r of references) if (!isUrl(r)) fail(`reference "${r}" is not an http(s) URL`);
  return {
    id,
    aliases,
    library: normaliseLibraryName(library),
    affected,
    fixed,
    formats,
    requires: requires as FileFeature[],
    feature,
    severity: severity as Severity,
    reason: reason.trim(),
    references,
  };
}

export function parseLoaderVulns(source: string, file = 'rules/loader-vulns.yaml'): LoaderVuln[] {
  let doc: unknown;
  try {
    doc = parseCatalogueText('loader-vulns.yaml', source);
  } catch (e) {
    throw new LoaderVulnCatalogueError(file, 'document', `not valid YAML (${(e as Error).message.split('\n')[0]})`);
  }
  return loaderVulnsOf(doc, file);
}

function loaderVulnsOf(doc: unknown, file: string): LoaderVuln[] {
  if (!isRec(doc) || doc['version'] !== 1 || !Array.isArray(doc['vulnerabilities'])) {
    throw new LoaderVulnCatalogueError(file, 'document', 'needs version: 1 and a vulnerabilities list');
  }
  const entries = (doc['vulnerabilities'] as unknown[]).map((raw, i) => parseEntry(file, raw, i));
  const seen = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.id)) throw new LoaderVulnCatalogueError(file, e.id, 'duplicate id');
    seen.add(e.id);
  }
  return entries;
}

let cached: LoaderVulnCatalogue | null = null;

export function loaderVulnCatalogue(): LoaderVulnCatalogue {
  if (cached) return cached;
  const text = readFileSync(join(packageRoot(), 'rules', 'loader-vulns.yaml'), 'utf8');
  // From the compiled form when current (no YAML parser); else the YAML, with its error wording.
  const sha256 = ruleFileDigest('loader-vulns.yaml', text);
  const compiled = compiledDocument('loader-vulns.yaml', text, undefined, sha256);
  const entries = compiled ? loaderVulnsOf(compiled.data, 'rules/loader-vulns.yaml') : parseLoaderVulns(text);
  cached = { version: `1+${sha256.slice(0, 12)}`, entries };
  return cached;
}

/** Library name (any spelling) -> version text, as a client or an environment declares them. */
export type LibraryVersions = Readonly<Record<string, string>> | ReadonlyMap<string, string>;

export interface RequestedFile {
  /** Format ids of the file including refinements (`zip` and `pytorch-zip`, `pickle` and `joblib`). */
  readonly formats: readonly string[];
  readonly features?: readonly string[];
}

export interface LoaderVulnMatch {
  readonly id: string;
  readonly aliases: readonly string[];
  readonly library: string;
  readonly clientVersion: string;
  /** The lowest fixed release above the client's version; null when none is published. */
  readonly fixedVersion: string | null;
  readonly severity: Severity;
  readonly feature: string;
  readonly reason: string;
  readonly references: readonly string[];
}

function entriesOf(libraries: LibraryVersions): [string, string][] {
  const pairs = libraries instanceof Map ? [...libraries.entries()] : Object.entries(libraries as Record<string, string>);
  return pairs.filter(([k, v]) => typeof k === 'string' && typeof v === 'string').map(([k, v]) => [normaliseLibraryName(k), v]);
}

function fixedFor(entry: LoaderVuln, version: Pep440Version): string | null {
  const above = entry.fixed
    .map((f) => ({ f, v: parseVersion(f)! }))
    .filter((x) => compareVersions(x.v, version) > 0)
    .sort((a, b) => compareVersions(a.v, b.v));
  return above[0]?.f ?? null;
}

function matchEntry(entry: LoaderVuln, lib: string, raw: string): LoaderVulnMatch | null {
  if (entry.library !== lib) return null;
  const v = parseVersion(raw);
  // An unparseable version is not evidence of a vulnerable one; the caller reports it as unknown.
  if (!v || !entry.affected.some((a) => inRange(v, a.range, raw))) return null;
  return {
    id: entry.id,
    aliases: entry.aliases,
    library: entry.library,
    clientVersion: raw,
    fixedVersion: fixedFor(entry, v),
    severity: entry.severity,
    feature: entry.feature,
    reason: entry.reason,
    references: entry.references,
  };
}

/** Every catalogued vulnerability of these library versions, whatever the file (environments, BOM). */
export function vulnerabilitiesOfLibraries(libraries: LibraryVersions, catalogue: LoaderVulnCatalogue = loaderVulnCatalogue()): LoaderVulnMatch[] {
  const out: LoaderVulnMatch[] = [];
  for (const [lib, ver] of entriesOf(libraries)) for (const e of catalogue.entries) {
    const m = matchEntry(e, lib, ver);
    if (m) out.push(m);
  }
  return out;
}

/** The vulnerabilities a client with these libraries would hit by loading this file. */
export function vulnerabilitiesForFile(libraries: LibraryVersions, file: RequestedFile, catalogue: LoaderVulnCatalogue = loaderVulnCatalogue()): LoaderVulnMatch[] {
  const formats = new Set(file.formats);
  const features = new Set(file.features ?? []);
  const relevant = catalogue.entries.filter((e) => e.formats.some((f) => formats.has(f)) && e.requires.every((r) => features.has(r)));
  if (relevant.length === 0) return [];
  return vulnerabilitiesOfLibraries(libraries, { version: catalogue.version, entries: relevant });
}

/** File features from a scan report's facts (the names the analyzers use). */
export function fileFeatures(facts: Readonly<Record<string, unknown>> | undefined): FileFeature[] {
  if (!facts) return [];
  const has = (k: string): boolean => {
    const v = facts[k];
    return v !== undefined && v !== null && v !== false && !(Array.isArray(v) && v.length === 0);
  };
  const out: FileFeature[] = [];
  if (has('chat_templates')) out.push('chat_template');
  if (has('onnx.external_data')) out.push('external_data');
  if (has('remote_code.references') || has('remote_code.files')) out.push('remote_code');
  return out;
}
