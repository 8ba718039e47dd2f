/**
 * The study's queries, one method a section, over the working tables StudySql prepares. Counts
 * come from the database; values are checked as they arrive (a count that is not a safe integer
 * is corrupt data, not a number to print).
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { SEVERITIES, SEVERITY_RANK, type Severity } from '../core/findings.js';
import { RULES } from '../core/rules.js';
import type { Database, SqlDialect } from '../store/db.js';
import { RANK_NO_FILES, RANK_NOT_SCANNED, RANK_NONE, StudySql, sevRank } from './sql.js';
import {
  AGREEMENTS,
  SEVERITY_BUCKETS,
  type Agreement,
  type Capped,
  type ComparisonRow,
  type ErrorRow,
  type HubLevel,
  type HubState,
  type RemoteCodeRow,
  type SeverityBucket,
  type Study,
  type StudyOptions,
  type TopFinding,
  type WorstRepositoryRow,
} from './types.js';

const MAX_MESSAGE = 300;
const MAX_GLOBAL = 300;
/** Scan ids per query when fetching the findings shown by name (well under both databases' parameter limits). */
const ID_CHUNK = 500;

export type Db = Kysely<Database>;
type Row = Record<string, unknown>;

/** A value the database returned that cannot be what the schema says (a count that is not an integer). */
export class CorruptData extends Error {}

/** A listed row with the scan its top finding is read from (internal: not part of the schema). */
export type WithScan<T> = T & { scanId: string | null };
export type HubInternal = Omit<Study['hub'], 'oursOnly' | 'hubOnly' | 'notScanned'> & {
  oursOnly: Capped<WithScan<ComparisonRow>>;
  hubOnly: Capped<WithScan<ComparisonRow>>;
  notScanned: Capped<WithScan<ComparisonRow>>;
};

/** pg returns count()/sum() as strings (int8, numeric); SQLite as numbers. */
function num(v: unknown, what: string): number {
  if (v === null || v === undefined) return 0;
  const n = typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : Number(String(v));
  if (!Number.isSafeInteger(n)) throw new CorruptData(`${what}: not a safe integer: ${String(v)}`);
  return n;
}

function str(v: unknown): string {
  return v === null || v === undefined ? '' : String(v);
}

function strOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

const RANK_TO_SEVERITY = new Map<number, Severity>(SEVERITIES.map((s) => [SEVERITY_RANK[s], s]));

function bucketOf(rank: number): SeverityBucket {
  if (rank === RANK_NOT_SCANNED) return 'not-scanned';
  if (rank === RANK_NONE || rank === RANK_NO_FILES) return 'none';
  return RANK_TO_SEVERITY.get(rank) ?? 'none';
}

function severityOf(rank: number): Severity | null {
  return RANK_TO_SEVERITY.get(rank) ?? null;
}

function hubStateOf(v: unknown): HubState {
  return v === 'scanned' || v === 'not-scanned' ? v : 'none';
}

function hubLevelName(lrank: unknown): HubLevel | null {
  if (lrank === null || lrank === undefined) return null;
  return num(lrank, 'hub level') >= 2 ? 'unsafe' : 'caution';
}

function zeroes<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

async function rows(db: Db, q: RawBuilder<unknown>): Promise<Row[]> {
  const r = await q.execute(db);
  return r.rows as Row[];
}

/**
 * The engine a key names. The crawler stores range scans, whose bytes were not hashed whole,
 * under `<key>~unverified` (src/queue/worker.ts): same engine, another trust level.
 */
export function engineBase(key: string): string {
  const i = key.indexOf('~');
  return i < 0 ? key : key.slice(0, i);
}


export class StudyQueries {
  private readonly s: StudySql;
  private readonly thr: number;
  private readonly hubThr: number;

  constructor(
    private readonly db: Db,
    dialect: SqlDialect,
    private readonly opts: StudyOptions,
  ) {
    this.s = new StudySql(dialect);
    this.thr = SEVERITY_RANK[opts.threshold];
    this.hubThr = opts.hubLevel === 'unsafe' ? 2 : 1;
  }

