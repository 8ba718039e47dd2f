/**
 * Policy evaluation on real scan reports of the fixture corpus: every rule in block, warn and
 * off, groups, and the exact reasons the gateway will put in its refusals.
 */
import { describe, expect, it } from 'vitest';
import { defaultPolicy, parsePolicy } from '../../src/policy/index.js';
import type { FileReport } from '../../src/scan/report.js';
import {
  BENIGN_TORCH,
  COMMIT,
  CONFIG_TEXT,
  ENCRYPTED,
  NESTED,
  NULLIFAI,
  REMOTE_CONFIG,
  SAFETENSORS,
  TORCH,
  TORCH_REASON,
  TRAILING,
  TRUNCATED,
  file,
  input,
  repo,
  report,
} from './helpers.js';

const policy = (yaml: string) => parsePolicy(yaml, 'policy.yaml');
const reasons = (d: { outcomes: Array<{ action: string; reason: string }> }) => d.outcomes.map((o) => `${o.action}: ${o.reason}`);

describe('scan-severity', () => {
  it('blocks a critical finding by default, naming the file by its repository path and the finding', async () => {
    const d = defaultPolicy().evaluate(input(await file(TORCH, 'pytorch_model.bin')));
    expect(d.verdict).toBe('block');
    expect(d.outcomes).toEqual([
      {
        rule: 'scan-severity',
        action: 'block',
        reason: TORCH_REASON,
        finding: { rule: 'PICKLE_DANGEROUS_GLOBAL', severity: 'critical', message: 'calls os.system (named posix.system)', location: 'pytorch_model.bin › archive/data.pkl @ offset 229' },
      },
    ]);
    expect(d.waived).toEqual([]);
    expect(d.policyVersion).toBe(defaultPolicy().version);
  });

  it('allows a clean file and blocks a medium finding by default (warns on it when block is high)', async () => {
    expect(defaultPolicy().evaluate(input(await file(SAFETENSORS, 'model.safetensors')))).toMatchObject({ verdict: 'allow', outcomes: [], waived: [] });
    const f = await file(TRUNCATED, 'model.pkl');
    const d = defaultPolicy().evaluate(input(f));
    expect(d.verdict).toBe('block');
    expect(reasons(d)).toEqual(['block: model.pkl: pickle data was truncated (medium, rule scan-severity)']);
    expect(reasons(policy('rules:\n  scan-severity:\n    block: high\n').evaluate(input(f)))).toEqual(['warn: model.pkl: pickle data was truncated (medium, rule scan-severity)']);
  });

  it('ignores low findings by default and warns on them when warn is low', async () => {
    const f = await file(TRAILING, 'model.pkl');
    expect(defaultPolicy().evaluate(input(f)).verdict).toBe('allow');
    const d = policy('rules:\n  scan-severity:\n    warn: low\n').evaluate(input(f));
    expect(reasons(d)).toEqual(['warn: model.pkl: 35 bytes after the last pickle (not read by the loader; may be a polyglot) (low, rule scan-severity)']);
  });

  it('moves the thresholds: block critical only, or block medium too', async () => {
    const lenient = policy('rules:\n  scan-severity:\n    block: critical\n    warn: high\n');
    expect(lenient.evaluate(input(await file(TORCH, 'pytorch_model.bin'))).verdict).toBe('block');
    expect(lenient.evaluate(input(await file(TRUNCATED, 'model.pkl'))).verdict).toBe('allow');
    const strict = policy('rules:\n  scan-severity:\n    block: medium\n');
    expect(reasons(strict.evaluate(input(await file(TRUNCATED, 'model.pkl'))))).toEqual(['block: model.pkl: pickle data was truncated (medium, rule scan-severity)']);
  });

  it('action warn caps every outcome at warn; action off judges nothing', async () => {
    const f = await file(TORCH, 'pytorch_model.bin');
    const warn = policy('rules:\n  scan-severity:\n    action: warn\n').evaluate(input(f));
    expect(reasons(warn)).toEqual([`warn: ${TORCH_REASON}`]);
    expect(warn.verdict).toBe('warn');
    expect(policy('rules:\n  scan-severity:\n    action: off\n').evaluate(input(f))).toMatchObject({ verdict: 'allow', outcomes: [] });
  });

  it('blocks a file that could not be fully scanned, whatever its severity', async () => {
    const f = await file(ENCRYPTED, 'weights.zip');
    const d = defaultPolicy().evaluate(input(f));
    expect(d.verdict).toBe('block');
    // ZIP_UNUSUAL_FLAGS (low) stays below the warn threshold.
    expect(reasons(d)).toEqual(['block: weights.zip: model/data.pkl is encrypted: its bytes do not decode to data matching the stored CRC (unscannable, rule scan-severity)']);
    expect(d.outcomes[0]!.finding).toMatchObject({ rule: 'ARCHIVE_ENCRYPTED', severity: 'medium', location: 'weights.zip @ offset 0' });
  });

  it('unscannable: warn and off', async () => {
    const f = await file(ENCRYPTED, 'weights.zip');
    expect(policy('rules:\n  scan-severity:\n    unscannable: warn\n').evaluate(input(f)).verdict).toBe('warn');
    // Off: unscannable kinds are not judged by severity either.
    expect(policy('rules:\n  scan-severity:\n    unscannable: off\n').evaluate(input(f))).toMatchObject({ verdict: 'allow', outcomes: [] });
  });

  it('an incomplete scan lists every unscannable finding, with the member chain in the location', async () => {
    const d = defaultPolicy().evaluate(input(await file(NESTED, 'nested.zip')));
    expect(d.verdict).toBe('block');
    expect(reasons(d)).toEqual([
      'block: nested.zip: level9.zip is nested deeper than 8 containers; not scanned (unscannable, rule scan-severity)',
      'block: nested.zip: not completely scanned: nesting limit (unscannable, rule scan-severity)',
    ]);
    expect(d.outcomes[0]!.finding!.location).toBe('nested.zip › level1.zip › level2.zip › level3.zip › level4.zip › level5.zip › level6.zip › level7.zip › level8.zip');
  });

  it('a report marked incomplete without saying why is still not clean', async () => {
    const clean = await report(SAFETENSORS);
    const r: FileReport = { ...clean, complete: false };
    const d = defaultPolicy().evaluate(input({ path: 'model.safetensors', sha256: null, size: null, report: r }));
    expect(reasons(d)).toEqual(['block: model.safetensors was not completely scanned (unscannable, rule scan-severity)']);
  });

  it('puts the worst finding first and keeps every finding in the outcomes', async () => {
    const r = await report(NULLIFAI);
    // Reversed, so the order cannot come from the report.
    const reversed: FileReport = { ...r, findings: [...r.findings].reverse() };
    const d = policy('rules:\n  scan-severity:\n    block: medium\n').evaluate(input({ path: 'model.pkl', sha256: null, size: null, report: reversed }));
    expect(reasons(d)).toEqual(['block: model.pkl calls os.system (critical, rule scan-severity)', 'block: model.pkl: invalid opcode 0xff (medium, rule scan-severity)']);
    const lenient = policy('rules:\n  scan-severity:\n    block: high\n').evaluate(input({ path: 'model.pkl', sha256: null, size: null, report: reversed }));
    expect(reasons(lenient)).toEqual(['block: model.pkl calls os.system (critical, rule scan-severity)', 'warn: model.pkl: invalid opcode 0xff (medium, rule scan-severity)']);
  });

  it('judges a severity it does not know as critical (a report from a newer engine)', async () => {
    const r = await report(TRUNCATED);
    const odd: FileReport = { ...r, findings: r.findings.map((f) => ({ ...f, severity: 'severe' as never })) };
    expect(defaultPolicy().evaluate(input({ path: 'model.pkl', sha256: null, size: null, report: odd })).verdict).toBe('block');
  });

  it('keeps reasons on one line when a finding message carries control characters', async () => {
    const r = await report(TRUNCATED);
    const hostile: FileReport = { ...r, findings: r.findings.map((f) => ({ ...f, message: 'member "a\r\nX-Evil: 1" is odd' })) };
    const d = defaultPolicy().evaluate(input({ path: 'model.pkl', sha256: null, size: null, report: hostile }));
    expect(d.outcomes[0]!.reason).toBe('model.pkl: member "a X-Evil: 1" is odd (medium, rule scan-severity)');
  });

  it('a repository-level decision (file null) ignores scan findings', () => {
    expect(defaultPolicy().evaluate(input(null))).toMatchObject({ verdict: 'allow', outcomes: [] });
  });
});

