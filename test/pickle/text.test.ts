import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isDottedIdentifier } from '../../src/pickle/text.js';

// Python's identifier classes, as isDottedIdentifier's full pattern writes them. The function
// answers pure-ASCII strings without this pattern (it is costly to compile), which is only right
// if its ASCII answers are this pattern's.
const UNICODE_IDENT = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*(\.[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*)*$/u;
const reference = (s: string) => s.length > 0 && s.length <= 1024 && UNICODE_IDENT.test(s);

describe('isDottedIdentifier', () => {
  it('answers every one- and two-character ASCII string as the Unicode pattern does', () => {
    for (let a = 0; a < 128; a++) {
      const one = String.fromCharCode(a);
      expect(isDottedIdentifier(one), JSON.stringify(one)).toBe(reference(one));
      for (let b = 0; b < 128; b++) {
        const two = one + String.fromCharCode(b);
        expect(isDottedIdentifier(two), JSON.stringify(two)).toBe(reference(two));
      }
    }
  });

  it('answers random ASCII and Unicode strings as the Unicode pattern does', () => {
    const ascii = fc.string({ unit: fc.constantFrom(...'aZ_9.-$ \u0000'.split('')), maxLength: 12 });
    const unicode = fc.string({ unit: fc.constantFrom(...'a_1.\u00e9\u0660\u2160\u0301\u203f\u00b7 \u4e2d'.split('')), maxLength: 12 });
    fc.assert(fc.property(fc.oneof(ascii, unicode, fc.string({ unit: 'grapheme', maxLength: 12 })), (s) => isDottedIdentifier(s) === reference(s)), { numRuns: 3000 });
  });

  it('accepts names beyond ASCII that Python accepts and refuses the rest', () => {
    expect(isDottedIdentifier('módulo.função')).toBe(true);
    expect(isDottedIdentifier('模块.名字')).toBe(true);
    expect(isDottedIdentifier('x\u0301')).toBe(true); // combining mark after a letter
    expect(isDottedIdentifier('\u0301x')).toBe(false); // not at the start
    expect(isDottedIdentifier('a.·b')).toBe(false);
    expect(isDottedIdentifier('a' + 'b'.repeat(1024))).toBe(false);
  });
});
