/**
 * `modelgate report` as a user runs it: the compiled bin in a child process (npm test builds
 * first; run `npm run build` before running this file alone).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Study } from '../../src/study/index.js';
import { backends } from './backends.js';
import { HOSTILE_REPO, populate } from './fixture.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'modelgate.js');
const BUILT = existsSync(join(ROOT, 'dist', 'src', 'cli', 'report.js'));
if (!BUILT) console.warn('[study tests] SKIPPING the report CLI tests: dist/ has no report command; run `npm run build` first');
const exec = promisify(execFile);

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(process.execPath, [BIN, ...args], { maxBuffer: 1 << 26, env: { ...process.env, MODELGATE_STORE: '' } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

const all = await backends();
const urls = new Map<string, string>();
const dir = mkdtempSync(join(tmpdir(), 'modelgate-study-cli-'));

beforeAll(async () => {
  for (const b of all) {
    if (b.skip !== null || !BUILT) continue;
    const { store, url } = await b.fresh();
    try {
      await populate(store);
    } finally {
      await store.close();
    }
    urls.set(b.name, url);
  }
});
afterAll(async () => {
  for (const b of all) await b.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** The parts of two runs that may differ: when, and from which database. */
const stable = (s: Study): unknown => ({ ...s, generatedAt: null, store: null });

describe.skipIf(!BUILT)('modelgate report', () => {
  it('prints the Markdown study', async () => {
    const r = await run(['report', '--store', urls.get('sqlite')!]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^# Model security study: 10 repositories, 18 files\n/);
    expect(r.stdout).toContain('| `os.system` | 4 | 4 |');
  });

  it('writes JSON and HTML to files, with the options applied', async () => {
    const json = join(dir, 'study.json');
    const r = await run(['report', '--store', `sqlite:${urls.get('sqlite')!}`, '-f', 'json', '-o', json, '--threshold', 'critical', '--hub-level', 'unsafe', '--limit', '2']);
    expect(r).toMatchObject({ code: 0, stdout: '' });
    const s = JSON.parse(readFileSync(json, 'utf8')) as Study;
    expect(s.schema).toBe('modelgate/study@1');
    expect(s.options).toEqual({ threshold: 'critical', hubLevel: 'unsafe', limit: 2, top: 20 });
    expect(s.hub.oursOnly.total).toBe(4);
    expect(s.hub.oursOnly.rows).toHaveLength(2);

    const html = join(dir, 'study.html');
    const h = await run(['report', '--store', urls.get('sqlite')!, '--format', 'html', '-o', html, '--title', 'Hub <b>study</b>']);
    expect(h.code).toBe(0);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('<title>Hub &lt;b&gt;study&lt;/b&gt;</title>');
    expect(page).toContain('evil/&lt;img src=x onerror=alert(1)&gt;');
    expect(page).not.toContain(HOSTILE_REPO);
  });

  it.skipIf(all.find((b) => b.name === 'postgres')?.skip !== null)('gives the same study from PostgreSQL', async () => {
    const a = await run(['report', '--store', urls.get('sqlite')!, '-f', 'json']);
    const b = await run(['report', '--store', urls.get('postgres')!, '-f', 'json']);
    expect([a.code, b.code]).toEqual([0, 0]);
    const sa = JSON.parse(a.stdout) as Study;
    const sb = JSON.parse(b.stdout) as Study;
    expect(sb.store.dialect).toBe('postgres');
    expect(stable(sb)).toEqual(stable(sa));
  });

  it('refuses usage errors with exit code 2 and one line', async () => {
    const missing = await run(['report', '--store', join(dir, 'nope.db')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^modelgate: report: no such store: .*nope\.db\n$/);
    expect(existsSync(join(dir, 'nope.db'))).toBe(false);

    const none = await run(['report']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--store is required');

    const limit = await run(['report', '--store', urls.get('sqlite')!, '--limit', 'lots']);
    expect(limit.code).toBe(2);
    expect(limit.stderr).toContain('--limit must be an integer');

    const fmt = await run(['report', '--store', urls.get('sqlite')!, '-f', 'pdf']);
    expect(fmt.code).toBe(2);

    const down = await run(['report', '--store', 'postgres://nobody:secret@127.0.0.1:1/none']);
    expect(down.code).toBe(2);
    expect(down.stderr).toContain('unavailable');
    expect(down.stderr).not.toContain('secret');
  });
});