describe('repositories', () => {
  const p = policy('rules:\n  repositories:\n    allow: [meta-llama/*, "*/*-gguf", acme/model, datasets/acme/*]\n    deny: [meta-llama/bad-*]\n');

  it('allows matches of the allow list and blocks the rest, at file and repository level', async () => {
    const f = await file(SAFETENSORS, 'model.safetensors');
    expect(p.evaluate(input(f, { repo: repo({ id: 'meta-llama/Llama-3.1-8B' }) })).verdict).toBe('allow');
    expect(p.evaluate(input(f, { repo: repo({ id: 'TheBloke/Llama-2-7B-gguf' }) })).verdict).toBe('allow');
    expect(p.evaluate(input(f)).verdict).toBe('allow');
    const other = p.evaluate(input(null, { repo: repo({ id: 'someone/model' }) }));
    expect(reasons(other)).toEqual(['block: someone/model is not an allowed repository (rule repositories)']);
    expect(reasons(p.evaluate(input(f, { repo: repo({ id: 'someone/model' }) })))).toEqual(['block: someone/model is not an allowed repository (rule repositories)']);
  });

  it('deny wins over allow, and matching ignores case', () => {
    const d = p.evaluate(input(null, { repo: repo({ id: 'Meta-Llama/BAD-model' }) }));
    expect(reasons(d)).toEqual(['block: Meta-Llama/BAD-model is denied by "meta-llama/bad-*" (rule repositories)']);
  });

  it('* stops at /, and a datasets/ prefix only matches datasets', () => {
    expect(p.evaluate(input(null, { repo: repo({ id: 'gpt2' }) })).verdict).toBe('block');
    expect(p.evaluate(input(null, { repo: repo({ id: 'acme/data', type: 'dataset' }) })).verdict).toBe('allow');
    expect(reasons(p.evaluate(input(null, { repo: repo({ id: 'acme/data' }) })))).toEqual(['block: acme/data is not an allowed repository (rule repositories)']);
    expect(reasons(p.evaluate(input(null, { repo: repo({ id: 'evil/data', type: 'dataset' }) })))).toEqual(['block: datasets/evil/data is not an allowed repository (rule repositories)']);
  });

  it('deny alone blocks only what it matches; warn and off', () => {
    const deny = policy('rules:\n  repositories:\n    deny: [evil/*]\n');
    expect(deny.evaluate(input(null)).verdict).toBe('allow');
    expect(deny.evaluate(input(null, { repo: repo({ id: 'evil/x' }) })).verdict).toBe('block');
    const warn = policy('rules:\n  repositories:\n    action: warn\n    deny: [evil/*]\n');
    expect(reasons(warn.evaluate(input(null, { repo: repo({ id: 'evil/x' }) })))).toEqual(['warn: evil/x is denied by "evil/*" (rule repositories)']);
    const off = policy('rules:\n  repositories:\n    action: off\n    deny: [evil/*]\n');
    expect(off.evaluate(input(null, { repo: repo({ id: 'evil/x' }) })).verdict).toBe('allow');
  });
});

