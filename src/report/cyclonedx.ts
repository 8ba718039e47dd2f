/**
 * CycloneDX 1.6 ML-BOM rendering of a scan report: one component per scanned file (typed
 * `machine-learning-model` unless the file is plainly something else), its SHA-256 when the scan
 * hashed it, modelgate's verdict and facts as properties, and every finding as a vulnerability
 * that affects that component. The frameworks and libraries the files declare (./cyclonedx-
 * libraries.ts) are components too, each file depending on them, with the loader-vulnerability
 * catalogue's entries affecting their versions.
 */
import { randomUUID } from 'node:crypto';
import type { Finding, Severity } from '../core/findings.js';
import type { FileReport, ScanReport } from '../scan/report.js';
import { firstParagraph, ruleDoc, ruleHelpUri, toolInformationUri } from './rule-docs.js';
import { CHAIN_SEPARATOR, advisoryIds, advisoryUrl, clip, isHttpUrl, memberChain } from './shared.js';
import { declaredLibraries } from './cyclonedx-libraries.js';

export interface CdxProperty {
  name: string;
  value: string;
}

export interface CdxHash {
  alg: 'SHA-256';
  content: string;
}

export interface CdxComponent {
  type: 'machine-learning-model' | 'file' | 'application' | 'framework' | 'library';
  'bom-ref'?: string;
  name: string;
  version?: string;
  purl?: string;
  hashes?: CdxHash[];
  externalReferences?: { type: 'website' | 'vcs' | 'documentation'; url: string }[];
  modelCard?: { modelParameters?: { modelArchitecture?: string }; properties?: CdxProperty[] };
  properties?: CdxProperty[];
}

export interface CdxVulnerability {
  'bom-ref': string;
  id: string;
  source: { name: string; url?: string };
  references?: { id: string; source: { name: string; url?: string } }[];
  ratings: { source: { name: string }; severity: Severity }[];
  description: string;
  detail?: string;
  recommendation?: string;
  advisories?: { title?: string; url: string }[];
  affects: { ref: string; versions?: { version: string; status: 'affected' | 'unaffected' | 'unknown' }[] }[];
  /** Set for accepted findings: the risk is known and accepted, with the reason. */
  analysis?: { response: Array<'will_not_fix'>; detail: string };
  properties?: CdxProperty[];
}

export interface CdxBom {
  $schema: string;
  bomFormat: 'CycloneDX';
  specVersion: '1.6';
  serialNumber: string;
  version: number;
  metadata: {
    timestamp: string;
    tools: { components: CdxComponent[] };
    properties: CdxProperty[];
  };
  components: CdxComponent[];
  /** Each scanned file that declares frameworks or libraries, with the components it depends on. */
  dependencies?: { ref: string; dependsOn: string[] }[];
  vulnerabilities: CdxVulnerability[];
}

export interface CycloneDxOptions {
  /** Fixed for reproducible output; a fresh random UUID by default, as the spec asks. */
  serialNumber?: string;
}

/** Formats that are not models; every other (pickle, zip, safetensors, GGUF...) is one. */
const NOT_MODELS = new Set(['text', 'json', 'empty', 'unknown', 'unreadable', 'script', 'elf', 'pe', 'macho', '7z', 'rar']);

const MAX_TEXT = 4000;

function isModel(f: FileReport): boolean {
  return f.formats.some((x) => !NOT_MODELS.has(x));
}

function factValue(v: FileReport['facts'][string]): string {
  return Array.isArray(v) ? v.join(', ') : String(v);
}

function component(f: FileReport, ref: string): CdxComponent {
  const props: CdxProperty[] = [];
  for (const fmt of f.formats) props.push({ name: 'modelgate:format', value: fmt });
  props.push({ name: 'modelgate:maxSeverity', value: f.maxSeverity ?? 'none' });
  props.push({ name: 'modelgate:complete', value: String(f.complete) });
  props.push({ name: 'modelgate:findings', value: String(f.findings.length) });
  if (f.size !== null) props.push({ name: 'modelgate:size', value: String(f.size) });
  for (const [k, v] of Object.entries(f.facts)) props.push({ name: `modelgate:fact:${k}`, value: clip(factValue(v), MAX_TEXT) });
  const c: CdxComponent = { type: isModel(f) ? 'machine-learning-model' : 'file', 'bom-ref': ref, name: f.path };
  if (f.sha256) c.hashes = [{ alg: 'SHA-256', content: f.sha256 }];
  const arch = Object.entries(f.facts).find(([k]) => /(^|[.:\s])architecture$/i.test(k));
  if (c.type === 'machine-learning-model' && arch) c.modelCard = { modelParameters: { modelArchitecture: clip(factValue(arch[1]), 200) } };
  c.properties = props;
  return c;
}

