/** Waivers: every field a waiver sets must match; only active waivers count; they are reported. */
import { describe, expect, it } from 'vitest';
import { defaultPolicy, parsePolicy } from '../../src/policy/index.js';
import { NOW, TORCH, TORCH_REASON, TRUNCATED, file, input, repo, report, waiver } from './helpers.js';

const torchFinding = {
  rule: 'PICKLE_DANGEROUS_GLOBAL',
  severity: 'critical',
  message: 'calls os.system (named posix.system)',
  location: 'pytorch_model.bin › archive/data.pkl @ offset 229',
};

describe('waivers', () => {
  it('a waiver on the file hash cancels its outcomes and is listed with its id', async () => {
    const f = await file(TORCH, 'pytorch_model.bin');
    const d = defaultPolicy().evaluate(input(f, { waivers: [waiver({ id: 'w-42', sha256: f.sha256 })] }));
    expect(d.verdict).toBe('allow');
    expect(d.outcomes).toEqual([]);
    expect(d.waived).toEqual([{ rule: 'scan-severity', action: 'block', reason: TORCH_REASON, finding: torchFinding, waiver: 'w-42' }]);
  });

  it('the hash in the report serves when the caller has none; hashes compare without case', async () => {
    const f = await file(TORCH, 'pytorch_model.bin');
    const sha = (await report(TORCH)).sha256!;
    const d = defaultPolicy().evaluate(input({ ...f, sha256: null }, { waivers: [waiver({ sha256: sha.toUpperCase() })] }));
    expect(d.verdict).toBe('allow');
  });

  it('a repository glob waiver covers every file of matching repositories only', async () => {
    const f = await file(TORCH, 'pytorch_model.bin');
    const w = [waiver({ repo: 'acme/*' })];
    expect(defaultPolicy().evaluate(input(f, { waivers: w })).verdict).toBe('allow');
    expect(defaultPolicy().evaluate(input(f, { waivers: w, repo: repo({ id: 'other/model' }) })).verdict).toBe('block');
  });

  it('a rule waiver matches a policy rule name or a finding kind', async () => {
    const f = await file(TORCH, 'pytorch_model.bin');
    expect(defaultPolicy().evaluate(input(f, { waivers: [waiver({ rule: 'scan-severity' })] })).verdict).toBe('allow');
    expect(defaultPolicy().evaluate(input(f, { waivers: [waiver({ rule: 'PICKLE_DANGEROUS_GLOBAL' })] })).verdict).toBe('allow');
    expect(defaultPolicy().evaluate(input(f, { waivers: [waiver({ rule: 'formats' })] })).verdict).toBe('block');
  });

  it('partial scope: every field the waiver sets must match', async () => {
    const f = await file(TORCH, 'pytorch_model.bin');
    const other = (await report(TRUNCATED)).sha256!;
    const cases = [
      { w: waiver({ repo: 'acme/model', sha256: other }), verdict: 'block' },
      { w: waiver({ repo: 'acme/model', sha256: f.sha256 }), verdict: 'allow' },
      { w: waiver({ repo: 'other/*', sha256: f.sha256 }), verdict: 'block' },
      { w: waiver({ sha256: f.sha256, rule: 'license' }), verdict: 'block' },
      { w: waiver({ repo: 'acme/*', sha256: f.sha256, rule: 'scan-severity' }), verdict: 'allow' },
    ];
    for (const c of cases) expect([c.w, defaultPolicy().evaluate(input(f, { waivers: [c.w] })).verdict]).toEqual([c.w, c.verdict]);
  });

  it('only the outcomes a waiver covers are cancelled; the verdict follows what remains', async () => {
    const p = parsePolicy('rules:\n  formats:\n    allow: [safetensors]\n');
    const f = await file(TORCH, 'pytorch_model.bin');
    const d = p.evaluate(input(f, { waivers: [waiver({ id: 'fmt', rule: 'formats' })] }));
    expect(d.verdict).toBe('block');
    expect(d.outcomes.map((o) => o.rule)).toEqual(['scan-severity']);
    expect(d.waived.map((w) => [w.rule, w.waiver])).toEqual([['formats', 'fmt']]);
    const both = p.evaluate(input(f, { waivers: [waiver({ id: 'fmt', rule: 'formats' }), waiver({ id: 'sev', rule: 'scan-severity' })] }));
    expect(both.verdict).toBe('allow');
    expect(both.waived.map((w) => w.waiver)).toEqual(['sev', 'fmt']);
  });

  it('a block waived leaves a warning standing', async () => {
    const f = await file('malicious/nullifai_payload_then_invalid_opcode.pkl', 'model.pkl');
    const d = parsePolicy('rules:\n  scan-severity:\n    block: high\n').evaluate(input(f, { waivers: [waiver({ rule: 'PICKLE_DANGEROUS_GLOBAL' })] }));
    expect(d.verdict).toBe('warn');
    expect(d.outcomes.map((o) => o.reason)).toEqual(['model.pkl: invalid opcode 0xff (medium, rule scan-severity)']);
  });

  it('expired, revoked, malformed and empty waivers do nothing', async () => {
    const f = await file(TORCH, 'pytorch_model.bin');
    const inactive = [
      waiver({ id: 'expired', sha256: f.sha256, expiresAt: '2025-06-15T11:59:59Z' }),
      waiver({ id: 'expires-now', sha256: f.sha256, expiresAt: NOW.toISOString() }),
      waiver({ id: 'revoked', sha256: f.sha256, revokedAt: '2025-06-10T00:00:00Z' }),
      waiver({ id: 'revoked-garbled', sha256: f.sha256, revokedAt: 'yesterday' }),
      waiver({ id: 'bad-expiry', sha256: f.sha256, expiresAt: 'never' }),
      waiver({ id: 'no-scope' }),
    ];
    const d = defaultPolicy().evaluate(input(f, { waivers: inactive }));
    expect(d.verdict).toBe('block');
    expect(d.waived).toEqual([]);
  });

  it('a revocation scheduled after `now` has not taken effect yet', async () => {
    const f = await file(TORCH, 'pytorch_model.bin');
    const w = waiver({ sha256: f.sha256, revokedAt: '2025-06-20T00:00:00Z' });
    expect(defaultPolicy().evaluate(input(f, { waivers: [w] })).verdict).toBe('allow');
    expect(defaultPolicy().evaluate(input(f, { waivers: [w], now: new Date('2025-06-21T00:00:00Z') })).verdict).toBe('block');
  });

  it('a hash waiver cannot cover a repository-level decision', () => {
    const p = parsePolicy('rules:\n  repositories:\n    deny: [acme/*]\n');
    const d = p.evaluate(input(null, { waivers: [waiver({ sha256: 'a'.repeat(64) })] }));
    expect(d.verdict).toBe('block');
    expect(p.evaluate(input(null, { waivers: [waiver({ repo: 'acme/model', rule: 'repositories' })] })).verdict).toBe('allow');
  });
});
