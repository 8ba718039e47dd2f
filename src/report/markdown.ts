/**
 * Markdown summary of a scan report for pull-request comments: a verdict line, a table of the
 * files with findings, then each file's findings (medium and above listed, the rest collapsed).
 *
 * File names, member names, call chains and messages quoting them come from the scanned files,
 * that is from the attacker: every such string goes through `text()` or `code()` below so it can
 * neither inject Markdown or HTML, nor mention people, nor break the table or list it sits in.
 */
import { SEVERITIES, SEVERITY_RANK, atLeast, type Finding, type Severity } from '../core/findings.js';
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
  for (const x of f.findings) by.set(x.severity, (by.get(x.severity) ?? 0) + 1);
  return SEVERITIES.filter((s) => by.has(s))
    .map((s) => `${by.get(s)} ${s}`)
    .join(', ');
}

function findingLine(f: Finding): string[] {
  const members = memberChain(f);
  const head = `- ${ICON[f.severity]} **${f.severity}** ${ruleLink(f.rule)}: ${text(f.message)}`;
  const where: string[] = [];
  if (members.length) where.push(`in ${code(members.join(CHAIN_SEPARATOR))}`);
  if (f.location.offset !== undefined) where.push(`at byte ${f.location.offset}`);
  if (f.evidence.chain) where.push(`chain ${code(f.evidence.chain, { max: 500 })}`);
  if (!where.length) return [head];
  // Two trailing spaces: a line break inside the list item.
  return [`${head}  `, `  ${where.join(' · ')}`];
}

function fileSection(f: FileReport, failOn: Severity): string[] {
  const shown = f.findings.filter((x) => atLeast(x.severity, 'medium') || atLeast(x.severity, failOn));
  const collapsed = f.findings.filter((x) => !shown.includes(x));
  const out = [`### ${code(f.path)}`, ''];
  if (!f.complete) out.push('⚠️ Not completely scanned: treat as unscanned.', '');
  for (const x of sorted(shown)) out.push(...findingLine(x));
  if (shown.length) out.push('');
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
  const failing = report.files.filter((f) => f.findings.some((x) => atLeast(x.severity, failOn))).length;
  const total = `${s.files} file${s.files === 1 ? '' : 's'}`;
  const incomplete = s.incomplete ? ` ${s.incomplete} file${s.incomplete === 1 ? ' was' : 's were'} not completely scanned.` : '';
  if (failing) {
    return `❌ **modelgate: ${failing} of ${total} with findings at or above ${failOn}** (worst: ${s.maxSeverity ?? failOn}).${incomplete}`;
  }
  if (s.incomplete) return `⚠️ **modelgate: no findings at or above ${failOn} in ${total}**, but${incomplete.replace(/^ /, ' ')}`;
  return `✅ **modelgate: no findings at or above ${failOn} in ${total}.**`;
}

export function renderMarkdown(report: ScanReport, opts: MarkdownOptions = {}): string {
  const failOn = opts.failOn ?? 'medium';
  const maxChars = opts.maxChars ?? 60_000;
  const maxRows = opts.maxTableRows ?? 100;
  const s = report.summary;
  const footer = `<sub>modelgate ${text(report.engine.version)} · rules ${text(report.engine.rulesVersion)} · ${s.files} file${s.files === 1 ? '' : 's'} scanned in ${(report.durationMs / 1000).toFixed(2)} s</sub>\n`;

  const out: string[] = [verdict(report, failOn), ''];
  const noted = [...report.files]
    .filter((f) => f.findings.length || !f.complete)
    .sort((a, b) => SEVERITY_RANK[b.maxSeverity ?? 'info'] - SEVERITY_RANK[a.maxSeverity ?? 'info'] || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  // Room kept for the closing notes and the footer whatever the table and sections take.
  const reserve = 400 + footer.length;
  let used = out.join('\n').length;
  if (noted.length) {
    out.push('| File | Worst | Findings |', '| --- | --- | --- |');
    let rows = 0;
    for (const f of noted) {
      const worst = f.maxSeverity ? `${ICON[f.maxSeverity]} ${f.maxSeverity}` : '—';
      const row = `| ${code(f.path, { inTable: true })} | ${worst} | ${counts(f) || 'none'}${f.complete ? '' : ' · incomplete'} |`;
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
