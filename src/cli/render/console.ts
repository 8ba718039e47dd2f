/** Human-readable report: grouped by file, worst first, with the call chain and location. */
import pc from 'picocolors';

type Colors = ReturnType<typeof pc.createColors>;
import type { Finding, Severity } from '../../core/findings.js';
import { SEVERITIES, SEVERITY_RANK, worst } from '../../core/findings.js';
import type { FileReport, RepositoryReport, ScanReport } from '../../scan/report.js';
import { keeps } from '../../scan/min-severity.js';
import { terminalSafeDeep } from './escape.js';

export interface ConsoleOptions {
  colors: Colors;
  listImports: boolean;
  /** Findings below this severity are summarised, not listed (info noise, or --min-severity). */
  showBelow: Severity;
  /** Findings that fail the run (at or above it, not accepted) are listed whatever `showBelow`. */
  failOn?: Severity;
}

function sevLabel(c: Colors, s: Severity): string {
  const t = s.padEnd(8);
  switch (s) {
    case 'critical': return c.bold(c.red(t));
    case 'high': return c.red(t);
    case 'medium': return c.yellow(t);
    case 'low': return c.cyan(t);
    default: return c.dim(t);
  }
}

export function locationText(f: Pick<Finding, 'location'>): string {
  const where = f.location.path.join(' › ');
  return f.location.offset !== undefined ? `${where} @ offset ${f.location.offset}` : where;
}

