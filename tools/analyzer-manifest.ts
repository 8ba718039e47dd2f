/**
 * Refreshes src/scan/analyzer-sources.json, the record of each analyzer's version and source hash
 * that test/scan/analyzer-versions.test.ts checks. It refuses to record changed code under an
 * unchanged version: bump the analyzer's `version` (so cached verdicts are redone), or name the
 * analyzer with `--same-version ID` when the change cannot alter a verdict (a comment, a rename).
 *
 *   npx tsx tools/analyzer-manifest.ts [--same-version ID ...]
 */
import { existsSync, writeFileSync } from 'node:fs';
import { currentAnalyzers, MANIFEST, readManifest, type Manifest } from '../test/helpers/analyzer-sources.js';

const args = process.argv.slice(2);
const same = new Set<string>();
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--same-version' && args[i + 1]) same.add(args[++i]!);
  else {
    console.error(`usage: npx tsx tools/analyzer-manifest.ts [--same-version ID ...] (unknown argument ${args[i]})`);
    process.exit(2);
  }
}

const recorded: Manifest = existsSync(MANIFEST) ? readManifest() : {};
const current = await currentAnalyzers();
const refused: string[] = [];
for (const [id, now] of Object.entries(current)) {
  const was = recorded[id];
  if (was && was.sources !== now.sources && was.version === now.version && !same.has(id)) refused.push(id);
}
if (refused.length) {
  for (const id of refused) console.error(`${id}: code changed under version ${current[id]!.version}; bump its version, or pass --same-version ${id} if no verdict can change`);
  process.exit(1);
}
const sorted = Object.fromEntries(Object.entries(current).sort(([a], [b]) => (a < b ? -1 : 1)));
writeFileSync(MANIFEST, JSON.stringify(sorted, null, 2) + '\n');
console.log(`wrote ${MANIFEST}: ${Object.keys(sorted).length} analyzers`);
