/**
 * The SQL the study runs, written once with the few fragments where SQLite and PostgreSQL
 * differ (JSON functions, collation). Everything is aggregated in the database: a hub-scale
 * store has hundreds of thousands of reports, and the only rows that reach Node are counts
 * and the capped lists.
 *
 * `study_latest` and `study_files` (prepare()) are temporary tables every query reads.
 *
 * Results must be identical on both databases, which is why:
 * - text ordering is byte order (PostgreSQL `collate "C"`, SQLite's default BINARY), so ties
 *   and lists come out in the same order whatever the server's locale;
 * - the JSON is read through the same `replace(…, '\u0000', '\ufffd')` in both: PostgreSQL's
 *   JSON operators refuse `\u0000` (a hostile pickle can name a global with a NUL in it, and
 *   one such report must not make the study fail on one database and not the other);
 * - booleans are computed as 0/1 integers (PostgreSQL would return true/false).
 */
import { sql, type RawBuilder } from 'kysely';
import type { SqlDialect } from '../store/db.js';

type Frag = RawBuilder<unknown>;

const NUL_ESCAPE = '\\u0000';
const NUL_REPLACEMENT = '\\ufffd';

/** Ranks: -3 repository without files, -2 not scanned, -1 scanned without findings, 0..4 info..critical. */
export const RANK_NO_FILES = -3;
export const RANK_NOT_SCANNED = -2;
export const RANK_NONE = -1;

export function sevRank(expr: Frag): Frag {
  return sql`(case ${expr} when 'critical' then 4 when 'high' then 3 when 'medium' then 2 when 'low' then 1 when 'info' then 0 else -1 end)`;
}

/** Hub levels: unsafe 2, anything else it lists (caution, or a level we do not know) 1. */
export function hubLevelRank(expr: Frag): Frag {
  return sql`(case when ${expr} = 'unsafe' then 2 else 1 end)`;
}

export class StudySql {
  constructor(readonly dialect: SqlDialect) {}

  /** Byte-order comparison for ORDER BY, min/max and window ordering. */
  ord(expr: Frag): Frag {
    return this.dialect === 'postgres' ? sql`${expr} collate "C"` : expr;
  }

  /** A repository's identity as one value, for count(distinct …). */
  repoKey(alias: string): Frag {
    return sql`(${sql.ref(`${alias}.repo_type`)} || ':' || ${sql.ref(`${alias}.repo`)})`;
  }

  private cleanJson(col: Frag): Frag {
    return sql`replace(${col}, ${NUL_ESCAPE}, ${NUL_REPLACEMENT})`;
  }

  private tempTable(name: string, select: Frag): Frag {
    return this.dialect === 'postgres'
      ? sql`create temporary table ${sql.raw(name)} on commit drop as ${select}`
      : sql`create temporary table ${sql.raw(name)} as ${select}`;
  }

  /**
   * Statements that set up the two working tables every query reads, once per study (in its
   * transaction): computing them in each query as CTEs cost more than the queries themselves
   * at hub scale, and SQLite, left to flatten them, could choose plans that rescan the
   * repositories for every finding.
   *
   * - study_latest: per repository, its most recently crawled commit. Older commits stay in
   *   `repositories` (history) but would count a repository twice. With `hub_state` (see
   *   hubState) parsed once here rather than once per file in every comparison query.
   * - study_files: the files of those commits with their scan (scan columns null when none)
   *   and `sev`, the rank of their worst severity.
   * - study_cmp: every file next to the hub's verdict (see comparison()), read by six queries.
   */
  prepare(threshold: number, hubThreshold: number): Frag[] {
    const pg = this.dialect === 'postgres';
    return [
      this.tempTable(
        'study_latest',
        sql`select repo_type, repo, "commit", status, engine_key, security_status, license, needs_remote_code, crawled_at,
            ${this.hubState(sql`security_status`)} as hub_state
          from (
            select r.*, row_number() over (
              partition by r.repo_type, r.repo order by ${this.ord(sql`r.crawled_at`)} desc, ${this.ord(sql`r."commit"`)} desc
            ) as rn
            from repositories r
          ) x
          where rn = 1`,
      ),
      sql`create index study_latest_key on study_latest (repo_type, repo, "commit")`,
      this.tempTable(
        'study_files',
        sql`select f.repo_type, f.repo, f."commit", f.path, f.size, f.error_kind, f.error, f.scan_id as ref_scan_id,
            s.id as scan_id, s.max_severity, s.complete, s.engine_key,
            case when s.id is null then ${sql.lit(RANK_NOT_SCANNED)} else ${sevRank(sql`s.max_severity`)} end as sev
          from repo_files f
          join study_latest l on l.repo_type = f.repo_type and l.repo = f.repo and l."commit" = f."commit"
          left join scans s on s.id = f.scan_id`,
      ),
      sql`create index study_files_key on study_files (repo_type, repo, "commit", path)`,
      sql`create index study_files_scan on study_files (scan_id)`,
      // Temporary tables are never analysed automatically; without statistics PostgreSQL
      // plans for a handful of rows.
      ...(pg ? [sql`analyze study_latest`, sql`analyze study_files`] : []),
      this.tempTable('study_cmp', sql`with ${this.hubIssues()}, ${this.comparison(threshold, hubThreshold)} select * from cls`),
      sql`create index study_cmp_cat on study_cmp (cat)`,
      ...(pg ? [sql`analyze study_cmp`] : []),
    ];
  }

