import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ManifestEntry {
  file: string;
  kind: 'benign' | 'malicious' | 'anomaly' | 'bad-input';
  technique: string;
  description: string;
  made_by: string;
  expect: { globals: string[]; rules: string[] };
  pending?: string;
  imports?: string[];
  imports_canonical?: string[];
}

export const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures');

export function manifest(): ManifestEntry[] {
  return JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as ManifestEntry[];
}
