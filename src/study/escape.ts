/**
 * HTML escaping for the study page. Repository ids, paths, globals, messages and the hub's
 * levels all come from outside; besides the five HTML metacharacters, control characters and
 * bidirectional overrides are made visible (`<U+202E>`) so a name cannot reorder what a
 * reviewer reads.
 */
import { visible } from '../report/shared.js';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(s: string): string {
  return visible(s).replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}
