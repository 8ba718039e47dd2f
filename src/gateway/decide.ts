/**
 * From a scanned file to a decision: gathers the repository facts the policy needs (upstream
 * repo info, the hub's own verdict, custom code from config.json), evaluates the policy with the
 * active waivers, and records the audit entry before any byte is answered.
 */
import type { Policy, Decision, RepoFacts } from '../policy/types.js';
import type { AuditRecord, AuditVerdict, Store } from '../store/types.js';
import type { FileService, ScannedFile } from './files.js';
import type { ResolveTarget } from './paths.js';
import { apiPrefix } from './paths.js';
import type { Upstream } from './upstream.js';

export interface ClientIdentity {
  /** Token name or anonymous@ip: never a secret. */
  name: string;
  group: string;
}

interface CachedFacts {
  facts: RepoFacts;
  expires: number;
}

const FACTS_TTL_MS = 5 * 60_000;
const FACTS_MAX = 2_000;

interface UpstreamInfo {
  sha?: string;
  createdAt?: string;
  lastModified?: string;
  cardData?: { license?: unknown };
  siblings?: Array<{ rfilename?: string }>;
  securityRepoStatus?: { scansDone?: boolean; filesWithIssues?: Array<{ path?: string; level?: string }> };
}

export class Gatekeeper {
  private facts = new Map<string, CachedFacts>();
  #policy: Policy;

  constructor(
    private readonly store: Store,
    private readonly files: FileService,
    private readonly upstream: Upstream,
    policy: Policy,
  ) {
    this.#policy = policy;
  }

  /** The policy in force; each decision carries the version of the policy that made it. */
  get policy(): Policy {
    return this.#policy;
  }

  /** Swaps the policy for every later decision (reload without restart); returns the previous one. */
  replacePolicy(next: Policy): Policy {
    const prev = this.#policy;
    this.#policy = next;
    return prev;
  }

  /** Repository facts at a commit; partial (never throwing) when upstream cannot say. */
  async repoFacts(t: ResolveTarget, commit: string, auth: Record<string, string>): Promise<RepoFacts> {
    const key = `${t.type}:${t.id}@${commit}`;
    const hit = this.facts.get(key);
    if (hit && hit.expires > Date.now()) return hit.facts;
    const facts: RepoFacts = { type: t.type, id: t.id, revision: t.revision, commit };
    try {
      const res = await this.upstream.api('GET', `${apiPrefix(t)}/revision/${commit}?securityStatus=true`, auth);
      if (res.status === 200) {
        const info = JSON.parse(res.body.toString('utf8')) as UpstreamInfo;
        if (info.createdAt) facts.createdAt = info.createdAt;
        if (info.lastModified) facts.lastModified = info.lastModified;
        const lic = info.cardData?.license;
        if (typeof lic === 'string') facts.license = lic;
        else if (Array.isArray(lic) && typeof lic[0] === 'string') facts.license = lic[0];
        if (Array.isArray(info.siblings)) facts.files = info.siblings.map((s) => s.rfilename).filter((x): x is string => typeof x === 'string');
        const sec = info.securityRepoStatus;
        if (sec && typeof sec.scansDone === 'boolean') {
          facts.upstreamScan = {
            scansDone: sec.scansDone,
            filesWithIssues: (sec.filesWithIssues ?? [])
              .filter((f): f is { path: string; level: 'unsafe' | 'caution' } => typeof f.path === 'string' && (f.level === 'unsafe' || f.level === 'caution'))
              .map((f) => ({ path: f.path, level: f.level })),
          };
        }
      }
    } catch {
      // Facts stay partial: rules that need them decide what unknown means.
    }
    // Custom code is declared in config.json (auto_map); its scan says which files it needs.
    if (t.path !== 'config.json' && (facts.files === undefined || facts.files.includes('config.json'))) {
      try {
        const cfgTarget: ResolveTarget = { ...t, revision: commit, path: 'config.json' };
        const meta = await this.files.metadata(cfgTarget, auth);
        const scanned = await this.files.ensure(cfgTarget, meta, auth);
        facts.remoteCode = remoteCodeFrom(scanned);
      } catch {
        // No config.json, or it could not be fetched: unknown.
      }
    }
    if (this.facts.size >= FACTS_MAX) this.facts.delete(this.facts.keys().next().value!);
    this.facts.set(key, { facts, expires: Date.now() + FACTS_TTL_MS });
    return facts;
  }

  async decide(t: ResolveTarget, file: ScannedFile, client: ClientIdentity, auth: Record<string, string>): Promise<Decision> {
    const [repo, waivers] = await Promise.all([this.repoFacts(t, file.meta.commit, auth), this.store.listWaivers({ activeAt: new Date().toISOString() })]);
    if (t.path === 'config.json') repo.remoteCode = remoteCodeFrom(file);
    return this.policy.evaluate({
      repo,
      file: { path: t.path, sha256: file.sha256, size: file.meta.size, report: file.scan.report },
      group: client.group,
      now: new Date(),
      waivers,
    });
  }
}

function remoteCodeFrom(f: ScannedFile): RepoFacts['remoteCode'] {
  const hits = f.scan.report.findings.filter((x) => x.rule === 'REPO_REMOTE_CODE');
  const files = new Set<string>();
  for (const h of hits) {
    const d = h.evidence.details ?? {};
    for (const v of Object.values(d)) if (typeof v === 'string' && v.endsWith('.py')) files.add(v);
  }
  return { needed: hits.length > 0, files: [...files] };
}

export function auditFrom(
  base: Pick<AuditRecord, 'requestId' | 'client' | 'group' | 'method' | 'repoType' | 'repo' | 'revision'>,
  fields: {
    commit?: string | null;
    path?: string | null;
    sha256?: string | null;
    verdict: AuditVerdict;
    decision?: Decision;
    file?: ScannedFile;
    upstreamStatus?: number | null;
    message?: string | null;
    policyVersion: string;
  },
): AuditRecord {
  const d = fields.decision;
  return {
    ...base,
    time: new Date().toISOString(),
    commit: fields.commit ?? null,
    path: fields.path ?? null,
    sha256: fields.sha256 ?? null,
    verdict: fields.verdict,
    rules: d ? d.outcomes.map((o) => ({ rule: o.rule, action: o.action, reason: o.reason })) : [],
    findings: fields.file ? fields.file.scan.report.findings.slice(0, 50).map((f) => ({ rule: f.rule, severity: f.severity, message: f.message })) : [],
    waivers: d ? d.waived.map((w) => w.waiver) : [],
    upstreamStatus: fields.upstreamStatus ?? null,
    scanId: fields.file?.scan.id ?? null,
    policyVersion: fields.policyVersion,
    message: fields.message ?? null,
  };
}
