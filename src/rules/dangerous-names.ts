/**
 * Short names of the callables the globals catalogue calls dangerous. A pickle's `__main__.X`
 * names whatever the LOADING script defines as X, which the file cannot choose: a script that did
 * `from subprocess import Popen` or `from os import system` hands the file a shell under that
 * name. So a `__main__` name is only as harmless as the name itself: it must not be the name of
 * anything a dangerous module defines (per the generated facts: classes, functions, other
 * objects), nor the last segment of a dangerous entry or of a reaches fact.
 */
import type { DangerRule } from './globals.js';
import type { GlobalFacts } from './globals-facts.js';

export class DangerousNames {
  private readonly cache = new Map<string, boolean>();
  private readonly lastSegments = new Set<string>();

  constructor(
    private readonly dangerous: readonly DangerRule[],
    reachPaths: Iterable<string>,
    private readonly facts: GlobalFacts,
  ) {
    for (const d of dangerous) this.lastSegments.add(d.match.slice(d.match.lastIndexOf('.') + 1));
    for (const p of reachPaths) this.lastSegments.add(p.slice(p.lastIndexOf('.') + 1));
  }

  /**
   * True when some module the catalogue calls dangerous defines `name`. Without generated facts
   * nothing can be ruled out, so every name counts as dangerous (fail closed).
   */
  has(name: string): boolean {
    const hit = this.cache.get(name);
    if (hit !== undefined) return hit;
    const known = this.facts.moduleAliasCount > 0 || this.facts.reaches.length > 0;
    const r = !known || this.lastSegments.has(name) || this.dangerous.some((d) => this.facts.kind(`${d.match}.${name}`) !== undefined);
    if (this.cache.size < 10_000) this.cache.set(name, r);
    return r;
  }
}
