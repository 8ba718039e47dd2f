/**
 * SARIF rendering of real scans: valid against the official 2.1.0 schema, and shaped the way
 * GitHub code scanning needs (relative URIs, startLine, security-severity, stable fingerprints).
 */
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Log, Result } from 'sarif';
import { describe, expect, it } from 'vitest';
import { scanBytes, scanPath } from '../../src/index.js';
import { FINGERPRINT_KEY, renderSarif } from '../../src/report/sarif.js';
import { FIXTURES } from '../helpers/manifest.js';
import { EVIL_PICKLE, buildZip } from '../helpers/zip-builder.js';
import { sarifErrors } from './validators.js';

const ROOT = join(FIXTURES, '..');
const fx = (p: string) => join(FIXTURES, p);
const TORCH = fx('malicious/torch_zip_reduce.pt');
const PLAIN = fx('malicious/reduce_os_system_p2.pkl');
const NESTED = fx('malicious/nested_pickle_zip_tar.tar.gz');
const BENIGN = fx('benign/torch_state_dict.pt');
const MEDIUM = fx('anomalies/duplicate_proto.pkl');
const LOW = fx('anomalies/trailing_bytes_after_stop.pkl');
const CVE = fx('malicious/pip_main.pkl');

function results(log: Log): Result[] {
  return log.runs[0]!.results ?? [];
}

function resultFor(log: Log, uri: string, rule: string): Result {
  const r = results(log).find((x) => x.locations?.[0]?.physicalLocation?.artifactLocation?.uri === uri && x.ruleId === rule);
  if (!r) throw new Error(`no ${rule} result on ${uri}`);
  return r;
}