describe('formats', () => {
  const p = policy('rules:\n  formats:\n    allow: [safetensors, gguf]\n');

  it('allows approved formats and files that are never weights (json, text, unknown bytes)', async () => {
    expect(p.evaluate(input(await file(SAFETENSORS, 'model.safetensors'))).verdict).toBe('allow');
    expect(p.evaluate(input(await file(CONFIG_TEXT, 'config.json'))).verdict).toBe('allow');
    expect(p.evaluate(input(await file('bad-input/README.md', 'README.md'))).verdict).toBe('allow');
    expect(p.evaluate(input(await file('bad-input/noise_64k.bin', 'tokenizer.model'))).verdict).toBe('allow');
  });

  it('blocks other formats, naming what the scanner identified (not the file name)', async () => {
    const d = p.evaluate(input(await file(BENIGN_TORCH, 'model.safetensors')));
    expect(reasons(d)).toEqual(['block: model.safetensors is pytorch-zip (zip), not an approved format (rule formats)']);
    const legacy = p.evaluate(input(await file('benign/torch_state_dict_legacy.pt', 'model.pt')));
    expect(reasons(legacy)).toEqual(['block: model.pt is pytorch-legacy, not an approved format (rule formats)']);
  });

  it('a malicious file gets both outcomes, the scan finding first', async () => {
    const d = p.evaluate(input(await file(TORCH, 'pytorch_model.bin')));
    expect(reasons(d)).toEqual([`block: ${TORCH_REASON}`, 'block: pytorch_model.bin is pytorch-zip (zip), not an approved format (rule formats)']);
  });

  it('a container refinement or the container itself approves it', async () => {
    const f = await file(BENIGN_TORCH, 'pytorch_model.bin');
    expect(policy('rules:\n  formats:\n    allow: [pytorch-zip]\n').evaluate(input(f)).verdict).toBe('allow');
    expect(policy('rules:\n  formats:\n    allow: [zip]\n').evaluate(input(f)).verdict).toBe('allow');
    // npz is a zip too, but not a PyTorch one.
    expect(policy('rules:\n  formats:\n    allow: [pytorch-zip]\n').evaluate(input(await file('benign/arrays.npz', 'arrays.npz'))).verdict).toBe('block');
  });

  it('ignore can be narrowed: judge json files too', async () => {
    const d = policy('rules:\n  formats:\n    allow: [safetensors]\n    ignore: [text]\n').evaluate(input(await file(CONFIG_TEXT, 'config.json')));
    expect(reasons(d)).toEqual(['block: config.json is json, not an approved format (rule formats)']);
  });

  it('warn and off', async () => {
    const f = await file(BENIGN_TORCH, 'pytorch_model.bin');
    expect(reasons(policy('rules:\n  formats:\n    action: warn\n    allow: [safetensors]\n').evaluate(input(f)))).toEqual([
      'warn: pytorch_model.bin is pytorch-zip (zip), not an approved format (rule formats)',
    ]);
    expect(policy('rules:\n  formats:\n    action: off\n    allow: [safetensors]\n').evaluate(input(f)).verdict).toBe('allow');
  });
});

