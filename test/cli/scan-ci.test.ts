/**
 * `modelgate scan` in CI: --include / --exclude, the accepted-findings file, --min-severity,
 * standard input, the "no model file" exit code 3 and one-line usage errors. The compiled bin
 * in a child process, as a CI step runs it (npm test builds first).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/manifest.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'modelgate.js');
const MAL = join(FIXTURES, 'malicious', 'torch_zip_reduce.pt');
const MEDIUM = join(FIXTURES, 'anomalies', 'duplicate_proto.pkl');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], opts: { cwd?: string; input?: Buffer | string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? process.cwd(), env: { ...process.env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

/** A checkout: two malicious torch files (one under tests/), a medium pickle, a README. */
function checkout(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mg-ci-'));
  mkdirSync(join(dir, 'models'));
  mkdirSync(join(dir, 'tests', 'data'), { recursive: true });
  copyFileSync(MAL, join(dir, 'models', 'evil.pt'));
  copyFileSync(MAL, join(dir, 'tests', 'data', 'evil.pt'));
  copyFileSync(MEDIUM, join(dir, 'models', 'odd.pkl'));
  writeFileSync(join(dir, 'README.md'), '# models\n');
  return dir;
}

const paths = (stdout: string) => (JSON.parse(stdout) as { files: Array<{ path: string }> }).files.map((f) => f.path);

describe('--include / --exclude', () => {
  it('globs on paths below the scanned directory; an exclude wins; excluded files are counted', async () => {
    const dir = checkout();
    const r = await cli(['scan', '-f', 'json', '--exclude', 'tests', '--exclude', '*.md', '.'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(paths(r.stdout)).toEqual(['models/evil.pt', 'models/odd.pkl']);
    expect(JSON.parse(r.stdout).summary.excluded).toBe(1);
    const inc = await cli(['scan', '-f', 'json', '--include', '*.pt', '--exclude', 'tests/**', dir]);
    expect(paths(inc.stdout)).toEqual([join(dir, 'models', 'evil.pt')]);
    const anchored = await cli(['scan', '-f', 'json', '--include', 'models/*.pkl', dir]);
    expect(paths(anchored.stdout)).toEqual([join(dir, 'models', 'odd.pkl')]);
  });

  it('everything excluded: exit 3 and one line on stderr', async () => {
    const dir = checkout();
    const r = await cli(['scan', '--include', '*.safetensors', dir]);
    expect([r.code, r.stderr]).toEqual([3, 'modelgate: no model file found: --include/--exclude left nothing to scan (4 files excluded)\n']);
  });

  it('a bad glob is a usage error', async () => {
    const r = await cli(['scan', '--exclude', 'shard-[0-9', MAL]);
    expect([r.code, r.stdout, r.stderr]).toEqual([2, '', "modelgate: --exclude 'shard-[0-9': pattern 'shard-[0-9' has an unclosed [\n"]);
  });
});

describe('no model file found (exit 3)', () => {
  it('an empty directory, and one of text files only', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'mg-empty-'));
    const r = await cli(['scan', empty]);
    expect([r.code, r.stderr]).toEqual([3, 'modelgate: no model file found: no file to scan\n']);
    const text = mkdtempSync(join(tmpdir(), 'mg-text-'));
    writeFileSync(join(text, 'notes.txt'), 'hello\n');
    writeFileSync(join(text, 'empty.bin'), '');
    const t = await cli(['scan', '-f', 'json', text]);
    expect([t.code, t.stderr]).toEqual([3, 'modelgate: no model file found: 2 files scanned, only text, empty files or data of no recognised format\n']);
    expect(JSON.parse(t.stdout).files.map((f: { formats: string[] }) => f.formats)).toEqual([['empty'], ['text']]);
  });

  it('findings that reach --fail-on still exit 1: 3 only ever replaces 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-bin-'));
    writeFileSync(join(dir, 'blob.dat'), Buffer.from([0x00, 0xff, 0x10, 0x80, 0x00, 0x01, 0x02, 0x9c]));
    expect((await cli(['scan', dir])).code).toBe(3);
    const low = await cli(['scan', '--fail-on', 'low', dir]);
    expect([low.code, low.stderr]).toEqual([1, '']);
  });

  it('--allow-no-models exits 0 instead, and still says so on stderr', async () => {
    const text = mkdtempSync(join(tmpdir(), 'mg-text-'));
    writeFileSync(join(text, 'notes.txt'), 'hello\n');
    const r = await cli(['scan', '--allow-no-models', text]);
    expect([r.code, r.stderr]).toEqual([0, 'modelgate: no model file found: 1 file scanned, only text, empty files or data of no recognised format\n']);
  });
});

