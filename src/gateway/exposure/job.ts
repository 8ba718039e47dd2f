/**
 * Exposure: after the scanner or its rules change (a new engine key), or a waiver expires, every
 * cached file is judged again in the background — its blob rescanned from the blob store with the
 * running engine (never downloaded again), then the running policy applied to each decision that
 * served it — and each file whose verdict got worse is recorded, together with an audit record
 * naming it (one transaction), which the audit sink then copies to the webhook and syslog.
 *
 * Work is shared through the store (store/exposure.ts): items are claimed with a lease, so a
 * crash or restart mid-run resumes where it stopped, replicas split a run between them, and a
 * worsened file is recorded and announced once however often, or however concurrently, it is judged.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Policy } from '../../policy/types.js';
import type { FileReport } from '../../scan/report.js';
import type { ExposureReason, ExposureRun, ServedDecision } from '../../store/console-types.js';
import type { AuditRecord, BlobStore, Store, StoredScan } from '../../store/types.js';
import { replay, verdictRank } from '../replay.js';

export type ExposureTrigger =
  | { reason: 'engine'; previous: string[] }
  | { reason: 'waiver'; waiverId: string; detail?: string }
  | { reason: 'manual'; by: string };

export interface ExposureLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ExposureDeps {
  store: Store;
  blobs: Pick<BlobStore, 'localPath'>;
  /** Scans a local blob with the running engine (the gateway's scan pool). */
  scan(path: string, displayName: string): Promise<FileReport>;
  engineKey: string;
  /** The policy in force now (it may be reloaded while a run goes on). */
  policy(): Policy;
  /** The webhook and syslog copies of a record the store already holds (AuditSink.forward). */
  audit: { forward(rec: AuditRecord, id: number): void };
  log: ExposureLog;
  /** Files judged at once by this process. */
  concurrency: number;
  /** How long a claimed file stays this process's before another may take it over. */
  leaseMs?: number;
  now?: () => Date;
}

export const EXPOSURE_CLIENT = 'modelgate/exposure';
export const EXPOSURE_METHOD = 'EXPOSURE';
const DEFAULT_LEASE_MS = 15 * 60_000;
const MAX_MESSAGE = 900;

function short(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 16);
}

