/**
 * The policy dry run: the file decisions of the last N days of the audit log decided again
 * under a candidate policy (replay.ts: stored scan reports, never a download or a scan), and
 * those whose verdict would change, grouped file by file. Each decision is replayed with the
 * waivers that existed when it was made, so that only the policy differs.
 */
import type { FileReport } from '../scan/report.js';
import { repoMatches } from '../policy/glob.js';
import { defaultPolicy, parsePolicy } from '../policy/load.js';
import type { Policy, Verdict } from '../policy/types.js';
import type { AuditRecord, Store, Waiver } from '../store/types.js';
import { replay, verdictRank, type ReplayedOutcome } from './replay.js';

export const DRY_RUN_MAX_DAYS = 90;
/** Decisions read at most: the newest ones of the window (the result says when it stopped). */
export const DRY_RUN_MAX_DECISIONS = 100_000;
const PAGE = 1000;
/** Parsed scan reports kept while reading (a hot file appears in many decisions). */
const REPORT_CACHE = 2000;
const MAX_CLIENTS = 10;

export interface FlippedFile {
  repoType: 'model' | 'dataset';
  repo: string;
  commit: string | null;
  path: string;
  sha256: string | null;
  before: Verdict;
  after: Verdict;
  /** What fired under the candidate (for the newest of these decisions). */
  rules: ReplayedOutcome[];
  /** What fired when it was decided. */
  recordedRules: AuditRecord['rules'];
  decisions: number;
  clients: string[];
  newest: string;
  /** An audit record of one of these decisions, for its file page. */
  auditId: number;
  /** Refused by repository rules before any download: the candidate lets it through to a scan not yet made. */
  repositoryOnly: boolean;
  unknownFacts: string[];
}

export interface DryRunResult {
  candidateVersion: string;
  since: string;
  /** File decisions replayed. */
  examined: number;
  /** Decisions whose stored scan is gone (nothing to judge them on). */
  missingScans: number;
  /** Stopped at DRY_RUN_MAX_DECISIONS before the start of the window. */
  truncated: boolean;
  /** Worst outcome first (newly blocked, then newly warned, then loosened). */
  flipped: FlippedFile[];
  stricter: number;
  looser: number;
  /** Decisions whose answer depends on repository facts the log does not keep (see replay.ts). */
  uncertain: number;
}

/** How far a run has got: audit records read of those in the window (estimated from its ids). */
export interface DryRunProgress {
  read: number;
  /** Records in the window by their ids (the newest id less the first one's, plus one): ids may skip, so an upper bound. */
  estimate: number;
  examined: number;
}

export interface DryRunOptions {
  days: number;
  now?: Date;
  maxDecisions?: number;
  /**
   * Called after each page of records and every PAUSE_EVERY decisions within one: a background
   * run waits here for the event loop (so requests and downloads go on) and may throw to stop.
   */
  pause?: (p: DryRunProgress) => Promise<void>;
}

/** Decisions replayed between two calls of `pause` (a page of 1000 replays can take a few hundred ms on a busy machine). */
const PAUSE_EVERY = 50;

/** A decision about a file that the policy made: a download (GET) that was judged, not a failure or an admin action. */
export function isFileDecision(r: AuditRecord): boolean {
  return r.method === 'GET' && r.path !== null && r.verdict !== 'error' && (r.scanId !== null || (r.verdict === 'block' && r.rules.length > 0));
}

/** The waivers as they stood at a decision: created by then (their own expiry and revocation are the policy's to check). */
function waiversAt(all: Waiver[], time: string): Waiver[] {
  return all.filter((w) => w.createdAt <= time);
}

/** Candidate waivers kept per repository and sha256 (a busy window names many files). */
const WAIVER_CACHE = 5000;

/**
 * The waivers that could cover a decision's file: the others name another repository or other
 * bytes, and the policy would pass over each of them again for every decision (parsing its
 * dates) only to find that out.
 */
function waiversFor(all: Waiver[], cache: Map<string, Waiver[]>, rec: AuditRecord): Waiver[] {
  const key = JSON.stringify([rec.repoType, rec.repo, rec.sha256]);
  let list = cache.get(key);
  if (!list) {
    const sha = rec.sha256?.toLowerCase() ?? null;
    list = all.filter((w) => (w.sha256 === null || (sha !== null && w.sha256.toLowerCase() === sha)) && (w.repo === null || repoMatches(w.repo, { type: rec.repoType, id: rec.repo })));
    if (cache.size >= WAIVER_CACHE) cache.delete(cache.keys().next().value!);
    cache.set(key, list);
  }
  return list;
}

