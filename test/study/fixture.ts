/**
 * A crawl store with known content: real engine reports of real fixtures, stored with putScan,
 * and repositories / repo_files rows as the crawler writes them. The expected numbers of the
 * study tests are derived by hand from the table below (see study.test.ts).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { scanBytes } from '../../src/index.js';
import type { FileReport } from '../../src/index.js';
import { engineKeyOf } from '../../src/scan/engine-key.js';
import type { CrawlTables } from '../../src/queue/results.js';
import { Engine } from '../../src/scan/engine.js';
import type { SqlStore } from '../../src/store/sql.js';

const ROOT = join(import.meta.dirname, '..', '..', 'fixtures');

/** A protocol-4 pickle calling os.<name> through STACK_GLOBAL: the name is whatever we like. */
function hostilePickle(name: string): Uint8Array {
  const s = (t: string): Buffer => {
    const b = Buffer.from(t, 'utf8');
    return Buffer.concat([Buffer.from([0x8c, b.length]), b]);
  };
  return Buffer.concat([Buffer.from([0x80, 4]), s('os'), s(name), Buffer.from([0x93]), s('x'), Buffer.from([0x85, 0x52, 0x2e])]);
}

export const HOSTILE_REPO = 'evil/<img src=x onerror=alert(1)>|*_';
export const HOSTILE_PATH = '</td><script>alert("p")</script>|`x`\u202egnp.pkl';
export const HOSTILE_GLOBAL_NAME = '<img src=x onerror=alert(2)>\u0000|`*_';

/** Contents by letter: fixture path (or hostile bytes). */
const CONTENTS: Record<string, string | (() => Uint8Array)> = {
  A: 'malicious/global_p0_os_system.pkl',
  B: 'malicious/builtins_exec.pkl',
  C: 'malicious/functools_partial.pkl',
  D: 'malicious/torch_zip_reduce.pt',
  E: 'benign/model.safetensors',
  F: 'benign/config_bert.json',
  G: 'malicious/chat_template_include.jinja',
  H: 'anomalies/invalid_opcode.pkl',
  I: 'benign/torchscript_module.pt',
  J: () => hostilePickle(HOSTILE_GLOBAL_NAME),
  K: 'anomalies/msgpack_truncated.msgpack',
};

type Letter = keyof typeof CONTENTS;

interface RepoSpec {
  type: 'model' | 'dataset';
  repo: string;
  commit: string;
  crawledAt: string;
  /** path → content letter, or null for a file that could not be scanned. */
  files: Record<string, Letter | null>;
  security: unknown;
  needsRemoteCode?: boolean;
  license?: string | null;
}

const ok = (issues: Array<[string, string]>): unknown => ({ scansDone: true, filesWithIssues: issues.map(([path, level]) => ({ path, level })) });

export const REPOS: RepoSpec[] = [
  { type: 'model', repo: 'acme/evil-pickle', commit: 'c1'.padEnd(40, '1'), crawledAt: '2025-03-01T10:00:00.000Z', files: { 'model.pkl': 'A', 'config.json': 'F' }, security: ok([['model.pkl', 'unsafe']]) },
  { type: 'model', repo: 'acme/sneaky', commit: 'c2'.padEnd(40, '2'), crawledAt: '2025-03-01T11:00:00.000Z', files: { 'pytorch_model.bin': 'D', 'model.safetensors': 'E' }, security: ok([]) },
  // An older commit of the same repository: history, not part of the study.
  { type: 'model', repo: 'acme/sneaky', commit: 'c0'.padEnd(40, '0'), crawledAt: '2025-02-01T09:00:00.000Z', files: { 'old.pkl': 'A' }, security: ok([]) },
  { type: 'model', repo: 'bob/exec-model', commit: 'c3'.padEnd(40, '3'), crawledAt: '2025-03-01T12:00:00.000Z', files: { 'weights.pkl': 'B', 'partial.pkl': 'C' }, security: ok([['weights.pkl', 'caution']]) },
  { type: 'model', repo: 'carol/clean', commit: 'c4'.padEnd(40, '4'), crawledAt: '2025-03-01T13:00:00.000Z', files: { 'model.safetensors': 'E', 'config.json': 'F' }, security: ok([['model.safetensors', 'caution'], ['missing.bin', 'unsafe']]) },
  { type: 'model', repo: 'dave/unscanned-by-hub', commit: 'c5'.padEnd(40, '5'), crawledAt: '2025-03-01T14:00:00.000Z', files: { 'model.pkl': 'A', 'config.json': 'F' }, security: { scansDone: false, filesWithIssues: [] } },
  { type: 'model', repo: 'erin/no-status', commit: 'c6'.padEnd(40, '6'), crawledAt: '2025-03-01T15:00:00.000Z', files: { 'chat_template.jinja': 'G' }, security: null, needsRemoteCode: true, license: 'mit' },
  { type: 'model', repo: 'frank/medium', commit: 'c7'.padEnd(40, '7'), crawledAt: '2025-03-01T16:00:00.000Z', files: { 'broken.pkl': 'H', 'ts.pt': 'I', 'weights.msgpack': 'K' }, security: ok([]), needsRemoteCode: true, license: 'apache-2.0' },
  { type: 'model', repo: HOSTILE_REPO, commit: 'c8'.padEnd(40, '8'), crawledAt: '2025-03-01T17:00:00.000Z', files: { [HOSTILE_PATH]: 'J' }, security: ok([]) },
  { type: 'model', repo: 'grace/errors', commit: 'c9'.padEnd(40, '9'), crawledAt: '2025-03-01T18:00:00.000Z', files: { 'huge.bin': null, 'model.safetensors': 'E' }, security: ok([]) },
  { type: 'dataset', repo: 'acme/data', commit: 'ca'.padEnd(40, 'a'), crawledAt: '2025-03-01T19:00:00.000Z', files: { 'data.pkl': 'B' }, security: ok([['data.pkl', 'unsafe']]) },
];

