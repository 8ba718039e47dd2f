/**
 * A larger generated crawl (5,000 repositories, 20,000 files) on both databases: the study's
 * counts against an oracle computed in plain JavaScript from the same generator, and identical
 * output on SQLite and PostgreSQL. No timing assertion (speed is measured, not tested: at
 * 400,000 files the study takes about 20 s on either database, see docs/study.md).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scanBytes, type FileReport } from '../../src/index.js';
import type { CrawlTables } from '../../src/queue/results.js';
import type { SqlStore } from '../../src/store/sql.js';
import { AGREEMENTS, buildStudy, type Agreement, type Study } from '../../src/study/index.js';
import { backends } from './backends.js';

const REPOS = 5000;
const FILES_PER_REPO = 4;
const COPIES = 100;
const FIXTURES = ['malicious/global_p0_os_system.pkl', 'benign/model.safetensors', 'benign/config_bert.json', 'anomalies/invalid_opcode.pkl'];

const all = await backends();
const results = new Map<string, Study>();
afterAll(async () => {
  for (const b of all) await b.cleanup();
});

const unscanned = (k: number): boolean => k % 50 === 49;
const hubScanned = (i: number): boolean => i % 10 === 0 || i % 7 !== 0;
const hubFlags = (i: number, j: number): boolean => i % 10 === 0 && j === 0;

async function fill(store: SqlStore): Promise<void> {
  const reports: FileReport[] = [];
  for (const f of FIXTURES) reports.push((await scanBytes(new Uint8Array(readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', f))), f)).files[0]!);
  const db = store.db.withTables<CrawlTables>();
  const inBatches = async <T>(rows: T[], insert: (batch: T[]) => Promise<unknown>): Promise<void> => {
    for (let i = 0; i < rows.length; i += 250) await insert(rows.slice(i, i + 250));
  };
  const scans = Array.from({ length: FIXTURES.length * COPIES }, (_, n) => {
    const r = reports[n % FIXTURES.length]!;
    return { id: `s${n}`, sha256: n.toString(16).padStart(64, '0'), engine_key: 'k1', report: JSON.stringify(r), max_severity: r.maxSeverity, complete: r.complete ? 1 : 0, created_at: '2025-01-01T00:00:00.000Z' };
  });
  await inBatches(scans, (b) => store.db.insertInto('scans').values(b).execute());
  const repos = [];
  const files = [];
  for (let i = 0; i < REPOS; i++) {
    const repo = `org${i % 97}/repo-${i}`;
    const security = i % 10 === 0 ? { scansDone: true, filesWithIssues: [{ path: 'f0.bin', level: 'unsafe' }] } : { scansDone: hubScanned(i), filesWithIssues: [] };
    repos.push({ repo_type: 'model', repo, commit: 'c'.repeat(40), revision: 'main', status: 'done', engine_key: 'k1', files: FILES_PER_REPO, file_errors: 0, security_status: JSON.stringify(security), license: null, needs_remote_code: i % 13 === 0 ? 1 : 0, error: null, crawled_at: new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString(), checked_at: '2025-01-01T00:00:00.000Z', last_run: 'r' });
    for (let j = 0; j < FILES_PER_REPO; j++) {
      const k = i * FILES_PER_REPO + j;
      files.push({ repo_type: 'model', repo, commit: 'c'.repeat(40), path: `f${j}.bin`, size: 1000 + j, sha256: null, oid: `o${k}`, lfs: 1, scan_id: unscanned(k) ? null : `s${k % scans.length}`, error_kind: unscanned(k) ? 'too-large' : null, error: unscanned(k) ? 'too large' : null, updated_at: '2025-01-01T00:00:00.000Z' });
    }
  }
  await inBatches(repos, (b) => db.insertInto('repositories').values(b).execute());
  await inBatches(files, (b) => db.insertInto('repo_files').values(b).execute());
}

/** What the study must find, computed file by file. */
function oracle(): { files: Record<Agreement, number>; repositories: Record<Agreement, number>; critical: number; medium: number; notScanned: number; remoteCode: number } {
  const zero = (): Record<Agreement, number> => Object.fromEntries(AGREEMENTS.map((a) => [a, 0])) as Record<Agreement, number>;
  const files = zero();
  const repositories = zero();
  const cat = (ours: boolean, theirs: boolean, scanned: boolean): Agreement =>
    ours && theirs ? 'both' : theirs ? 'hub-only' : !scanned ? (ours ? 'hub-not-scanned-flagged' : 'hub-not-scanned-clean') : ours ? 'ours-only' : 'neither';
  let critical = 0;
  let medium = 0;
  let notScanned = 0;
  let remoteCode = 0;
  for (let i = 0; i < REPOS; i++) {
    let anyOurs = false;
    let anyTheirs = false;
    if (i % 13 === 0) remoteCode++;
    for (let j = 0; j < FILES_PER_REPO; j++) {
      const k = i * FILES_PER_REPO + j;
      // Scan s(k mod 400) carries fixture (k mod 400) mod 4 = j: f0 os.system, f3 a malformed pickle.
      const scanned = !unscanned(k);
      const ours = scanned && j === 0;
      if (!scanned) notScanned++;
      else if (j === 0) critical++;
      else if (j === 3) medium++;
      files[cat(ours, hubFlags(i, j), hubScanned(i))]++;
      anyOurs ||= ours;
      anyTheirs ||= hubFlags(i, j);
    }
    repositories[cat(anyOurs, anyTheirs, hubScanned(i))]++;
  }
  return { files, repositories, critical, medium, notScanned, remoteCode };
}

for (const backend of all) {
  describe.skipIf(backend.skip !== null)(`a 20,000-file study on ${backend.name}${backend.skip ? ` — SKIPPED: ${backend.skip}` : ''}`, () => {
    it('counts what the oracle counts', { timeout: 180_000 }, async () => {
      const { store } = await backend.fresh();
      try {
        await fill(store);
        const r = await buildStudy(store, { now: new Date(0), limit: 10 });
        if (!r.ok) throw new Error(r.error.message);
        const s = r.study;
        const want = oracle();
        expect(s.crawl.repositories).toBe(REPOS);
        expect(s.files).toMatchObject({ total: REPOS * FILES_PER_REPO, notScanned: want.notScanned, distinctContents: 392 });
        expect(s.severity.files).toMatchObject({ critical: want.critical, medium: want.medium, 'not-scanned': want.notScanned });
        expect(s.hub.files).toEqual(want.files);
        expect(s.hub.repositories).toEqual(want.repositories);
        expect(s.remoteCode.repositories).toBe(want.remoteCode);
        expect(s.dangerousGlobals.rows[0]).toEqual({ global: 'os.system', files: want.critical, repositories: want.critical });
        expect(s.hub.oursOnly.rows).toHaveLength(10);
        expect(s.hub.oursOnly.total).toBe(want.files['ours-only']);
        results.set(backend.name, s);
      } finally {
        await store.close();
      }
    });
  });
}

describe.skipIf(all.some((b) => b.skip !== null))('the 20,000-file study on both databases', () => {
  it('is identical', () => {
    const a = results.get('sqlite');
    const b = results.get('postgres');
    expect(a && b).toBeTruthy();
    expect({ ...b!, store: null }).toEqual({ ...a!, store: null });
  });
});