describe('accepted findings', () => {
  const accept = (entries: string) => entries.trim() + '\n';

  it('.modelgate-accept.yaml in the working directory: covered findings are reported as accepted and do not fail the run', async () => {
    const dir = checkout();
    writeFileSync(
      join(dir, '.modelgate-accept.yaml'),
      accept(`
- id: our-fixture
  path: models/evil.pt
  rule: PICKLE_DANGEROUS_GLOBAL
  reason: a test fixture of ours, reviewed
  expiresAt: 2999-01-01
- path: models/odd.pkl
  reason: duplicate PROTO is harmless here
  expiresAt: 2999-01-01T00:00:00Z
`),
    );
    const json = await cli(['scan', '-f', 'json', '--exclude', 'tests', 'models'], { cwd: dir });
    expect([json.code, json.stderr]).toEqual([0, '']);
    const report = JSON.parse(json.stdout);
    expect(report.files[0].findings[0].accepted).toEqual({ file: '.modelgate-accept.yaml', entry: 'our-fixture', reason: 'a test fixture of ours, reviewed', expiresAt: '2999-01-01' });
    expect(report.files[1].findings[0].accepted.entry).toBe('#2');
    expect(report.summary.accepted).toBe(2);
    expect(report.acceptFile).toEqual({ path: '.modelgate-accept.yaml', entries: 2, expired: [] });

    const con = await cli(['scan', '--exclude', 'tests', '--exclude', '*.md', '.'], { cwd: dir });
    expect(con.code).toBe(0);
    expect(con.stdout).toContain('models/evil.pt  (zip, 1.6 KiB)  ok  [1 accepted]');
    expect(con.stdout).toContain('           accepted a test fixture of ours, reviewed (.modelgate-accept.yaml entry our-fixture, until 2999-01-01)');
    expect(con.stdout).toMatch(/: 0 critical, 0 high, 0 medium, 0 low; 2 accepted; 1 excluded by --include\/--exclude\n/);

    const sarif = await cli(['scan', '-f', 'sarif', 'models/evil.pt'], { cwd: dir });
    expect(sarif.code).toBe(0);
    expect(JSON.parse(sarif.stdout).runs[0].results[0].suppressions).toEqual([
      { kind: 'external', state: 'accepted', justification: 'a test fixture of ours, reviewed', location: { physicalLocation: { artifactLocation: { uri: '.modelgate-accept.yaml', uriBaseId: '%SRCROOT%' } } }, properties: { entry: 'our-fixture', expiresAt: '2999-01-01' } },
    ]);

    const md = await cli(['scan', '-f', 'markdown', 'models/evil.pt'], { cwd: dir });
    expect(md.stdout.split('\n')[0]).toBe('✅ **modelgate: no findings at or above medium in 1 file.** 1 accepted finding not counted.');
    expect(md.stdout).toContain('  ✔️ accepted: a test fixture of ours, reviewed (`.modelgate-accept.yaml` entry our-fixture, until 2999-01-01)');
  });

  it('an expired entry no longer applies and says so; --accept names another file', async () => {
    const dir = checkout();
    const file = join(dir, 'accepted.yaml');
    writeFileSync(file, accept(`\n- path: models/evil.pt\n  reason: it was fine last year\n  expiresAt: 2020-01-01\n`));
    const r = await cli(['scan', '--accept', file, join(dir, 'models', 'evil.pt')]);
    expect([r.code, r.stderr]).toEqual([1, `modelgate: warning: ${file}: entry #1 expired on 2020-01-01 and no longer applies\n`]);
    expect(r.stdout).not.toContain('accepted');
  });

  it('entries by sha256: the hash is computed for the files that need it, standard input included', async () => {
    const dir = checkout();
    const sha = createHash('sha256').update(readFileSync(MAL)).digest('hex');
    writeFileSync(join(dir, '.modelgate-accept.yaml'), accept(`\n- sha256: ${sha}\n  reason: the vendor's checkpoint, checked by hand\n  expiresAt: 2999-01-01\n`));
    const r = await cli(['scan', '-f', 'json', 'models'], { cwd: dir });
    expect(r.code).toBe(1); // odd.pkl is not covered
    const report = JSON.parse(r.stdout);
    expect(report.files[0].sha256).toBe(sha);
    expect(report.files[0].findings[0].accepted.entry).toBe('#1');
    expect(report.files[1].findings[0].accepted).toBeUndefined();
    const stdin = await cli(['scan', '-f', 'json', '-'], { cwd: dir, input: readFileSync(MAL) });
    expect(stdin.code).toBe(0);
    expect(JSON.parse(stdin.stdout).files[0].findings[0].accepted.entry).toBe('#1');
  });

  it('a malformed or unreadable file is a one-line usage error', async () => {
    const dir = checkout();
    writeFileSync(join(dir, '.modelgate-accept.yaml'), accept(`\n- path: models/evil.pt\n  reason: fine\n  expires: 2999-01-01\n`));
    const bad = await cli(['scan', 'models'], { cwd: dir });
    expect([bad.code, bad.stdout, bad.stderr]).toEqual([2, '', "modelgate: .modelgate-accept.yaml: entry 1: unknown field 'expires' (fields: id, path, sha256, rule, reason, expiresAt)\n"]);
    const missing = await cli(['scan', '--accept', join(dir, 'nope.yaml'), 'models'], { cwd: dir });
    expect([missing.code, missing.stderr]).toEqual([2, `modelgate: cannot read accepted-findings file ${join(dir, 'nope.yaml')}: no such file\n`]);
  });
});

