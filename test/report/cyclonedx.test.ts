/**
 * CycloneDX 1.6 ML-BOM rendering of real scans, validated by the CycloneDX library's strict
 * JSON validator.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanPath } from '../../src/index.js';
import { renderCycloneDx, type CdxBom, type CdxComponent } from '../../src/report/cyclonedx.js';
import { FIXTURES } from '../helpers/manifest.js';
import { cycloneDxErrors } from './validators.js';

const fx = (p: string) => join(FIXTURES, p);
const TORCH = fx('malicious/torch_zip_reduce.pt');
const BENIGN = fx('benign/model.safetensors');
const CVE = fx('malicious/pip_main.pkl');
const TEXT = fx('bad-input/config.json');
const INCOMPLETE = fx('bad-input/zip_nested_12_levels.zip');

const prop = (c: { properties?: { name: string; value: string }[] }, name: string) => c.properties?.filter((p) => p.name === name).map((p) => p.value);

function comp(bom: CdxBom, path: string): CdxComponent {
  const c = bom.components.find((x) => x.name === path);
  if (!c) throw new Error(`no component ${path}`);
  return c;
}

describe('CycloneDX 1.6 ML-BOM', async () => {
  const report = await scanPath([TORCH, BENIGN, CVE, TEXT, INCOMPLETE], { hash: true });
  const bom = renderCycloneDx(report);

  it('passes the strict CycloneDX 1.6 JSON schema', async () => {
    expect(await cycloneDxErrors(bom)).toBeNull();
    expect(bom.bomFormat).toBe('CycloneDX');
    expect(bom.specVersion).toBe('1.6');
    expect(bom.serialNumber).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(bom.metadata.timestamp).toBe(report.startedAt);
    expect(bom.metadata.tools.components[0]).toMatchObject({ type: 'application', name: 'modelgate', version: report.engine.version });
  });

  it('describes each scanned file as a component with its SHA-256 and verdict', () => {
    expect(bom.components).toHaveLength(5);
    const t = comp(bom, TORCH);
    expect(t.type).toBe('machine-learning-model');
    expect(t.hashes).toEqual([{ alg: 'SHA-256', content: createHash('sha256').update(readFileSync(TORCH)).digest('hex') }]);
    expect(prop(t, 'modelgate:format')).toEqual(['zip']);
    expect(prop(t, 'modelgate:maxSeverity')).toEqual(['critical']);
    expect(prop(t, 'modelgate:complete')).toEqual(['true']);
    expect(prop(t, 'modelgate:fact:container')).toEqual(['pytorch-zip']);
    const b = comp(bom, BENIGN);
    expect(b.type).toBe('machine-learning-model');
    expect(prop(b, 'modelgate:maxSeverity')).toEqual(['none']);
    expect(comp(bom, TEXT).type).toBe('file');
    expect(prop(comp(bom, INCOMPLETE), 'modelgate:complete')).toEqual(['false']);
    expect(prop(bom.metadata, 'modelgate:complete')).toEqual(['false']);
    expect(prop(bom.metadata, 'modelgate:maxSeverity')).toEqual(['critical']);
  });

  it('turns a finding into a vulnerability that affects its component', () => {
    const t = comp(bom, TORCH);
    const v = bom.vulnerabilities.find((x) => x.affects[0]!.ref === t['bom-ref'] && x.id.startsWith('PICKLE_DANGEROUS_GLOBAL:'))!;
    expect(v.id).toBe(`PICKLE_DANGEROUS_GLOBAL:${TORCH} › archive/data.pkl @ 229`);
    expect(v.source.name).toBe('modelgate');
    expect(v.source.url).toMatch(/\/docs\/rules\/PICKLE_DANGEROUS_GLOBAL\.md$/);
    expect(v.ratings).toEqual([{ source: { name: 'modelgate' }, severity: 'critical' }]);
    expect(v.description).toContain('calls os.system (named posix.system)');
    expect(v.description).toContain("posix.system('echo modelgate-fixture')");
    expect(prop(v, 'modelgate:member')).toEqual(['archive/data.pkl']);
    expect(prop(v, 'modelgate:canonical')).toEqual(['os.system']);
    expect(v.recommendation).toMatch(/\S/);
    expect(new Set(bom.vulnerabilities.map((x) => x['bom-ref'])).size).toBe(bom.vulnerabilities.length);
  });

  it('links CVE references as references and advisories', () => {
    const c = comp(bom, CVE);
    const v = bom.vulnerabilities.find((x) => x.affects[0]!.ref === c['bom-ref'] && x.references?.some((r) => r.id === 'CVE-2025-1716'))!;
    expect(v).toBeDefined();
    expect(v.references).toContainEqual({ id: 'CVE-2025-1716', source: { name: 'NVD', url: 'https://nvd.nist.gov/vuln/detail/CVE-2025-1716' } });
    expect(v.advisories).toContainEqual({ title: 'CVE-2025-1716', url: 'https://nvd.nist.gov/vuln/detail/CVE-2025-1716' });
  });

  it('keeps bom-refs unique when a path is given twice, and omits hashes when none were computed', async () => {
    const twice = renderCycloneDx(await scanPath([TORCH, TORCH]), { serialNumber: 'urn:uuid:00000000-0000-4000-8000-000000000000' });
    expect(await cycloneDxErrors(twice)).toBeNull();
    expect(twice.components.map((c) => c['bom-ref'])).toEqual([`file:${TORCH}`, `file:${TORCH}#2`]);
    expect(twice.components[0]!.hashes).toBeUndefined();
    expect(twice.serialNumber).toBe('urn:uuid:00000000-0000-4000-8000-000000000000');
  });

  it('the strict validator rejects what the schema forbids (it is not a no-op)', async () => {
    const broken = JSON.parse(JSON.stringify(bom)) as Record<string, unknown> & CdxBom;
    (broken.components[0] as unknown as Record<string, unknown>)['type'] = 'pickle';
    (broken as Record<string, unknown>)['surprise'] = true;
    expect(await cycloneDxErrors(broken)).not.toBeNull();
  });
});

describe('CycloneDX ML-BOM: frameworks the models declare', async () => {
  const BERT = fx('benign/config_bert.json');
  const KERAS2 = fx('malicious/keras2_lambda.h5');
  const ENV = fx('malicious/mlflow_vulnerable_env/MLmodel');
  const SKLEARN = fx('benign/mlflow_sklearn/MLmodel');
  const report = await scanPath([BERT, KERAS2, ENV, SKLEARN]);
  const bom = renderCycloneDx(report, { serialNumber: 'urn:uuid:00000000-0000-4000-8000-000000000000' });
  const lib = (purl: string) => bom.components.find((c) => c['bom-ref'] === purl);

  it('passes the strict CycloneDX 1.6 JSON schema with library components, dependencies and their vulnerabilities', async () => {
    expect(await cycloneDxErrors(bom)).toBeNull();
  });

  it('lists transformers_version, the Keras version, MLmodel versions and environment pins as components', () => {
    expect(lib('pkg:pypi/transformers@5.18.0')).toMatchObject({ type: 'framework', name: 'transformers', version: '5.18.0', purl: 'pkg:pypi/transformers@5.18.0' });
    expect(prop(lib('pkg:pypi/transformers@5.18.0')!, 'modelgate:declaredBy')).toEqual([`${BERT}: transformers_version of the config`]);
    expect(lib('pkg:pypi/keras@2.12.0')).toMatchObject({ type: 'framework', name: 'keras', version: '2.12.0' });
    // torch 2.5.1: recorded by the MLmodel (pytorch_version) and pinned by its environment.
    expect(prop(lib('pkg:pypi/torch@2.5.1')!, 'modelgate:declaredBy')).toEqual([`${ENV}: version recorded in the MLmodel`, `${ENV}: version pinned by the MLflow environment`]);
    expect(lib('pkg:pypi/numpy@1.26.4')).toMatchObject({ type: 'library', name: 'numpy' });
    expect(lib('pkg:pypi/mlflow@2.22.0')).toMatchObject({ type: 'framework' });
    expect(bom.dependencies).toContainEqual({ ref: `file:${BERT}`, dependsOn: ['pkg:pypi/transformers@5.18.0'] });
    expect(bom.dependencies!.find((d) => d.ref === `file:${ENV}`)!.dependsOn).toEqual(expect.arrayContaining(['pkg:pypi/torch@2.5.1', 'pkg:pypi/mlflow@2.14.1', 'pkg:pypi/cloudpickle@3.0.0']));
  });

  it('adds the loader catalogue vulnerabilities affecting those versions, with the affected version and the fix', () => {
    const v = bom.vulnerabilities.find((x) => x.id === 'CVE-2025-32434')!;
    expect(v.affects).toEqual([{ ref: 'pkg:pypi/torch@2.5.1', versions: [{ version: '2.5.1', status: 'affected' }] }]);
    expect(v.source).toEqual({ name: 'NVD', url: 'https://nvd.nist.gov/vuln/detail/CVE-2025-32434' });
    expect(v.references).toContainEqual({ id: 'GHSA-53q9-r3pm-6pq6', source: { name: 'GitHub Advisories', url: 'https://github.com/advisories/GHSA-53q9-r3pm-6pq6' } });
    expect(v.ratings).toEqual([{ source: { name: 'modelgate' }, severity: 'critical' }]);
    expect(v.recommendation).toBe('Upgrade torch 2.5.1 to 2.6.0 or later');
    const keras = bom.vulnerabilities.find((x) => x.id === 'CVE-2024-3660')!;
    expect(keras.affects).toEqual([{ ref: 'pkg:pypi/keras@2.12.0', versions: [{ version: '2.12.0', status: 'affected' }] }]);
    // One vulnerability per id, affecting every declared version it covers (mlflow 2.14.1 and 2.22.0).
    const dspy = bom.vulnerabilities.filter((x) => x.id === 'CVE-2026-96775');
    expect(dspy).toHaveLength(1);
    expect(dspy[0]!.affects.map((a) => a.ref).sort()).toEqual(['pkg:pypi/mlflow@2.14.1', 'pkg:pypi/mlflow@2.22.0']);
    expect(bom.vulnerabilities.some((x) => x.affects.some((a) => a.ref === 'pkg:pypi/transformers@5.18.0'))).toBe(false);
  });
});
