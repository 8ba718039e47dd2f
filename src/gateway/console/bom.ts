/**
 * The CycloneDX ML-BOM of one repository at one commit, as pulled through the gateway: the
 * stored scans of its files, each named by its path in the repository (not the gateway's cache
 * path), rendered by the report layer's CycloneDX renderer. The gateway adds what only it knows:
 * the repository itself as the BOM's subject (licence, custom code), each file's newest
 * decision, and the files it refused without ever scanning them.
 */
import { renderCycloneDx, type CdxBom, type CdxComponent, type CdxProperty } from '../../report/cyclonedx.js';
import { REPORT_SCHEMA, type EngineInfo, type FileReport, type ScanReport } from '../../scan/report.js';
import { summarize } from '../../scan/scan.js';
import type { InventoryFile, InventoryRepo, StoredScan } from '../../store/types.js';

/** The repository as the BOM's subject: a model, or (CycloneDX 1.5+) `data` for a dataset. */
export type RepoComponent = Omit<CdxComponent, 'type'> & { type: 'machine-learning-model' | 'data'; licenses?: Array<{ license: { name: string } }> };

export type RepoBom = CdxBom & { metadata: CdxBom['metadata'] & { component: RepoComponent } };

/** The scan's report under the file's path in the repository. */
function asRepoFile(scan: StoredScan, path: string): FileReport {
  const r = scan.report;
  return {
    ...r,
    path,
    sha256: scan.sha256,
    findings: r.findings.map((f) => ({ ...f, location: { ...f.location, path: [path, ...f.location.path.slice(1)] } })),
    imports: r.imports.map((i) => ({ ...i, path: [path, ...i.path.slice(1)] })),
  };
}


export function repositoryBom(engine: EngineInfo, repo: InventoryRepo, files: readonly InventoryFile[], scans: ReadonlyMap<string, StoredScan>, now = new Date()): RepoBom {
  const reports: FileReport[] = [];
  const unscanned: InventoryFile[] = [];
  for (const f of files) {
    const scan = f.scanId ? scans.get(f.scanId) : undefined;
    if (scan) reports.push(asRepoFile(scan, f.path));
    else unscanned.push(f);
  }
  const report: ScanReport = { schema: REPORT_SCHEMA, engine, startedAt: now.toISOString(), durationMs: 0, files: reports, summary: summarize(reports) };
  const bom = renderCycloneDx(report);

  const verdicts = new Map(files.map((f) => [`file:${f.path}`, f]));
  for (const c of bom.components) {
    const f = c['bom-ref'] ? verdicts.get(c['bom-ref']) : undefined;
    if (f) (c.properties ??= []).push({ name: 'modelgate:verdict', value: f.verdict }, { name: 'modelgate:pulls', value: String(f.served) });
  }
  for (const f of unscanned) {
    const c: CdxComponent = { type: 'file', 'bom-ref': `file:${f.path}`, name: f.path, properties: [{ name: 'modelgate:verdict', value: f.verdict }, { name: 'modelgate:scanned', value: 'false' }] };
    if (f.sha256) c.hashes = [{ alg: 'SHA-256', content: f.sha256 }];
    bom.components.push(c);
  }

  const name = repo.repoType === 'dataset' ? `datasets/${repo.repo}` : repo.repo;
  const props: CdxProperty[] = [
    { name: 'modelgate:repoType', value: repo.repoType },
    { name: 'modelgate:customCode', value: repo.remoteCode ?? 'not learned' },
    ...repo.remoteFiles.map((value) => ({ name: 'modelgate:customCodeFile', value })),
  ];
  const component: RepoComponent = { type: repo.repoType === 'dataset' ? 'data' : 'machine-learning-model', 'bom-ref': `repository:${name}@${repo.commit}`, name, version: repo.commit, properties: props };
  if (repo.license) component.licenses = [{ license: { name: repo.license } }];
  return { ...bom, metadata: { ...bom.metadata, component } };
}