describe('--min-severity', () => {
  it('SARIF and Markdown leave info out by default; JSON keeps everything unless told', async () => {
    const dir = checkout();
    const sarif = JSON.parse((await cli(['scan', '-f', 'sarif', '--exclude', 'tests', '.'], { cwd: dir })).stdout);
    expect(sarif.runs[0].results.map((r: { ruleId: string }) => r.ruleId).sort()).toEqual(['PICKLE_DANGEROUS_GLOBAL', 'PICKLE_MALFORMED']);
    expect(sarif.runs[0].invocations[0].properties).toMatchObject({ minSeverity: 'low', findingsOmitted: 1 });
    const all = JSON.parse((await cli(['scan', '-f', 'sarif', '--min-severity', 'info', '--exclude', 'tests', '.'], { cwd: dir })).stdout);
    expect(all.runs[0].results.map((r: { ruleId: string }) => r.ruleId)).toContain('FORMAT_UNKNOWN');

    const json = JSON.parse((await cli(['scan', '-f', 'json', '--exclude', 'tests', '.'], { cwd: dir })).stdout);
    expect(json.minSeverity).toBeUndefined();
    expect(json.files.find((f: { path: string }) => f.path === 'README.md').findings.map((x: { rule: string }) => x.rule)).toEqual(['FORMAT_UNKNOWN']);
    const high = JSON.parse((await cli(['scan', '-f', 'json', '--min-severity', 'high', '--fail-on', 'critical', '--exclude', 'tests', '.'], { cwd: dir })).stdout);
    expect(high.minSeverity).toBe('high');
    expect(high.summary.omitted).toBe(2);
    expect(high.summary.findings).toEqual({ critical: 1, high: 0, medium: 0, low: 0, info: 0 });
  });

  it('findings that fail the run are kept whatever --min-severity', async () => {
    const r = await cli(['scan', '-f', 'json', '--min-severity', 'critical', MEDIUM]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).files[0].findings.map((x: { rule: string }) => x.rule)).toEqual(['PICKLE_MALFORMED']);
    const con = await cli(['scan', '--min-severity', 'critical', '--fail-on', 'critical', MEDIUM]);
    expect(con.code).toBe(0);
    expect(con.stdout).toContain('  (1 finding below critical not shown)');
  });
});