export function runIdFor(trigger: ExposureTrigger, engineKey: string): string {
  if (trigger.reason === 'engine') return `e-${short(engineKey)}`;
  if (trigger.reason === 'waiver') return `w-${short(trigger.waiverId)}`;
  return `m-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

function detailOf(trigger: ExposureTrigger, engineKey: string): string {
  if (trigger.reason === 'engine') return `engine ${trigger.previous.length ? trigger.previous.join(', ') : '(unknown)'} -> ${engineKey}`;
  if (trigger.reason === 'waiver') return trigger.detail ?? `waiver ${trigger.waiverId} expired`;
  return `asked for by ${trigger.by}`;
}

function fileName(d: { repo: string; commit: string | null; path: string | null }): string {
  return `${d.repo}@${(d.commit ?? '').slice(0, 12)}/${d.path ?? ''}`;
}

export class ExposureJob {
  /** This process, as the owner of the items it claims. */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly active = new Map<string, Promise<void>>();
  private closing = false;
  private readonly now: () => Date;
  private readonly leaseMs: number;

  constructor(private readonly deps: ExposureDeps) {
    this.now = deps.now ?? (() => new Date());
    this.leaseMs = deps.leaseMs ?? DEFAULT_LEASE_MS;
  }

  /** Runs being worked on by this process. */
  get running(): string[] {
    return [...this.active.keys()];
  }

  /**
   * At start-up: resume the runs a stop or crash left unfinished, then start one when cached
   * files were scanned only by another engine (scanner, analyzer or rules version).
   */
  async startUp(): Promise<void> {
    for (const run of await this.deps.store.listExposureRuns(50)) if (run.finishedAt === null) this.kick(run.id);
    const stale = await this.deps.store.staleScans(this.deps.engineKey);
    if (stale.files > 0) {
      this.deps.log.info({ files: stale.files, previous: stale.engines, engine: this.deps.engineKey }, 'cached files were scanned by another engine: re-evaluating them');
      await this.request({ reason: 'engine', previous: stale.engines });
    }
  }

  /**
   * Starts a run (or joins the one this trigger already started: an engine key or a waiver has
   * one run, whichever process asks first) and returns its id. The waiver-expiry job calls this
   * with `{ reason: 'waiver', waiverId }`.
   */
  async request(trigger: ExposureTrigger): Promise<string> {
    const run: ExposureRun = {
      id: runIdFor(trigger, this.deps.engineKey),
      reason: trigger.reason satisfies ExposureReason,
      detail: detailOf(trigger, this.deps.engineKey),
      engineKey: this.deps.engineKey,
      policyVersion: this.deps.policy().version,
      createdAt: this.now().toISOString(),
      finishedAt: null,
      total: 0,
    };
    await this.deps.store.createExposureRun(run);
    const stored = await this.deps.store.getExposureRun(run.id);
    if (stored && stored.finishedAt === null) this.kick(run.id);
    return run.id;
  }

  /** Resolves when this process has nothing left to do (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.allSettled([...this.active.values()]);
  }

  /** Stops claiming, gives claimed files back, and waits for the files being judged. */
  async close(): Promise<void> {
    this.closing = true;
    const runs = [...this.active.keys()];
    await this.releaseAll(runs);
    await this.idle();
    // A claim that was on its way when the flag went up.
    await this.releaseAll(runs);
  }

  private async releaseAll(runs: string[]): Promise<void> {
    for (const id of runs) await this.deps.store.releaseExposureItems(id, this.owner).catch(() => 0);
  }

  private kick(runId: string): void {
    if (this.closing || this.active.has(runId)) return;
    const work = this.work(runId)
      .catch((e: unknown) => this.deps.log.warn({ run: runId, err: (e as Error).message }, 'exposure run stopped; it resumes at the next start-up'))
      .finally(() => this.active.delete(runId));
    this.active.set(runId, work);
  }

  private async work(runId: string): Promise<void> {
    const n = Math.max(1, Math.floor(this.deps.concurrency));
    await Promise.all(Array.from({ length: n }, () => this.loop(runId)));
    if (this.closing) return;
    if (await this.deps.store.finishExposureRun(runId, this.now().toISOString())) {
      const p = await this.deps.store.exposureProgress(runId);
      this.deps.log.info({ run: runId, ...p }, 'exposure run finished');
    }
  }

  private async loop(runId: string): Promise<void> {
    while (!this.closing) {
      const t = this.now();
      const sha256 = await this.deps.store.claimExposureItem(runId, this.owner, t.toISOString(), new Date(t.getTime() + this.leaseMs).toISOString());
      if (sha256 === null) return;
      try {
        const note = await this.judge(runId, sha256);
        await this.deps.store.settleExposureItem(runId, sha256, note.state, note.note, this.now().toISOString());
      } catch (e) {
        // Shutting down (the scan pool closed under it): the file was given back, not failed.
        if (this.closing) return;
        const msg = (e as Error).message;
        this.deps.log.warn({ run: runId, sha256, err: msg }, 'exposure: a file could not be judged');
        // When even this fails the store is down: stop, and the lease hands the file on later.
        await this.deps.store.settleExposureItem(runId, sha256, 'failed', msg, this.now().toISOString());
      }
    }
  }

  /** The stored scan of these bytes by the running engine, scanning the cached blob when there is none. */
  private async currentScan(sha256: string, blobPath: string, displayName: string): Promise<StoredScan> {
    const have = await this.deps.store.getScan(sha256, this.deps.engineKey);
    if (have) return have;
    const report = await this.deps.scan(blobPath, displayName);
    const scan: StoredScan = {
      id: randomBytes(9).toString('base64url'),
      sha256,
      engineKey: this.deps.engineKey,
      report,
      maxSeverity: report.maxSeverity,
      complete: report.complete,
      createdAt: this.now().toISOString(),
    };
    await this.deps.store.putScan(scan);
    // Another process may have stored its scan first: that one is the scan of record.
    return (await this.deps.store.getScan(sha256, this.deps.engineKey)) ?? scan;
  }

  private async judge(runId: string, sha256: string): Promise<{ state: 'done' | 'skipped'; note: string | null }> {
    const blobPath = await this.deps.blobs.localPath(sha256);
    if (!blobPath) return { state: 'skipped', note: 'the blob is no longer cached (files are never downloaded again for a re-evaluation)' };
    const served = await this.deps.store.servedDecisions(sha256);
    const scan = await this.currentScan(sha256, blobPath, served[0]?.path ?? sha256);
    const policy = this.deps.policy();
    const now = this.now();
    const waivers = await this.deps.store.listWaivers({ activeAt: now.toISOString() });
    let worse = 0;
    for (const d of served) {
      const r = replay(policy, d, scan.report, { now, waivers });
      if (verdictRank(r.verdict) <= verdictRank(d.verdict)) continue;
      worse++;
      const rules = r.outcomes.map((o) => ({ rule: o.rule, action: o.action, reason: o.reason }));
      const announcement = await this.announcement(runId, d, r.verdict, rules, scan, policy.version);
      const { auditId } = await this.deps.store.addExposure(
        {
          runId,
          foundAt: now.toISOString(),
          sha256,
          repoType: d.repoType,
          repo: d.repo,
          commit: d.commit,
          path: d.path,
          group: d.group,
          basisAuditId: d.id,
          before: d.verdict,
          after: r.verdict,
          rules,
          findings: scan.report.findings.slice(0, 20).map((f) => ({ rule: f.rule, severity: f.severity, message: f.message })),
          scanId: scan.id,
          engineKey: this.deps.engineKey,
          auditId: null,
        },
        announcement,
      );
      // Only the writer of the exposure (and of its record) copies the record to the SIEM sinks.
      if (auditId !== null) this.deps.audit.forward(announcement, auditId);
    }
    return { state: 'done', note: `${served.length} served decision${served.length === 1 ? '' : 's'}, ${worse} worse` };
  }

  /** The audit record announcing a worsened file (written by the store with the exposure itself). */
  private async announcement(runId: string, d: ServedDecision, after: AuditRecord['verdict'], rules: AuditRecord['rules'], scan: StoredScan, policyVersion: string): Promise<AuditRecord> {
    const { total, downloads } = await this.deps.store.servedDownloads(scan.sha256, 20);
    const who = [...new Set(downloads.map((x) => x.client))].slice(0, 5);
    const why = rules[0]?.reason;
    const message = `exposure: ${fileName(d)} was ${d.verdict} when served and is now ${after}${why ? ` (${why})` : ''}; served ${total} time${total === 1 ? '' : 's'}, latest to ${who.join(', ')}`;
    return {
      time: this.now().toISOString(),
      requestId: `exposure-${runId}-${d.id}`,
      client: EXPOSURE_CLIENT,
      group: d.group,
      method: EXPOSURE_METHOD,
      repoType: d.repoType,
      repo: d.repo,
      revision: d.revision,
      commit: d.commit,
      path: d.path,
      sha256: scan.sha256,
      verdict: after,
      rules,
      findings: scan.report.findings.slice(0, 50).map((f) => ({ rule: f.rule, severity: f.severity, message: f.message })),
      waivers: [],
      upstreamStatus: null,
      scanId: scan.id,
      policyVersion,
      message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message,
    };
  }
}