  /** PostgreSQL drops the tables at commit; SQLite keeps them for the connection's life. */
  cleanup(): Frag[] {
    return this.dialect === 'postgres' ? [] : [sql`drop table if exists temp.study_cmp`, sql`drop table if exists temp.study_files`, sql`drop table if exists temp.study_latest`];
  }

  /**
   * One row per finding of the scans selected by `scanIds` (a subquery or list fragment):
   * scan_id, idx (position in the report), rule, severity, global, message.
   */
  findings(scanIds: Frag): Frag {
    if (this.dialect === 'postgres') {
      return sql`fnd as (
        select s.id as scan_id, (j.ord - 1)::int as idx, j.v->>'rule' as rule, j.v->>'severity' as severity,
          coalesce(j.v->'evidence'->>'canonical', j.v->'evidence'->>'global') as global, j.v->>'message' as message
        from (select id, ${this.cleanJson(sql`report`)}::json as r from scans where id in (${scanIds})) s
        cross join lateral json_array_elements(
          case when json_typeof(s.r->'findings') = 'array' then s.r->'findings' else '[]'::json end
        ) with ordinality as j(v, ord)
        where json_typeof(j.v) = 'object'
      )`;
    }
    return sql`fnd as (
      select s.id as scan_id, cast(j.key as integer) as idx,
        cast(json_extract(j.value, '$.rule') as text) as rule,
        cast(json_extract(j.value, '$.severity') as text) as severity,
        cast(coalesce(json_extract(j.value, '$.evidence.canonical'), json_extract(j.value, '$.evidence.global')) as text) as global,
        cast(json_extract(j.value, '$.message') as text) as message
      from (select id, ${this.cleanJson(sql`report`)} as r from scans where id in (${scanIds})) s,
        json_each(s.r, '$.findings') j
      where json_type(s.r, '$.findings') = 'array' and j.type = 'object'
    )`;
  }

  /** (scan_id, format) for every top-level format of the scans of `files`, without duplicates. */
  formats(): Frag {
    if (this.dialect === 'postgres') {
      return sql`fmt as (
        select distinct s.id as scan_id, j.v as format
        from (select id, ${this.cleanJson(sql`report`)}::json as r from scans where id in (select scan_id from study_files)) s
        cross join lateral json_array_elements_text(
          case when json_typeof(s.r->'formats') = 'array' then s.r->'formats' else '[]'::json end
        ) as j(v)
      )`;
    }
    return sql`fmt as (
      select distinct s.id as scan_id, cast(j.value as text) as format
      from (select id, ${this.cleanJson(sql`report`)} as r from scans where id in (select scan_id from study_files)) s,
        json_each(s.r, '$.formats') j
      where json_type(s.r, '$.formats') = 'array'
    )`;
  }

  /** 'scanned' | 'not-scanned' | 'none' from a repositories.security_status column. */
  hubState(col: Frag): Frag {
    const c = this.cleanJson(col);
    if (this.dialect === 'postgres') {
      return sql`(case when ${col} is null then 'none'
        when json_typeof(${c}::json->'scansDone') = 'boolean' then
          case when ${c}::json->>'scansDone' = 'true' then 'scanned' else 'not-scanned' end
        else 'none' end)`;
    }
    return sql`(case when ${col} is null or json_valid(${col}) = 0 then 'none'
      when json_type(${col}, '$.scansDone') = 'true' then 'scanned'
      when json_type(${col}, '$.scansDone') = 'false' then 'not-scanned'
      else 'none' end)`;
  }

