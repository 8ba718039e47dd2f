/**
 * `modelgate scan --format sarif|cyclonedx|markdown -o FILE` through the CLI's main(), in process
 * (the compiled-bin tests live in test/cli/). Exit codes keep their meaning whatever the format.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { FIXTURES } from '../helpers/manifest.js';
import { cycloneDxErrors, sarifErrors } from './validators.js';

const MAL = join(FIXTURES, 'malicious', 'torch_zip_reduce.pt');
const BENIGN = join(FIXTURES, 'benign', 'torch_state_dict.pt');
const out = (name: string) => join(mkdtempSync(join(tmpdir(), 'mg-cli-')), name);

afterEach(() => {
  process.exitCode = undefined;
});

describe('scan --format', () => {
  it('sarif: writes a valid log and exits 1 on a malicious file', async () => {
    const file = out('r.sarif');
    expect(await main(['scan', '--no-progress', '--format', 'sarif', '-o', file, MAL])).toBe(1);
    const log = JSON.parse(readFileSync(file, 'utf8'));
    expect(sarifErrors(log)).toEqual([]);
    expect(log.runs[0].results[0].ruleId).toBe('PICKLE_DANGEROUS_GLOBAL');
    expect(log.runs[0].results[0].locations[0].logicalLocations[0].fullyQualifiedName).toBe('archive/data.pkl');
  });

  it('cyclonedx: hashes the files without --hash, validates, and exits 0 on a benign file', async () => {
    const file = out('bom.json');
    expect(await main(['scan', '--format', 'cyclonedx', '-o', file, BENIGN])).toBe(0);
    const bom = JSON.parse(readFileSync(file, 'utf8'));
    expect(await cycloneDxErrors(bom)).toBeNull();
    expect(bom.components[0].hashes[0].content).toBe(createHash('sha256').update(readFileSync(BENIGN)).digest('hex'));
    expect(bom.vulnerabilities).toEqual([]);
  });

  it('markdown: honours --fail-on in both the verdict and the exit code', async () => {
    const file = out('comment.md');
    expect(await main(['scan', '--format', 'markdown', '--fail-on', 'critical', '-o', file, MAL, BENIGN])).toBe(1);
    const md = readFileSync(file, 'utf8');
    expect(md.split('\n')[0]).toBe('❌ **modelgate: 1 of 2 files with findings at or above critical** (worst: critical).');
  });

  it('accepted findings: SARIF suppressions and the CycloneDX analysis pass their schemas', async () => {
    const accept = out('accept.yaml');
    const sha = createHash('sha256').update(readFileSync(MAL)).digest('hex');
    writeFileSync(accept, `- sha256: ${sha}\n  rule: PICKLE_DANGEROUS_GLOBAL\n  reason: reviewed fixture\n  expiresAt: 2999-01-01\n`);
    const sarifFile = out('r.sarif');
    expect(await main(['scan', '--no-progress', '--format', 'sarif', '--accept', accept, '-o', sarifFile, MAL])).toBe(0);
    const log = JSON.parse(readFileSync(sarifFile, 'utf8'));
    expect(sarifErrors(log)).toEqual([]);
    expect(log.runs[0].results[0].suppressions[0]).toMatchObject({ kind: 'external', state: 'accepted', justification: 'reviewed fixture' });
    const bomFile = out('bom.json');
    expect(await main(['scan', '--format', 'cyclonedx', '--accept', accept, '-o', bomFile, MAL])).toBe(0);
    const bom = JSON.parse(readFileSync(bomFile, 'utf8'));
    expect(await cycloneDxErrors(bom)).toBeNull();
    expect(bom.vulnerabilities[0].analysis).toEqual({ response: ['will_not_fix'], detail: `accepted in ${accept} (entry #1, until 2999-01-01): reviewed fixture` });
  });

  it('rejects an unknown format with a usage error (exit 2)', async () => {
    expect(await main(['scan', '--format', 'html', MAL])).toBe(2);
  });
});
