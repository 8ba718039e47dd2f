import type { Analyzer } from '../types.js';
import { scanPickleStream } from './stream.js';
import { pickleConfidence, startsWith, TORCH_LEGACY_MAGIC } from './sniff.js';

/**
 * Raw pickles, legacy (non-zip) PyTorch files and joblib dumps: all are pickle streams; they
 * differ in how many pickles the loader reads and what follows them.
 */
export const pickleAnalyzer: Analyzer = {
  id: 'pickle',
  version: '7',
  description: 'pickle protocols 0-5 (also dill, cloudpickle, joblib dumps, legacy PyTorch stacked pickles)',
  sniff(input) {
    if (startsWith(input.head, TORCH_LEGACY_MAGIC)) return { format: 'pytorch-legacy', confidence: 0.95 };
    const c = pickleConfidence(input.head);
    return c > 0 ? { format: 'pickle', confidence: c } : null;
  },
  async analyze(source, ctx, claim) {
    if (claim.format === 'pytorch-legacy') {
      // torch.load's legacy path: magic, protocol, sys_info, the object, storage keys; then raw storages.
      const s = await scanPickleStream(source, ctx, 0, { maxPickles: 5, dataAfter: 'tensor storages' });
      ctx.fact('pickle.count', s.pickles);
      return;
    }
    const s = await scanPickleStream(source, ctx, 0);
    ctx.fact('pickle.count', s.pickles);
    if (s.protocols.length) ctx.fact('pickle.protocol', s.protocols[0]!);
    if (s.joblibArrays > 0) ctx.fact('format.detail', 'joblib');
  },
};