function size(n: number | null): string {
  if (n === null) return '?';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** What the console shows of a finding: the rest (evidence details above all) is never printed. */
type ShownFinding = Pick<Finding, 'rule' | 'severity' | 'message' | 'location' | 'references' | 'accepted'> & { evidence: Pick<Finding['evidence'], 'chain' | 'reason'> };
/** What the console shows of a file (no facts, members or byte counts). */
type ShownFile = Pick<FileReport, 'path' | 'formats' | 'size' | 'complete' | 'imports'> & { findings: ShownFinding[] };

/**
 * The parts of a file's report the console prints, made terminal-safe. Escaping the whole report
 * (facts, members, evidence details of a directory's files) cost more than the rendering itself.
 */
function shownFile(f: FileReport, o: ConsoleOptions): ShownFile {
  return terminalSafeDeep({
    path: f.path,
    formats: f.formats,
    size: f.size,
    complete: f.complete,
    imports: o.listImports ? f.imports : [],
    findings: f.findings.map((x) => ({
      rule: x.rule,
      severity: x.severity,
      message: x.message,
      location: x.location,
      references: x.references,
      accepted: x.accepted,
      evidence: { chain: x.evidence.chain, reason: x.evidence.reason },
    })),
  });
}

function fileBlock(f: ShownFile, o: ConsoleOptions): string[] {
  const c = o.colors;
  const lines: string[] = [];
  // The verdict is that of the findings still standing; accepted ones are counted beside it.
  const active = worst(f.findings.filter((x) => !x.accepted).map((x) => x.severity));
  const acceptedCount = f.findings.filter((x) => x.accepted).length;
  const verdict = active && SEVERITY_RANK[active] >= SEVERITY_RANK['low'] ? sevLabel(c, active).trim().toUpperCase() : c.green('ok');
  const formats = f.formats.join(', ') || 'unknown';
  lines.push(`${c.bold(f.path)}  ${c.dim(`(${formats}, ${size(f.size)})`)}  ${verdict}${acceptedCount ? c.dim(`  [${acceptedCount} accepted]`) : ''}${f.complete ? '' : c.yellow('  [incomplete]')}`);
  const shown = f.findings.filter((x) => keeps(x, o.showBelow, o.failOn));
  for (const x of shown) {
    lines.push(`  ${sevLabel(c, x.severity)} ${c.bold(x.rule)}  ${x.message}`);
    lines.push(`           ${c.dim('at')} ${locationText(x)}`);
    if (x.evidence.chain) lines.push(`           ${c.dim('chain')} ${x.evidence.chain}`);
    if (x.evidence.reason) lines.push(`           ${c.dim('why')}   ${x.evidence.reason}`);
    if (x.references.length) lines.push(`           ${c.dim('refs')} ${x.references.slice(0, 4).join(', ')}`);
    if (x.accepted) lines.push(`           ${c.green('accepted')} ${x.accepted.reason} ${c.dim(`(${x.accepted.file} entry ${x.accepted.entry}, until ${x.accepted.expiresAt})`)}`);
  }
  const hidden = f.findings.length - shown.length;
  if (hidden > 0) {
    const plural = hidden === 1 ? '' : 's';
    const what = o.showBelow === 'low' ? `informational finding${plural}` : `finding${plural} below ${o.showBelow}`;
    lines.push(c.dim(`  (${hidden} ${what} not shown)`));
  }
  if (o.listImports && f.imports.length) {
    lines.push(`  ${c.dim('imports:')}`);
    for (const i of f.imports) {
      const v = i.verdict === 'safe' ? c.green('safe     ') : i.verdict === 'dangerous' ? c.red('dangerous') : c.yellow('unknown  ');
      const at = i.path.length > 1 ? ` ${c.dim(`in ${i.path.slice(1).join(' › ')}`)}` : '';
      lines.push(`    ${v} ${i.canonical}${i.global !== i.canonical ? c.dim(` (${i.global})`) : ''} ${c.dim(`${i.use} via ${i.opcode} @ ${i.offset}`)}${at}`);
    }
  }
  return lines;
}

/** A short block per model repository: what loading it would involve. */
function repositoryBlock(r: RepositoryReport, o: ConsoleOptions): string[] {
  const c = o.colors;
  const formats = Object.entries(r.formats).map(([k, n]) => `${k} ×${n}`).join(', ') || 'none';
  const lines = [`${c.bold('Repository')} ${r.path}  ${c.dim(`(${r.files} files: ${formats})`)}`];
  lines.push(`  weights      ${r.weights.advice}`);
  if (r.remoteCode.needed) {
    const files = r.remoteCode.files.map((f) => `${f.file}${f.present ? '' : c.yellow(' (missing)')}`).join(', ');
    lines.push(`  ${c.red('remote code')}  trust_remote_code=True would run ${files}`);
  }
  if (r.executables.length) lines.push(`  ${c.red('executables')}  ${r.executables.join(', ')}`);
  if (r.chatTemplates.length) lines.push(`  templates    ${r.chatTemplates.map((t) => `${t.file} (${t.template})`).slice(0, 6).join(', ')}`);
  lines.push(`  licence      ${r.license ?? c.dim('not stated in a model card')}`);
  return lines;
}

export function renderConsole(untrusted: ScanReport, o: ConsoleOptions): string {
  // Every string below comes from scanned files: what is printed is escaped first (shownFile).
  const { files: _files, repositories: _repositories, ...rest } = untrusted;
  const report = terminalSafeDeep(rest);
  const c = o.colors;
  const out: string[] = [];
  for (const f of untrusted.files) out.push(...fileBlock(shownFile(f, o), o), '');
  for (const r of terminalSafeDeep(untrusted.repositories ?? [])) out.push(...repositoryBlock(r, o), '');
  const s = report.summary;
  // Accepted findings are counted apart, so the counts are what still stands.
  const standing = { ...s.findings };
  for (const f of untrusted.files) for (const x of f.findings) if (x.accepted) standing[x.severity]--;
  const counts = SEVERITIES.filter((k) => k !== 'info').map((k) => `${standing[k]} ${k}`).join(', ');
  out.push(
    `${c.bold('Scanned')} ${s.files} file${s.files === 1 ? '' : 's'} in ${(report.durationMs / 1000).toFixed(2)} s: ${counts}` +
      (s.accepted ? `; ${s.accepted} accepted` : '') +
      (s.excluded ? `; ${s.excluded} excluded by --include/--exclude` : '') +
      (s.incomplete ? c.yellow(`; ${s.incomplete} not completely scanned`) : ''),
  );
  out.push(c.dim(`modelgate ${report.engine.version}, rules ${report.engine.rulesVersion}`));
  return out.join('\n') + '\n';
}
