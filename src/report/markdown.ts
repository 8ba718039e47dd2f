/**
 * Markdown summary of a scan report for pull-request comments: a verdict line, a table of the
 * files with findings, then each file's findings (medium and above listed, the rest collapsed).
 *
 * File names, member names, call chains and messages quoting them come from the scanned files,
 * that is from the attacker: every such string goes through `text()` or `code()` below so it can
 * neither inject Markdown or HTML, nor mention people, nor break the table or list it sits in.
 */
import { SEVERITIES, SEVERITY_RANK, atLeast, worst, type Finding, type Severity } from '../core/findings.js';
import type { FileReport, ScanReport } from '../scan/report.js';
import { ruleHelpUri } from './rule-docs.js';
import { CHAIN_SEPARATOR, clip, memberChain, visible } from './shared.js';

export interface MarkdownOptions {
  /** The threshold the verdict line speaks of (the CLI's --fail-on). */
  failOn?: Severity;
  /** GitHub refuses comments over 65,536 characters; stop adding files before that. */
  maxChars?: number;
  /** Rows of the file table before it is cut short. */
  maxTableRows?: number;
}

const ICON: Record<Severity, string> = { critical: '🔴', high: '🟠', medium: '🟡', low: '🔵', info: '⚪' };
const MAX_FIELD = 300;

/**
 * Plain Markdown text: HTML and the inline Markdown punctuation escaped, @mentions defused, one
 * line. Block syntax (`#`, `-`, `1.`) needs no escape: the text never starts a line.
 */
export function text(s: string, max = MAX_FIELD): string {
  return clip(visible(s), max)
    .replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'))
    .replace(/[\\`*_[\]|~]/g, (c) => `\\${c}`)
    .replace(/@(?=\w)/g, '@\u200b');
}

/**
 * A code span holding `s` literally: a fence longer than any backtick run inside, padding when
 * the content starts or ends with a backtick, and `|` escaped when the span sits in a table
 * cell (GFM splits cells before it parses spans).
 */
export function code(s: string, opts: { inTable?: boolean; max?: number } = {}): string {
  let body = clip(visible(s), opts.max ?? MAX_FIELD);
  if (opts.inTable) body = body.replace(/\|/g, '\\|');
  let longest = 0;
  for (const m of body.matchAll(/`+/g)) longest = Math.max(longest, m[0].length);
  const fence = '`'.repeat(longest + 1);
  const pad = body.startsWith('`') || body.endsWith('`') || body.trim() === '' ? ' ' : '';
  return `${fence}${pad}${body}${pad}${fence}`;
}

function ruleLink(rule: string): string {
  return /^[A-Z0-9_]+$/.test(rule) ? `[\`${rule}\`](${ruleHelpUri(rule)})` : code(rule);
}

function counts(f: FileReport): string {
  const by = new Map<Severity, number>();
  let accepted = 0;
  for (const x of f.findings) {
    if (x.accepted) accepted++;
    else by.set(x.severity, (by.get(x.severity) ?? 0) + 1);
  }
  const parts = SEVERITIES.filter((s) => by.has(s)).map((s) => `${by.get(s)} ${s}`);
  if (accepted) parts.push(`${accepted} accepted`);
  return parts.join(', ');
}

/** Worst finding still standing (accepted ones set aside). */
function standingWorst(f: FileReport): Severity | null {
  return worst(f.findings.filter((x) => !x.accepted).map((x) => x.severity));
}

function findingLine(f: Finding): string[] {
  const members = memberChain(f);
  const head = `- ${ICON[f.severity]} **${f.severity}** ${ruleLink(f.rule)}: ${text(f.message)}`;
  const where: string[] = [];
  if (members.length) where.push(`in ${code(members.join(CHAIN_SEPARATOR))}`);
  if (f.location.offset !== undefined) where.push(`at byte ${f.location.offset}`);
  if (f.evidence.chain) where.push(`chain ${code(f.evidence.chain, { max: 500 })}`);
  const lines = [head];
  if (where.length) lines.push(`  ${where.join(' · ')}`);
  if (f.accepted) lines.push(`  ✔️ accepted: ${text(f.accepted.reason)} (${code(f.accepted.file)} entry ${text(f.accepted.entry)}, until ${text(f.accepted.expiresAt)})`);
  // Two trailing spaces: a line break inside the list item.
  return lines.map((l, i) => (i < lines.length - 1 ? `${l}  ` : l));
}

