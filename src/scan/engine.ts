/**
 * The scan engine: sniffs a source by its bytes, dispatches it to every analyzer that claims
 * it, recurses into members with depth and budget limits, and turns every error into a finding
 * on the file that contained it. Nothing here knows a format.
 */
import { createHash } from 'node:crypto';
import type { Finding, Severity } from '../core/findings.js';
import { SEVERITY_RANK, SEVERITIES, worst } from '../core/findings.js';
import { resolveLimits, type Limits } from '../core/limits.js';
import { ruleKind } from '../core/rules.js';
import { packageVersion } from '../core/package.js';
import type { AnalysisContext, Analyzer, Claim, FactValue, FindingDraft, ImportRecord, MemberOptions } from '../formats/types.js';
import { defaultGlobalCatalogue, type GlobalCatalogue } from '../rules/globals.js';
import { SourceError, type ByteSource } from '../source/types.js';
import { checkArchiveExternalDataLinks } from './links.js';
import { ANALYZERS, analyzerVersions } from './registry.js';
import type { EngineInfo, FileReport, MemberRecord } from './report.js';

export interface ScanOptions {
  limits?: Partial<Limits>;
  analyzers?: readonly Analyzer[];
  globals?: GlobalCatalogue;
  /** Compute the sha256 of each top-level file (reads it whole). */
  hash?: boolean;
}

const HEAD = 64 * 1024;
/** End-of-central-directory search window: 22-byte record + 64 KiB comment. */
const TAIL = 22 + 65535 + 20;
const MAX_MEMBER_RECORDS = 10_000;
const MAX_FINDINGS_PER_FILE = 2_000;
/** Claims below this confidence are ignored. */
const MIN_CONFIDENCE = 0.5;
/**
 * The best claim always runs. Others run too when they rest on a magic number (polyglots are
 * scanned every way a loader could read them), but not when they are only heuristics such as
 * the protocol-0 pickle walk, which many binary headers happen to pass.
 */
const SECONDARY_CONFIDENCE = 0.85;
/** Lowest claim taken for a member read as raw numbers (MemberOptions.sniffBytes). */
const RAW_MEMBER_CONFIDENCE = 0.7;

export interface SniffResult {
  claims: Array<{ analyzer: Analyzer; claim: Claim }>;
  errors: Array<{ analyzer: Analyzer; error: unknown }>;
}

export class Engine {
  readonly limits: Limits;
  readonly analyzers: readonly Analyzer[];
  readonly globals: GlobalCatalogue;
  readonly info: EngineInfo;
  private readonly hash: boolean;

  constructor(opts: ScanOptions = {}) {
    this.limits = resolveLimits(opts.limits);
    this.analyzers = opts.analyzers ?? ANALYZERS;
    this.globals = opts.globals ?? defaultGlobalCatalogue();
    this.hash = opts.hash ?? false;
    this.info = { name: 'modelgate', version: packageVersion(), rulesVersion: this.globals.version, analyzers: analyzerVersions(this.analyzers) };
  }

  /** Scan one top-level source. Never throws: every failure is a finding in the report. */
  async scanSource(source: ByteSource, displayPath = source.name): Promise<FileReport> {
    const scan = new FileScan(this, displayPath, source);
    await scan.run(this.hash);
    // Needs the whole file's findings and facts: which archive links an ONNX member's data goes through.
    checkArchiveExternalDataLinks(scan.report);
    return scan.report;
  }

  /**
   * Every analyzer's claim on these bytes, best first, and the analyzers whose sniff threw: a
   * sniff that crashes may be the one analyzer that would have read the file, so its failure is
   * reported (the caller turns it into a SCAN_ERROR), never taken for "not mine".
   */
  sniff(head: Uint8Array, tail: Uint8Array, size: number | null, name: string): SniffResult {
    const claims: Array<{ analyzer: Analyzer; claim: Claim }> = [];
    const errors: Array<{ analyzer: Analyzer; error: unknown }> = [];
    for (const analyzer of this.analyzers) {
      let claim: Claim | null = null;
      try {
        claim = analyzer.sniff({ head, tail, size, name });
      } catch (error) {
        errors.push({ analyzer, error });
        continue;
      }
      if (claim && claim.confidence >= MIN_CONFIDENCE) claims.push({ analyzer, claim });
    }
    return { claims: claims.sort((a, b) => b.claim.confidence - a.claim.confidence), errors };
  }
}

