/**
 * An audit record as a row of the `audit` table, checked on the way in. One function for every
 * writer (appendAudit, and the exposure records written in the same transaction as their
 * exposure), so a record reads the same whoever wrote it.
 */
import type { Insertable } from 'kysely';
import type { AuditTable } from './db.js';
import { StoreError } from './errors.js';
import { iso } from './policy-history.js';
import type { AuditRecord, AuditVerdict, FileMeta } from './types.js';

const VERDICTS: readonly AuditVerdict[] = ['allow', 'warn', 'block', 'error'];
const REPO_TYPES: readonly FileMeta['repoType'][] = ['model', 'dataset'];

function oneOf<T extends string>(allowed: readonly T[], value: string, what: string): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new StoreError('invalid', `${what}: unexpected value ${JSON.stringify(value)}`);
}

export function auditRow(rec: AuditRecord): Insertable<AuditTable> {
  return {
    time: iso(rec.time, 'audit.time'),
    request_id: rec.requestId,
    client: rec.client,
    client_group: rec.group,
    method: rec.method,
    repo_type: oneOf(REPO_TYPES, rec.repoType, 'audit.repoType'),
    repo: rec.repo,
    revision: rec.revision,
    commit: rec.commit,
    path: rec.path,
    sha256: rec.sha256,
    verdict: oneOf(VERDICTS, rec.verdict, 'audit.verdict'),
    rules: JSON.stringify(rec.rules),
    findings: JSON.stringify(rec.findings),
    waivers: JSON.stringify(rec.waivers),
    upstream_status: rec.upstreamStatus,
    scan_id: rec.scanId,
    policy_version: rec.policyVersion,
    message: rec.message,
    client_libraries: rec.clientLibraries && Object.keys(rec.clientLibraries).length > 0 ? JSON.stringify(rec.clientLibraries) : null,
  };
}
