/**
 * A past decision decided again, from what the gateway keeps: the audit record (repository,
 * commit, path, client group, the libraries the client declared, the outcomes that fired) and the
 * stored scan report of the bytes. Nothing is downloaded and nothing is scanned.
 *
 * The audit log does not keep the upstream's repository facts (licence, creation and change
 * dates, the hub's own verdict, the custom code a repository's config.json asks for). The rules
 * that need them are not evaluated again: their recorded outcomes are carried over, capped by
 * the policy's action for that rule (a rule turned off drops them). When the policy sets such a
 * rule differently from the policy that made the decision, the answer may be wrong and the rule
 * is named in `unknownFacts` so that the console says so.
 */
import type { FileReport } from '../scan/report.js';
import { capAction, CompiledPolicy, evaluateRules } from '../policy/evaluate.js';
import type { RuleName, RuleSet } from '../policy/schema.js';
import type { Policy, RepoFacts, Verdict } from '../policy/types.js';
import type { AuditRecord, Waiver } from '../store/types.js';

/** Rules judged on upstream repository facts the audit log does not keep. */
export const FACT_RULES = ['license', 'min-age', 'upstream-verdict'] as const satisfies readonly RuleName[];

export type PastDecision = Pick<AuditRecord, 'time' | 'group' | 'repoType' | 'repo' | 'revision' | 'commit' | 'path' | 'sha256' | 'verdict' | 'rules'> &
  Partial<Pick<AuditRecord, 'clientLibraries'>>;

export interface ReplayedOutcome {
  rule: string;
  action: 'block' | 'warn';
  reason: string;
  /** Taken from the record, not evaluated again (a rule on repository facts). */
  carried?: boolean;
}

export interface Replayed {
  verdict: Verdict;
  /** Worst first, as the policy orders them; carried outcomes last. */
  outcomes: ReplayedOutcome[];
  /** Rules whose answer needs facts the log lacks and which the policy sets differently. */
  unknownFacts: string[];
  /** Only the repository rules were judged: the file was refused before it was scanned. */
  repositoryOnly: boolean;
}

const RANK: Record<string, number> = { allow: 0, warn: 1, block: 2, error: 3 };

/** Verdicts from best to worst: allow < warn < block (an error is worse than any). */
export function verdictRank(v: string): number {
  return RANK[v] ?? 3;
}

/** Whether the custom-code fact the policy used is reproducible here: only when the file is config.json itself. */
function remoteCodeOf(report: FileReport | null): RepoFacts['remoteCode'] {
  if (!report) return undefined;
  const hits = report.findings.filter((f) => f.rule === 'REPO_REMOTE_CODE');
  const files = new Set<string>();
  for (const h of hits) for (const f of h.evidence.files ?? []) files.add(f);
  return { needed: hits.length > 0, files: [...files] };
}

function sameSetting(a: RuleSet | null, b: RuleSet, rule: RuleName): boolean {
  return a !== null && JSON.stringify(a[rule]) === JSON.stringify(b[rule]);
}

export interface ReplayOptions {
  now: Date;
  /** The waivers to apply (the policy itself checks their scope, expiry and revocation at `now`). */
  waivers: Waiver[];
  /** The policy that made the recorded decision, when known: it tells whether carried outcomes still hold. */
  reference?: Policy | null;
}

export function replay(policy: Policy, rec: PastDecision, report: FileReport | null, opts: ReplayOptions): Replayed {
  const isConfig = rec.path === 'config.json';
  const repo: RepoFacts = { type: rec.repoType, id: rec.repo, revision: rec.revision, commit: rec.commit ?? '' };
  if (isConfig && report) repo.remoteCode = remoteCodeOf(report);
  const input = {
    repo,
    file: report ? { path: rec.path ?? '', sha256: rec.sha256, size: report.size, report } : null,
    group: rec.group,
    now: opts.now,
    waivers: opts.waivers,
    client: { libraries: rec.clientLibraries ?? {} },
  };
  if (!(policy instanceof CompiledPolicy)) {
    // A policy supplied by an embedding program: evaluated as is, repository facts unknown.
    const d = policy.evaluate(input);
    return { verdict: d.verdict, outcomes: d.outcomes.map((o) => ({ rule: o.rule, action: o.action, reason: o.reason })), unknownFacts: [], repositoryOnly: report === null };
  }
  const rules = policy.rulesFor(rec.group);
  const masked: RuleSet = { ...rules };
  for (const r of FACT_RULES) (masked as unknown as Record<string, { action: string }>)[r] = { ...rules[r], action: 'off' };
  const d = evaluateRules(masked, input, policy.version);
  const outcomes: ReplayedOutcome[] = d.outcomes.map((o) => ({ rule: o.rule, action: o.action, reason: o.reason }));
  const seen = new Set(outcomes.map((o) => `${o.rule}\u0000${o.reason}`));
  // Repository-level custom code was judged on config.json, which only its own decision has.
  const carriedRules = new Set<string>([...FACT_RULES, ...(isConfig && report ? [] : ['remote-code'])]);
  for (const o of rec.rules) {
    if (!carriedRules.has(o.rule) || seen.has(`${o.rule}\u0000${o.reason}`)) continue;
    const action = capAction(o.action, rules[o.rule as RuleName].action);
    if (action !== 'off') outcomes.push({ rule: o.rule, action, reason: o.reason, carried: true });
  }
  const ref = opts.reference instanceof CompiledPolicy ? opts.reference.rulesFor(rec.group) : null;
  const unknownFacts = [...carriedRules].filter((r) => rules[r as RuleName].action !== 'off' && !sameSetting(ref, rules, r as RuleName));
  const verdict: Verdict = outcomes.some((o) => o.action === 'block') ? 'block' : outcomes.length > 0 ? 'warn' : 'allow';
  return { verdict, outcomes, unknownFacts, repositoryOnly: report === null };
}
