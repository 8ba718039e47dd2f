/** Refusal and warning text: one ASCII line, the reason first, the report link always kept. */
import { describe, expect, it } from 'vitest';
import { MAX_MESSAGE_LENGTH, asciiLine, defaultPolicy, parsePolicy, refusalMessage, warningMessage } from '../../src/policy/index.js';
import type { Decision } from '../../src/policy/types.js';
import { TORCH, TORCH_REASON, TRUNCATED, file, input } from './helpers.js';

const URL = 'http://gateway:8080/reports/r1a2b3';

describe('refusalMessage', () => {
  it('reads like the issue asks, with the worst finding as the headline', async () => {
    const d = defaultPolicy().evaluate(input(await file(TORCH, 'pytorch_model.bin')));
    expect(refusalMessage(d, 'pytorch_model.bin', URL)).toBe(`blocked by modelgate: ${TORCH_REASON}; see ${URL}`);
  });

  it('counts the other blocking reasons and leaves warnings out of the refusal', async () => {
    const p = parsePolicy('rules:\n  formats:\n    allow: [safetensors]\n  license:\n    action: warn\n    allow: [mit]\n');
    const d = p.evaluate(input(await file(TORCH, 'pytorch_model.bin')));
    expect(d.outcomes.map((o) => o.action)).toEqual(['block', 'block', 'warn']);
    expect(refusalMessage(d, 'pytorch_model.bin', URL)).toBe(`blocked by modelgate: ${TORCH_REASON} (+1 more); see ${URL}`);
  });

  it('without a report link, or without reasons, still says what was refused', () => {
    const bare: Decision = { verdict: 'block', outcomes: [], waived: [], policyVersion: 'x' };
    expect(refusalMessage(bare, 'model.bin', null)).toBe('blocked by modelgate: model.bin is not allowed by the policy');
  });

  it('is printable ASCII on one line: member chains, accents, CR/LF and other characters are replaced', () => {
    const d: Decision = {
      verdict: 'block',
      outcomes: [{ rule: 'scan-severity', action: 'block', reason: 'modèle.bin › archive/données.pkl calls os.system\r\nX-Injected: 1 \u{1F600} 模型 (critical, rule scan-severity)' }],
      waived: [],
      policyVersion: 'x',
    };
    const msg = refusalMessage(d, 'modèle.bin', URL);
    expect(msg).toBe(`blocked by modelgate: modele.bin > archive/donnees.pkl calls os.system X-Injected: 1 ?? ?? (critical, rule scan-severity); see ${URL}`);
    expect(msg).toMatch(/^[\x20-\x7e]+$/);
  });

  it('is capped, shortening the reason and keeping the link', () => {
    const d: Decision = { verdict: 'block', outcomes: [{ rule: 'scan-severity', action: 'block', reason: `model.pkl calls ${'x'.repeat(5000)}` }], waived: [], policyVersion: 'x' };
    const msg = refusalMessage(d, 'model.pkl', URL);
    expect(msg.length).toBe(MAX_MESSAGE_LENGTH);
    expect(msg.endsWith(`...; see ${URL}`)).toBe(true);
    expect(msg.startsWith('blocked by modelgate: model.pkl calls xxx')).toBe(true);
  });
});

describe('warningMessage', () => {
  it('is `modelgate; <reason>; see <url>` for X-HF-Warning', async () => {
    const d = parsePolicy('rules:\n  scan-severity:\n    block: high\n').evaluate(input(await file(TRUNCATED, 'model.pkl')));
    expect(d.verdict).toBe('warn');
    expect(warningMessage(d, 'model.pkl', URL)).toBe(`modelgate; model.pkl: pickle data was truncated (medium, rule scan-severity); see ${URL}`);
  });
});

describe('asciiLine', () => {
  it('folds typographic punctuation and drops control characters', () => {
    expect(asciiLine('“quoted” ‘x’ – y — z\ttab\u0000nul')).toBe('"quoted" \'x\' - y - z tab?nul');
  });
});
