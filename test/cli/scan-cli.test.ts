/**
 * The CLI as a user runs it: the compiled bin in a child process (npm test builds first).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/manifest.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'modelgate.js');
const run = promisify(execFile);

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const MAL = join(FIXTURES, 'malicious', 'torch_zip_reduce.pt');
const BENIGN = join(FIXTURES, 'benign', 'torch_state_dict.pt');

describe('modelgate scan', () => {
  it('exits 1 and names the global, chain and member location for a malicious torch file', async () => {
    const r = await cli(['scan', '--no-progress', MAL], { NO_COLOR: '1' });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('PICKLE_DANGEROUS_GLOBAL  calls os.system');
    expect(r.stdout).toMatch(/at .*torch_zip_reduce\.pt › [^ ]*data\.pkl @ offset \d+/);
    expect(r.stdout).toContain("chain posix.system('echo modelgate-fixture')");
    expect(r.stdout).not.toContain('\x1b['); // no colour when not a TTY
  });

  it('exits 0 on a benign checkpoint', async () => {
    const r = await cli(['scan', BENIGN]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('torch_state_dict.pt');
    expect(r.stdout).toMatch(/\bok\b/);
  });

  it('--format json prints clean JSON with the schema, engine and rules versions', async () => {
    const r = await cli(['scan', '--format', 'json', MAL, BENIGN]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.schema).toBe('modelgate/scan-report@1');
    expect(report.engine.rulesVersion).toMatch(/\S+/);
    expect(report.engine.analyzers.pickle).toBeDefined();
    expect(report.files).toHaveLength(2);
    const mal = report.files.find((f: { path: string }) => f.path === MAL);
    expect(mal.findings[0].evidence.canonical).toBe('os.system');
    expect(mal.findings[0].evidence.use).toBe('called');
  });

  it('--fail-on critical ignores medium findings but not critical ones', async () => {
    const medium = join(FIXTURES, 'anomalies', 'duplicate_proto.pkl');
    expect((await cli(['scan', '--fail-on', 'critical', medium])).code).toBe(0);
    expect((await cli(['scan', medium])).code).toBe(1);
    expect((await cli(['scan', '--fail-on', 'critical', MAL])).code).toBe(1);
  });

  it('--output writes the report to a file and nothing to stdout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-cli-'));
    const out = join(dir, 'r.json');
    const r = await cli(['scan', '--format', 'json', '-o', out, BENIGN]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(JSON.parse(readFileSync(out, 'utf8')).files[0].path).toBe(BENIGN);
  });

  it('--list-imports shows innocuous globals too', async () => {
    const r = await cli(['scan', '--list-imports', BENIGN], { NO_COLOR: '1' });
    expect(r.stdout).toContain('safe      torch._utils._rebuild_tensor_v2');
    expect(r.stdout).toContain('collections.OrderedDict');
  });

  it('scans directories recursively by content, whatever the names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-dir-'));
    mkdirSync(join(dir, 'sub'));
    copyFileSync(join(FIXTURES, 'malicious', 'weights.txt'), join(dir, 'sub', 'notes.txt'));
    writeFileSync(join(dir, 'README.md'), '# hello\n');
    symlinkSync(join(dir, 'missing-target'), join(dir, 'dangling.bin'));
    const r = await cli(['scan', '--format', 'json', dir]);
    const report = JSON.parse(r.stdout);
    expect(r.code).toBe(1);
    const byName = Object.fromEntries(report.files.map((f: { path: string; findings: Array<{ rule: string }> }) => [f.path.slice(dir.length + 1), f.findings.map((x) => x.rule)]));
    expect(byName['sub/notes.txt']).toContain('PICKLE_DANGEROUS_GLOBAL');
    expect(byName['README.md']).toEqual(['FORMAT_UNKNOWN']);
    expect(byName['dangling.bin']).toEqual(['SCAN_UNREADABLE']);
  });
});

describe('bad command lines get one line and exit 2', () => {
  const cases: Array<[string[], RegExp]> = [
    [['scan'], /^modelgate: missing required argument 'paths'/],
    [['scan', '--fail-on', 'severe', 'x'], /^modelgate: option '--fail-on <severity>' argument 'severe' is invalid/],
    [['scan', '--format', 'xml', 'x'], /^modelgate: option '-f, --format <format>' argument 'xml' is invalid/],
    [['scan', '--max-depth', '-3', 'x'], /^modelgate: option '--max-depth <n>' argument '-3' is invalid/],
    [['scan', '/nonexistent/model.pt'], /^modelgate: no such file or directory: \/nonexistent\/model\.pt$/],
    [['frobnicate'], /^modelgate: unknown command 'frobnicate'/],
    [['scan', '--bogus', 'x'], /^modelgate: unknown option '--bogus'/],
  ];
  for (const [args, re] of cases) {
    it(args.join(' '), async () => {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(re);
    });
  }
});
