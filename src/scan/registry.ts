/**
 * The analyzers the engine dispatches to. Order matters only for ties in sniff confidence.
 * Adding a format = one analyzer file + one line here.
 */
import type { Analyzer } from '../formats/types.js';
import { pickleAnalyzer } from '../formats/pickle/analyzer.js';
import { npyAnalyzer } from '../formats/npy.js';
import { recognisedAnalyzer } from '../formats/recognised.js';
import { safetensorsAnalyzer } from '../formats/safetensors.js';
import { zipAnalyzer } from '../formats/zip.js';
import { tarAnalyzer } from '../formats/tar.js';
import { compressedAnalyzers } from '../formats/compressed.js';

export const ANALYZERS: readonly Analyzer[] = [zipAnalyzer, tarAnalyzer, ...compressedAnalyzers, npyAnalyzer, safetensorsAnalyzer, pickleAnalyzer, recognisedAnalyzer];

export function analyzerVersions(list: readonly Analyzer[] = ANALYZERS): Record<string, string> {
  return Object.fromEntries(list.map((a) => [a.id, a.version]));
}
