/**
 * Formats we recognise by their bytes but do not analyse (yet). They are reported as
 * FORMAT_NOT_ANALYSED — unscannable, never clean — so a policy can block or warn on them.
 */
import type { Analyzer, SniffInput } from './types.js';

interface Magic {
  format: string;
  label: string;
  test(input: SniffInput): boolean;
}

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const at = (b: Uint8Array, off: number, sig: Uint8Array) => b.length >= off + sig.length && sig.every((x, i) => b[off + i] === x);

const MAGICS: Magic[] = [
  { format: 'hdf5', label: 'HDF5 (Keras .h5)', test: (i) => at(i.head, 0, Uint8Array.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a])) },
  { format: 'gguf', label: 'GGUF', test: (i) => at(i.head, 0, ascii('GGUF')) },
  { format: 'tflite', label: 'TensorFlow Lite', test: (i) => at(i.head, 4, ascii('TFL3')) },
  { format: '7z', label: '7-Zip archive', test: (i) => at(i.head, 0, Uint8Array.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])) },
  { format: 'rar', label: 'RAR archive', test: (i) => at(i.head, 0, ascii('Rar!\x1a\x07')) },
  { format: 'elf', label: 'ELF executable', test: (i) => at(i.head, 0, ascii('\x7fELF')) },
  { format: 'pe', label: 'Windows PE executable', test: (i) => at(i.head, 0, ascii('MZ')) && i.head.length > 64 },
  {
    format: 'macho',
    label: 'Mach-O executable',
    test: (i) => [0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe].some((m) => at(i.head, 0, Uint8Array.from([(m >>> 24) & 255, (m >>> 16) & 255, (m >>> 8) & 255, m & 255]))),
  },
  { format: 'script', label: 'script with a shebang', test: (i) => at(i.head, 0, ascii('#!')) },
];

export const recognisedAnalyzer: Analyzer = {
  id: 'recognised',
  version: '1',
  description: 'recognises HDF5, GGUF, TFLite, 7z, RAR, executables and scripts, which are reported as not analysed',
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
