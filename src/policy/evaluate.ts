/**
 * Policy evaluation: a file's scan report and its repository's facts in, allow / warn / block out,
 * with every rule that fired and a one-line reason in the words the gateway puts in refusals
 * (`pytorch_model.bin calls os.system (critical, rule scan-severity)`).
 *
 * A file decision includes the repository rules, so the gateway needs one call per file; a
 * repository decision (file null) has the repository rules only. Pure: no I/O, no clock.
 */
import { SEVERITY_RANK, type Finding, type Severity } from '../core/findings.js';
import { RULES } from '../core/rules.js';
import type { FileReport } from '../scan/report.js';
import type { Waiver } from '../store/types.js';
import { clientVulnerable } from './client-vulnerable.js';
import { firstMatch, repoMatches } from './glob.js';
import { RULE_NAMES, type RuleName, type RuleSet, type Threshold } from './schema.js';
import type { Action, Decision, FileFacts, Policy, PolicyInput, RepoFacts, RuleOutcome, Verdict } from './types.js';

const ACTION_RANK: Record<Action, number> = { off: 0, warn: 1, block: 2 };

/** The weaker of two actions: a rule's `action` is the strongest outcome it may produce. */
export function capAction(a: Action, limit: Action): Action {
  return ACTION_RANK[a] <= ACTION_RANK[limit] ? a : limit;
}

/** Finding kinds a dedicated rule judges when it is on (scan-severity then leaves them alone). */
const OWNED_KINDS: Record<string, RuleName> = { REPO_REMOTE_CODE: 'remote-code', MLFLOW_MODEL_CODE: 'remote-code' };

/** Formats the formats rule never judges: an unreadable file is scan-severity's (unscannable). */
const NOT_A_FORMAT = new Set(['unreadable']);

const MAX_PHRASE = 160;
const MAX_NAME = 200;

