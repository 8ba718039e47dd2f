/**
 * The policy dry run: the file decisions of the last N days of the audit log decided again
 * under a candidate policy (replay.ts: stored scan reports, never a download or a scan), and
 * those whose verdict would change, grouped file by file. Each decision is replayed with the
 * waivers that existed when it was made, so that only the policy differs.
 */
import type { FileReport } from '../scan/report.js';
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

export interface DryRunOptions {
  days: number;
  now?: Date;
  maxDecisions?: number;
}

/** A decision about a file that the policy made: a download (GET) that was judged, not a failure or an admin action. */
export function isFileDecision(r: AuditRecord): boolean {
  return r.method === 'GET' && r.path !== null && r.verdict !== 'error' && (r.scanId !== null || (r.verdict === 'block' && r.rules.length > 0));
}

/** The waivers as they stood at a decision: created by then (their own expiry and revocation are the policy's to check). */
function waiversAt(all: Waiver[], time: string): Waiver[] {
  return all.filter((w) => w.createdAt <= time);
}

export async function dryRun(store: Store, candidate: Policy, opts: DryRunOptions): Promise<DryRunResult> {
  const now = opts.now ?? new Date();
  const days = Math.min(DRY_RUN_MAX_DAYS, Math.max(1, Math.floor(opts.days)));
  const since = new Date(now.getTime() - days * 86_400_000).toISOString();
  const max = opts.maxDecisions ?? DRY_RUN_MAX_DECISIONS;
  const waivers = await store.listWaivers();
  const reports = new Map<string, FileReport | null>();
  const references = new Map<string, Policy | null>();
  const builtin = defaultPolicy();

  const reportOf = async (scanId: string): Promise<FileReport | null> => {
    if (reports.has(scanId)) return reports.get(scanId)!;
    const scan = await store.getScanById(scanId);
    if (reports.size >= REPORT_CACHE) reports.delete(reports.keys().next().value!);
    reports.set(scanId, scan?.report ?? null);
    return scan?.report ?? null;
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
  let before: number | undefined;
  for (;;) {
    const page = await store.queryAudit({ since, limit: PAGE, ...(before !== undefined ? { before } : {}) });
    for (const rec of page) {
      if (!isFileDecision(rec)) continue;
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
      const r = replay(candidate, rec, report, { now: new Date(rec.time), waivers: waiversAt(waivers, rec.time), reference: await referenceOf(rec.policyVersion) });
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
    before = page[page.length - 1]!.id;
  }
  out.flipped = [...groups.values()].sort((a, b) => verdictRank(b.after) - verdictRank(a.after) || verdictRank(a.before) - verdictRank(b.before) || b.decisions - a.decisions || (a.newest < b.newest ? 1 : -1));
  return out;
}