  /** Sets up the working tables (see StudySql.prepare); every other method reads them. */
  async prepare(): Promise<void> {
    for (const q of [...this.s.cleanup(), ...this.s.prepare(this.thr, this.hubThr)]) await q.execute(this.db);
  }

  async cleanup(): Promise<void> {
    for (const q of this.s.cleanup()) await q.execute(this.db);
  }

  private q(...ctes: RawBuilder<unknown>[]): (body: RawBuilder<unknown>) => Promise<Row[]> {
    if (ctes.length === 0) return (body) => rows(this.db, body);
    const withs = sql.join(ctes, sql`, `);
    return (body) => rows(this.db, sql`with ${withs} ${body}`);
  }

  async crawl(): Promise<Study['crawl']> {
    const o = this.s.ord.bind(this.s);
    const byType = await this.q()(sql`
      select repo_type, count(*) as n, sum(case when status = 'partial' then 1 else 0 end) as partial,
        min(${o(sql`crawled_at`)}) as first, max(${o(sql`crawled_at`)}) as last
      from study_latest group by repo_type order by ${o(sql`repo_type`)}`);
    const commits = await rows(this.db, sql`select count(*) as n from repositories`);
    const out: Study['crawl'] = { repositories: 0, byType: {}, commits: num(commits[0]?.['n'], 'commits'), partialRepositories: 0, firstCrawledAt: null, lastCrawledAt: null };
    for (const r of byType) {
      const n = num(r['n'], 'repositories');
      out.repositories += n;
      out.byType[str(r['repo_type'])] = n;
      out.partialRepositories += num(r['partial'], 'partial');
      const first = strOrNull(r['first']);
      const last = strOrNull(r['last']);
      if (first !== null && (out.firstCrawledAt === null || first < out.firstCrawledAt)) out.firstCrawledAt = first;
      if (last !== null && (out.lastCrawledAt === null || last > out.lastCrawledAt)) out.lastCrawledAt = last;
    }
    return out;
  }

  async files(): Promise<Study['files']> {
    const [r] = await this.q()(sql`
      select count(*) as files, coalesce(sum(size), 0) as bytes,
        sum(case when scan_id is not null then 1 else 0 end) as scanned,
        coalesce(sum(case when scan_id is not null then size else 0 end), 0) as scanned_bytes,
        sum(case when scan_id is not null and complete = 0 then 1 else 0 end) as incomplete,
        count(distinct scan_id) as distinct_contents
      from study_files`);
    const total = num(r?.['files'], 'files');
    const scanned = num(r?.['scanned'], 'scanned');
    return {
      total,
      bytes: num(r?.['bytes'], 'bytes'),
      scanned,
      scannedBytes: num(r?.['scanned_bytes'], 'scanned bytes'),
      notScanned: total - scanned,
      incomplete: num(r?.['incomplete'], 'incomplete'),
      distinctContents: num(r?.['distinct_contents'], 'distinct contents'),
    };
  }

  async formats(): Promise<Study['formats']> {
    const o = this.s.ord.bind(this.s);
    const found = await this.q(this.s.formats())(sql`
      select coalesce(fmt.format, '(unrecognised)') as format, count(*) as n_files,
        count(distinct ${this.s.repoKey('f')}) as n_repos, coalesce(sum(f.size), 0) as bytes,
        count(*) over () as total
      from study_files f left join fmt on fmt.scan_id = f.scan_id
      where f.scan_id is not null
      group by coalesce(fmt.format, '(unrecognised)')
      order by n_files desc, bytes desc, ${o(sql`coalesce(fmt.format, '(unrecognised)')`)}
      limit ${this.opts.top}`);
    return {
      total: num(found[0]?.['total'], 'formats'),
      rows: found.map((r) => ({ format: str(r['format']), files: num(r['n_files'], 'files'), repositories: num(r['n_repos'], 'repos'), bytes: num(r['bytes'], 'bytes') })),
    };
  }

  async severity(): Promise<Study['severity']> {
    const files = await this.q()(sql`select sev, count(*) as n from study_files group by sev`);
    const repos = await this.q(this.s.repoSummary(this.thr))(sql`select sev, count(*) as n from rep group by sev`);
    const tally = (rs: Row[]): Record<SeverityBucket, number> => {
      const t = zeroes(SEVERITY_BUCKETS);
      for (const r of rs) t[bucketOf(num(r['sev'], 'rank'))] += num(r['n'], 'count');
      return t;
    };
    return { files: tally(files), repositories: tally(repos) };
  }

