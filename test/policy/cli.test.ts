/**
 * `modelgate policy test` as a user runs it: the compiled bin in a child process (npm test builds
 * first; run `npm run build` before running this file alone).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/manifest.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'modelgate.js');
const run = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { maxBuffer: 1 << 26 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const MAL = join(FIXTURES, 'malicious', 'torch_zip_reduce.pt');
const CLEAN = join(FIXTURES, 'benign', 'model.safetensors');
const MEDIUM = join(FIXTURES, 'anomalies', 'truncated_no_stop.pkl');

let dir: string;
const write = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mg-policy-cli-'));
});

describe('modelgate policy test', () => {
  it('scans model files and prints each verdict with its reasons; exit 1 on block', async () => {
    const r = await cli(['policy', 'test', MAL, CLEAN]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^policy default\+[0-9a-f]{12}, group default, repository local\/model\n/);
    expect(r.stdout).toContain('\nrepository: ALLOW\n');
    expect(r.stdout).toContain(`\n${MAL}: BLOCK\n  block  ${MAL} calls os.system (critical, rule scan-severity)\n         PICKLE_DANGEROUS_GLOBAL at ${MAL} › archive/data.pkl @ offset 229\n`);
    expect(r.stdout).toContain(`\n${CLEAN}: ALLOW\n`);
    expect(r.stdout).toContain('2 files: 1 blocked, 0 warned, 1 allowed');
  });

  it('evaluates a stored report from `modelgate scan --format json`', async () => {
    const scanned = await cli(['scan', '--format', 'json', '--hash', MAL, MEDIUM]);
    const report = write('report.json', scanned.stdout);
    const r = await cli(['policy', 'test', '--format', 'json', report]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    type Row = { path: string; sha256: string; decision: { verdict: string; outcomes: Array<{ reason: string }> } };
    const byPath = new Map<string, Row>(out.files.map((f: Row) => [f.path, f]));
    expect(out.files).toHaveLength(2);
    expect(byPath.get(MAL)!.decision.verdict).toBe('block');
    expect(byPath.get(MEDIUM)!.decision.verdict).toBe('block');
    expect(byPath.get(MAL)!.decision.outcomes[0]!.reason).toBe(`${MAL} calls os.system (critical, rule scan-severity)`);
    // The report's hashes are what hash-scoped waivers match.
    expect(byPath.get(MAL)!.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('--fail-on warn fails on a warning; the default fails only on a block', async () => {
    // The default policy blocks medium; a policy that only warns on it shows the difference.
    const lenient = write('lenient.yaml', 'rules:\n  scan-severity: {block: high, warn: medium}\n');
    expect((await cli(['policy', 'test', MEDIUM])).code).toBe(1);
    expect((await cli(['policy', 'test', '--policy', lenient, MEDIUM])).code).toBe(0);
    expect((await cli(['policy', 'test', '--policy', lenient, '--fail-on', 'warn', MEDIUM])).code).toBe(1);
    expect((await cli(['policy', 'test', '--policy', lenient, '--fail-on', 'warn', CLEAN])).code).toBe(0);
  });

  it('applies the policy file, groups, the repository and facts', async () => {
    const policy = write(
      'policy.yaml',
      ['version: "7"', 'rules:', '  repositories:', '    allow: [acme/*]', '  license:', '    allow: [mit]', 'groups:', '  research:', '    rules:', '      scan-severity: {action: warn}', ''].join('\n'),
    );
    const facts = write('facts.json', JSON.stringify({ license: 'MIT' }));
    const blocked = await cli(['policy', 'test', '--policy', policy, '--repo', 'other/model', '--facts', facts, CLEAN]);
    expect(blocked.code).toBe(1);
    expect(blocked.stdout).toMatch(/^policy 7\+[0-9a-f]{12}, group default, repository other\/model\n/);
    expect(blocked.stdout).toContain('\nrepository: BLOCK\n  block  other/model is not an allowed repository (rule repositories)\n');
    const research = await cli(['policy', 'test', '--policy', policy, '--group', 'research', '--repo', 'acme/model', '--facts', facts, MAL]);
    expect(research.code).toBe(0);
    expect(research.stdout).toContain(`\n${MAL}: WARN\n  warn   ${MAL} calls os.system (critical, rule scan-severity)\n`);
    const noLicence = await cli(['policy', 'test', '--policy', policy, '--repo', 'acme/model', CLEAN]);
    expect(noLicence.stdout).toContain('  block  acme/model declares no licence (rule license)');
  });

  it('--user-agent: client-vulnerable judges the declared torch', async () => {
    const policy = write('client-vuln.yaml', 'rules:\n  client-vulnerable: {action: block}\n');
    const bin = join(FIXTURES, 'benign', 'pytorch_model.bin');
    const old = await cli(['policy', 'test', '--policy', policy, '--user-agent', 'hf_hub/0.30.2; torch/2.5.1', bin]);
    expect(old.code).toBe(1);
    expect(old.stdout).toContain(`\n${bin}: BLOCK\n  block  ${bin}: your torch 2.5.1 is affected by CVE-2025-32434 (weights_only bypass) and 1 more; upgrade to 2.10.0 or later (critical, rule client-vulnerable)\n`);
    const fixed = await cli(['policy', 'test', '--policy', policy, '--user-agent', 'hf_hub/1.33.0; torch/2.10.0', bin]);
    expect(fixed.code).toBe(0);
    expect(fixed.stdout).toContain(`\n${bin}: ALLOW\n`);
  });

  it('--now and --waivers: a waiver applies until it expires', async () => {
    const waivers = write('waivers.yaml', `- id: w-1\n  repo: acme/*\n  rule: scan-severity\n  expiresAt: "2025-07-01T00:00:00Z"\n`);
    const before = await cli(['policy', 'test', '--repo', 'acme/model', '--waivers', waivers, '--now', '2025-06-15T00:00:00Z', MAL]);
    expect(before.code).toBe(0);
    expect(before.stdout).toContain(`\n${MAL}: ALLOW\n  waived ${MAL} calls os.system (critical, rule scan-severity) [waiver w-1]\n`);
    const after = await cli(['policy', 'test', '--repo', 'acme/model', '--waivers', waivers, '--now', '2025-07-02T00:00:00Z', MAL]);
    expect(after.code).toBe(1);
  });

  it('usage errors are one line and exit 2', async () => {
    const bad = write('bad.yaml', 'rules:\n  scan-severity:\n    block: severe\n');
    const cases: Array<[string[], string]> = [
      [['policy', 'test', '--policy', bad, CLEAN], `modelgate: ${bad}: rules.scan-severity.block: expected one of critical|high|medium|low, got "severe"\n`],
      [['policy', 'test', join(dir, 'missing.bin')], `modelgate: no such file or directory: ${join(dir, 'missing.bin')}\n`],
      [['policy', 'test', '--group', 'nobody', CLEAN], 'modelgate: --group: the policy defines no group "nobody" (groups: default)\n'],
      [['policy', 'test', '--now', 'tomorrow', CLEAN], 'modelgate: --now: expected an ISO 8601 time such as 2025-06-01T12:00:00Z, got "tomorrow"\n'],
      [['policy', 'test', '--fail-on', 'allow', CLEAN], "modelgate: option '--fail-on <verdict>' argument 'allow' is invalid. Allowed choices are block, warn. (see 'modelgate policy test --help')\n"],
      [['policy'], "modelgate: policy: expected a subcommand: test (see 'modelgate policy test --help')\n"],
    ];
    for (const [args, stderr] of cases) {
      const r = await cli(args);
      expect([args, r.code, r.stderr]).toEqual([args, 2, stderr]);
      expect(r.stdout).toBe('');
    }
  });
});