function vulnerability(f: Finding, file: FileReport, fileRef: string, n: number): CdxVulnerability {
  const members = memberChain(f);
  const where = [file.path, ...members].join(CHAIN_SEPARATOR) + (f.location.offset !== undefined ? ` @ ${f.location.offset}` : '');
  const doc = ruleDoc(f.rule);
  const ev = f.evidence;
  const description = ev.chain ? `${f.message}\nCall chain: ${clip(ev.chain, MAX_TEXT)}` : f.message;
  const ids = advisoryIds(f.references);
  const advisories = [
    ...ids.map((id) => ({ title: id.toUpperCase(), url: advisoryUrl(id) })),
    ...f.references.filter(isHttpUrl).map((url) => ({ url })),
  ];
  const props: CdxProperty[] = [{ name: 'modelgate:rule', value: f.rule }];
  if (members.length) props.push({ name: 'modelgate:member', value: members.join(CHAIN_SEPARATOR) });
  if (f.location.offset !== undefined) props.push({ name: 'modelgate:offset', value: String(f.location.offset) });
  for (const k of ['global', 'canonical', 'use', 'opcode', 'matched'] as const) if (ev[k] !== undefined) props.push({ name: `modelgate:${k}`, value: String(ev[k]) });
  for (const [k, v] of Object.entries(ev.details ?? {})) props.push({ name: `modelgate:detail:${k}`, value: clip(String(v), MAX_TEXT) });
  const v: CdxVulnerability = {
    'bom-ref': `finding:${n}`,
    id: `${f.rule}:${where}`,
    source: { name: 'modelgate', url: ruleHelpUri(f.rule) },
    ratings: [{ source: { name: 'modelgate' }, severity: f.severity }],
    description: clip(description, MAX_TEXT * 2),
    affects: [{ ref: fileRef }],
    properties: props,
  };
  const why = ev.reason ?? firstParagraph(doc, 'Why it is dangerous');
  if (why) v.detail = clip(why, MAX_TEXT);
  const todo = firstParagraph(doc, 'What to do');
  if (todo) v.recommendation = todo;
  if (ids.length) v.references = ids.map((id) => ({ id: id.toUpperCase(), source: /^CVE-/i.test(id) ? { name: 'NVD', url: advisoryUrl(id) } : { name: 'GitHub Advisories', url: advisoryUrl(id) } }));
  if (advisories.length) v.advisories = dedupeByUrl(advisories);
  if (f.accepted) {
    const a = f.accepted;
    v.analysis = { response: ['will_not_fix'], detail: clip(`accepted in ${a.file} (entry ${a.entry}, until ${a.expiresAt}): ${a.reason}`, MAX_TEXT) };
    props.push({ name: 'modelgate:accepted', value: 'true' }, { name: 'modelgate:acceptedUntil', value: a.expiresAt });
  }
  return v;
}

function dedupeByUrl<T extends { url: string }>(list: T[]): T[] {
  const seen = new Set<string>();
  return list.filter((a) => (seen.has(a.url) ? false : (seen.add(a.url), true)));
}

export function renderCycloneDx(report: ScanReport, opts: CycloneDxOptions = {}): CdxBom {
  const components: CdxComponent[] = [];
  const vulnerabilities: CdxVulnerability[] = [];
  const refs = new Set<string>();
  const files: Array<{ file: FileReport; ref: string }> = [];
  let n = 0;
  for (const file of report.files) {
    // The same path given twice is scanned twice; bom-refs must still be unique.
    let ref = `file:${file.path}`;
    for (let i = 2; refs.has(ref); i++) ref = `file:${file.path}#${i}`;
    refs.add(ref);
    files.push({ file, ref });
    components.push(component(file, ref));
    for (const f of file.findings) vulnerabilities.push(vulnerability(f, file, ref, ++n));
  }
  // File refs start with `file:`, library refs with `pkg:`: they cannot collide.
  const libs = declaredLibraries(files);
  components.push(...libs.components);
  vulnerabilities.push(...libs.vulnerabilities);
  const dependencies = [...libs.dependsOn].map(([ref, dependsOn]) => ({ ref, dependsOn }));
  const s = report.summary;
  return {
    $schema: 'http://cyclonedx.org/schema/bom-1.6.schema.json',
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: opts.serialNumber ?? `urn:uuid:${randomUUID()}`,
    version: 1,
    metadata: {
      timestamp: report.startedAt,
      tools: {
        components: [
          {
            type: 'application',
            name: 'modelgate',
            version: report.engine.version,
            externalReferences: [{ type: 'website', url: toolInformationUri() }],
            properties: [{ name: 'modelgate:rulesVersion', value: report.engine.rulesVersion }],
          },
        ],
      },
      properties: [
        { name: 'modelgate:reportSchema', value: report.schema },
        { name: 'modelgate:maxSeverity', value: s.maxSeverity ?? 'none' },
        { name: 'modelgate:complete', value: String(s.incomplete === 0) },
        { name: 'modelgate:filesScanned', value: String(s.files) },
        { name: 'modelgate:filesIncomplete', value: String(s.incomplete) },
      ],
    },
    components,
    ...(dependencies.length ? { dependencies } : {}),
    vulnerabilities,
  };
}

export function renderCycloneDxText(report: ScanReport, opts: CycloneDxOptions = {}): string {
  return JSON.stringify(renderCycloneDx(report, opts), null, 2) + '\n';
}