  async kinds(): Promise<Study['kinds']> {
    const o = this.s.ord.bind(this.s);
    const found = await this.q(
      this.s.findings(sql`select scan_id from study_files`),
      sql`fk as (select scan_id, rule, count(*) as n, max(${sevRank(sql`severity`)}) as sev from fnd where rule is not null group by scan_id, rule)`,
    )(sql`
      select fk.rule, count(*) as n_files, count(distinct ${this.s.repoKey('f')}) as n_repos, sum(fk.n) as findings, max(fk.sev) as sev
      from study_files f join fk on fk.scan_id = f.scan_id
      group by fk.rule
      order by n_files desc, n_repos desc, ${o(sql`fk.rule`)}`);
    return {
      total: found.length,
      rows: found.map((r) => {
        const rule = str(r['rule']);
        return {
          rule,
          title: RULES.get(rule)?.title ?? 'finding kind unknown to this version',
          severity: severityOf(num(r['sev'], 'rank')) ?? 'unknown',
          files: num(r['n_files'], 'files'),
          repositories: num(r['n_repos'], 'repos'),
          findings: num(r['findings'], 'findings'),
        };
      }),
    };
  }

  async dangerousGlobals(): Promise<Study['dangerousGlobals']> {
    const o = this.s.ord.bind(this.s);
    const found = await this.q(
      this.s.findings(sql`select scan_id from study_files`),
      sql`g as (select distinct scan_id, global from fnd where rule = 'PICKLE_DANGEROUS_GLOBAL' and global is not null)`,
    )(sql`
      select g.global, count(*) as n_files, count(distinct ${this.s.repoKey('f')}) as n_repos, count(*) over () as total
      from study_files f join g on g.scan_id = f.scan_id
      group by g.global
      order by n_files desc, n_repos desc, ${o(sql`g.global`)}
      limit ${this.opts.top}`);
    return {
      total: num(found[0]?.['total'], 'globals'),
      rows: found.map((r) => ({ global: clip(str(r['global']), MAX_GLOBAL), files: num(r['n_files'], 'files'), repositories: num(r['n_repos'], 'repos') })),
    };
  }

  async remoteCode(): Promise<Study['remoteCode']> {
    const o = this.s.ord.bind(this.s);
    const run = this.q(this.s.repoSummary(this.thr));
    const [c] = await run(sql`
      select count(*) as n, sum(case when r.sev >= ${this.thr} then 1 else 0 end) as flagged
      from study_latest l join rep r on r.repo_type = l.repo_type and r.repo = l.repo and r."commit" = l."commit"
      where l.needs_remote_code <> 0`);
    const list = await run(sql`
      select l.repo_type, l.repo, l."commit", l.license, r.files, r.sev
      from study_latest l join rep r on r.repo_type = l.repo_type and r.repo = l.repo and r."commit" = l."commit"
      where l.needs_remote_code <> 0
      order by r.sev desc, ${o(sql`l.repo_type`)}, ${o(sql`l.repo`)}
      limit ${this.opts.limit}`);
    const rowsOut: RemoteCodeRow[] = list.map((r) => ({
      type: str(r['repo_type']),
      repo: str(r['repo']),
      commit: str(r['commit']),
      license: strOrNull(r['license']),
      files: num(r['files'], 'files'),
      severity: severityOf(num(r['sev'], 'rank')),
    }));
    const total = num(c?.['n'], 'remote code');
    return { repositories: total, flagged: num(c?.['flagged'], 'flagged'), list: { total, rows: rowsOut } };
  }

