/**
 * From a scanned file to a decision: gathers the repository facts the policy needs (upstream
 * repo info, the hub's own verdict, custom code from config.json), evaluates the policy with the
 * active waivers, and records the audit entry before any byte is answered.
 */
import { createHash } from 'node:crypto';
import type { ClientFacts, Policy, Decision, RepoFacts } from '../policy/types.js';
import type { AuditRecord, AuditVerdict, RepoFactsNote, Store } from '../store/types.js';
import { LocalFlight, type FileService, type ScannedFile } from './files.js';
import type { ResolveTarget } from './paths.js';
import { apiPrefix } from './paths.js';
import { UpstreamError, type Upstream } from './upstream.js';

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

export interface GatekeeperOptions {
  /** Bound on reading config.json for the custom-code fact; past it the fact is unknown. */
  factsTimeoutMs: number;
  /** A larger config.json is not fetched for the fact (unknown). */
  configJsonMaxBytes: number;
}

const DEFAULT_OPTIONS: GatekeeperOptions = { factsTimeoutMs: 60_000, configJsonMaxBytes: 4 << 20 };

export class Gatekeeper {
  private facts = new Map<string, CachedFacts>();
  /** Concurrent asks for one repository's info share one upstream call. */
  private infoFlight = new LocalFlight();
  private noted = new Set<string>();
  #policy: Policy;

