/**
 * Row <-> record mapping shared by the store's modules: every value read back is checked (a
 * stored verdict, role or JSON column of the wrong shape is 'corrupt', never trusted), and every
 * time written is normalised ISO-8601 UTC text.
 */
import type { Selectable } from 'kysely';
import { SEVERITIES, type Severity } from '../core/findings.js';
import type { FileReport } from '../scan/report.js';
import type { AuditTable, FileMetaTable, ScansTable, TokensTable, WaiversTable } from './db.js';
import { StoreError } from './errors.js';
import type { AuditRecord, AuditVerdict, FileMeta, StoredScan, TokenRecord, TokenRole, Waiver } from './types.js';

export const VERDICTS: readonly AuditVerdict[] = ['allow', 'warn', 'block', 'error'];
export const REPO_TYPES: readonly FileMeta['repoType'][] = ['model', 'dataset'];
export const ROLES: readonly TokenRole[] = ['admin', 'client'];
export const SHA256_RE = /^[0-9a-f]{64}$/;

/**
 * Times are stored as ISO-8601 UTC text with milliseconds (`toISOString()`), so that text
 * comparison is time comparison in both databases; any other accepted spelling is normalised.
 */
export function normTime(value: string, field: string): string {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new StoreError('invalid', `${field}: not a date/time: ${JSON.stringify(value)}`);
  return d.toISOString();
}

export function normTimeOrNull(value: string | null, field: string): string | null {
  return value === null ? null : normTime(value, field);
}

export function oneOf<T extends string>(allowed: readonly T[], value: string, what: string, kind: 'invalid' | 'corrupt'): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new StoreError(kind, `${what}: unexpected value ${JSON.stringify(value)}`);
}

export function toNumber(v: number | string, what: string): number {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isSafeInteger(n)) throw new StoreError('corrupt', `${what}: not a safe integer: ${String(v)}`);
  return n;
}

export function parseJson<T>(text: string, what: string, check: (v: unknown) => boolean): T {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new StoreError('corrupt', `${what}: stored JSON does not parse`, { cause: e });
  }
  if (!check(v)) throw new StoreError('corrupt', `${what}: stored JSON has the wrong shape`);
  return v as T;
}

export const isArray = (v: unknown): boolean => Array.isArray(v);
export const isObject = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v);
export const isReport = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && Array.isArray((v as { findings?: unknown }).findings);

export function severityOrNull(v: string | null, what: string): Severity | null {
  return v === null ? null : oneOf(SEVERITIES, v, what, 'corrupt');
}

export function rowToScan(r: Selectable<ScansTable>): StoredScan {
  return {
    id: r.id,
    sha256: r.sha256,
    engineKey: r.engine_key,
    report: parseJson<FileReport>(r.report, `scan ${r.id} report`, isReport),
    maxSeverity: severityOrNull(r.max_severity, `scan ${r.id} max_severity`),
    complete: r.complete !== 0,
    createdAt: r.created_at,
  };
}

export function rowToFileMeta(r: Selectable<FileMetaTable>): FileMeta {
  return {
    repoType: oneOf(REPO_TYPES, r.repo_type, 'file_meta.repo_type', 'corrupt'),
    repo: r.repo,
    commit: r.commit,
    path: r.path,
    size: toNumber(r.size, 'file_meta.size'),
    etag: r.etag,
    sha256: r.sha256,
    lfs: r.lfs !== 0,
    fetchedAt: r.fetched_at,
  };
}

export function rowToAudit(r: Selectable<AuditTable>): AuditRecord {
  const id = toNumber(r.id, 'audit.id');
  return {
    id,
    time: r.time,
    requestId: r.request_id,
    client: r.client,
    group: r.client_group,
    method: r.method,
    repoType: oneOf(REPO_TYPES, r.repo_type, `audit ${id} repo_type`, 'corrupt'),
    repo: r.repo,
    revision: r.revision,
    commit: r.commit,
    path: r.path,
    sha256: r.sha256,
    verdict: oneOf(VERDICTS, r.verdict, `audit ${id} verdict`, 'corrupt'),
    rules: parseJson<AuditRecord['rules']>(r.rules, `audit ${id} rules`, isArray),
    findings: parseJson<AuditRecord['findings']>(r.findings, `audit ${id} findings`, isArray),
    waivers: parseJson<string[]>(r.waivers, `audit ${id} waivers`, isArray),
    upstreamStatus: r.upstream_status,
    scanId: r.scan_id,
    policyVersion: r.policy_version,
    message: r.message,
    ...(r.client_libraries === null ? {} : { clientLibraries: parseJson<Record<string, string>>(r.client_libraries, `audit ${id} client_libraries`, isObject) }),
  };
}

export function rowToWaiver(r: Selectable<WaiversTable>): Waiver {
  return {
    id: r.id,
    repo: r.repo,
    sha256: r.sha256,
    rule: r.rule,
    reason: r.reason,
    author: r.author,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
  };
}

export function rowToToken(r: Selectable<TokensTable>): TokenRecord {
  return {
    id: r.id,
    name: r.name,
    role: oneOf(ROLES, r.role, `token ${r.id} role`, 'corrupt'),
    group: r.client_group,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
  };
}

/** The audit row for a record (shared by appendAudit and the audited workflow changes). */
export function auditRow(rec: AuditRecord): Omit<Selectable<AuditTable>, 'id'> {
  return {
    time: normTime(rec.time, 'audit.time'),
    request_id: rec.requestId,
    client: rec.client,
    client_group: rec.group,
    method: rec.method,
    repo_type: oneOf(REPO_TYPES, rec.repoType, 'audit.repoType', 'invalid'),
    repo: rec.repo,
    revision: rec.revision,
    commit: rec.commit,
    path: rec.path,
    sha256: rec.sha256,
    verdict: oneOf(VERDICTS, rec.verdict, 'audit.verdict', 'invalid'),
    rules: JSON.stringify(rec.rules),
    findings: JSON.stringify(rec.findings),
    waivers: JSON.stringify(rec.waivers),
    upstream_status: rec.upstreamStatus,
    scan_id: rec.scanId,
    policy_version: rec.policyVersion,
    message: rec.message,
    client_libraries: rec.clientLibraries && Object.keys(rec.clientLibraries).length > 0 ? JSON.stringify(rec.clientLibraries) : null,
    ticket_hash: rec.ticketHash ?? null,
  };
}

/** A waiver's row, refused when it names no scope or a malformed sha256 ('invalid'). */
export function waiverRow(w: Waiver): Selectable<WaiversTable> {
  checkScope(`waiver ${w.id}`, w);
  return {
    id: w.id,
    repo: w.repo,
    sha256: w.sha256,
    rule: w.rule,
    reason: w.reason,
    author: w.author,
    created_at: normTime(w.createdAt, 'waiver.createdAt'),
    expires_at: normTime(w.expiresAt, 'waiver.expiresAt'),
    revoked_at: normTimeOrNull(w.revokedAt, 'waiver.revokedAt'),
  };
}

/** Waivers and requests for them name at least one of repo, sha256, rule. */
export function checkScope(what: string, s: { repo: string | null; sha256: string | null; rule: string | null }): void {
  const empty = (v: string | null): boolean => v === null || v.trim() === '';
  if (empty(s.repo) && empty(s.sha256) && empty(s.rule)) throw new StoreError('invalid', `${what}: set at least one of repo, sha256, rule`);
  if (s.sha256 !== null && !SHA256_RE.test(s.sha256)) throw new StoreError('invalid', `${what}: sha256 must be 64 lowercase hex digits`);
}