function fileSection(f: FileReport, failOn: Severity): string[] {
  const standing = f.findings.filter((x) => !x.accepted);
  const accepted = f.findings.filter((x) => x.accepted);
  const shown = standing.filter((x) => atLeast(x.severity, 'medium') || atLeast(x.severity, failOn));
  const collapsed = standing.filter((x) => !shown.includes(x));
  const out = [`### ${code(f.path)}`, ''];
  if (!f.complete) out.push('⚠️ Not completely scanned: treat as unscanned.', '');
  for (const x of sorted(shown)) out.push(...findingLine(x));
  if (shown.length) out.push('');
  // Accepted findings are listed in the open: a reviewer sees what was accepted and why.
  if (accepted.length) {
    out.push(`Accepted (not counted for the verdict):`, '');
    for (const x of sorted(accepted)) out.push(...findingLine(x));
    out.push('');
  }
  if (collapsed.length) {
    out.push(`<details><summary>${collapsed.length} lower-severity finding${collapsed.length === 1 ? '' : 's'}</summary>`, '');
    for (const x of sorted(collapsed)) out.push(...findingLine(x));
    out.push('', '</details>', '');
  }
  return out;
}

function sorted(list: Finding[]): Finding[] {
  return [...list].sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]);
}

function verdict(report: ScanReport, failOn: Severity): string {
  const s = report.summary;
  const failing = report.files.filter((f) => f.findings.some((x) => !x.accepted && atLeast(x.severity, failOn)));
  const total = `${s.files} file${s.files === 1 ? '' : 's'}`;
  const incomplete = s.incomplete ? ` ${s.incomplete} file${s.incomplete === 1 ? ' was' : 's were'} not completely scanned.` : '';
  const acceptedCount = report.files.reduce((n, f) => n + f.findings.filter((x) => x.accepted).length, 0);
  const accepted = acceptedCount ? ` ${acceptedCount} accepted finding${acceptedCount === 1 ? '' : 's'} not counted.` : '';
  if (failing.length) {
    const worstSeen = worst(failing.map((f) => standingWorst(f)).filter((x): x is Severity => x !== null)) ?? failOn;
    return `❌ **modelgate: ${failing.length} of ${total} with findings at or above ${failOn}** (worst: ${worstSeen}).${incomplete}${accepted}`;
  }
  if (s.incomplete) return `⚠️ **modelgate: no findings at or above ${failOn} in ${total}**, but${incomplete.replace(/^ /, ' ')}${accepted}`;
  return `✅ **modelgate: no findings at or above ${failOn} in ${total}.**${accepted}`;
}

export function renderMarkdown(report: ScanReport, opts: MarkdownOptions = {}): string {
  const failOn = opts.failOn ?? 'medium';
  const maxChars = opts.maxChars ?? 60_000;
  const maxRows = opts.maxTableRows ?? 100;
  const s = report.summary;
  const belowMin = report.minSeverity && s.omitted ? ` · ${s.omitted} finding${s.omitted === 1 ? '' : 's'} below ${report.minSeverity} not listed` : '';
  const footer = `<sub>modelgate ${text(report.engine.version)} · rules ${text(report.engine.rulesVersion)} · ${s.files} file${s.files === 1 ? '' : 's'} scanned in ${(report.durationMs / 1000).toFixed(2)} s${belowMin}</sub>\n`;

  const out: string[] = [verdict(report, failOn), ''];
  const noted = [...report.files]
    .filter((f) => f.findings.length || !f.complete)
    .sort((a, b) => SEVERITY_RANK[standingWorst(b) ?? 'info'] - SEVERITY_RANK[standingWorst(a) ?? 'info'] || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  // Room kept for the closing notes and the footer whatever the table and sections take.
  const reserve = 400 + footer.length;
  let used = out.join('\n').length;
  if (noted.length) {
    out.push('| File | Worst | Findings |', '| --- | --- | --- |');
    let rows = 0;
    for (const f of noted) {
      const w = standingWorst(f);
      const cell = w ? `${ICON[w]} ${w}` : '—';
      const row = `| ${code(f.path, { inTable: true })} | ${cell} | ${counts(f) || 'none'}${f.complete ? '' : ' · incomplete'} |`;
      if (rows >= maxRows || used + row.length + 1 > maxChars - reserve) break;
      out.push(row);
      used += row.length + 1;
      rows++;
    }
    if (rows < noted.length) out.push(`| … ${noted.length - rows} more | | |`);
    out.push('');
  }
  const clean = s.files - noted.length;
  if (clean > 0) out.push(`${clean} file${clean === 1 ? '' : 's'} without findings ${clean === 1 ? 'is' : 'are'} not listed.`, '');

  used = out.join('\n').length;
  let omitted = 0;
  for (const f of noted) {
    if (!f.findings.length && f.complete) continue;
    const section = fileSection(f, failOn).join('\n').trimEnd() + '\n';
    if (omitted || used + section.length + 1 > maxChars - reserve) {
      omitted++;
      continue;
    }
    out.push(section);
    used += section.length + 1;
  }
  if (omitted) out.push(`_${omitted} more file${omitted === 1 ? '' : 's'} with findings not shown: the comment would be too long. See the full report._`, '');
  // A blank line before the footer: right after `</details>` it would still be inside that HTML block.
  return out.join('\n').trimEnd() + '\n\n' + footer;
}