describe('remote-code', () => {
  const REMOTE_CODE = 'malicious/repo_remote_code/modeling_fixture.py';
  const needs = repo({ remoteCode: { needed: true, files: ['modeling_fixture.py'] } });

  it('off: the REPO_REMOTE_CODE finding is a low notice for scan-severity; the code file decides', async () => {
    const d = defaultPolicy().evaluate(input(await file(REMOTE_CONFIG, 'config.json'), { repo: needs }));
    expect(d.verdict).toBe('allow');
    expect(d.outcomes).toEqual([]);
    const code = defaultPolicy().evaluate(input(await file(REMOTE_CODE, 'modeling_fixture.py'), { repo: needs }));
    expect(code.verdict).toBe('block');
    expect(code.outcomes.map((o) => [o.rule, o.finding?.rule, o.finding?.severity])).toEqual([['scan-severity', 'PYTHON_DANGEROUS_CALL', 'critical']]);
  });

  it('block: the repository and the finding are the rule’s, scan-severity leaves them alone', async () => {
    const p = policy('rules:\n  remote-code:\n    action: block\n');
    expect(reasons(p.evaluate(input(null, { repo: needs })))).toEqual(['block: acme/model needs trust_remote_code (modeling_fixture.py) (rule remote-code)']);
    const d = p.evaluate(input(await file(REMOTE_CONFIG, 'config.json'), { repo: needs }));
    expect(d.outcomes.map((o) => [o.rule, o.action, o.finding?.rule ?? null])).toEqual([
      ['remote-code', 'block', null],
      ['remote-code', 'block', 'REPO_REMOTE_CODE'],
    ]);
    expect(d.outcomes[1]!.reason).toMatch(/^config\.json: auto_map needs trust_remote_code=True: .* \(low, rule remote-code\)$/);
    // Every file of such a repository is held, weights included.
    expect(p.evaluate(input(await file(SAFETENSORS, 'model.safetensors'), { repo: needs })).verdict).toBe('block');
    expect(p.evaluate(input(await file(SAFETENSORS, 'model.safetensors'))).verdict).toBe('allow');
  });

  it('warn lets remote-code repositories through with a warning', async () => {
    const p = policy('rules:\n  remote-code:\n    action: warn\n');
    const d = p.evaluate(input(await file(REMOTE_CONFIG, 'config.json'), { repo: needs }));
    expect(d.verdict).toBe('warn');
    expect(d.outcomes.every((o) => o.rule === 'remote-code' && o.action === 'warn')).toBe(true);
  });

  it('owns MLFLOW_MODEL_CODE too: an MLflow model that imports its code/ is held when the rule is on', async () => {
    const mlmodel = await file('malicious/mlflow_code_loader/MLmodel', 'MLmodel');
    expect(defaultPolicy().evaluate(input(mlmodel)).verdict).toBe('allow');
    const d = policy('rules:\n  remote-code:\n    action: block\n').evaluate(input(mlmodel));
    expect(d.verdict).toBe('block');
    expect(d.outcomes.filter((o) => o.finding?.rule === 'MLFLOW_MODEL_CODE').map((o) => [o.rule, o.action])).toEqual([['remote-code', 'block']]);
  });

  it('lists at most two files of the custom code', () => {
    const p = policy('rules:\n  remote-code: {}\n');
    const d = p.evaluate(input(null, { repo: repo({ remoteCode: { needed: true, files: ['a.py', 'b.py', 'c.py', 'd.py'] } }) }));
    expect(reasons(d)).toEqual(['block: acme/model needs trust_remote_code (a.py, b.py, 2 more) (rule remote-code)']);
  });
});