  async hub(): Promise<HubInternal> {
    const o = this.s.ord.bind(this.s);
    const run = this.q();
    const states = zeroes<HubState>(['scanned', 'not-scanned', 'none']);
    for (const r of await this.q()(sql`select hub_state as state, count(*) as n from study_latest group by hub_state`)) {
      states[hubStateOf(r['state'])] += num(r['n'], 'count');
    }
    const files = zeroes(AGREEMENTS);
    for (const r of await run(sql`select cat, count(*) as n from study_cmp group by cat`)) files[str(r['cat']) as Agreement] += num(r['n'], 'count');
    const repos = zeroes(AGREEMENTS);
    const repoRows = await run(sql`
      select ${this.s.agreement(sql`coalesce(a.ours, 0)`, sql`coalesce(a.theirs, 0)`, sql`l.hub_state`)} as cat, count(*) as n
      from study_latest l
      left join (select repo_type, repo, "commit", max(ours) as ours, max(theirs) as theirs from study_cmp group by repo_type, repo, "commit") a
        on a.repo_type = l.repo_type and a.repo = l.repo and a."commit" = l."commit"
      group by 1`);
    for (const r of repoRows) repos[str(r['cat']) as Agreement] += num(r['n'], 'count');

    const list = async (cat: Agreement, first: RawBuilder<unknown>): Promise<Capped<WithScan<ComparisonRow>>> => {
      const found = await run(sql`
        select repo_type, repo, "commit", path, size, scan_id, sev, error_kind, error, lrank, hub_state
        from study_cmp where cat = ${cat}
        order by ${first} desc, ${o(sql`repo_type`)}, ${o(sql`repo`)}, ${o(sql`path`)}
        limit ${this.opts.limit}`);
      return {
        total: files[cat],
        rows: found.map((r) => {
          const rank = num(r['sev'], 'rank');
          const scanned = r['scan_id'] !== null && r['scan_id'] !== undefined;
          return {
            type: str(r['repo_type']),
            repo: str(r['repo']),
            commit: str(r['commit']),
            path: str(r['path']),
            size: r['size'] === null || r['size'] === undefined ? null : num(r['size'], 'size'),
            ours: { severity: severityOf(rank), scanned, top: null, error: scanned ? null : fileError(r) },
            hub: { state: hubStateOf(r['hub_state']), level: hubLevelName(r['lrank']) },
            scanId: scanned ? str(r['scan_id']) : null,
          };
        }),
      };
    };
    return {
      states,
      repositories: repos,
      files,
      oursOnly: await list('ours-only', sql`sev`),
      hubOnly: await list('hub-only', sql`coalesce(lrank, 0)`),
      notScanned: await list('hub-not-scanned-flagged', sql`sev`),
    };
  }

  async worstRepositories(): Promise<Capped<WithScan<WorstRepositoryRow>>> {
    const o = this.s.ord.bind(this.s);
    const run = this.q(
      this.s.repoSummary(this.thr),
      sql`wf as (
        select repo_type, repo, "commit", path, scan_id,
          row_number() over (partition by repo_type, repo, "commit" order by sev desc, ${o(sql`path`)}) as rn
        from study_files
      )`,
      sql`hf as (select repo_type, repo, "commit", sum(theirs) as n from study_cmp group by repo_type, repo, "commit")`,
    );
    const [c] = await run(sql`select count(*) as n from rep where sev >= ${this.thr}`);
    const found = await run(sql`
      select r.repo_type, r.repo, r."commit", r.files, r.bytes, r.sev, r.flagged, wf.path, wf.scan_id,
        l.license, l.needs_remote_code, l.hub_state, coalesce(hf.n, 0) as hub_flagged
      from rep r
      join study_latest l on l.repo_type = r.repo_type and l.repo = r.repo and l."commit" = r."commit"
      join wf on wf.repo_type = r.repo_type and wf.repo = r.repo and wf."commit" = r."commit" and wf.rn = 1
      left join hf on hf.repo_type = r.repo_type and hf.repo = r.repo and hf."commit" = r."commit"
      where r.sev >= ${this.thr}
      order by r.sev desc, r.flagged desc, ${o(sql`r.repo_type`)}, ${o(sql`r.repo`)}
      limit ${this.opts.limit}`);
    return {
      total: num(c?.['n'], 'worst'),
      rows: found.map((r) => ({
        type: str(r['repo_type']),
        repo: str(r['repo']),
        commit: str(r['commit']),
        files: num(r['files'], 'files'),
        bytes: num(r['bytes'], 'bytes'),
        flaggedFiles: num(r['flagged'], 'flagged'),
        severity: severityOf(num(r['sev'], 'rank')) ?? 'info',
        worstFile: str(r['path']),
        top: null,
        hub: { state: hubStateOf(r['hub_state']), flaggedFiles: num(r['hub_flagged'], 'hub flagged') },
        needsRemoteCode: num(r['needs_remote_code'], 'needs_remote_code') !== 0,
        license: strOrNull(r['license']),
        scanId: strOrNull(r['scan_id']),
      })),
    };
  }

