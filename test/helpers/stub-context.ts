/**
 * A recording AnalysisContext for testing container analyzers without the engine: it records
 * findings, facts and members (name, first bytes, full length), reads every member to its end
 * (as a thorough analyzer would), and optionally dispatches members to analyzers by sniffing,
 * like the engine, so nested containers can be tested.
 */
import { DEFAULT_LIMITS, type Limits } from '../../src/core/limits.js';
import { ruleKind } from '../../src/core/rules.js';
import type { Severity } from '../../src/core/findings.js';
import type { ByteSource } from '../../src/source/types.js';
import type { AnalysisContext, Analyzer, FactValue, FindingDraft, ImportRecord, MemberOptions } from '../../src/formats/types.js';
import type { GlobalCatalogue } from '../../src/rules/globals.js';

export interface RecordedFinding {
  rule: string;
  severity: Severity;
  message: string;
  path: string[];
  offset?: number;
  details: Record<string, string | number | boolean>;
}

export interface RecordedMember {
  path: string[];
  name: string;
  head: Uint8Array;
  /** Bytes read before the end (or the error). */
  length: number;
  /** The SourceError kind (or message) that stopped reading, if any. */
  error?: string;
  compressedSize?: number;
  bytes?: Uint8Array;
}

export interface Recording {
  findings: RecordedFinding[];
  facts: Map<string, FactValue>;
  members: RecordedMember[];
  incomplete: string[];
  charged: number;
}

export interface StubOptions {
  limits?: Partial<Limits>;
  analyzers?: Analyzer[];
  /** Keep whole member bytes up to this many (default 1 MiB). */
  keepBytes?: number;
  /** Read members to the end (default true); false = read only the first 64 bytes. */
  readAll?: boolean;
  totalBudget?: number;
  expired?: () => boolean;
}

const HEAD = 64;
const TAIL = 66 * 1024;

export function stubContext(opts: StubOptions = {}): { ctx: AnalysisContext; rec: Recording } {
  const rec: Recording = { findings: [], facts: new Map(), members: [], incomplete: [], charged: 0 };
  const limits: Limits = { ...DEFAULT_LIMITS, ...(opts.limits ?? {}) };
  const keep = opts.keepBytes ?? 1024 * 1024;
  const budget = opts.totalBudget ?? limits.maxTotalDecompressedBytes;

  const make = (path: string[], depth: number): AnalysisContext => {
    const ctx: AnalysisContext = {
      limits,
      globals: {} as GlobalCatalogue,
      path,
      depth,
      emit(f: FindingDraft): void {
        rec.findings.push({
          rule: f.rule,
          severity: f.severity ?? ruleKind(f.rule).severity,
          message: f.message,
          path,
          ...(f.offset !== undefined ? { offset: f.offset } : {}),
          details: f.evidence?.details ?? {},
        });
      },
      fact(key: string, value: FactValue): void {
        rec.facts.set(path.length > 1 ? `${path.slice(1).join(' › ')}:${key}` : key, value);
      },
      recordImport(_rec: Omit<ImportRecord, 'path'>): void {},
      async scanMember(member: ByteSource, mo?: MemberOptions): Promise<void> {
        const memberPath = [...path, member.name];
        const entry: RecordedMember = { path: memberPath, name: member.name, head: new Uint8Array(0), length: 0 };
        if (mo?.compressedSize !== undefined) entry.compressedSize = mo.compressedSize;
        rec.members.push(entry);
        const parts: Uint8Array[] = [];
        let kept = 0;
        try {
          let at = 0;
          for (;;) {
            const b = await member.read(at, at === 0 ? HEAD : 256 * 1024);
            if (at === 0) entry.head = b.slice();
            if (kept < keep) {
              parts.push(b.slice(0, keep - kept));
              kept += Math.min(b.length, keep - kept);
            }
            at += b.length;
            entry.length = at;
            if (b.length === 0 || opts.readAll === false) break;
          }
        } catch (e) {
          entry.error = (e as { kind?: string }).kind ?? String(e);
        }
        entry.bytes = new Uint8Array(Buffer.concat(parts));
        if (opts.analyzers && depth + 1 <= limits.maxDepth && !entry.error) {
          const tail = member.size !== null ? await member.read(Math.max(0, member.size - TAIL), TAIL) : new Uint8Array(0);
          const head = await member.read(0, 4096);
          let best: { a: Analyzer; c: number; claim: ReturnType<Analyzer['sniff']> } | null = null;
          for (const a of opts.analyzers) {
            const claim = a.sniff({ head, tail, size: member.size, name: member.name });
            if (claim && (!best || claim.confidence > best.c)) best = { a, c: claim.confidence, claim };
          }
          if (best?.claim) await best.a.analyze(member, make(memberPath, depth + 1), best.claim);
        }
      },
      chargeDecompressed(bytes: number): boolean {
        rec.charged += bytes;
        return rec.charged <= budget;
      },
      expired(): boolean {
        return opts.expired ? opts.expired() : false;
      },
      incomplete(reason: string): void {
        rec.incomplete.push(reason);
      },
    };
    return ctx;
  };
  return { ctx: make(['<file>'], 0), rec };
}

export function rules(rec: Recording): string[] {
  return rec.findings.map((f) => f.rule);
}

export function memberNames(rec: Recording): string[] {
  return rec.members.map((m) => m.name);
}

export function text(b: Uint8Array | undefined): string {
  return Buffer.from(b ?? new Uint8Array(0)).toString('latin1');
}
