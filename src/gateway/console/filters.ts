/**
 * The activity page's filters, read from the query string. Shared by the page and the exports
 * so a download contains exactly what the page shows. A bare date (`2026-03-01`, what a date
 * input sends) means that whole UTC day: `since` from its start, `until` up to its end.
 */
import type { AuditQuery, AuditVerdict } from '../../store/types.js';

export const VERDICTS: readonly AuditVerdict[] = ['allow', 'warn', 'block', 'error'];
export const PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

export interface ActivityFilters {
  verdict?: AuditVerdict;
  repo?: string;
  client?: string;
  rule?: string;
  sha256?: string;
  since?: string;
  until?: string;
}

/** What the form shows back (the raw text the operator typed). */
export type FilterEcho = Record<keyof ActivityFilters, string>;

export type Parsed = { ok: true; filters: ActivityFilters; query: AuditQuery; echo: FilterEcho; before?: number; after?: number; limit: number } | { ok: false; error: string; echo: FilterEcho };

const DAY = /^\d{4}-\d{2}-\d{2}$/;

function time(v: string, end: boolean): string | null {
  if (DAY.test(v)) {
    const d = new Date(`${v}T00:00:00.000Z`);
    if (Number.isNaN(d.getTime())) return null;
    if (end) d.setUTCDate(d.getUTCDate() + 1);
    return d.toISOString();
  }
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

export function parseFilters(raw: Record<string, unknown>): Parsed {
  const str = (k: string): string => {
    const v = raw[k];
    return typeof v === 'string' ? v.trim().slice(0, 500) : '';
  };
  const echo: FilterEcho = { verdict: str('verdict'), repo: str('repo'), client: str('client'), rule: str('rule'), sha256: str('sha256'), since: str('since'), until: str('until') };
  const filters: ActivityFilters = {};
  if (echo.verdict) {
    if (!(VERDICTS as readonly string[]).includes(echo.verdict)) return { ok: false, error: 'verdict must be allow, warn, block or error', echo };
    filters.verdict = echo.verdict as AuditVerdict;
  }
  if (echo.repo) filters.repo = echo.repo;
  if (echo.client) filters.client = echo.client;
  if (echo.rule) filters.rule = echo.rule;
  if (echo.sha256) {
    if (!/^[0-9a-f]{64}$/.test(echo.sha256)) return { ok: false, error: 'sha256 must be 64 lowercase hex digits', echo };
    filters.sha256 = echo.sha256;
  }
  for (const k of ['since', 'until'] as const) {
    if (!echo[k]) continue;
    const t = time(echo[k], k === 'until');
    if (!t) return { ok: false, error: `${k} must be a date (YYYY-MM-DD) or an ISO-8601 time`, echo };
    filters[k] = t;
  }
  const cursor: { before?: number; after?: number } = {};
  for (const k of ['before', 'after'] as const) {
    const b = str(k);
    if (!b) continue;
    const n = Number(b);
    if (!Number.isSafeInteger(n) || n < 0) return { ok: false, error: `${k} must be an audit id`, echo };
    cursor[k] = n;
  }
  if (cursor.before !== undefined && cursor.after !== undefined) return { ok: false, error: 'give before or after, not both', echo };
  let limit = PAGE_SIZE;
  const l = str('limit');
  if (l) {
    const n = Number(l);
    if (!Number.isSafeInteger(n) || n < 1 || n > MAX_PAGE_SIZE) return { ok: false, error: `limit must be between 1 and ${MAX_PAGE_SIZE}`, echo };
    limit = n;
  }
  return { ok: true, filters, query: { ...filters }, echo, ...cursor, limit };
}