function isText(b: Uint8Array): boolean {
  if (b.length === 0) return true;
  let bad = 0;
  for (const c of b.subarray(0, 8192)) {
    if (c === 0) return false;
    if (c < 0x09 || (c > 0x0d && c < 0x20 && c !== 0x1b)) bad++;
  }
  if (bad > 0) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(0, Math.max(0, Math.min(b.length, 8192) - 4)));
    return true;
  } catch {
    return false;
  }
}

/** State of one top-level file's scan; AnalysisContexts are views of it at a path and depth. */
class FileScan {
  readonly report: FileReport;
  private readonly deadline: number;
  private decompressed = 0;
  private incompleteReasons = new Set<string>();
  private started = Date.now();

  constructor(
    private readonly engine: Engine,
    path: string,
    private readonly source: ByteSource,
  ) {
    this.deadline = this.started + engine.limits.timeoutMs;
    this.report = {
      path,
      size: source.size,
      formats: [],
      findings: [],
      facts: {},
      imports: [],
      members: [],
      complete: true,
      maxSeverity: null,
      bytesRead: 0,
      durationMs: 0,
    };
  }

  async run(hash: boolean): Promise<void> {
    const root = this.context([this.report.path], 0);
    try {
      const formats = await this.dispatch(this.source, root);
      this.report.formats = formats;
      if (hash && this.source.size !== null) this.report.sha256 = await sha256Of(this.source);
    } catch (e) {
      // dispatch never throws by design; this is the last line of defence.
      root.emit({ rule: 'SCAN_ERROR', message: `internal error: ${errorText(e)}` });
      this.markIncomplete(root, 'internal error');
    }
    this.report.bytesRead = this.source.bytesRead();
    this.report.durationMs = Date.now() - this.started;
    this.report.maxSeverity = worst(this.report.findings.map((f) => f.severity));
    this.report.findings.sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]);
  }

  private emit(path: readonly string[], d: FindingDraft): void {
    const kind = ruleKind(d.rule);
    if (this.report.findings.length >= MAX_FINDINGS_PER_FILE) {
      if (this.report.findings.length === MAX_FINDINGS_PER_FILE) {
        this.report.findings.push({
          rule: 'SCAN_INCOMPLETE',
          severity: 'medium',
          message: `more than ${MAX_FINDINGS_PER_FILE} findings; the rest were dropped`,
          location: { path: [...path] },
          evidence: {},
          references: [],
        });
        this.report.complete = false;
      }
      // Never drop a finding worse than everything kept so far.
      const worstKept = worst(this.report.findings.map((f) => f.severity));
      const sev = d.severity ?? kind.severity;
      if (worstKept !== null && SEVERITY_RANK[sev] <= SEVERITY_RANK[worstKept]) return;
    }
    const f: Finding = {
      rule: d.rule,
      severity: d.severity ?? kind.severity,
      message: d.message,
      location: d.offset === undefined ? { path: [...path] } : { path: [...path], offset: d.offset },
      evidence: d.evidence ?? {},
      references: d.references ?? [],
    };
    this.report.findings.push(f);
  }

  private markIncomplete(ctx: AnalysisContext, reason: string, offset?: number): void {
    this.report.complete = false;
    const key = `${ctx.path.join(' › ')}|${reason}`;
    if (this.incompleteReasons.has(key) || this.incompleteReasons.size > 20) return;
    this.incompleteReasons.add(key);
    ctx.emit({ rule: 'SCAN_INCOMPLETE', message: `not completely scanned: ${reason}`, ...(offset !== undefined ? { offset } : {}) });
  }

  context(path: readonly string[], depth: number): AnalysisContext {
    const self = this;
    const ctx: AnalysisContext = {
      limits: this.engine.limits,
      globals: this.engine.globals,
      path,
      depth,
      emit: (d) => self.emit(path, d),
      fact: (key: string, value: FactValue) => {
        const k = depth === 0 ? key : `${path.slice(1).join(' › ')}: ${key}`;
        self.report.facts[k] = value;
      },
      recordImport: (rec: Omit<ImportRecord, 'path'>) => {
        if (self.report.imports.length < 10_000) self.report.imports.push({ ...rec, path: [...path] });
      },
      scanMember: (member: ByteSource, opts?: MemberOptions) => self.member(ctx, member, opts),
      chargeDecompressed: (bytes: number) => {
        self.decompressed += bytes;
        return self.decompressed <= self.engine.limits.maxTotalDecompressedBytes;
      },
      expired: () => Date.now() > self.deadline,
      incomplete: (reason: string, offset?: number) => self.markIncomplete(ctx, reason, offset),
    };
    return ctx;
  }

  private async member(parent: AnalysisContext, member: ByteSource, opts?: MemberOptions): Promise<void> {
    const path = [...parent.path, member.name];
    if (parent.depth + 1 > this.engine.limits.maxDepth) {
      parent.emit({ rule: 'ARCHIVE_TOO_DEEP', message: `${member.name} is nested deeper than ${this.engine.limits.maxDepth} containers; not scanned` });
      this.markIncomplete(parent, 'nesting limit');
      return;
    }
    if (parent.expired()) {
      this.markIncomplete(parent, `time budget of ${this.engine.limits.timeoutMs} ms exhausted before ${member.name}`);
      return;
    }
    const ctx = this.context(path, parent.depth + 1);
    const formats = await this.dispatch(member, ctx, opts?.sniffBytes);
    if (this.report.members.length < MAX_MEMBER_RECORDS) {
      const rec: MemberRecord = { path: path.slice(1), formats, size: member.size };
      this.report.members.push(rec);
    }
  }

  /** Sniff and analyse one source; returns the formats found. Never throws. */
  private async dispatch(source: ByteSource, ctx: AnalysisContext, sniffBytes?: number): Promise<string[]> {
    let head: Uint8Array;
    let tail: Uint8Array;
    try {
      head = await source.read(0, sniffBytes ?? HEAD);
      if (sniffBytes === undefined && source.size !== null && source.size > head.length) {
        const start = Math.max(head.length, source.size - TAIL);
        tail = await source.read(start, source.size - start);
      } else tail = head;
    } catch (e) {
      this.sourceError(ctx, e);
      return ['unreadable'];
    }
    if (head.length === 0) return ['empty'];
    const sniffed = this.engine.sniff(head, tail, source.size, source.name);
    const errors = sniffed.errors;
    // A member loaders read as raw numbers (a tensor storage) is recognised by a magic number
    // only: random float bytes open like msgpack or JSON often enough to be claimed by their
    // heuristics, and none of those formats is read from there.
    const claims = sniffBytes === undefined ? sniffed.claims : sniffed.claims.filter((c) => c.claim.confidence >= RAW_MEMBER_CONFIDENCE);
    for (const { analyzer, error } of errors) {
      ctx.emit({ rule: 'SCAN_ERROR', message: `analyzer failed while sniffing (${analyzer.id} analyzer): ${errorText(error)}` });
      this.markIncomplete(ctx, `analyzer error (${analyzer.id} analyzer)`);
    }
    if (claims.length === 0) {
      if (ctx.depth === 0) {
        const text = isText(head);
        ctx.emit({
          rule: 'FORMAT_UNKNOWN',
          severity: text ? 'info' : 'low',
          message: text ? 'text file; not a model format' : 'binary data of no recognised format',
        });
      }
      return [isText(head) ? 'text' : 'unknown'];
    }
    const formats: string[] = [];
    const ran = new Set<string>();
    for (const [i, { analyzer, claim }] of claims.entries()) {
      if (ran.has(analyzer.id) || (i > 0 && claim.confidence < SECONDARY_CONFIDENCE)) continue;
      ran.add(analyzer.id);
      formats.push(claim.format);
      try {
        await analyzer.analyze(source, ctx, claim);
      } catch (e) {
        this.sourceError(ctx, e, analyzer.id);
      }
    }
    return formats;
  }

  private sourceError(ctx: AnalysisContext, e: unknown, analyzer?: string): void {
    const where = analyzer ? ` (${analyzer} analyzer)` : '';
    if (e instanceof SourceError) {
      const rule = e.kind === 'limit' ? 'ARCHIVE_BOMB' : e.kind === 'encrypted' ? 'ARCHIVE_ENCRYPTED' : e.kind === 'corrupt' ? 'ARCHIVE_CORRUPT' : e.kind === 'unsupported' ? 'ARCHIVE_UNSUPPORTED_METHOD' : 'SCAN_UNREADABLE';
      ctx.emit({ rule, message: `${e.message}${where}`, evidence: { details: e.details } });
      this.markIncomplete(ctx, e.message);
      return;
    }
    ctx.emit({ rule: 'SCAN_ERROR', message: `analyzer failed${where}: ${errorText(e)}` });
    this.markIncomplete(ctx, `analyzer error${where}`);
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function sha256Of(source: ByteSource): Promise<string> {
  const h = createHash('sha256');
  const size = source.size ?? 0;
  for (let off = 0; off < size; off += 4 << 20) h.update(await source.read(off, Math.min(4 << 20, size - off)));
  return h.digest('hex');
}

export function emptyCounts(): Record<Severity, number> {
  return Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
}