  /**
   * The files the hub lists with issues, one row per (repository, path) with the worst level
   * (lrank, see hubLevelRank).
   */
  hubIssues(): Frag {
    const raw =
      this.dialect === 'postgres'
        ? sql`select l.repo_type, l.repo, l."commit", j.v->>'path' as path, j.v->>'level' as level
          from (select repo_type, repo, "commit", ${this.cleanJson(sql`security_status`)}::json as r from study_latest where security_status is not null) l
          cross join lateral json_array_elements(
            case when json_typeof(l.r->'filesWithIssues') = 'array' then l.r->'filesWithIssues' else '[]'::json end
          ) as j(v)
          where json_typeof(j.v) = 'object'`
        : sql`select l.repo_type, l.repo, l."commit", cast(json_extract(j.value, '$.path') as text) as path, cast(json_extract(j.value, '$.level') as text) as level
          from study_latest l, json_each(case when json_valid(l.security_status) then ${this.cleanJson(sql`l.security_status`)} else '{}' end, '$.filesWithIssues') j
          where l.security_status is not null and json_type(case when json_valid(l.security_status) then l.security_status else '{}' end, '$.filesWithIssues') = 'array'
            and j.type = 'object'`;
    return sql`hubi as (${raw}),
      hub as (
        select repo_type, repo, "commit", path, max(${hubLevelRank(sql`level`)}) as lrank
        from hubi where path is not null
        group by repo_type, repo, "commit", path
      )`;
  }

  /**
   * Every file next to the hub's verdict: the crawl's files, plus files the hub lists that the
   * crawl has no row for (size null). `ours`/`theirs` are 0/1 against the thresholds; `cat` is
   * the Agreement. Needs `hubIssues()`.
   */
  comparison(threshold: number, hubThreshold: number): Frag {
    return sql`cmp as (
        select f.repo_type, f.repo, f."commit", f.path, f.size, f.scan_id, f.sev, f.max_severity, f.error_kind, f.error, h.lrank
        from study_files f
        left join hub h on h.repo_type = f.repo_type and h.repo = f.repo and h."commit" = f."commit" and h.path = f.path
        union all
        select h.repo_type, h.repo, h."commit", h.path, null, null, ${sql.lit(RANK_NOT_SCANNED)}, null, null, null, h.lrank
        from hub h
        where not exists (select 1 from study_files f where f.repo_type = h.repo_type and f.repo = h.repo and f."commit" = h."commit" and f.path = h.path)
      ),
      cls0 as (
        select c.*, l.hub_state,
          case when c.sev >= ${threshold} then 1 else 0 end as ours,
          case when coalesce(c.lrank, 0) >= ${hubThreshold} then 1 else 0 end as theirs
        from cmp c
        join study_latest l on l.repo_type = c.repo_type and l.repo = c.repo and l."commit" = c."commit"
      ),
      cls as (
        select cls0.*, ${this.agreement(sql`ours`, sql`theirs`, sql`hub_state`)} as cat from cls0
      )`;
  }

  agreement(ours: Frag, theirs: Frag, state: Frag): Frag {
    return sql`(case when ${ours} = 1 and ${theirs} = 1 then 'both'
      when ${theirs} = 1 then 'hub-only'
      when ${state} <> 'scanned' then case when ${ours} = 1 then 'hub-not-scanned-flagged' else 'hub-not-scanned-clean' end
      when ${ours} = 1 then 'ours-only'
      else 'neither' end)`;
  }

  /** Per repository (of `latest`, files or not): size, worst rank, files at or above the threshold. */
  repoSummary(threshold: number): Frag {
    return sql`rep as (
      select l.repo_type, l.repo, l."commit", count(f.path) as files, coalesce(sum(f.size), 0) as bytes,
        coalesce(max(f.sev), ${sql.lit(RANK_NO_FILES)}) as sev,
        sum(case when f.sev >= ${threshold} then 1 else 0 end) as flagged
      from study_latest l
      left join study_files f on f.repo_type = l.repo_type and f.repo = l.repo and f."commit" = l."commit"
      group by l.repo_type, l.repo, l."commit"
    )`;
  }
}
