/**
 * The one key scans are stored under, by the gateway and the crawler alike: a stored verdict is
 * reused only while everything that produced it is unchanged, namely the scanner version, each
 * analyzer's version (test/scan/analyzer-versions.test.ts fails when an analyzer's code changes
 * without it), the globals catalogue, and the content of every file under rules/ (catalogues,
 * op lists, template rules, and any data file added later, hashed generically).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../core/package.js';
import type { EngineInfo } from './report.js';

const digests = new Map<string, string>();

/**
 * sha256 over the relative path and bytes of every file under `dir` (recursively, sorted), so an
 * edit, an addition, a removal or a rename changes it. Read once per process and directory:
 * rules take effect at start-up, as the analyzers load them then.
 */
export function rulesDigest(dir = join(packageRoot(), 'rules')): string {
  const known = digests.get(dir);
  if (known !== undefined) return known;
  const h = createHash('sha256');
  for (const rel of filesUnder(dir, '')) {
    const bytes = readFileSync(join(dir, rel));
    h.update(`${rel}\0${bytes.length}\0`).update(bytes);
  }
  const digest = h.digest('hex');
  digests.set(dir, digest);
  return digest;
}

function filesUnder(dir: string, prefix: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...filesUnder(dir, rel));
    else if (e.isFile()) out.push(rel);
  }
  return out.sort();
}

export function engineKeyOf(info: Pick<EngineInfo, 'version' | 'rulesVersion' | 'analyzers'>, rules: string = rulesDigest()): string {
  const h = createHash('sha256').update(JSON.stringify([info.version, info.rulesVersion, rules, Object.entries(info.analyzers).sort()])).digest('hex');
  return `${info.version}+${h.slice(0, 12)}`;
}
