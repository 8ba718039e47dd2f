/**
 * The client-vulnerable rule: would this client's own loader be exploited by this file? Matches
 * the file's formats (with the content refinements, e.g. `pytorch-zip`) and features against the
 * library versions the client declared (User-Agent) using rules/loader-vulns.yaml (read once;
 * the policy loads it when it compiles, so a broken catalogue fails the policy load).
 *
 * The versions are self-declared, so this protects honest clients from their vulnerable loaders;
 * it is not an access control.
 */
import { SEVERITY_RANK } from '../core/findings.js';
import { fileFeatures, loaderVulnCatalogue, normaliseLibraryName, vulnerabilitiesOfLibraries, type LoaderVuln, type LoaderVulnMatch } from '../rules/loader-vulns.js';
import { compareVersions, inRange, parseVersion } from '../rules/pep440.js';
import type { FileReport } from '../scan/report.js';
import type { Action, ClientFacts } from './types.js';
import type { ClientVulnerableRule } from './schema.js';

export interface ClientVulnOutcome {
  action: Action;
  reason: string;
  label: string;
}

/** The features whose flaw is a bypass of a loader's own safety switch. */
const FEATURE_PHRASE: ReadonlyMap<string, string> = new Map([
  ['weights_only', 'weights_only bypass'],
  ['safe_mode', 'safe_mode bypass'],
  ['allow_pickle', 'allow_pickle bypass'],
]);

/** Header-derived text in a reason: ASCII, one token, bounded. */
function token(s: string, max: number): string {
  const flat = s.replace(/[^\x21-\x7e]+/g, '?');
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

/**
 * The lowest release that clears every catalogue entry relevant here: a fixed version of one
 * entry may still be inside another's range (Keras 3.13.2 fixes CVE-2026-1462 but is affected by
 * CVE-2026-12480), so the advice is a version no relevant entry affects. Null when the catalogue
 * knows none.
 */
function safeUpgrade(entries: readonly LoaderVuln[], clientVersion: string): string | null {
  const current = parseVersion(clientVersion);
  if (!current) return null;
  const candidates = [...new Set(entries.flatMap((e) => e.fixed))]
    .map((text) => ({ text, v: parseVersion(text)! }))
    .filter((c) => compareVersions(c.v, current) > 0)
    .sort((a, b) => compareVersions(a.v, b.v));
  const clear = candidates.find((c) => !entries.some((e) => e.affected.some((a) => inRange(c.v, a.range, c.text))));
  return clear?.text ?? null;
}

/** Containers whose generic name the catalogue uses for another library's archive (`.keras` is a zip). */
const REPLACED_CONTAINERS = new Set(['zip', 'tar']);

/**
 * The file's formats as the catalogue names them. A zip or tar the analyzer identified stands for
 * what it holds (a `pytorch-zip` is not a Keras archive, though both are zip): a Keras client is
 * not refused a PyTorch checkpoint. A container left unidentified keeps its generic name, so an
 * unrecognised zip still counts as a possible Keras archive. HDF5 keeps its name next to
 * `keras-h5`: Keras reads such a file through its HDF5 code, which has entries of its own.
 */
export function catalogueFormats(report: FileReport): string[] {
  const container = report.facts?.['container'];
  const detail = report.facts?.['format.detail'];
  const out = new Set<string>();
  for (const f of report.formats ?? []) {
    if (!(REPLACED_CONTAINERS.has(f) && typeof container === 'string')) out.add(f);
    if ((REPLACED_CONTAINERS.has(f) || f === 'hdf5') && typeof container === 'string') out.add(container);
    if (f === 'pickle' && typeof detail === 'string') out.add(detail);
  }
  return [...out];
}

function describeLibrary(file: string, matches: LoaderVulnMatch[], fix: string | null): string {
  const worst = matches[0]!;
  const phrase = FEATURE_PHRASE.get(worst.feature) ?? `${worst.feature.replace(/_/g, ' ')} flaw`;
  const more = matches.length > 1 ? ` and ${matches.length - 1} more` : '';
  const advice = fix === null ? `no fixed ${worst.library} release is known; do not load it with this library` : `upgrade to ${token(fix, 40)} or later`;
  return `${file}: your ${token(worst.library, 64)} ${token(worst.clientVersion, 40)} is affected by ${worst.id} (${phrase})${more}; ${advice}`;
}

/**
 * One outcome per vulnerable library (its worst entry named, the rest counted), or the `unknown`
 * outcome when the client named no libraries and the catalogue has entries for this file.
 */
export function clientVulnerable(rule: ClientVulnerableRule, file: string, report: FileReport, client: ClientFacts | undefined): ClientVulnOutcome[] {
  const formats = catalogueFormats(report);
  const features = fileFeatures(report.facts);
  const min = SEVERITY_RANK[rule['min-severity']];
  const fmt = new Set(formats);
  const feat = new Set<string>(features);
  const relevant = loaderVulnCatalogue().entries.filter((e) => SEVERITY_RANK[e.severity] >= min && e.formats.some((f) => fmt.has(f)) && e.requires.every((r) => feat.has(r)));
  if (relevant.length === 0) return [];
  const libraries = client?.libraries ?? {};
  const declared = new Set(Object.keys(libraries).map(normaliseLibraryName));
  const loaders = [...new Set(relevant.map((e) => e.library))];
  if (!loaders.some((l) => declared.has(l))) {
    // Only files the catalogue has something to say about (curl fetching a README is not
    // unknown), and only when none of their loaders is named: a client that names torch but not
    // keras is judged on torch.
    const names = loaders.length > 3 ? `${loaders.slice(0, 3).join(', ')} or ${loaders.length - 3} more` : loaders.join(', ');
    return [{ action: rule.unknown, reason: `${file}: the client declared no version of ${names}, so whether its loader is vulnerable is unknown`, label: 'unknown client' }];
  }
  const matches = vulnerabilitiesOfLibraries(libraries, { version: loaderVulnCatalogue().version, entries: relevant });
  const byLibrary = new Map<string, LoaderVulnMatch[]>();
  for (const m of matches) byLibrary.set(m.library, [...(byLibrary.get(m.library) ?? []), m]);
  const out: ClientVulnOutcome[] = [];
  for (const group of byLibrary.values()) {
    group.sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]);
    const fix = safeUpgrade(relevant.filter((e) => e.library === group[0]!.library), group[0]!.clientVersion);
    out.push({ action: 'block', reason: describeLibrary(file, group, fix), label: group[0]!.severity });
  }
  return out;
}
