/**
 * Formats we recognise by their bytes but do not analyse (yet). They are reported as
 * FORMAT_NOT_ANALYSED — unscannable, never clean — so a policy can block or warn on them.
 */
import type { FormatId } from './catalogue.js';
import type { Analyzer, SniffInput } from './types.js';

interface Magic {
  format: FormatId;
  label: string;
  test(input: SniffInput): boolean;
}

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const at = (b: Uint8Array, off: number, sig: Uint8Array) => b.length >= off + sig.length && sig.every((x, i) => b[off + i] === x);

const MAGICS: Magic[] = [
  { format: '7z', label: '7-Zip archive', test: (i) => at(i.head, 0, Uint8Array.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])) },
  { format: 'rar', label: 'RAR archive', test: (i) => at(i.head, 0, ascii('Rar!\x1a\x07')) },
];

export const recognisedAnalyzer: Analyzer = {
  id: 'recognised',
  version: '1',
  description: 'recognises 7z and RAR, which are reported as not analysed',
  sniff(input) {
    for (const m of MAGICS) if (m.test(input)) return { format: m.format, confidence: 0.8, hint: { label: m.label } };
    return null;
  },
  async analyze(_source, ctx, claim) {
    const label = String(claim.hint?.['label'] ?? claim.format);
    ctx.emit({
      rule: 'FORMAT_NOT_ANALYSED',
      message: `${label} recognised but not analysed by this version: treat as unscanned`,
      evidence: { details: { format: claim.format } },
    });
  },
};
