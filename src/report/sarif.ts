/**
 * SARIF 2.1.0 rendering of a scan report, shaped for GitHub code scanning: one run, one rule per
 * finding kind that occurs (with its documentation page as help), results on repository-relative
 * URIs with a stable partial fingerprint so alerts survive re-runs.
 *
 * Model files are binary and findings often sit inside archive members, so a byte offset is not
 * a region of the uploaded file: every result points at line 1 (GitHub requires `startLine`)
 * and carries the member chain as a logical location and the offset in its properties.
 */
import type { Location, Log, ReportingDescriptor, Result, Suppression } from 'sarif';
import { SEVERITY_RANK, type Acceptance, type Finding, type Severity } from '../core/findings.js';
import { RULES } from '../core/rules.js';
import type { ScanReport } from '../scan/report.js';
import { docBody, firstParagraph, markdownToText, ruleDoc, ruleHelpUri, toolInformationUri } from './rule-docs.js';
import { CHAIN_SEPARATOR, SARIF_LEVEL, SECURITY_SEVERITY, artifactUri, clip, memberChain, stableHash, visible } from './shared.js';

export const SARIF_SCHEMA_URI = 'https://json.schemastore.org/sarif-2.1.0.json';

/** The key of our partial fingerprint; the suffix changes if its inputs ever do. */
export const FINGERPRINT_KEY = 'modelgateFinding/v1';

export interface SarifOptions {
  /** Directory the artifact URIs are relative to (the repository checkout); default the working directory. */
  root?: string;
}

/** A call chain can be as long as the pickle that built it; alerts need the gist. */
const MAX_CHAIN = 2000;

function pascal(id: string): string {
  return id
    .toLowerCase()
    .split('_')
    .map((w) => (w ? w[0]!.toUpperCase() + w.slice(1) : w))
    .join('');
}

function descriptor(id: string, worstSeen: Severity): ReportingDescriptor {
  const doc = ruleDoc(id);
  const kind = RULES.get(id);
  const body = docBody(doc);
  const helpUri = ruleHelpUri(id);
  const full = firstParagraph(doc, 'What it catches') ?? doc.title;
  const markdown = body ?? `${doc.title}.\n\nSee [${id}](${helpUri}).`;
  return {
    id,
    name: pascal(id),
    shortDescription: { text: doc.title },
    fullDescription: { text: full },
    help: { text: body === null ? `${doc.title}. See ${helpUri}` : markdownToText(body), markdown },
    helpUri,
    defaultConfiguration: { level: SARIF_LEVEL[kind?.severity ?? worstSeen] },
    properties: {
      // GitHub ranks the alert by the rule's number: use the worst severity this run saw for it,
      // since catalogue-driven kinds vary per finding.
      'security-severity': SECURITY_SEVERITY[worstSeen],
      tags: ['security', `modelgate/${id.split('_')[0]!.toLowerCase()}`],
      ...(kind?.unscannable ? { unscannable: true } : {}),
    },
  };
}

function messageText(f: Finding, members: string[]): string {
  const parts = [visible(f.message)];
  if (f.evidence.chain) parts.push(`Call chain: ${clip(visible(f.evidence.chain), MAX_CHAIN)}`);
  if (members.length) parts.push(`In archive member: ${members.map(visible).join(CHAIN_SEPARATOR)}`);
  if (f.location.offset !== undefined) parts.push(`At byte offset ${f.location.offset}${members.length ? ' of that member' : ''}.`);
  return parts.join('\n');
}

function location(f: Finding, uri: string): Location {
  const members = memberChain(f);
  const loc: Location = {
    physicalLocation: {
      artifactLocation: { uri, ...(uri.startsWith('file:') ? {} : { uriBaseId: '%SRCROOT%' }) },
      region: { startLine: 1 },
    },
  };
  if (members.length) {
    loc.logicalLocations = [
      {
        kind: 'member',
        name: members[members.length - 1]!,
        fullyQualifiedName: members.join(CHAIN_SEPARATOR),
      },
    ];
  }
  return loc;
}

