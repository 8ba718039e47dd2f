/** The Keras version a file was saved with, as a fact, and the loader CVEs of that version line. */
import type { AnalysisContext } from '../types.js';
import { cvesForVersion, type KerasRules } from './rules.js';
import type { KerasFormat } from './config.js';

export function reportKerasVersion(ctx: AnalysisContext, rules: KerasRules, version: string | null, format: KerasFormat): void {
  if (version === null || version.trim() === '') return;
  const v = version.trim().slice(0, 64);
  ctx.fact('keras.version', v);
  const cves = cvesForVersion(rules, v, format);
  // The saving version hints at the loader version in use where the file was made; it is not
  // the loader that will read it, so this is context, not a finding.
  if (cves.length) ctx.fact('keras.version_cves', cves.map((c) => `${c.id}: ${c.reason}`));
}
