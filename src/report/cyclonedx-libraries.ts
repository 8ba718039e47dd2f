/**
 * The frameworks and libraries a scanned model declares, for the ML-BOM: the transformers release
 * in config.json (`transformers_version`), the Keras version a .keras / .h5 file was saved with,
 * the TensorFlow version of a SavedModel, the versions an MLmodel records (mlflow_version,
 * sklearn_version, pytorch_version...) and the versions an MLflow environment pins. The analyzers
 * and the scan layer state them as facts; this turns them into CycloneDX components (one per
 * name and version, with every file that declares it) and the loader-vulnerability catalogue's
 * entries affecting them into CycloneDX vulnerabilities with `affects` refs.
 */
import type { Severity } from '../core/findings.js';
import type { FileReport } from '../scan/report.js';
import { normaliseLibraryName, vulnerabilitiesOfLibraries } from '../rules/loader-vulns.js';

/** Facts holding one framework version: key (or `member: key`) -> library and how it is declared. */
const SINGLE: ReadonlyArray<{ key: string; library: string; how: string }> = [
  { key: 'transformers.version', library: 'transformers', how: 'transformers_version of the config' },
  { key: 'keras.version', library: 'keras', how: 'Keras version the model was saved with' },
  { key: 'tensorflow.version', library: 'tensorflow', how: 'TensorFlow version of the SavedModel' },
];
/** Facts holding `name==version` lists. */
const LISTS: ReadonlyArray<{ key: string; how: string; framework: boolean }> = [
  { key: 'mlflow.declared_libraries', how: 'version recorded in the MLmodel', framework: true },
  { key: 'mlflow.environment', how: 'version pinned by the MLflow environment', framework: false },
];
const MAX_COMPONENTS = 2000;
const NAME = /^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$/;

export interface LibraryProperty {
  name: string;
  value: string;
}

export interface LibraryComponent {
  type: 'framework' | 'library';
  'bom-ref': string;
  name: string;
  version: string;
  purl: string;
  properties: LibraryProperty[];
}

export interface LibraryVulnerability {
  'bom-ref': string;
  id: string;
  source: { name: string; url: string };
  references?: { id: string; source: { name: string; url: string } }[];
  ratings: { source: { name: string }; severity: Severity }[];
  description: string;
  recommendation: string;
  advisories: { title?: string; url: string }[];
  affects: { ref: string; versions: { version: string; status: 'affected' }[] }[];
  properties: LibraryProperty[];
}

export interface DeclaredLibraries {
  components: LibraryComponent[];
  vulnerabilities: LibraryVulnerability[];
  /** File bom-ref -> the library bom-refs it declares. */
  dependsOn: Map<string, string[]>;
}

function factOf(f: FileReport, key: string): Array<[string, FileReport['facts'][string]]> {
  return Object.entries(f.facts).filter(([k]) => k === key || k.endsWith(`: ${key}`));
}

/** Every (library, version, how) a file declares. */
function declarations(f: FileReport): Array<{ library: string; version: string; how: string; framework: boolean }> {
  const out: Array<{ library: string; version: string; how: string; framework: boolean }> = [];
  for (const s of SINGLE) for (const [, v] of factOf(f, s.key)) if (typeof v === 'string' && v.trim() !== '') out.push({ library: s.library, version: v.trim(), how: s.how, framework: true });
  for (const l of LISTS) {
    for (const [, v] of factOf(f, l.key)) {
      if (!Array.isArray(v)) continue;
      for (const item of v) {
        const i = item.indexOf('==');
        if (i <= 0) continue;
        out.push({ library: normaliseLibraryName(item.slice(0, i)), version: item.slice(i + 2).trim(), how: l.how, framework: l.framework });
      }
    }
  }
  return out.filter((d) => NAME.test(d.library) && d.version !== '' && d.version.length <= 64);
}

const refOf = (library: string, version: string) => `pkg:pypi/${library}@${encodeURIComponent(version)}`;
const advisoryUrl = (id: string) => (/^CVE-/.test(id) ? `https://nvd.nist.gov/vuln/detail/${id}` : `https://github.com/advisories/${id}`);

/** The declared libraries of these files (each with its bom-ref) and the catalogue's vulnerabilities of them. */
export function declaredLibraries(files: ReadonlyArray<{ file: FileReport; ref: string }>): DeclaredLibraries {
  const byRef = new Map<string, LibraryComponent>();
  const dependsOn = new Map<string, string[]>();
  for (const { file, ref: fileRef } of files) {
    for (const d of declarations(file)) {
      const ref = refOf(d.library, d.version);
      let c = byRef.get(ref);
      if (!c) {
        if (byRef.size >= MAX_COMPONENTS) continue;
        c = { type: d.framework ? 'framework' : 'library', 'bom-ref': ref, name: d.library, version: d.version, purl: ref, properties: [] };
        byRef.set(ref, c);
      }
      if (d.framework) c.type = 'framework';
      const value = `${file.path}: ${d.how}`;
      if (!c.properties.some((p) => p.value === value)) c.properties.push({ name: 'modelgate:declaredBy', value });
      const deps = dependsOn.get(fileRef) ?? [];
      if (!deps.includes(ref)) deps.push(ref);
      dependsOn.set(fileRef, deps);
    }
  }
  const vulns = new Map<string, LibraryVulnerability>();
  for (const c of byRef.values()) {
    for (const m of vulnerabilitiesOfLibraries({ [c.name]: c.version })) {
      let v = vulns.get(m.id);
      if (!v) {
        const aliases = m.aliases.filter((a) => /^(CVE-\d{4}-\d{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3})$/.test(a));
        v = {
          'bom-ref': `loader-vuln:${m.id}`,
          id: m.id,
          source: /^CVE-/.test(m.id) ? { name: 'NVD', url: advisoryUrl(m.id) } : { name: 'GitHub Advisories', url: advisoryUrl(m.id) },
          ratings: [{ source: { name: 'modelgate' }, severity: m.severity }],
          description: m.reason,
          recommendation: '',
          advisories: [...new Set(m.references)].map((url) => ({ url })),
          affects: [],
          properties: [
            { name: 'modelgate:catalogue', value: 'rules/loader-vulns.yaml' },
            { name: 'modelgate:feature', value: m.feature },
          ],
        };
        if (aliases.length) v.references = aliases.map((id) => ({ id, source: /^CVE-/.test(id) ? { name: 'NVD', url: advisoryUrl(id) } : { name: 'GitHub Advisories', url: advisoryUrl(id) } }));
        vulns.set(m.id, v);
      }
      v.affects.push({ ref: c['bom-ref'], versions: [{ version: c.version, status: 'affected' }] });
      const fix = m.fixedVersion ? `upgrade ${c.name} ${c.version} to ${m.fixedVersion} or later` : `no fixed release of ${c.name} is published; do not load untrusted files with ${c.name} ${c.version}`;
      v.recommendation = v.recommendation ? `${v.recommendation}; ${fix}` : `${fix[0]!.toUpperCase()}${fix.slice(1)}`;
    }
  }
  return { components: [...byRef.values()], vulnerabilities: [...vulns.values()], dependsOn };
}
