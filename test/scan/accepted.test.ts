/**
 * Accepted-findings files (src/scan/accepted.ts): what a malformed file says, and which findings
 * an entry covers (path below the file's directory, sha256 of the scanned file, rule, expiry).
 */
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Finding } from '../../src/core/findings.js';
import { AcceptFileError, applyAcceptList, parseAcceptList } from '../../src/scan/accepted.js';
import type { FileReport, ScanReport } from '../../src/scan/report.js';

const NOW = new Date('2026-03-01T00:00:00Z');
const SHA = 'ab'.repeat(32);

function finding(rule: string): Finding {
  return { rule, severity: 'critical', message: 'm', location: { path: ['x'] }, evidence: {}, references: [] };
}

function file(path: string, rules: string[], sha256?: string): FileReport {
  return { path, size: 1, formats: ['pickle'], findings: rules.map(finding), facts: {}, imports: [], members: [], complete: true, maxSeverity: 'critical', bytesRead: 1, durationMs: 0, ...(sha256 ? { sha256 } : {}) };
}

function report(files: FileReport[]): ScanReport {
  return {
    schema: 'modelgate/scan-report@1',
    engine: { name: 'modelgate', version: '0', rulesVersion: '0', analyzers: {} },
    startedAt: NOW.toISOString(),
    durationMs: 0,
    files,
    summary: { files: files.length, findings: { critical: 0, high: 0, medium: 0, low: 0, info: 0 }, maxSeverity: 'critical', incomplete: 0, bytesRead: 0 },
  };
}

const err = (yaml: string) => {
  try {
    parseAcceptList(yaml, 'accept.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(AcceptFileError);
    return (e as Error).message;
  }
  return null;
};

describe('accepted-findings file: malformed', () => {
  it('says what is wrong, where, in one line', () => {
    expect(err('a: [')).toMatch(/^accept\.yaml: not valid YAML: [^\n]+$/);
    expect(err('path: x')).toBe('accept.yaml: expected a list of entries (- path: ..., rule: ..., reason: ..., expiresAt: ...)');
    expect(err('- path: a.pt\n  reason: ok then\n  expires: 2026-01-01')).toBe("accept.yaml: entry 1: unknown field 'expires' (fields: id, path, sha256, rule, reason, expiresAt)");
    expect(err('- path: a.pt\n  reason: ok then\n  expiresAt: 2026-01-01\n- path: b.pt\n  reason: ok\n  expiresAt: 2026-01-01')).toBe('accept.yaml: entry 2: reason: must say why the finding is accepted (at least 3 characters)');
    expect(err('- path: a.pt\n  reason: reviewed\n  expiresAt: next year')).toBe('accept.yaml: entry 1: expiresAt: must be a date (2026-06-30) or an ISO date-time with a zone (2026-06-30T12:00:00Z)');
    expect(err('- path: a.pt\n  reason: reviewed')).toBe('accept.yaml: entry 1: expiresAt: missing');
    expect(err('- reason: reviewed\n  expiresAt: 2026-01-01')).toBe('accept.yaml: entry 1: an entry needs at least one of path, sha256, rule');
    expect(err('- rule: PICKLE_UNKOWN_GLOBAL\n  reason: reviewed\n  expiresAt: 2026-01-01')).toBe("accept.yaml: entry 1: rule: unknown finding kind 'PICKLE_UNKOWN_GLOBAL' (see docs/rules/)");
    expect(err('- sha256: abc\n  reason: reviewed\n  expiresAt: 2026-01-01')).toBe('accept.yaml: entry 1: sha256: must be 64 hexadecimal digits');
    expect(err('- path: "[a"\n  reason: reviewed\n  expiresAt: 2026-01-01')).toBe("accept.yaml: entry 1: path: pattern '[a' has an unclosed [");
  });

  it('an empty file accepts nothing', () => {
    expect(parseAcceptList('', 'accept.yaml').entries).toEqual([]);
  });
});

describe('accepted-findings file: applying it', () => {
  const dir = resolve('/repo');
  const list = (yaml: string) => parseAcceptList(yaml, join(dir, '.modelgate-accept.yaml'));
  const local = () => true;

  it('covers a finding when every field the entry sets matches: path below the file, rule', () => {
    const r = report([file(join(dir, 'models/a.pt'), ['PICKLE_DANGEROUS_GLOBAL', 'ZIP_CRC_MISMATCH']), file(join(dir, 'other/a.pt'), ['PICKLE_DANGEROUS_GLOBAL']), file('/elsewhere/models/a.pt', ['PICKLE_DANGEROUS_GLOBAL'])]);
    applyAcceptList(r, list('- id: reviewed-a\n  path: models/*.pt\n  rule: PICKLE_DANGEROUS_GLOBAL\n  reason: ours, reviewed\n  expiresAt: 2026-06-30'), NOW, local);
    expect(r.files[0]!.findings.map((f) => f.accepted ?? null)).toEqual([{ file: join(dir, '.modelgate-accept.yaml'), entry: 'reviewed-a', reason: 'ours, reviewed', expiresAt: '2026-06-30' }, null]);
    expect(r.files[1]!.findings[0]!.accepted).toBeUndefined();
    expect(r.files[2]!.findings[0]!.accepted).toBeUndefined();
    expect(r.summary.accepted).toBe(1);
    expect(r.acceptFile).toEqual({ path: join(dir, '.modelgate-accept.yaml'), entries: 1, expired: [] });
  });

  it('matches sha256 against the scanned file, whatever its path; not files without a hash', () => {
    const r = report([file('/anywhere/w.bin', ['PICKLE_DANGEROUS_GLOBAL'], SHA), file('/anywhere/v.bin', ['PICKLE_DANGEROUS_GLOBAL'])]);
    applyAcceptList(r, list(`- sha256: ${SHA.toUpperCase()}\n  reason: vendor file\n  expiresAt: 2026-06-30T12:00:00Z`), NOW, local);
    expect(r.files[0]!.findings[0]!.accepted?.entry).toBe('#1');
    expect(r.files[1]!.findings[0]!.accepted).toBeUndefined();
  });

  it('an expired entry covers nothing and is listed as expired; a date alone ends at 00:00 UTC', () => {
    const r = report([file(join(dir, 'a.pt'), ['PICKLE_DANGEROUS_GLOBAL'])]);
    applyAcceptList(r, list('- path: a.pt\n  reason: was fine\n  expiresAt: 2026-03-01'), NOW, local);
    expect(r.files[0]!.findings[0]!.accepted).toBeUndefined();
    expect(r.acceptFile?.expired).toEqual([{ entry: '#1', expiresAt: '2026-03-01' }]);
  });

  it('path entries never match what is not a local file (standard input, remote files)', () => {
    const r = report([file(join(dir, 'a.pt'), ['PICKLE_DANGEROUS_GLOBAL'])]);
    applyAcceptList(r, list('- path: "**"\n  reason: everything\n  expiresAt: 2027-01-01'), NOW, () => false);
    expect(r.files[0]!.findings[0]!.accepted).toBeUndefined();
  });
});