  constructor(
    private readonly store: Store,
    private readonly files: FileService,
    private readonly upstream: Upstream,
    policy: Policy,
    private readonly opts: GatekeeperOptions = DEFAULT_OPTIONS,
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

  /**
   * Repository facts at a commit from the upstream's repo info (no download). Never throws: what
   * could not be learned stays absent, which the policy reads as unknown. Only a complete answer
   * is cached; a failed lookup is asked again by the next request.
   */
  async repoFacts(t: ResolveTarget, commit: string, auth: Record<string, string>): Promise<RepoFacts> {
    const key = `${t.type}:${t.id}@${commit}`;
    const hit = this.facts.get(key);
    if (hit && hit.expires > Date.now()) return { ...hit.facts, revision: t.revision };
    // Keyed by credentials too: one user's refusal (a gated repo) must not become another's.
    const who = auth['authorization'] ? createHash('sha256').update(auth['authorization']).digest('hex').slice(0, 16) : '-';
    const got = await this.infoFlight.run(`${who}|${key}`, () => this.fetchInfo(t, commit, auth));
    if (got.complete) {
      if (this.facts.size >= FACTS_MAX) this.facts.delete(this.facts.keys().next().value!);
      this.facts.set(key, { facts: got.facts, expires: Date.now() + FACTS_TTL_MS });
      this.note(`${key}|license`, { repoType: t.type, repo: t.id, commit, license: got.facts.license ?? null, at: new Date().toISOString() });
    }
    return { ...got.facts, revision: t.revision };
  }

  private async fetchInfo(t: ResolveTarget, commit: string, auth: Record<string, string>): Promise<{ facts: RepoFacts; complete: boolean }> {
    const facts: RepoFacts = { type: t.type, id: t.id, revision: t.revision, commit };
    let info: UpstreamInfo;
    try {
      const res = await this.upstream.api('GET', `${apiPrefix(t)}/revision/${commit}?securityStatus=true`, auth, undefined, t);
      if (res.status !== 200) return { facts, complete: false };
      info = JSON.parse(res.body.toString('utf8')) as UpstreamInfo;
      if (info === null || typeof info !== 'object') return { facts, complete: false };
    } catch {
      // Unknown facts: the rules that need them decide what unknown means.
      return { facts, complete: false };
    }
    if (typeof info.createdAt === 'string') facts.createdAt = info.createdAt;
    if (typeof info.lastModified === 'string') facts.lastModified = info.lastModified;
    const lic = info.cardData?.license;
    if (typeof lic === 'string') facts.license = lic;
    else if (Array.isArray(lic) && typeof lic[0] === 'string') facts.license = lic[0];
    if (Array.isArray(info.siblings)) facts.files = info.siblings.map((s) => s?.rfilename).filter((x): x is string => typeof x === 'string');
    const sec = info.securityRepoStatus;
    if (sec && typeof sec.scansDone === 'boolean') {
      facts.upstreamScan = {
        scansDone: sec.scansDone,
        filesWithIssues: (Array.isArray(sec.filesWithIssues) ? sec.filesWithIssues : [])
          .filter((f): f is { path: string; level: 'unsafe' | 'caution' } => typeof f?.path === 'string' && (f.level === 'unsafe' || f.level === 'caution'))
          .map((f) => ({ path: f.path, level: f.level })),
      };
    }
    return { facts, complete: true };
  }

  /**
   * Whether the repository needs custom code (config.json auto_map), bounded in time and size:
   * a config.json that drips or is huge must not hold every file of its repository.
   */
  private async remoteCode(t: ResolveTarget, commit: string, auth: Record<string, string>, files: string[] | undefined): Promise<RepoFacts['remoteCode']> {
    if (files !== undefined && !files.includes('config.json')) return undefined;
    const cfgTarget: ResolveTarget = { ...t, revision: commit, path: 'config.json' };
    const work = (async (): Promise<RepoFacts['remoteCode']> => {
      const meta = await this.files.metadata(cfgTarget, auth);
      if (meta.size > this.opts.configJsonMaxBytes) return { needed: 'unknown', reason: `config.json is ${meta.size} bytes, over configJsonMaxBytes (${this.opts.configJsonMaxBytes})` };
      return remoteCodeFrom(await this.files.ensure(cfgTarget, meta, auth));
    })().catch((e: unknown): RepoFacts['remoteCode'] => {
      if (e instanceof UpstreamError && e.status === 404) return undefined;
      return { needed: 'unknown', reason: `config.json could not be read: ${(e as Error).message}` };
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<RepoFacts['remoteCode']>((resolve) => {
      timer = setTimeout(() => resolve({ needed: 'unknown', reason: `config.json was not read within factsTimeoutMs (${this.opts.factsTimeoutMs} ms)` }), this.opts.factsTimeoutMs);
    });
    try {
      return await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Keeps what was learned about a repository (licence, custom code) for the console's
   * inventory. Best effort and off the request's path: the decision never waits for it, and a
   * failed write only leaves the inventory's fact unknown. Each distinct fact is written once
   * per process (bounded memory), not on every download.
   */
  private note(key: string, f: RepoFactsNote): void {
    if (this.noted.has(key)) return;
    if (this.noted.size >= FACTS_MAX) this.noted.delete(this.noted.values().next().value!);
    this.noted.add(key);
    this.store.noteRepoFacts(f).catch(() => this.noted.delete(key));
  }

  /** The repository-level decision (file = null): made before anything is downloaded. */
  async decideRepo(t: ResolveTarget, commit: string, client: ClientIdentity, auth: Record<string, string>): Promise<Decision> {
    const [repo, waivers] = await Promise.all([this.repoFacts(t, commit, auth), this.store.listWaivers({ activeAt: new Date().toISOString() })]);
    return this.policy.evaluate({ repo, file: null, group: client.group, now: new Date(), waivers });
  }

  /**
   * The file decision, made per request: `agent` (the client's declared libraries) may change it,
   * so a decision is never reused for another request; only the scan is shared by file bytes.
   */
  async decide(t: ResolveTarget, file: ScannedFile, client: ClientIdentity, auth: Record<string, string>, agent?: ClientFacts): Promise<Decision> {
    const [repo, waivers] = await Promise.all([this.repoFacts(t, file.meta.commit, auth), this.store.listWaivers({ activeAt: new Date().toISOString() })]);
    const remote = t.path === 'config.json' ? remoteCodeFrom(file) : await this.remoteCode(t, file.meta.commit, auth, repo.files);
    if (remote !== undefined) {
      repo.remoteCode = remote;
      const files = 'files' in remote ? remote.files : [];
      this.note(`${t.type}:${t.id}@${file.meta.commit}|remote|${String(remote.needed)}|${files.join(',')}`, { repoType: t.type, repo: t.id, commit: file.meta.commit, remoteCode: { needed: remote.needed, files }, at: new Date().toISOString() });
    }
    return this.policy.evaluate({
      repo,
      file: { path: t.path, sha256: file.sha256, size: file.size, report: file.scan.report },
      group: client.group,
      now: new Date(),
      waivers,
      ...(agent ? { client: agent } : {}),
    });
  }
}

function remoteCodeFrom(f: ScannedFile): { needed: boolean; files: string[] } {
  const hits = f.scan.report.findings.filter((x) => x.rule === 'REPO_REMOTE_CODE');
  const files = new Set<string>();
  for (const h of hits) for (const file of h.evidence.files ?? []) files.add(file);
  return { needed: hits.length > 0, files: [...files] };
}

export function auditFrom(
  base: Pick<AuditRecord, 'requestId' | 'client' | 'group' | 'method' | 'repoType' | 'repo' | 'revision'> & Partial<Pick<AuditRecord, 'clientLibraries'>>,
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
    /** sha256 of the refusal link's secret (refusals only). */
    ticketHash?: string | null;
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
    clientLibraries: base.clientLibraries ?? null,
    ...(fields.ticketHash ? { ticketHash: fields.ticketHash } : {}),
  };
}
