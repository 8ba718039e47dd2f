/**
 * The fixture corpus (fixtures/manifest.json, made by fixtures/generate.py with the real
 * libraries): every malicious file yields its exact dangerous globals and rules, every anomaly
 * its rule, every benign file nothing at medium or above.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { atLeast } from '../../src/core/findings.js';
import { scanFile } from '../../src/index.js';
import { FIXTURES, manifest, type ManifestEntry } from '../helpers/manifest.js';

const entries = manifest();
const limitsFor = (e: ManifestEntry) => (e.file.includes('20000_members') ? { maxMembers: 19_999 } : {});

async function scan(e: ManifestEntry) {
  const report = await scanFile(join(FIXTURES, e.file), { limits: limitsFor(e) });
  return report.files[0]!;
}

describe.each(['malicious', 'anomaly', 'bad-input'] as const)('%s fixtures', (kind) => {
  for (const e of entries.filter((x) => x.kind === kind)) {
    if (e.pending) {
      it.todo(`${e.file} (${e.pending})`);
      continue;
    }
    it(`${e.file}: ${e.technique}`, async () => {
      const f = await scan(e);
      const dangerous = new Set(f.findings.filter((x) => x.rule === 'PICKLE_DANGEROUS_GLOBAL').map((x) => x.evidence.canonical));
      for (const g of e.expect.globals) expect([...dangerous], `dangerous globals of ${e.file}`).toContain(g);
      const rules = new Set(f.findings.map((x) => x.rule));
      for (const r of e.expect.rules) expect([...rules], `rules of ${e.file}`).toContain(r);
      // Code that would run is high or critical; what cannot be seen (encrypted) is at least medium.
      if (kind === 'malicious' && e.expect.globals.length) expect(['critical', 'high'], `${e.file} severity`).toContain(f.maxSeverity);
      else if (kind === 'malicious') expect(['critical', 'high', 'medium'], `${e.file} severity`).toContain(f.maxSeverity);
    });
  }
});

describe('benign fixtures', () => {
  for (const e of entries.filter((x) => x.kind === 'benign')) {
    it(`${e.file} has nothing at medium or above`, async () => {
      const f = await scan(e);
      const loud = f.findings.filter((x) => atLeast(x.severity, 'medium')).map((x) => `${x.rule}: ${x.message}`);
      expect(loud).toEqual([]);
      expect(f.complete).toBe(true);
    });
  }
});