describe('standard input', () => {
  it('scan - reads the model from stdin, shown as <stdin>', async () => {
    const r = await cli(['scan', '-'], { input: readFileSync(MAL) });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('<stdin>  (zip, 1.6 KiB)  CRITICAL');
    expect(r.stdout).toContain('at <stdin> › archive/data.pkl @ offset');
    const empty = await cli(['scan', '-'], { input: '' });
    expect([empty.code, empty.stderr]).toEqual([3, 'modelgate: no model file found: 1 file scanned, only text, empty files or data of no recognised format\n']);
  });
});

describe('usage errors: one line, exit 2, nothing on stdout', () => {
  const cases: Array<[string, string[], string]> = [
    ['-o into a missing folder', ['scan', '-o', '/nonexistent-dir/r.json', MAL], 'modelgate: cannot write /nonexistent-dir/r.json: no such directory /nonexistent-dir'],
    ['-o onto a directory', ['scan', '-o', tmpdir(), MAL], `modelgate: cannot write ${tmpdir()}: is a directory`],
    ['a mistyped flag, with the suggestion on the same line', ['scan', '--formt', 'json', MAL], "modelgate: unknown option '--formt' (did you mean --format?) (see 'modelgate scan --help')"],
    ['a mistyped command', ['scna', MAL], "modelgate: unknown command 'scna' (did you mean scan?) (see 'modelgate --help')"],
    ['standard input twice', ['scan', '-', '-'], "modelgate: '-' (standard input) given more than once"],
    ['a bad --min-severity', ['scan', '--min-severity', 'loud', MAL], "modelgate: option '--min-severity <severity>' argument 'loud' is invalid. Allowed choices are critical, high, medium, low, info. (see 'modelgate scan --help')"],
  ];
  for (const [name, args, line] of cases) {
    it(name, async () => {
      const r = await cli(args);
      expect([r.code, r.stdout, r.stderr]).toEqual([2, '', `${line}\n`]);
    });
  }
});

describe('--help', () => {
  it('scan --help shows examples and every exit code', async () => {
    const r = await cli(['scan', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("  modelgate scan --exclude .git --exclude 'tests/**' .   a checkout, some of it left out");
    expect(r.stdout).toContain('  git show HEAD:model.pt | modelgate scan -              standard input');
    expect(r.stdout).toMatch(/Exit codes:\n {2}0 {2}no finding at or above --fail-on \(accepted findings do not count\)\n {2}1 {2}a finding at or above --fail-on\n {2}2 {2}usage or internal error \(one line on stderr\)\n {2}3 {2}no model file found/);
  });

  it('every command has examples', async () => {
    for (const cmd of [['serve'], ['hub'], ['policy', 'test'], ['crawl'], ['worker'], ['report'], []]) {
      const r = await cli([...cmd, '--help']);
      expect([cmd.join(' '), r.code, r.stdout.includes('\nExamples:\n  modelgate ')]).toEqual([cmd.join(' '), 0, true]);
    }
  });
});