describe('license', () => {
  const p = policy('rules:\n  license:\n    allow: [apache-2.0, MIT]\n');

  it('allows listed licences without regard to case and blocks others', () => {
    expect(p.evaluate(input(null, { repo: repo({ license: 'mit' }) })).verdict).toBe('allow');
    expect(p.evaluate(input(null, { repo: repo({ license: 'Apache-2.0' }) })).verdict).toBe('allow');
    expect(reasons(p.evaluate(input(null, { repo: repo({ license: 'cc-by-nc-4.0' }) })))).toEqual(['block: acme/model is licensed cc-by-nc-4.0, not an allowed licence (rule license)']);
  });

  it('unknown licence: block by default, configurable', () => {
    expect(reasons(p.evaluate(input(null)))).toEqual(['block: acme/model declares no licence (rule license)']);
    expect(policy('rules:\n  license:\n    allow: [mit]\n    unknown: warn\n').evaluate(input(null)).verdict).toBe('warn');
    expect(policy('rules:\n  license:\n    allow: [mit]\n    unknown: off\n').evaluate(input(null)).verdict).toBe('allow');
  });

  it('warn caps, off ignores', () => {
    const other = input(null, { repo: repo({ license: 'other' }) });
    expect(policy('rules:\n  license:\n    action: warn\n    allow: [mit]\n').evaluate(other).verdict).toBe('warn');
    expect(policy('rules:\n  license:\n    action: off\n    allow: [mit]\n').evaluate(other).verdict).toBe('allow');
  });
});