/** One line, bounded: finding messages can carry hostile member names and long call chains. */
function oneLine(s: string, max: number): string {
  const flat = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

function severityOf(f: Finding): Severity {
  // A report read from JSON may carry a severity this build does not know: judge it as the worst.
  return Object.hasOwn(SEVERITY_RANK, f.severity) ? f.severity : 'critical';
}

function atLeastThreshold(s: Severity, t: Threshold): boolean {
  return SEVERITY_RANK[s] >= SEVERITY_RANK[t];
}

/**
 * The finding as a headline phrase. Findings that read as a sentence after the file name carry
 * that clause (`evidence.phrase`: `model.bin calls os.system`, the alias the pickle used left in
 * the finding); the others are `file: message`.
 */
function findingPhrase(file: string, f: Finding): string {
  const phrase = f.evidence?.phrase;
  if (typeof phrase === 'string' && phrase !== '') return `${file} ${oneLine(phrase, MAX_PHRASE)}`;
  return `${file}: ${oneLine(f.message, MAX_PHRASE)}`;
}

function locationOf(file: string, f: Finding): string {
  // The report's first path element is where the engine read the bytes (a blob in the gateway);
  // users know the file by its repository path.
  const chain = [file, ...(f.location?.path ?? []).slice(1)].join(' › ');
  return oneLine(f.location?.offset !== undefined ? `${chain} @ offset ${f.location.offset}` : chain, 2 * MAX_NAME);
}

function repoName(repo: RepoFacts): string {
  return oneLine(repo.type === 'dataset' ? `datasets/${repo.id}` : repo.id, MAX_NAME);
}

interface Draft {
  outcome: RuleOutcome;
  /** Severity rank of the finding behind it; rule-level outcomes count as high. */
  rank: number;
  order: number;
}

class Collector {
  readonly drafts: Draft[] = [];

  constructor(private readonly rules: RuleSet) {}

  /**
   * Record an outcome unless the rule's `action` (or the computed action) is off. `label` goes in
   * the parentheses before the rule name: the finding's severity, or `unscannable`.
   */
  add(rule: RuleName, computed: Action, reason: string, opts: { finding?: Finding; file?: string; label?: string } = {}): void {
    const action = capAction(computed, this.rules[rule].action);
    if (action === 'off') return;
    const f = opts.finding;
    const head = f ? findingPhrase(opts.file ?? '', f) : reason;
    const outcome: RuleOutcome = { rule, action, reason: `${head} (${opts.label ? `${opts.label}, ` : ''}rule ${rule})` };
    if (f) outcome.finding = { rule: f.rule, severity: f.severity, message: f.message, location: locationOf(opts.file ?? '', f) };
    const rank = f ? SEVERITY_RANK[severityOf(f)] : SEVERITY_RANK.high;
    this.drafts.push({ outcome, rank, order: this.drafts.length });
  }
}

function ageText(ms: number): string {
  const hours = Math.floor(ms / 3_600_000);
  if (hours === 0) return 'less than an hour';
  if (hours < 48) return `${hours} hour${hours === 1 ? '' : 's'}`;
  const days = Math.floor(hours / 24);
  return `${days} days`;
}

function repositoryRules(c: Collector, rules: RuleSet, repo: RepoFacts, now: Date): void {
  const name = repoName(repo);

  const repos = rules.repositories;
  if (repos.action !== 'off') {
    const denied = firstMatch(repos.deny, repo);
    if (denied !== null) c.add('repositories', 'block', `${name} is denied by "${denied}"`);
    else if (repos.allow.length > 0 && firstMatch(repos.allow, repo) === null) c.add('repositories', 'block', `${name} is not an allowed repository`);
  }

  const pins = rules['pinned-revisions'];
  if (pins.action !== 'off') {
    const allowed = Object.entries(pins.pins).filter(([g]) => repoMatches(g, repo)).flatMap(([, commits]) => commits);
    const commit = repo.commit.toLowerCase();
    if (allowed.length > 0 && !allowed.some((p) => commit !== '' && commit.startsWith(p.toLowerCase()))) {
      c.add('pinned-revisions', 'block', `${name} at ${oneLine(repo.commit, 40).slice(0, 12) || 'an unknown commit'} is not a pinned revision`);
    }
  }

  if (rules['remote-code'].action !== 'off' && repo.remoteCode?.needed === 'unknown') {
    c.add('remote-code', 'block', `${name}: whether it needs trust_remote_code is unknown (${oneLine(repo.remoteCode.reason, 120)})`);
  } else if (rules['remote-code'].action !== 'off' && repo.remoteCode?.needed === true && 'files' in repo.remoteCode) {
    const files = repo.remoteCode.files.map((f) => oneLine(f, 80));
    const list = files.length === 0 ? '' : ` (${files.slice(0, 2).join(', ')}${files.length > 2 ? `, ${files.length - 2} more` : ''})`;
    c.add('remote-code', 'block', `${name} needs trust_remote_code${list}`);
  }

  const lic = rules.license;
  if (lic.action !== 'off') {
    const declared = repo.license?.trim();
    if (!declared) c.add('license', lic.unknown, `${name} declares no licence`);
    else if (!lic.allow.some((a) => a.toLowerCase() === declared.toLowerCase())) c.add('license', 'block', `${name} is licensed ${oneLine(declared, 60)}, not an allowed licence`);
  }

  const up = rules['upstream-verdict'];
  if (up.action !== 'off' && repo.upstreamScan && !repo.upstreamScan.scansDone) c.add('upstream-verdict', up['not-scanned'], `${name} has not been scanned by the upstream hub`);
  // Not knowing what the hub says about a file is not knowing it is clean.
  if (up.action !== 'off' && !repo.upstreamScan) c.add('upstream-verdict', up.unknown, `the upstream hub's verdict on ${name} is unknown (it could not be fetched)`);

  const age = rules['min-age'];
  if (age.action !== 'off') {
    const stamps = [
      { what: 'created', at: repo.createdAt ? Date.parse(repo.createdAt) : NaN },
      { what: 'modified', at: repo.lastModified ? Date.parse(repo.lastModified) : NaN },
    ].filter((s) => Number.isFinite(s.at));
    if (stamps.length === 0) c.add('min-age', age.unknown, `${name} has no creation or modification date`);
    else {
      // The newest change is what the cooldown waits out; on a tie "modified" is the clearer word.
      const latest = stamps.reduce((a, b) => (b.at >= a.at ? b : a));
      const elapsed = Math.max(0, now.getTime() - latest.at);
      if (elapsed < age.days * 86_400_000) c.add('min-age', 'block', `${name} was ${latest.what} ${ageText(elapsed)} ago, under the minimum age of ${age.days} day${age.days === 1 ? '' : 's'}`);
    }
  }
}

/**
 * Formats whose analyzer names what the container holds (fact `container`): `pytorch-zip`, `npz`,
 * `keras`, `pytorch-legacy-tar`, `keras-h5`. Only these take the refinement, so a polyglot that is
 * also a pickle is not approved by listing `pytorch-zip`.
 */
const CONTAINER_FORMATS = new Set(['zip', 'tar', 'hdf5']);

/** A file's formats as the policy names them: the report's, refined by what the container holds. */
function formatAlternatives(report: FileReport, format: string): string[] {
  const alts = [format];
  const container = report.facts?.['container'];
  const detail = report.facts?.['format.detail'];
  if (CONTAINER_FORMATS.has(format) && typeof container === 'string') alts.push(container);
  if (format === 'pickle' && typeof detail === 'string') alts.push(detail);
  return alts;
}

function fileRules(c: Collector, rules: RuleSet, repo: RepoFacts, file: FileFacts, client: PolicyInput['client']): void {
  const name = oneLine(file.path, MAX_NAME);

  const up = rules['upstream-verdict'];
  if (up.action !== 'off' && repo.upstreamScan) {
    for (const flagged of repo.upstreamScan.filesWithIssues) {
      if (flagged.path !== file.path) continue;
      c.add('upstream-verdict', flagged.level === 'unsafe' ? up.unsafe : up.caution, `${name} is marked ${flagged.level} by the upstream hub`);
    }
  }

  const report = file.report;
  if (!report) return;

  const sev = rules['scan-severity'];
  const findings = report.findings ?? [];
  if (sev.action !== 'off') {
    let sawUnscannable = false;
    for (const f of findings) {
      const owner = OWNED_KINDS[f.rule];
      if (owner !== undefined && rules[owner].action !== 'off') continue;
      const s = severityOf(f);
      if (RULES.get(f.rule)?.unscannable) {
        sawUnscannable = true;
        c.add('scan-severity', sev.unscannable, '', { finding: f, file: name, label: 'unscannable' });
        continue;
      }
      const computed: Action = atLeastThreshold(s, sev.block) ? 'block' : atLeastThreshold(s, sev.warn) ? 'warn' : 'off';
      c.add('scan-severity', computed, '', { finding: f, file: name, label: s });
    }
    // complete=false must always come with an unscannable finding; if a report lacks one, the
    // file is still not "clean".
    if (report.complete === false && !sawUnscannable) c.add('scan-severity', sev.unscannable, `${name} was not completely scanned`, { label: 'unscannable' });
  }

  if (rules['remote-code'].action !== 'off') {
    for (const f of findings) if (OWNED_KINDS[f.rule] === 'remote-code') c.add('remote-code', 'block', '', { finding: f, file: name, label: severityOf(f) });
  }

  const fmt = rules.formats;
  if (fmt.action !== 'off') {
    for (const format of report.formats ?? []) {
      if (fmt.ignore.includes(format) || NOT_A_FORMAT.has(format)) continue;
      const alts = formatAlternatives(report, format);
      if (alts.some((a) => fmt.allow.includes(a))) continue;
      const label = alts.length > 1 ? `${alts[1]} (${format})` : format;
      c.add('formats', 'block', `${name} is ${oneLine(label, 60)}, not an approved format`);
    }
  }
  if (rules['client-vulnerable'].action !== 'off') {
    for (const o of clientVulnerable(rules['client-vulnerable'], name, report, client)) c.add('client-vulnerable', o.action, o.reason, { label: o.label });
  }
}

function waiverActive(w: Waiver, now: number): boolean {
  if (w.repo === null && w.sha256 === null && w.rule === null) return false;
  const expires = Date.parse(w.expiresAt);
  if (!Number.isFinite(expires) || expires <= now) return false;
  if (w.revokedAt !== null) {
    // An unreadable revocation time still says someone revoked it.
    const revoked = Date.parse(w.revokedAt);
    if (!Number.isFinite(revoked) || revoked <= now) return false;
  }
  return true;
}

function waiverCovers(w: Waiver, o: RuleOutcome, repo: RepoFacts, sha256: string | null): boolean {
  if (w.repo !== null && !repoMatches(w.repo, repo)) return false;
  if (w.sha256 !== null && (sha256 === null || w.sha256.toLowerCase() !== sha256.toLowerCase())) return false;
  // A waiver's rule may name a policy rule (`formats`) or a finding kind (`PICKLE_UNKNOWN_GLOBAL`).
  if (w.rule !== null && w.rule !== o.rule && w.rule !== o.finding?.rule) return false;
  return true;
}

const RULE_ORDER = new Map<string, number>(RULE_NAMES.map((r, i) => [r, i]));

function byWorst(a: Draft, b: Draft): number {
  return (
    ACTION_RANK[b.outcome.action] - ACTION_RANK[a.outcome.action] ||
    b.rank - a.rank ||
    (RULE_ORDER.get(a.outcome.rule) ?? 99) - (RULE_ORDER.get(b.outcome.rule) ?? 99) ||
    a.order - b.order
  );
}

export function evaluateRules(rules: RuleSet, input: PolicyInput, policyVersion: string): Decision {
  const c = new Collector(rules);
  repositoryRules(c, rules, input.repo, input.now);
  if (input.file) fileRules(c, rules, input.repo, input.file, input.client);
  c.drafts.sort(byWorst);

  const now = input.now.getTime();
  const active = input.waivers.filter((w) => waiverActive(w, now));
  const sha256 = input.file ? (input.file.sha256 ?? input.file.report?.sha256 ?? null) : null;
  const outcomes: RuleOutcome[] = [];
  const waived: Decision['waived'] = [];
  for (const { outcome } of c.drafts) {
    const w = active.find((x) => waiverCovers(x, outcome, input.repo, sha256));
    if (w) waived.push({ ...outcome, waiver: w.id });
    else outcomes.push(outcome);
  }
  const verdict: Verdict = outcomes.some((o) => o.action === 'block') ? 'block' : outcomes.length > 0 ? 'warn' : 'allow';
  return { verdict, outcomes, waived, policyVersion };
}

export class CompiledPolicy implements Policy {
  constructor(
    readonly version: string,
    private readonly base: RuleSet,
    private readonly groupRules: ReadonlyMap<string, RuleSet>,
  ) {}

  /** Group names the policy defines besides `default`. */
  get groups(): string[] {
    return [...this.groupRules.keys()];
  }

  /** The effective rules of a group; unknown groups (and `default`) get the top-level rules. */
  rulesFor(group: string): RuleSet {
    return this.groupRules.get(group) ?? this.base;
  }

  evaluate(input: PolicyInput): Decision {
    return evaluateRules(this.rulesFor(input.group), input, this.version);
  }
}
