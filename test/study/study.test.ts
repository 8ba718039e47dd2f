/**
 * The study's numbers on a store with known content (fixture.ts), the same on SQLite and
 * PostgreSQL. Every expected value below is counted by hand from the REPOS table.
 */
import BetterSqlite3 from 'better-sqlite3';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open.js';
import type { SqlStore } from '../../src/store/sql.js';
import { buildStudy, type Study } from '../../src/study/index.js';
import { backends } from './backends.js';
import { HOSTILE_PATH, HOSTILE_REPO, HUGE_SIZE, populate, type Fixture } from './fixture.js';

const all = await backends();
const NOW = new Date('2025-03-02T00:00:00.000Z');
/** Studies by backend, compared with each other at the end. */
const built = new Map<string, Study>();

afterAll(async () => {
  for (const b of all) await b.cleanup();
});

const files = (s: Study, list: keyof Pick<Study['hub'], 'oursOnly' | 'hubOnly' | 'notScanned'>): string[] => s.hub[list].rows.map((r) => `${r.repo}:${r.path}`);

for (const backend of all) {
  describe.skipIf(backend.skip !== null)(`study on ${backend.name}${backend.skip ? ` — SKIPPED: ${backend.skip}` : ''}`, () => {
    let store: SqlStore;
    let fx: Fixture;
    let s: Study;

    beforeAll(async () => {
      ({ store } = await backend.fresh());
      fx = await populate(store);
      const r = await buildStudy(store, { now: NOW });
      if (!r.ok) throw new Error(`${r.error.kind}: ${r.error.message}`);
      s = r.study;
      built.set(backend.name, s);
    });
    afterAll(async () => {
      await store?.close();
    });

    it('counts repositories at their latest commit, and files, sizes and contents', () => {
      expect(s.schema).toBe('modelgate/study@1');
      expect(s.store.dialect).toBe(backend.name);
      expect(s.crawl).toEqual({
        repositories: 10,
        byType: { dataset: 1, model: 9 },
        commits: 11,
        partialRepositories: 1,
        firstCrawledAt: '2025-03-01T10:00:00.000Z',
        lastCrawledAt: '2025-03-01T19:00:00.000Z',
      });
      const z = fx.sizes;
      const scannedBytes = z.A! * 2 + z.F! * 3 + z.D! + z.E! * 3 + z.B! * 2 + z.C! + z.G! + z.H! + z.I! + z.K! + z.J!;
      expect(s.files).toEqual({ total: 18, bytes: scannedBytes + HUGE_SIZE, scanned: 17, scannedBytes, notScanned: 1, incomplete: 1, distinctContents: 11 });
    });

    it('counts files by format from the reports', () => {
      const byFormat = Object.fromEntries(s.formats.rows.map((f) => [f.format, [f.files, f.repositories]]));
      expect(byFormat).toEqual({ pickle: [7, 6], json: [3, 3], safetensors: [3, 3], zip: [2, 2], jinja: [1, 1], msgpack: [1, 1] });
      expect(s.formats.total).toBe(6);
      expect(s.formats.rows[0]!.format).toBe('pickle');
      expect(s.formats.rows.find((f) => f.format === 'safetensors')!.bytes).toBe(fx.sizes.E! * 3);
    });

    it('buckets files and repositories by their worst severity', () => {
      expect(s.severity.files).toEqual({ critical: 7, high: 1, medium: 2, low: 0, info: 1, none: 6, 'not-scanned': 1 });
      expect(s.severity.repositories).toEqual({ critical: 6, high: 1, medium: 1, low: 0, info: 0, none: 2, 'not-scanned': 0 });
    });

    it('counts finding kinds by file, repository and occurrence, with their titles', () => {
      const dg = s.kinds.rows.find((k) => k.rule === 'PICKLE_DANGEROUS_GLOBAL');
      expect(dg).toEqual({ rule: 'PICKLE_DANGEROUS_GLOBAL', title: 'Pickle imports or calls a dangerous global', severity: 'critical', files: 7, repositories: 6, findings: 8 });
      expect(s.kinds.rows[0]!.rule).toBe('PICKLE_DANGEROUS_GLOBAL');
      const byRule = Object.fromEntries(s.kinds.rows.map((k) => [k.rule, k.files]));
      expect(byRule).toMatchObject({ PICKLE_MALFORMED: 2, PICKLE_COMPUTED_CALL: 1, CHAT_TEMPLATE_FILE_ACCESS: 1, SCAN_INCOMPLETE: 1, TORCHSCRIPT_CODE: 1 });
    });

    it('ranks the dangerous globals by files and repositories', () => {
      expect(s.dangerousGlobals.total).toBe(4);
      expect(s.dangerousGlobals.rows.slice(0, 3)).toEqual([
        { global: 'os.system', files: 4, repositories: 4 },
        { global: 'builtins.exec', files: 2, repositories: 2 },
        { global: 'functools.partial', files: 1, repositories: 1 },
      ]);
    });

    it('lists the repositories needing trust_remote_code', () => {
      expect(s.remoteCode.repositories).toBe(2);
      expect(s.remoteCode.flagged).toBe(1);
      expect(s.remoteCode.list.rows.map((r) => [r.repo, r.license, r.severity])).toEqual([
        ['erin/no-status', 'mit', 'high'],
        ['frank/medium', 'apache-2.0', 'medium'],
      ]);
    });

    it('puts our verdicts next to the hub\'s, per repository and per file', () => {
      expect(s.hub.states).toEqual({ scanned: 8, 'not-scanned': 1, none: 1 });
      expect(s.hub.repositories).toEqual({ both: 3, 'ours-only': 2, 'hub-only': 1, neither: 2, 'hub-not-scanned-flagged': 2, 'hub-not-scanned-clean': 0 });
      expect(s.hub.files).toEqual({ both: 3, 'ours-only': 3, 'hub-only': 2, neither: 8, 'hub-not-scanned-flagged': 2, 'hub-not-scanned-clean': 1 });
    });

    it('lists each disagreement with our top finding and the hub\'s level', () => {
      expect(files(s, 'oursOnly')).toEqual(['acme/sneaky:pytorch_model.bin', 'bob/exec-model:partial.pkl', `${HOSTILE_REPO}:${HOSTILE_PATH}`]);
      const sneaky = s.hub.oursOnly.rows[0]!;
      expect(sneaky.ours.top).toMatchObject({ rule: 'PICKLE_DANGEROUS_GLOBAL', severity: 'critical', global: 'os.system' });
      expect(sneaky.hub).toEqual({ state: 'scanned', level: null });
      // functools.partial comes first in that report and is as bad as os.system after it.
      expect(s.hub.oursOnly.rows[1]!.ours.top?.global).toBe('functools.partial');
      // The NUL in the hostile global reaches us as U+FFFD on both databases.
      expect(s.hub.oursOnly.rows[2]!.ours.top?.message).toContain('\ufffd');

      expect(files(s, 'hubOnly')).toEqual(['carol/clean:missing.bin', 'carol/clean:model.safetensors']);
      expect(s.hub.hubOnly.rows.map((r) => [r.hub.level, r.size === null, r.ours.scanned])).toEqual([
        ['unsafe', true, false],
        ['caution', false, true],
      ]);
      expect(s.hub.hubOnly.rows[0]!.ours.error).toContain('not in the crawl');

      expect(files(s, 'notScanned')).toEqual(['dave/unscanned-by-hub:model.pkl', 'erin/no-status:chat_template.jinja']);
      expect(s.hub.notScanned.rows.map((r) => [r.hub.state, r.ours.top?.rule])).toEqual([
        ['not-scanned', 'PICKLE_DANGEROUS_GLOBAL'],
        ['none', 'CHAT_TEMPLATE_FILE_ACCESS'],
      ]);
    });

    it('tables the worst repositories, worst first, then by flagged files', () => {
      expect(s.worstRepositories.total).toBe(7);
      expect(s.worstRepositories.rows.map((r) => `${r.type}/${r.repo}`)).toEqual([
        'model/bob/exec-model',
        'dataset/acme/data',
        'model/acme/evil-pickle',
        'model/acme/sneaky',
        'model/dave/unscanned-by-hub',
        `model/${HOSTILE_REPO}`,
        'model/erin/no-status',
      ]);
      const bob = s.worstRepositories.rows[0]!;
      expect(bob).toMatchObject({ flaggedFiles: 2, files: 2, severity: 'critical', worstFile: 'partial.pkl', hub: { state: 'scanned', flaggedFiles: 1 }, needsRemoteCode: false });
      expect(bob.top?.global).toBe('functools.partial');
    });

    it('reports the engine versions and the files that could not be scanned', () => {
      expect(s.engines.files).toEqual([
        { engineKey: fx.engineKey, files: 16, current: true },
        { engineKey: `${fx.engineKey}~unverified`, files: 1, current: true },
      ]);
      expect(s.engines.repositories).toEqual([{ engineKey: fx.engineKey, repositories: 10, current: true }]);
      expect(s.errors.files).toBe(1);
      expect(s.errors.byKind).toEqual([{ kind: 'too-large', files: 1 }]);
      expect(s.errors.list.rows).toEqual([
        { type: 'model', repo: 'grace/errors', commit: 'c9'.padEnd(40, '9'), path: 'huge.bin', size: HUGE_SIZE, kind: 'too-large', message: 'huge.bin: 5368709120 bytes exceeds --max-file-bytes 1073741824' },
      ]);
    });

    it('moves files between groups with --threshold and --hub-level', async () => {
      const r = await buildStudy(store, { now: NOW, threshold: 'critical', hubLevel: 'unsafe' });
      if (!r.ok) throw new Error(r.error.message);
      const t = r.study;
      // bob's weights.pkl is only "caution" at the hub; erin's template is only "high" for us.
      expect(t.hub.files).toEqual({ both: 2, 'ours-only': 4, 'hub-only': 1, neither: 9, 'hub-not-scanned-flagged': 1, 'hub-not-scanned-clean': 2 });
      expect(files(t, 'oursOnly')).toEqual(['acme/sneaky:pytorch_model.bin', 'bob/exec-model:partial.pkl', 'bob/exec-model:weights.pkl', `${HOSTILE_REPO}:${HOSTILE_PATH}`]);
      expect(files(t, 'hubOnly')).toEqual(['carol/clean:missing.bin']);
      expect(t.worstRepositories.total).toBe(6);
      expect(t.remoteCode.flagged).toBe(0);
    });

    it('caps the lists and keeps the totals', async () => {
      const r = await buildStudy(store, { now: NOW, limit: 1, top: 2 });
      if (!r.ok) throw new Error(r.error.message);
      expect(r.study.hub.oursOnly.total).toBe(3);
      expect(files(r.study, 'oursOnly')).toEqual(['acme/sneaky:pytorch_model.bin']);
      expect(r.study.worstRepositories).toMatchObject({ total: 7 });
      expect(r.study.worstRepositories.rows).toHaveLength(1);
      expect(r.study.dangerousGlobals.total).toBe(4);
      expect(r.study.dangerousGlobals.rows.map((g) => g.global)).toEqual(['os.system', 'builtins.exec']);
      expect(r.study.formats.rows).toHaveLength(2);
    });

    it('refuses bad options as values', async () => {
      const r = await buildStudy(store, { limit: -1 });
      expect(r).toEqual({ ok: false, error: { kind: 'invalid', message: expect.stringContaining('limit') } });
    });

    it('gives zeros, not errors, for an empty store', async () => {
      const empty = await backend.fresh();
      try {
        const r = await buildStudy(empty.store, { now: NOW });
        if (!r.ok) throw new Error(r.error.message);
        expect(r.study.crawl.repositories).toBe(0);
        expect(r.study.files).toEqual({ total: 0, bytes: 0, scanned: 0, scannedBytes: 0, notScanned: 0, incomplete: 0, distinctContents: 0 });
        expect(r.study.hub.oursOnly).toEqual({ total: 0, rows: [] });
        expect(r.study.crawl.firstCrawledAt).toBeNull();
      } finally {
        await empty.store.close();
      }
    });
  });
}

describe.skipIf(all.some((b) => b.skip !== null))('the same study on SQLite and PostgreSQL', () => {
  it('has identical numbers and lists on both databases', () => {
    const a = built.get('sqlite');
    const b = built.get('postgres');
    expect(a && b).toBeTruthy();
    expect({ ...b!, store: null }).toEqual({ ...a!, store: null });
  });
});

describe('a store without crawl results', () => {
  it('says so as an error value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'modelgate-study-nocrawl-'));
    try {
      const path = join(dir, 'other.db');
      const raw = new BetterSqlite3(path);
      raw.exec('create table unrelated (a integer)');
      raw.close();
      const store = openStore(path);
      try {
        const r = await buildStudy(store);
        expect(r.ok).toBe(false);
        if (!r.ok) {
          expect(r.error.kind).toBe('schema');
          expect(r.error.message).toContain('modelgate worker');
        }
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports an unreachable PostgreSQL as unavailable', async () => {
    const store = openStore('postgres://nobody@127.0.0.1:1/none');
    try {
      const r = await buildStudy(store);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.kind).toBe('unavailable');
    } finally {
      await store.close();
    }
  });
});