describe('SARIF 2.1.0', async () => {
  const report = await scanPath([TORCH, PLAIN, NESTED, BENIGN, MEDIUM, LOW, CVE]);
  const log = renderSarif(report, { root: ROOT });

  it('validates against the official SARIF 2.1.0 schema', () => {
    expect(sarifErrors(log)).toEqual([]);
    expect(log.version).toBe('2.1.0');
    expect(log.runs).toHaveLength(1);
  });

  it('names the tool with its version and one rule per kind found, documented from docs/rules', () => {
    const driver = log.runs[0]!.tool.driver;
    expect(driver.name).toBe('modelgate');
    expect(driver.version).toBe(report.engine.version);
    expect(driver.informationUri).toMatch(/^https:\/\//);
    const ids = driver.rules!.map((r) => r.id);
    expect(ids).toEqual([...new Set(report.files.flatMap((f) => f.findings.map((x) => x.rule)))].sort());
    const rule = driver.rules!.find((r) => r.id === 'PICKLE_DANGEROUS_GLOBAL')!;
    expect(rule.name).toBe('PickleDangerousGlobal');
    expect(rule.shortDescription?.text).toBe('Pickle imports or calls a dangerous global');
    expect(rule.defaultConfiguration?.level).toBe('error');
    expect(rule.properties?.['security-severity']).toBe('9.5');
    expect(rule.properties?.tags).toContain('security');
    expect(rule.helpUri).toMatch(/\/docs\/rules\/PICKLE_DANGEROUS_GLOBAL\.md$/);
    expect(rule.help?.markdown).toContain('## What it catches');
    expect(rule.help?.text).not.toContain('## ');
    expect(rule.fullDescription?.text.length).toBeGreaterThan(rule.shortDescription!.text.length);
    // A relative link on the page would be dead inside a SARIF file.
    expect(rule.help?.markdown).not.toMatch(/\]\((?!https?:|#)/);
  });

  it('puts an archive member into the message, a logical location and the properties', () => {
    const r = resultFor(log, 'fixtures/malicious/torch_zip_reduce.pt', 'PICKLE_DANGEROUS_GLOBAL');
    expect(r.level).toBe('error');
    expect(r.ruleIndex).toBe(log.runs[0]!.tool.driver.rules!.findIndex((x) => x.id === 'PICKLE_DANGEROUS_GLOBAL'));
    expect(r.message.text).toContain('calls os.system (named posix.system)');
    expect(r.message.text).toContain("Call chain: posix.system('echo modelgate-fixture')");
    expect(r.message.text).toContain('In archive member: archive/data.pkl');
    const loc = r.locations![0]!;
    expect(loc.physicalLocation?.region).toEqual({ startLine: 1 });
    expect(loc.logicalLocations).toEqual([{ kind: 'member', name: 'archive/data.pkl', fullyQualifiedName: 'archive/data.pkl' }]);
    expect(r.properties?.['memberChain']).toEqual(['archive/data.pkl']);
    expect(r.properties?.['byteOffset']).toBe(229);
    expect(r.properties?.['canonical']).toBe('os.system');
  });

  it('chains nested members (gzip › tar › zip › pickle)', () => {
    const r = resultFor(log, 'fixtures/malicious/nested_pickle_zip_tar.tar.gz', 'PICKLE_DANGEROUS_GLOBAL');
    expect(r.locations![0]!.logicalLocations![0]!.fullyQualifiedName).toBe('<gzip> › bundle/model.zip › model/data.pkl');
    expect(r.locations![0]!.logicalLocations![0]!.name).toBe('model/data.pkl');
  });

  it('gives a top-level finding no logical location and its offset in the file', () => {
    const r = resultFor(log, 'fixtures/malicious/reduce_os_system_p2.pkl', 'PICKLE_DANGEROUS_GLOBAL');
    expect(r.locations![0]!.logicalLocations).toBeUndefined();
    expect(r.message.text).not.toContain('archive member');
    expect(typeof r.properties?.['byteOffset']).toBe('number');
  });

  it('maps severities to levels and security-severity numbers', () => {
    const med = results(log).find((x) => x.locations![0]!.physicalLocation!.artifactLocation!.uri === 'fixtures/anomalies/duplicate_proto.pkl')!;
    expect(med.properties?.['severity']).toBe('medium');
    expect(med.level).toBe('warning');
    const low = resultFor(log, 'fixtures/anomalies/trailing_bytes_after_stop.pkl', 'PICKLE_TRAILING_DATA');
    expect(low.level).toBe('note');
    const rule = log.runs[0]!.tool.driver.rules!.find((x) => x.id === 'PICKLE_TRAILING_DATA')!;
    expect(rule.properties?.['security-severity']).toBe('3.0');
  });

  it('carries CVE references from the catalogue', () => {
    const r = results(log).find((x) => x.locations![0]!.physicalLocation!.artifactLocation!.uri === 'fixtures/malicious/pip_main.pkl')!;
    expect(r.properties?.['references']).toContain('CVE-2025-1716');
  });

  it('meets GitHub code scanning: relative forward-slash URIs without .., a startLine on every result, fingerprints', () => {
    for (const r of results(log)) {
      const uri = r.locations![0]!.physicalLocation!.artifactLocation!.uri!;
      expect(uri).toMatch(/^fixtures\//);
      expect(uri).not.toMatch(/\\|(^|\/)\.\.(\/|$)/);
      expect(r.locations![0]!.physicalLocation!.region!.startLine).toBe(1);
      expect(r.partialFingerprints?.[FINGERPRINT_KEY]).toMatch(/^[0-9a-f]{32}(:\d+)?$/);
    }
    expect(results(log).some((r) => r.locations![0]!.physicalLocation!.artifactLocation!.uri === 'fixtures/benign/torch_state_dict.pt')).toBe(false);
  });

  it('fingerprints are stable across runs and differ between files', async () => {
    const again = renderSarif(await scanPath([TORCH, PLAIN]), { root: ROOT });
    const fp = (l: Log, uri: string) => resultFor(l, uri, 'PICKLE_DANGEROUS_GLOBAL').partialFingerprints![FINGERPRINT_KEY];
    expect(fp(again, 'fixtures/malicious/torch_zip_reduce.pt')).toBe(fp(log, 'fixtures/malicious/torch_zip_reduce.pt'));
    expect(fp(again, 'fixtures/malicious/reduce_os_system_p2.pkl')).not.toBe(fp(again, 'fixtures/malicious/torch_zip_reduce.pt'));
    const all = results(log).map((r) => r.partialFingerprints![FINGERPRINT_KEY]);
    expect(new Set(all).size).toBe(all.length);
  });

  it('percent-encodes odd file names and uses a file: URI outside the root; still valid', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-sarif-'));
    mkdirSync(join(dir, 'sub dir'));
    copyFileSync(TORCH, join(dir, 'sub dir', 'a #1%.pt'));
    const inside = renderSarif(await scanPath([join(dir, 'sub dir')]), { root: dir });
    expect(results(inside)[0]!.locations![0]!.physicalLocation!.artifactLocation!.uri).toBe('sub%20dir/a%20%231%25.pt');
    expect(sarifErrors(inside)).toEqual([]);
    const outside = renderSarif(await scanPath([join(dir, 'sub dir')]), { root: join(dir, 'elsewhere') });
    const uri = results(outside)[0]!.locations![0]!.physicalLocation!.artifactLocation!.uri!;
    expect(uri).toMatch(/^file:\/\/\/.*\/sub%20dir\/a%20%231%25\.pt$/);
    expect(results(outside)[0]!.locations![0]!.physicalLocation!.artifactLocation!.uriBaseId).toBeUndefined();
    expect(sarifErrors(outside)).toEqual([]);
  });

  it('keeps control and bidi characters of hostile member names out of the message text', async () => {
    const name = 'evil\u202Ekp.\nline2.pkl';
    // Zip names are bytes: UTF-8 with the language-encoding flag (0x800), as Python's zipfile writes them.
    const zip = buildZip([{ name: Buffer.from(name, 'utf8').toString('latin1'), data: EVIL_PICKLE, flags: 0x800 }]);
    const r = renderSarif(await scanBytes(zip, 'hostile.zip'), { root: process.cwd() });
    const res = results(r).find((x) => x.ruleId === 'PICKLE_DANGEROUS_GLOBAL')!;
    expect(res.message.text).toContain('In archive member: evil<U+202E>kp.<U+000A>line2.pkl');
    // The logical location keeps the exact name: it identifies the member.
    expect(res.locations![0]!.logicalLocations![0]!.fullyQualifiedName).toBe(name);
    expect(sarifErrors(r)).toEqual([]);
  });

  it('still describes a kind that has no documentation page (title falls back to the id)', () => {
    const copy = structuredClone(report);
    copy.files.find((f) => f.findings.length)!.findings[0]!.rule = 'X_UNDOCUMENTED';
    const l = renderSarif(copy, { root: ROOT });
    const rule = l.runs[0]!.tool.driver.rules!.find((r) => r.id === 'X_UNDOCUMENTED')!;
    expect(rule.shortDescription?.text).toBe('X_UNDOCUMENTED');
    expect(rule.help?.text).toMatch(/See https:\/\/\S+\/docs\/rules\/X_UNDOCUMENTED\.md$/);
    expect(sarifErrors(l)).toEqual([]);
  });

  it('a clean scan is a valid log with no rules and no results', async () => {
    const clean = renderSarif(await scanPath([BENIGN]), { root: ROOT });
    expect(sarifErrors(clean)).toEqual([]);
    expect(clean.runs[0]!.tool.driver.rules).toEqual([]);
    expect(results(clean)).toEqual([]);
  });

  it('the vendored schema rejects a broken log (the validator is not a no-op)', () => {
    const broken = JSON.parse(JSON.stringify(log)) as Log;
    (broken.runs[0]!.results![0] as unknown as Record<string, unknown>)['level'] = 'fatal';
    delete (broken.runs[0]!.tool.driver as unknown as Record<string, unknown>)['name'];
    expect(sarifErrors(broken).length).toBeGreaterThanOrEqual(2);
  });
});
