/** The policy file: defaults, the shipped example, versions, and one-line errors naming the key. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULES, PolicyError, defaultPolicy, loadPolicy, loadPolicyFile, parsePolicy } from '../../src/policy/index.js';

const ROOT = join(import.meta.dirname, '..', '..');

function error(yaml: string): string {
  try {
    parsePolicy(yaml, 'policy.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyError);
    return (e as Error).message;
  }
  throw new Error('expected the policy to be rejected');
}

describe('defaults and the example file', () => {
  it('the default policy: scan-severity blocks medium and above and unscannable files; the rest is off', () => {
    const p = defaultPolicy();
    expect(p.rulesFor('default')).toEqual(DEFAULT_RULES);
    expect(DEFAULT_RULES['scan-severity']).toEqual({ action: 'block', block: 'medium', warn: 'medium', unscannable: 'block' });
    for (const [name, rule] of Object.entries(DEFAULT_RULES)) if (name !== 'scan-severity') expect([name, rule.action]).toEqual([name, 'off']);
    expect(p.version).toMatch(/^default\+[0-9a-f]{12}$/);
    expect(loadPolicy(undefined).version).toBe(p.version);
  });

  it('policy.example.yaml is the default policy written out', () => {
    const example = loadPolicyFile(join(ROOT, 'policy.example.yaml'));
    expect(example.rulesFor('default')).toEqual(DEFAULT_RULES);
    expect(example.version.split('+')[1]).toBe(defaultPolicy().version.split('+')[1]);
    expect(example.version).toMatch(/^1\+/);
  });

  it('an empty file is the default policy; a file naming a rule without action enforces it', () => {
    expect(parsePolicy('').rulesFor('default')).toEqual(DEFAULT_RULES);
    expect(parsePolicy('rules:\n  license:\n    allow: [mit]\n').rulesFor('default').license).toEqual({ action: 'block', allow: ['mit'], unknown: 'block' });
    // Rules left out keep their defaults: leaving scan-severity out does not switch it off.
    expect(parsePolicy('rules:\n  license:\n    allow: [mit]\n').rulesFor('default')['scan-severity']).toEqual(DEFAULT_RULES['scan-severity']);
  });
});

describe('version', () => {
  const base = 'version: "2025-06"\nrules:\n  scan-severity:\n    block: medium\n    warn: medium\n';

  it('is the declared version plus a hash of the effective rules', () => {
    expect(parsePolicy(base).version).toMatch(/^2025-06\+[0-9a-f]{12}$/);
    expect(parsePolicy('version: 3\n').version).toMatch(/^3\+/);
    expect(parsePolicy('rules: {}\n').version).toMatch(/^unversioned\+/);
  });

  it('ignores comments, layout and key order; changes with any rule or group', () => {
    const v = parsePolicy(base).version;
    expect(parsePolicy(`# a comment\n${base}`).version).toBe(v);
    expect(parsePolicy('version: "2025-06"\nrules:\n  scan-severity: {warn: medium, block: medium}\n').version).toBe(v);
    // Spelling out a default is the same policy.
    expect(parsePolicy('version: "2025-06"\n').version).toBe(v);
    expect(parsePolicy(base.replace('block: medium', 'block: critical')).version).not.toBe(v);
    expect(parsePolicy(`${base}groups:\n  research:\n    rules:\n      scan-severity: {action: warn}\n`).version).not.toBe(v);
  });
});

describe('errors: one line naming the bad key', () => {
  const cases: Array<[string, string]> = [
    ['rules:\n  scan-severity:\n    block: severe\n', 'policy.yaml: rules.scan-severity.block: expected one of critical|high|medium|low, got "severe"'],
    ['rules:\n  scan-severity:\n    unscannable: allow\n', 'policy.yaml: rules.scan-severity.unscannable: expected one of block|warn|off, got "allow"'],
    ['rules:\n  formats:\n    action: deny\n', 'policy.yaml: rules.formats.action: expected one of block|warn|off, got "deny"'],
    [
      'rules:\n  scan-severty: {}\n',
      'policy.yaml: rules.scan-severty: unknown rule; expected one of scan-severity|repositories|formats|remote-code|license|upstream-verdict|min-age|pinned-revisions|client-vulnerable',
    ],
    ['rules:\n  formats:\n    alow: [safetensors]\n', 'policy.yaml: rules.formats.alow: unknown key; expected one of action|allow|ignore'],
    ['rule:\n  formats: {}\n', 'policy.yaml: rule: unknown key; expected one of version|description|rules|groups'],
    ['rules:\n  repositories:\n    allow: meta-llama/*\n', 'policy.yaml: rules.repositories.allow: expected a list, got "meta-llama/*"'],
    ['rules:\n  repositories:\n    deny: ["evil org/*"]\n', 'policy.yaml: rules.repositories.deny.0: expected a repository glob such as org/*, org/name or */*-gguf, got "evil org/*"'],
    ['rules:\n  formats:\n    allow: [SafeTensors]\n', 'policy.yaml: rules.formats.allow.0: expected a lower-case format name such as safetensors, got "SafeTensors"'],
    ['rules:\n  formats:\n    action: warn\n', 'policy.yaml: rules.formats.allow: list the approved formats (the rule is warn)'],
    ['rules:\n  license: {}\n', 'policy.yaml: rules.license.allow: list the allowed licences (the rule is block)'],
    ['rules:\n  min-age:\n    days: -1\n', 'policy.yaml: rules.min-age.days: expected at least 0, got -1'],
    ['rules:\n  min-age:\n    days: seven\n', 'policy.yaml: rules.min-age.days: expected a number, got "seven"'],
    ['rules:\n  pinned-revisions:\n    pins:\n      acme/model: [main]\n', 'policy.yaml: rules.pinned-revisions.pins.acme/model.0: expected a commit id (7 to 40 hex digits), got "main"'],
    ['rules:\n  pinned-revisions:\n    pins:\n      acme/model: []\n', 'policy.yaml: rules.pinned-revisions.pins.acme/model: expected at least 1 entry'],
    ['rules:\n  pinned-revisions:\n    pins:\n      "acme model": [abcdef1]\n', 'policy.yaml: rules.pinned-revisions.pins.acme model: expected a repository glob such as org/*, org/name or */*-gguf, got "acme model"'],
    ['rules:\n  client-vulnerable:\n    min-severity: severe\n', 'policy.yaml: rules.client-vulnerable.min-severity: expected one of critical|high|medium|low, got "severe"'],
    ['rules: [scan-severity]\n', 'policy.yaml: rules: expected a mapping, got a list'],
    ['version: true\n', 'policy.yaml: version: expected a string or a number, got true'],
    ['groups:\n  default:\n    rules: {}\n', 'policy.yaml: groups.default: expected a group name other than default (the top-level rules are the default group), got "default"'],
    ['groups:\n  research:\n    rules:\n      scan-severity: {block: severe}\n', 'policy.yaml: groups.research.rules.scan-severity.block: expected one of critical|high|medium|low, got "severe"'],
    ['groups:\n  research:\n    rulez: {}\n', 'policy.yaml: groups.research.rulez: unknown key; expected one of description|rules'],
    ['groups:\n  research:\n    rules:\n      formats: {action: block}\n', 'policy.yaml: groups.research.rules.formats.allow: list the approved formats (the rule is block)'],
    ['- a\n- b\n', 'policy.yaml: expected a mapping with version, rules and groups, got a list'],
    ['rules:\n  formats: [\n', 'policy.yaml: not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ] at line 3, column 1'],
    ['rules: {}\nrules: {}\n', 'policy.yaml: not valid YAML: Map keys must be unique at line 2, column 1'],
  ];
  for (const [yaml, message] of cases) {
    it(message.slice('policy.yaml: '.length, 80), () => {
      const got = error(yaml);
      expect(got).toBe(message);
      expect(got).not.toContain('\n');
    });
  }

  it('a file that cannot be read names the file', () => {
    expect(() => loadPolicyFile('/nonexistent/policy.yaml')).toThrow('cannot read policy file /nonexistent/policy.yaml: ENOENT');
  });

  it('errors name the file as given', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-policy-'));
    const path = join(dir, 'policy.yaml');
    writeFileSync(path, 'rules:\n  scan-severity:\n    warn: severe\n');
    expect(() => loadPolicyFile(path)).toThrow(`${path}: rules.scan-severity.warn: expected one of critical|high|medium|low, got "severe"`);
    expect(readFileSync(path, 'utf8')).toContain('severe');
  });
});

describe('format names', () => {
  it('a policy naming a format no scan reports is an error when it loads; format ids and content names are accepted', () => {
    expect(() => parsePolicy('rules:\n  formats:\n    allow: [safetensors, safetensor]\n')).toThrow(/rules\.formats\.allow\.1: unknown format .*got "safetensor"/);
    expect(() => parsePolicy('rules:\n  formats:\n    ignore: [jsonl]\n')).toThrow(/rules\.formats\.ignore\.0: unknown format/);
    const p = parsePolicy('rules:\n  formats:\n    allow: [safetensors, gguf, 7z, lz4, pytorch-zip, npz, pytorch-legacy-tar, keras-h5, joblib]\n');
    expect(p.rulesFor('default').formats.allow).toEqual(['safetensors', 'gguf', '7z', 'lz4', 'pytorch-zip', 'npz', 'pytorch-legacy-tar', 'keras-h5', 'joblib']);
  });
});
