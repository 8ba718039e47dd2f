import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTokenSecret, hashTokenSecret, looksLikeTokenSecret, verifyTokenSecret } from '../../src/store/tokens.js';

describe('token secrets', () => {
  it('are mg_ + 32 random bytes in base64url', () => {
    const a = createTokenSecret();
    const b = createTokenSecret();
    expect(a).toMatch(/^mg_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.slice(3), 'base64url')).toHaveLength(32);
    expect(a).not.toBe(b);
    expect(looksLikeTokenSecret(a)).toBe(true);
    expect(looksLikeTokenSecret('hf_abc')).toBe(false);
  });

  it('hash to sha256 hex and verify only the right secret', () => {
    const s = createTokenSecret();
    const h = hashTokenSecret(s);
    expect(h).toBe(createHash('sha256').update(s).digest('hex'));
    expect(verifyTokenSecret(s, h)).toBe(true);
    expect(verifyTokenSecret(createTokenSecret(), h)).toBe(false);
    expect(verifyTokenSecret(s, h.slice(0, 62))).toBe(false);
    expect(verifyTokenSecret(s, 'zz')).toBe(false);
    expect(verifyTokenSecret(s, '')).toBe(false);
  });
});
