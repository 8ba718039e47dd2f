/**
 * Builds the study from a store the crawler filled (tables `repositories`, `repo_files`,
 * `scans`). Every number is computed by the database (see sql.ts); Node receives counts and the
 * capped lists, and reads report JSON only for the few findings it shows by name.
 *
 * All queries run in one transaction so that the numbers agree with each other while workers
 * keep writing (REPEATABLE READ on PostgreSQL; on SQLite in WAL mode a transaction sees one
 * snapshot until it writes, and it writes only to its temporary tables). It is not declared
 * read-only because PostgreSQL refuses temporary tables in read-only transactions; nothing
 * but the temporary tables is ever written.
 */
import { sql } from 'kysely';
import { SEVERITIES } from '../core/findings.js';
import { packageVersion } from '../core/package.js';
import { engineKeyOf } from '../scan/engine-key.js';
import { Engine } from '../scan/engine.js';
import type { SqlDialect } from '../store/db.js';
import { isStoreError } from '../store/errors.js';
import { CorruptData, StudyQueries, type Db, type WithScan } from './queries.js';
import {
  DEFAULT_STUDY_OPTIONS,
  MAX_LIST_LIMIT,
  STUDY_SCHEMA,
  type Capped,
  type ComparisonRow,
  type Study,
  type StudyOptions,
  type StudyErrorKind,
  type StudyResult,
  type TopFinding,
  type WorstRepositoryRow,
} from './types.js';

export { DEFAULT_STUDY_OPTIONS, MAX_LIST_LIMIT } from './types.js';

/** What the store must provide; SqlStore does. */
export interface StudySource {
  readonly db: Db;
  readonly dialect: SqlDialect;
}

export interface BuildStudyOptions extends Partial<StudyOptions> {
  title?: string;
  /** Fixed time for reproducible output (tests); default now. */
  now?: Date;
}

function currentEngineKey(): string {
  return engineKeyOf(new Engine().info);
}

function checkOptions(o: StudyOptions): string | null {
  if (!SEVERITIES.includes(o.threshold)) return `threshold must be one of ${SEVERITIES.join(', ')}`;
  if (o.hubLevel !== 'unsafe' && o.hubLevel !== 'caution') return 'hub level must be unsafe or caution';
  if (!Number.isInteger(o.limit) || o.limit < 0 || o.limit > MAX_LIST_LIMIT) return `limit must be an integer from 0 to ${MAX_LIST_LIMIT}`;
  if (!Number.isInteger(o.top) || o.top < 1 || o.top > MAX_LIST_LIMIT) return `top must be an integer from 1 to ${MAX_LIST_LIMIT}`;
  return null;
}

/** Fills in each row's top finding and drops the internal scan id. */
function withTop<T extends object>(rows: ReadonlyArray<WithScan<T>>, tops: Map<string, TopFinding>, set: (row: T, top: TopFinding | null) => T): T[] {
  return rows.map((r) => {
    const { scanId, ...rest } = r;
    return set(rest as unknown as T, scanId === null ? null : (tops.get(scanId) ?? null));
  });
}

async function compute(db: Db, dialect: SqlDialect, opts: StudyOptions, title: string | undefined, now: Date): Promise<Study> {
  const q = new StudyQueries(db, dialect, opts);
  await q.prepare();
  try {
    return await computeWith(q, dialect, opts, title, now);
  } finally {
    await q.cleanup();
  }
}

