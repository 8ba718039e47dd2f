/** Real scan reports of the fixture corpus, and inputs for the policy built around them. */
import { join } from 'node:path';
import { scanFile } from '../../src/index.js';
import type { FileReport } from '../../src/scan/report.js';
import type { FileFacts, PolicyInput, RepoFacts } from '../../src/policy/types.js';
import type { Waiver } from '../../src/store/types.js';
import { FIXTURES } from '../helpers/manifest.js';

const cache = new Map<string, Promise<FileReport>>();

/** The engine's report of a fixture (relative to fixtures/), hashed like the gateway hashes. */
export function report(fixture: string): Promise<FileReport> {
  let r = cache.get(fixture);
  if (!r) {
    r = scanFile(join(FIXTURES, fixture), { hash: true }).then((s) => s.files[0]!);
    cache.set(fixture, r);
  }
  return r;
}

/** A file as the gateway knows it: its path in the repository, not where the bytes were read. */
export async function file(fixture: string, path: string): Promise<FileFacts> {
  const r = await report(fixture);
  return { path, sha256: r.sha256 ?? null, size: r.size, report: r };
}

export const NOW = new Date('2025-06-15T12:00:00Z');
export const COMMIT = '0e9e39f249a16976918f6564b8830bc894c89659';

export function repo(over: Partial<RepoFacts> = {}): RepoFacts {
  return { type: 'model', id: 'acme/model', revision: 'main', commit: COMMIT, ...over };
}

export function input(f: FileFacts | null, over: Partial<PolicyInput> = {}): PolicyInput {
  return { repo: repo(), file: f, group: 'default', now: NOW, waivers: [], ...over };
}

export function waiver(over: Partial<Waiver>): Waiver {
  return {
    id: 'w1',
    repo: null,
    sha256: null,
    rule: null,
    reason: 'reviewed',
    author: 'sec@acme',
    createdAt: '2025-06-01T00:00:00Z',
    expiresAt: '2025-07-01T00:00:00Z',
    revokedAt: null,
    ...over,
  };
}

export const TORCH = 'malicious/torch_zip_reduce.pt';
export const SAFETENSORS = 'benign/model.safetensors';
export const TRUNCATED = 'anomalies/truncated_no_stop.pkl';
export const TRAILING = 'anomalies/trailing_bytes_after_stop.pkl';
export const ENCRYPTED = 'malicious/zip_encrypted_zipcrypto.zip';
export const NESTED = 'bad-input/zip_nested_12_levels.zip';
export const CONFIG_TEXT = 'bad-input/config.json';
export const REMOTE_CONFIG = 'malicious/repo_remote_code/config.json';
export const BENIGN_TORCH = 'benign/pytorch_model.bin';
export const NULLIFAI = 'malicious/nullifai_payload_then_invalid_opcode.pkl';

export const TORCH_REASON = 'pytorch_model.bin calls os.system (critical, rule scan-severity)';