export const HUGE_SIZE = 5 * 1024 ** 3;

export interface Fixture {
  engineKey: string;
  sizes: Record<string, number>;
  /** Engine reports by content letter (for expectations). */
  reports: Record<string, FileReport>;
}

let cached: Promise<{ reports: Record<string, FileReport>; bytes: Record<string, Uint8Array> }> | null = null;

function scanAll(): Promise<{ reports: Record<string, FileReport>; bytes: Record<string, Uint8Array> }> {
  cached ??= (async () => {
    const reports: Record<string, FileReport> = {};
    const bytes: Record<string, Uint8Array> = {};
    for (const [letter, src] of Object.entries(CONTENTS)) {
      const b = typeof src === 'string' ? new Uint8Array(readFileSync(join(ROOT, src))) : src();
      bytes[letter] = b;
      const name = typeof src === 'string' ? src : 'hostile.pkl';
      const r = (await scanBytes(b, name)).files[0];
      if (!r) throw new Error(`no report for ${name}`);
      reports[letter] = r;
    }
    return { reports, bytes };
  })();
  return cached;
}

/** Fills a migrated store. */
export async function populate(store: SqlStore): Promise<Fixture> {
  const { reports, bytes } = await scanAll();
  const engineKey = engineKeyOf(new Engine().info);
  const sha: Record<string, string> = {};
  const sizes: Record<string, number> = {};
  for (const [letter, report] of Object.entries(reports)) {
    const b = bytes[letter]!;
    sha[letter] = createHash('sha256').update(b).digest('hex');
    sizes[letter] = b.length;
    await store.putScan({
      id: `scan-${letter}`,
      sha256: sha[letter]!,
      // The crawler keeps range scans (bytes not hashed whole) under a key of their own.
      engineKey: letter === 'J' ? `${engineKey}~unverified` : engineKey,
      report,
      maxSeverity: report.maxSeverity,
      complete: report.complete,
      createdAt: '2025-03-01T09:00:00.000Z',
    });
  }
  const db = store.db.withTables<CrawlTables>();
  for (const r of REPOS) {
    const entries = Object.entries(r.files);
    const errors = entries.filter(([, l]) => l === null).length;
    await db
      .insertInto('repositories')
      .values({
        repo_type: r.type,
        repo: r.repo,
        commit: r.commit,
        revision: 'main',
        status: errors ? 'partial' : 'done',
        engine_key: engineKey,
        files: entries.length,
        file_errors: errors,
        security_status: r.security === null ? null : JSON.stringify(r.security),
        license: r.license ?? null,
        needs_remote_code: r.needsRemoteCode ? 1 : 0,
        error: errors ? `${errors} file(s) could not be scanned; see repo_files` : null,
        crawled_at: r.crawledAt,
        checked_at: r.crawledAt,
        last_run: 'run-1',
      })
      .execute();
    for (const [path, letter] of entries) {
      await db
        .insertInto('repo_files')
        .values({
          repo_type: r.type,
          repo: r.repo,
          commit: r.commit,
          path,
          size: letter === null ? HUGE_SIZE : sizes[letter]!,
          sha256: letter === null ? 'f'.repeat(64) : sha[letter]!,
          oid: createHash('sha1').update(`${r.repo}/${path}`).digest('hex'),
          lfs: 1,
          scan_id: letter === null ? null : `scan-${letter}`,
          error_kind: letter === null ? 'too-large' : null,
          error: letter === null ? 'huge.bin: 5368709120 bytes exceeds --max-file-bytes 1073741824' : null,
          updated_at: r.crawledAt,
        })
        .execute();
    }
  }
  return { engineKey, sizes, reports };
}