async function computeWith(q: StudyQueries, dialect: SqlDialect, opts: StudyOptions, title: string | undefined, now: Date): Promise<Study> {
  const engineKey = currentEngineKey();
  const crawl = await q.crawl();
  const files = await q.files();
  const formats = await q.formats();
  const severity = await q.severity();
  const kinds = await q.kinds();
  const dangerousGlobals = await q.dangerousGlobals();
  const remoteCode = await q.remoteCode();
  const hub = await q.hub();
  const worst = await q.worstRepositories();
  const engines = await q.engines(engineKey);
  const errors = await q.errors();

  const ids = [...hub.oursOnly.rows, ...hub.hubOnly.rows, ...hub.notScanned.rows, ...worst.rows].map((r) => r.scanId).filter((x): x is string => x !== null);
  const tops = await q.topFindings(ids);
  const cmpRows = (c: Capped<WithScan<ComparisonRow>>): Capped<ComparisonRow> => ({
    total: c.total,
    rows: withTop<ComparisonRow>(c.rows, tops, (row, top) => ({ ...row, ours: { ...row.ours, top } })),
  });

  return {
    schema: STUDY_SCHEMA,
    title: title ?? `Model security study: ${crawl.repositories.toLocaleString('en-US')} repositories, ${files.total.toLocaleString('en-US')} files`,
    generatedAt: now.toISOString(),
    generator: { name: 'modelgate', version: packageVersion(), engineKey },
    options: opts,
    store: { dialect },
    crawl,
    files,
    formats,
    severity,
    kinds,
    dangerousGlobals,
    remoteCode,
    hub: { ...hub, oursOnly: cmpRows(hub.oursOnly), hubOnly: cmpRows(hub.hubOnly), notScanned: cmpRows(hub.notScanned) },
    worstRepositories: { total: worst.total, rows: withTop<WorstRepositoryRow>(worst.rows, tops, (row, top) => ({ ...row, top })) },
    engines,
    errors,
  };
}

/** Missing crawl tables are a usage problem (wrong store, or no crawl yet), not a crash. */
async function hasCrawlTables(db: Db): Promise<boolean> {
  try {
    await sql`select 1 from repositories where 1 = 0`.execute(db);
    await sql`select 1 from repo_files where 1 = 0`.execute(db);
    return true;
  } catch {
    return false;
  }
}

function describe(e: unknown): { kind: StudyErrorKind; message: string } {
  if (e instanceof CorruptData) return { kind: 'corrupt', message: e.message };
  if (isStoreError(e)) return { kind: e.kind === 'unavailable' ? 'unavailable' : e.kind === 'corrupt' ? 'corrupt' : 'internal', message: e.message };
  const code = typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : '';
  const msg = e instanceof Error ? e.message : String(e);
  if (/^(ECONN|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|57P0|08|28|3D000|SQLITE_CANTOPEN|SQLITE_NOTADB)/.test(code) || /timeout exceeded when trying to connect/i.test(msg)) {
    return { kind: 'unavailable', message: `database unavailable: ${msg}` };
  }
  if (/malformed JSON|invalid input syntax for type json|unsupported Unicode escape/i.test(msg)) return { kind: 'corrupt', message: `a stored report or hub status is not valid JSON: ${msg}` };
  return { kind: 'internal', message: msg };
}

export async function buildStudy(store: StudySource, options: BuildStudyOptions = {}): Promise<StudyResult> {
  const opts: StudyOptions = {
    threshold: options.threshold ?? DEFAULT_STUDY_OPTIONS.threshold,
    hubLevel: options.hubLevel ?? DEFAULT_STUDY_OPTIONS.hubLevel,
    limit: options.limit ?? DEFAULT_STUDY_OPTIONS.limit,
    top: options.top ?? DEFAULT_STUDY_OPTIONS.top,
  };
  const bad = checkOptions(opts);
  if (bad !== null) return { ok: false, error: { kind: 'invalid', message: bad } };
  const now = options.now ?? new Date();
  try {
    await sql`select 1`.execute(store.db);
  } catch (e) {
    const d = describe(e);
    return { ok: false, error: d.kind === 'internal' ? { kind: 'unavailable', message: d.message } : d };
  }
  try {
    if (!(await hasCrawlTables(store.db))) {
      return { ok: false, error: { kind: 'schema', message: 'the store has no crawl results (tables repositories and repo_files): run `modelgate crawl` and `modelgate worker` against it first' } };
    }
    const study =
      store.dialect === 'postgres'
        ? await store.db.transaction().setIsolationLevel('repeatable read').execute((trx) => compute(trx, store.dialect, opts, options.title, now))
        : await store.db.transaction().execute((trx) => compute(trx, store.dialect, opts, options.title, now));
    return { ok: true, study };
  } catch (e) {
    return { ok: false, error: describe(e) };
  }
}