  async engines(current: string): Promise<Study['engines']> {
    const o = this.s.ord.bind(this.s);
    const f = await this.q()(sql`select engine_key, count(*) as n from study_files where scan_id is not null group by engine_key order by n desc, ${o(sql`engine_key`)}`);
    const r = await this.q()(sql`select engine_key, count(*) as n from study_latest group by engine_key order by n desc, ${o(sql`engine_key`)}`);
    return {
      files: f.map((x) => ({ engineKey: str(x['engine_key']), files: num(x['n'], 'files'), current: engineBase(str(x['engine_key'])) === current })),
      repositories: r.map((x) => ({ engineKey: str(x['engine_key']), repositories: num(x['n'], 'repos'), current: engineBase(str(x['engine_key'])) === current })),
    };
  }

  async errors(): Promise<Study['errors']> {
    const o = this.s.ord.bind(this.s);
    const kindExpr = sql`(case when ref_scan_id is not null then 'scan-missing' else coalesce(error_kind, 'unknown') end)`;
    const by = await this.q()(sql`
      select ${kindExpr} as kind, count(*) as n from study_files where scan_id is null
      group by ${kindExpr} order by n desc, ${o(kindExpr)}`);
    const list = await this.q()(sql`
      select repo_type, repo, "commit", path, size, ${kindExpr} as kind, error from study_files where scan_id is null
      order by ${o(sql`repo_type`)}, ${o(sql`repo`)}, ${o(sql`path`)}
      limit ${this.opts.limit}`);
    const byKind = by.map((r) => ({ kind: str(r['kind']), files: num(r['n'], 'count') }));
    const total = byKind.reduce((a, b) => a + b.files, 0);
    const rowsOut: ErrorRow[] = list.map((r) => ({
      type: str(r['repo_type']),
      repo: str(r['repo']),
      commit: str(r['commit']),
      path: str(r['path']),
      size: num(r['size'], 'size'),
      kind: str(r['kind']),
      message: clip(str(r['error']), MAX_MESSAGE),
    }));
    return { files: total, byKind, list: { total, rows: rowsOut } };
  }

  /** The worst finding (earliest in its report on ties) of each scan, read only for these scans. */
  async topFindings(scanIds: readonly string[]): Promise<Map<string, TopFinding>> {
    const out = new Map<string, TopFinding>();
    const unique = [...new Set(scanIds)];
    for (let i = 0; i < unique.length; i += ID_CHUNK) {
      const chunk = unique.slice(i, i + ID_CHUNK);
      const ids = sql.join(chunk.map((id) => sql`${id}`));
      const found = await rows(
        this.db,
        sql`with ${this.s.findings(ids)},
          ranked as (
            select fnd.*, row_number() over (partition by scan_id order by ${sevRank(sql`severity`)} desc, idx) as rn
            from fnd where rule is not null
          )
          select scan_id, rule, severity, global, message from ranked where rn = 1`,
      );
      for (const r of found) {
        const rule = str(r['rule']);
        const g = strOrNull(r['global']);
        out.set(str(r['scan_id']), {
          rule,
          title: RULES.get(rule)?.title ?? 'finding kind unknown to this version',
          severity: str(r['severity']),
          global: g === null ? null : clip(g, MAX_GLOBAL),
          message: clip(str(r['message']), MAX_MESSAGE),
        });
      }
    }
    return out;
  }
}

function fileError(r: Row): string {
  const kind = strOrNull(r['error_kind']);
  const msg = strOrNull(r['error']);
  if (r['size'] === null || r['size'] === undefined) return 'not in the crawl (the hub lists it; the crawl has no record of it)';
  if (kind === null && msg === null) return 'no scan recorded';
  return clip(`${kind ?? 'error'}: ${msg ?? ''}`, MAX_MESSAGE);
}