export async function dryRun(store: Store, candidate: Policy, opts: DryRunOptions): Promise<DryRunResult> {
  const now = opts.now ?? new Date();
  const days = Math.min(DRY_RUN_MAX_DAYS, Math.max(1, Math.floor(opts.days)));
  const since = new Date(now.getTime() - days * 86_400_000).toISOString();
  const max = opts.maxDecisions ?? DRY_RUN_MAX_DECISIONS;
  const waivers = await store.listWaivers();
  const candidates = new Map<string, Waiver[]>();
  const reports = new Map<string, FileReport | null>();
  const references = new Map<string, Policy | null>();
  const builtin = defaultPolicy();

  const remember = (scanId: string, report: FileReport | null) => {
    if (reports.size >= REPORT_CACHE) reports.delete(reports.keys().next().value!);
    reports.set(scanId, report);
  };
  const reportOf = async (scanId: string): Promise<FileReport | null> => {
    if (reports.has(scanId)) return reports.get(scanId)!;
    const scan = await store.getScanById(scanId);
    remember(scanId, scan?.report ?? null);
    return scan?.report ?? null;
  };
  /** The reports a page of decisions needs, read in one query rather than one per file. */
  const prefetch = async (page: AuditRecord[]) => {
    const missing = [...new Set(page.filter(isFileDecision).map((r) => r.scanId))].filter((id): id is string => id !== null && !reports.has(id)).slice(0, REPORT_CACHE / 2);
    if (missing.length === 0) return;
    const found = new Map((await store.getScansByIds(missing)).map((x) => [x.id, x.report]));
    for (const id of missing) remember(id, found.get(id) ?? null);
  };
  // The policy that made a decision, from the history (pre-history versions stay unknown).
  const referenceOf = async (version: string): Promise<Policy | null> => {
    if (references.has(version)) return references.get(version)!;
    let ref: Policy | null = version === builtin.version ? builtin : null;
    if (!ref) {
      const t = await store.getPolicyText({ version }).catch(() => null);
      if (t?.text) {
        try {
          ref = parsePolicy(t.text, 'history');
        } catch {
          ref = null;
        }
      }
    }
    references.set(version, ref);
    return ref;
  };

  const groups = new Map<string, FlippedFile>();
  const out: DryRunResult = { candidateVersion: candidate.version, since, examined: 0, missingScans: 0, truncated: false, flipped: [], stricter: 0, looser: 0, uncertain: 0 };
  // Paged by id between the window's first record and the newest: each page is one range of
  // the primary key, however long the window (see Store.auditFirstId).
  const first = await store.auditFirstId(since);
  const newest = first === null ? undefined : (await store.queryAudit({ limit: 1 }))[0]?.id;
  const progress: DryRunProgress = { read: 0, estimate: first !== null && newest !== undefined ? Math.max(0, newest - first + 1) : 0, examined: 0 };
  const pause = async () => {
    progress.examined = out.examined;
    await opts.pause?.(progress);
  };
  let before = Number.MAX_SAFE_INTEGER;
  for (;;) {
    if (first === null) break;
    await pause();
    const page = await store.queryAudit({ since, limit: PAGE, after: first - 1, before });
    await prefetch(page);
    let sincePause = 0;
    for (const rec of page) {
      progress.read++;
      if (!isFileDecision(rec)) continue;
      if (++sincePause >= PAUSE_EVERY) {
        sincePause = 0;
        await pause();
      }
      if (out.examined >= max) {
        out.truncated = true;
        break;
      }
      let report: FileReport | null = null;
      if (rec.scanId !== null) {
        report = await reportOf(rec.scanId);
        if (!report) {
          out.missingScans++;
          continue;
        }
      }
      out.examined++;
      const r = replay(candidate, rec, report, { now: new Date(rec.time), waivers: waiversAt(waiversFor(waivers, candidates, rec), rec.time), reference: await referenceOf(rec.policyVersion) });
      if (r.unknownFacts.length > 0) out.uncertain++;
      const was = rec.verdict as Verdict;
      if (r.verdict === was) continue;
      if (verdictRank(r.verdict) > verdictRank(was)) out.stricter++;
      else out.looser++;
      const key = JSON.stringify([rec.repoType, rec.repo, rec.commit, rec.path, was, r.verdict]);
      const g = groups.get(key);
      if (g) {
        g.decisions++;
        if (!g.clients.includes(rec.client) && g.clients.length < MAX_CLIENTS) g.clients.push(rec.client);
        for (const f of r.unknownFacts) if (!g.unknownFacts.includes(f)) g.unknownFacts.push(f);
        continue;
      }
      groups.set(key, {
        repoType: rec.repoType,
        repo: rec.repo,
        commit: rec.commit,
        path: rec.path ?? '',
        sha256: rec.sha256,
        before: was,
        after: r.verdict,
        rules: r.outcomes,
        recordedRules: rec.rules,
        decisions: 1,
        clients: [rec.client],
        newest: rec.time,
        auditId: rec.id ?? 0,
        repositoryOnly: r.repositoryOnly,
        unknownFacts: [...r.unknownFacts],
      });
    }
    if (out.truncated || page.length < PAGE) break;
    before = page[page.length - 1]!.id!;
  }
  if (!out.truncated) progress.read = Math.max(progress.read, progress.estimate);
  await pause();
  out.flipped = [...groups.values()].sort((a, b) => verdictRank(b.after) - verdictRank(a.after) || verdictRank(a.before) - verdictRank(b.before) || b.decisions - a.decisions || (a.newest < b.newest ? 1 : -1));
  return out;
}