describe('upstream-verdict', () => {
  const scanned = repo({ upstreamScan: { scansDone: true, filesWithIssues: [{ path: 'evil.bin', level: 'unsafe' }, { path: 'odd.bin', level: 'caution' }] } });
  const p = policy('rules:\n  upstream-verdict: {}\n');

  it('unsafe blocks, caution warns, other files pass', async () => {
    const f = await file(SAFETENSORS, 'evil.bin');
    expect(reasons(p.evaluate(input(f, { repo: scanned })))).toEqual(['block: evil.bin is marked unsafe by the upstream hub (rule upstream-verdict)']);
    expect(reasons(p.evaluate(input({ ...f, path: 'odd.bin' }, { repo: scanned })))).toEqual(['warn: odd.bin is marked caution by the upstream hub (rule upstream-verdict)']);
    expect(p.evaluate(input({ ...f, path: 'model.safetensors' }, { repo: scanned })).verdict).toBe('allow');
    // A repository decision does not hold the whole repository for one flagged file.
    expect(p.evaluate(input(null, { repo: scanned })).verdict).toBe('allow');
  });

  it('not-scanned is off by default and configurable', () => {
    const unscanned = repo({ upstreamScan: { scansDone: false, filesWithIssues: [] } });
    expect(p.evaluate(input(null, { repo: unscanned })).verdict).toBe('allow');
    const strict = policy('rules:\n  upstream-verdict:\n    not-scanned: warn\n');
    expect(reasons(strict.evaluate(input(null, { repo: unscanned })))).toEqual(['warn: acme/model has not been scanned by the upstream hub (rule upstream-verdict)']);
  });

  it('an unknown upstream verdict (not fetched) is not clean: unknown decides, block by default', () => {
    const reason = "the upstream hub's verdict on acme/model is unknown (it could not be fetched) (rule upstream-verdict)";
    expect(reasons(p.evaluate(input(null)))).toEqual([`block: ${reason}`]);
    expect(reasons(policy('rules:\n  upstream-verdict:\n    unknown: warn\n').evaluate(input(null)))).toEqual([`warn: ${reason}`]);
    expect(policy('rules:\n  upstream-verdict:\n    unknown: off\n').evaluate(input(null)).verdict).toBe('allow');
    expect(defaultPolicy().evaluate(input(null)).verdict).toBe('allow');
  });

  it('caution can block, unsafe can be lowered, action off ignores all', async () => {
    const f = await file(SAFETENSORS, 'odd.bin');
    expect(policy('rules:\n  upstream-verdict:\n    caution: block\n').evaluate(input(f, { repo: scanned })).verdict).toBe('block');
    expect(policy('rules:\n  upstream-verdict:\n    unsafe: warn\n').evaluate(input({ ...f, path: 'evil.bin' }, { repo: scanned })).verdict).toBe('warn');
    expect(defaultPolicy().evaluate(input({ ...f, path: 'evil.bin' }, { repo: scanned })).verdict).toBe('allow');
  });
});

describe('min-age', () => {
  const p = policy('rules:\n  min-age:\n    days: 7\n');

  it('holds a repository modified or created within the cooldown', () => {
    const fresh = repo({ createdAt: '2024-01-01T00:00:00Z', lastModified: '2025-06-13T12:00:00Z' });
    expect(reasons(p.evaluate(input(null, { repo: fresh })))).toEqual(['block: acme/model was modified 2 days ago, under the minimum age of 7 days (rule min-age)']);
    const created = repo({ createdAt: '2025-06-15T09:00:00Z' });
    expect(reasons(p.evaluate(input(null, { repo: created })))).toEqual(['block: acme/model was created 3 hours ago, under the minimum age of 7 days (rule min-age)']);
    const justNow = repo({ createdAt: '2025-06-15T11:30:00Z' });
    expect(reasons(p.evaluate(input(null, { repo: justNow })))).toEqual(['block: acme/model was created less than an hour ago, under the minimum age of 7 days (rule min-age)']);
  });

  it('lets an old enough repository through, measured at `now`', () => {
    const old = repo({ createdAt: '2024-01-01T00:00:00Z', lastModified: '2025-06-01T00:00:00Z' });
    expect(p.evaluate(input(null, { repo: old })).verdict).toBe('allow');
    expect(p.evaluate(input(null, { repo: old, now: new Date('2025-06-05T00:00:00Z') })).verdict).toBe('block');
  });

  it('unknown dates block by default, configurable; warn and off', () => {
    expect(reasons(p.evaluate(input(null)))).toEqual(['block: acme/model has no creation or modification date (rule min-age)']);
    expect(policy('rules:\n  min-age:\n    unknown: off\n').evaluate(input(null)).verdict).toBe('allow');
    const fresh = input(null, { repo: repo({ lastModified: '2025-06-15T11:00:00Z' }) });
    expect(reasons(policy('rules:\n  min-age:\n    action: warn\n    days: 0.5\n').evaluate(fresh))).toEqual([
      'warn: acme/model was modified 1 hour ago, under the minimum age of 0.5 days (rule min-age)',
    ]);
    expect(policy('rules:\n  min-age:\n    action: off\n').evaluate(fresh).verdict).toBe('allow');
  });
});

