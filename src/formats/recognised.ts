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
  { format: 'rar', label: 'RAR archive', test: (i) => at(i.head, 0, ascii('Rar!\x1a\x07')) },
];

export const recognisedAnalyzer: Analyzer = {
  id: 'recognised',
  version: '2',
  description: 'recognises RAR, which is reported as not analysed (7z has its own analyzer)',
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