/**
 * An accepted finding stays a result, suppressed: code scanning shows it as dismissed with the
 * reason, and the accepted-findings file (kept in the repository) is where the suppression lives.
 */
function suppression(a: Acceptance, root: string): Suppression {
  const { uri } = artifactUri(a.file, root);
  // The 2.1.0 standard's field is `state`; @types/sarif still has the draft's `status`.
  return {
    kind: 'external',
    state: 'accepted',
    justification: clip(visible(a.reason), 1000),
    location: { physicalLocation: { artifactLocation: { uri, ...(uri.startsWith('file:') ? {} : { uriBaseId: '%SRCROOT%' }) } } },
    properties: { entry: a.entry, expiresAt: a.expiresAt },
  } as Suppression;
}

export function renderSarif(report: ScanReport, opts: SarifOptions = {}): Log {
  const root = opts.root ?? process.cwd();
  const worst = new Map<string, Severity>();
  for (const file of report.files)
    for (const f of file.findings) {
      const prev = worst.get(f.rule);
      if (prev === undefined || SEVERITY_RANK[f.severity] > SEVERITY_RANK[prev]) worst.set(f.rule, f.severity);
    }
  const ids = [...worst.keys()].sort();
  const index = new Map(ids.map((id, i) => [id, i]));
  const rules = ids.map((id) => descriptor(id, worst.get(id)!));

  const results: Result[] = [];
  const seen = new Map<string, number>();
  for (const file of report.files) {
    const { uri } = artifactUri(file.path, root);
    for (const f of file.findings) {
      const members = memberChain(f);
      // Same rule, same place, same global: the same alert on the next run. A second identical
      // finding in one run gets an occurrence suffix so GitHub keeps both.
      const base = stableHash([f.rule, uri, ...members, f.evidence.global ?? '']);
      const n = (seen.get(base) ?? 0) + 1;
      seen.set(base, n);
      const properties: Record<string, unknown> = { severity: f.severity };
      if (members.length) properties['memberChain'] = members;
      if (f.location.offset !== undefined) properties['byteOffset'] = f.location.offset;
      const ev = f.evidence;
      for (const k of ['global', 'canonical', 'use', 'opcode', 'matched', 'reason'] as const) if (ev[k] !== undefined) properties[k] = ev[k];
      if (ev.chain !== undefined) properties['chain'] = clip(ev.chain, MAX_CHAIN);
      if (ev.details) properties['details'] = ev.details;
      if (f.references.length) properties['references'] = f.references;
      const result: Result = {
        ruleId: f.rule,
        ruleIndex: index.get(f.rule)!,
        level: SARIF_LEVEL[f.severity],
        message: { text: messageText(f, members) },
        locations: [location(f, uri)],
        partialFingerprints: { [FINGERPRINT_KEY]: n === 1 ? base : `${base}:${n}` },
        properties,
      };
      if (f.accepted) result.suppressions = [suppression(f.accepted, root)];
      results.push(result);
    }
  }

  return {
    $schema: SARIF_SCHEMA_URI,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'modelgate',
            version: report.engine.version,
            semanticVersion: report.engine.version,
            informationUri: toolInformationUri(),
            rules,
            properties: { rulesVersion: report.engine.rulesVersion, analyzers: report.engine.analyzers },
          },
        },
        invocations: [
          {
            executionSuccessful: true,
            startTimeUtc: report.startedAt,
            properties: {
              filesScanned: report.summary.files,
              filesIncomplete: report.summary.incomplete,
              reportSchema: report.schema,
              ...(report.minSeverity ? { minSeverity: report.minSeverity, findingsOmitted: report.summary.omitted ?? 0 } : {}),
              ...(report.summary.excluded !== undefined ? { filesExcluded: report.summary.excluded } : {}),
            },
          },
        ],
        columnKind: 'unicodeCodePoints',
        results,
      },
    ],
  };
}

export function renderSarifText(report: ScanReport, opts: SarifOptions = {}): string {
  return JSON.stringify(renderSarif(report, opts), null, 2) + '\n';
}