describe('pinned-revisions', () => {
  const p = policy(`rules:\n  pinned-revisions:\n    pins:\n      acme/*: [${COMMIT}]\n      acme/other: [abcdef1]\n`);

  it('serves pinned commits (full or by prefix) and blocks other commits of pinned repositories', () => {
    expect(p.evaluate(input(null)).verdict).toBe('allow');
    expect(p.evaluate(input(null, { repo: repo({ id: 'acme/other', commit: 'abcdef1234567890abcdef1234567890abcdef12' }) })).verdict).toBe('allow');
    const moved = p.evaluate(input(null, { repo: repo({ commit: '1111111111111111111111111111111111111111' }) }));
    expect(reasons(moved)).toEqual(['block: acme/model at 111111111111 is not a pinned revision (rule pinned-revisions)']);
  });

  it('leaves repositories without pins alone; warn and off', () => {
    const elsewhere = input(null, { repo: repo({ id: 'other/model', commit: '2222222222222222222222222222222222222222' }) });
    expect(p.evaluate(elsewhere).verdict).toBe('allow');
    const moved = input(null, { repo: repo({ commit: '1111111111111111111111111111111111111111' }) });
    expect(policy(`rules:\n  pinned-revisions:\n    action: warn\n    pins: {acme/model: [${COMMIT}]}\n`).evaluate(moved).verdict).toBe('warn');
    expect(policy(`rules:\n  pinned-revisions:\n    action: off\n    pins: {acme/model: [${COMMIT}]}\n`).evaluate(moved).verdict).toBe('allow');
  });
});

describe('groups', () => {
  const p = policy(
    [
      'rules:',
      '  scan-severity: {block: high}',
      '  formats:',
      '    allow: [safetensors]',
      'groups:',
      '  research:',
      '    rules:',
      '      scan-severity: {action: warn}',
      '      formats: {allow: [safetensors, pytorch-zip]}',
      '  strict:',
      '    rules:',
      '      scan-severity: {block: medium}',
      '',
    ].join('\n'),
  );

  it('a group warns where the default group blocks', async () => {
    const f = await file(TORCH, 'pytorch_model.bin');
    const byDefault = p.evaluate(input(f));
    expect(byDefault.verdict).toBe('block');
    expect(reasons(byDefault)).toEqual([`block: ${TORCH_REASON}`, 'block: pytorch_model.bin is pytorch-zip (zip), not an approved format (rule formats)']);
    const research = p.evaluate(input(f, { group: 'research' }));
    expect(reasons(research)).toEqual([`warn: ${TORCH_REASON}`]);
  });

  it('an override without action keeps the top-level action; other groups are untouched', async () => {
    const f = await file(TRUNCATED, 'model.pkl');
    const severity = (group: string) => p.evaluate(input(f, { group })).outcomes.filter((o) => o.rule === 'scan-severity').map((o) => o.action);
    expect(severity('default')).toEqual(['warn']);
    expect(severity('strict')).toEqual(['block']);
    expect(severity('research')).toEqual(['warn']);
    // strict did not mention formats: it keeps the top-level formats rule.
    expect(reasons(p.evaluate(input(f, { group: 'strict' })))).toContain('block: model.pkl is pickle, not an approved format (rule formats)');
  });

  it('an unknown group gets the top-level rules', async () => {
    expect(p.evaluate(input(await file(TORCH, 'pytorch_model.bin'), { group: 'nobody' })).verdict).toBe('block');
    expect(p.groups).toEqual(['research', 'strict']);
  });
});
