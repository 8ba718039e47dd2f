/**
 * The study as GitHub-flavoured Markdown tables. Repository ids, paths, globals and messages
 * come from the hub, that is from attackers: each goes through code() or text() (shared with
 * the scan report's Markdown) so it cannot inject HTML, break a table or mention anyone.
 */
import { SEVERITIES } from '../core/findings.js';
import { code, text } from '../report/markdown.js';
import { AGREEMENTS, SEVERITY_BUCKETS, type Capped, type ComparisonRow, type Study, type TopFinding } from './types.js';
import {
  AGREEMENT_LABEL,
  BUCKET_LABEL,
  FORMAT_NOTE,
  HUB_STATE_LABEL,
  KIND_NOTE,
  LATEST_NOTE,
  bytes,
  engineNotes,
  errorsSentence,
  flaggedWording,
  headline,
  hubCell,
  hubWording,
  int,
  percent,
  remoteCodeSentence,
  repoLabel,
} from './words.js';

const c = (s: string): string => code(s, { inTable: true });

function table(head: string[], rows: string[][], align?: Array<'l' | 'r'>): string[] {
  const sep = head.map((_, i) => ((align?.[i] ?? 'l') === 'r' ? '---:' : '---'));
  return [`| ${head.join(' | ')} |`, `| ${sep.join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

function rest(list: Capped<unknown>): string[] {
  const more = list.total - list.rows.length;
  return more > 0 ? ['', `…and ${int(more)} more, not listed (raise \`--limit\` to list them).`] : [];
}

function finding(t: TopFinding | null): string {
  if (t === null) return '–';
  return `${c(t.rule)} (${text(t.severity)}): ${t.global !== null ? c(t.global) : text(t.message, 160)}`;
}

function comparisonTable(list: Capped<ComparisonRow>, empty: string): string[] {
  if (list.total === 0) return [empty];
  const rows = list.rows.map((r) => [
    c(repoLabel(r)),
    c(r.path),
    r.ours.top !== null ? finding(r.ours.top) : r.ours.scanned ? 'no finding' : text(`not scanned: ${r.ours.error ?? ''}`),
    text(hubCell(r.hub.state, r.hub.level)),
  ]);
  return [...table(['Repository', 'File', 'modelgate: top finding', 'Hub'], rows), ...rest(list)];
}

export function renderStudyMarkdown(s: Study): string {
  const out: string[] = [];
  const push = (...lines: string[]): void => {
    out.push(...lines);
  };

  push(`# ${text(s.title, 200)}`, '');
  push(
    `Generated ${s.generatedAt} by modelgate ${text(s.generator.version)} from a ${s.store.dialect === 'postgres' ? 'PostgreSQL' : 'SQLite'} store. ` +
      `"Flagged by modelgate" means ${flaggedWording(s)}; "flagged by the hub" means ${hubWording(s)}. ${LATEST_NOTE}`,
    '',
  );

  push('## Summary', '');
  for (const l of headline(s)) push(`- ${text(l, 500)}`);
  push('');
  push(
    ...table(
      ['', 'Count'],
      [
        ['Repositories', int(s.crawl.repositories)],
        ...Object.entries(s.crawl.byType).map(([t, n]) => [`…${text(t)}s`, int(n)]),
        ['Commits crawled (history included)', int(s.crawl.commits)],
        ['Files', int(s.files.total)],
        ['Files scanned', int(s.files.scanned)],
        ['Files not completely scanned', int(s.files.incomplete)],
        ['Files that could not be scanned', int(s.files.notScanned)],
        ['Distinct contents scanned', int(s.files.distinctContents)],
        ['Total size', bytes(s.files.bytes)],
      ],
      ['l', 'r'],
    ),
    '',
  );

  push('## Formats', '', FORMAT_NOTE, '');
  push(
    ...table(
      ['Format', 'Files', 'Repositories', 'Size'],
      s.formats.rows.map((f) => [c(f.format), int(f.files), int(f.repositories), bytes(f.bytes)]),
      ['l', 'r', 'r', 'r'],
    ),
  );
  if (s.formats.total > s.formats.rows.length) push('', `…and ${int(s.formats.total - s.formats.rows.length)} more formats.`);
  push('');

  push('## Findings by severity', '', 'Each file and repository counts once, under its worst finding.', '');
  const atOrAbove = (which: 'files' | 'repositories', i: number): number => SEVERITIES.slice(0, i + 1).reduce((a, sev) => a + s.severity[which][sev], 0);
  push(
    ...table(
      ['Worst severity', 'Files', 'Files at or above', 'Repositories', 'Repositories at or above'],
      SEVERITY_BUCKETS.map((b) => {
        const i = (SEVERITIES as readonly string[]).indexOf(b);
        return [
          BUCKET_LABEL[b],
          int(s.severity.files[b]),
          i >= 0 ? `${int(atOrAbove('files', i))} (${percent(atOrAbove('files', i), s.files.total)})` : '',
          int(s.severity.repositories[b]),
          i >= 0 ? `${int(atOrAbove('repositories', i))} (${percent(atOrAbove('repositories', i), s.crawl.repositories)})` : '',
        ];
      }),
      ['l', 'r', 'r', 'r', 'r'],
    ),
    '',
  );

  push('## Findings by kind', '', KIND_NOTE, '');
  push(
    s.kinds.rows.length === 0
      ? 'No findings.'
      : table(
          ['Kind', 'What it means', 'Worst severity', 'Files', 'Repositories', 'Findings'],
          s.kinds.rows.map((k) => [c(k.rule), text(k.title), text(k.severity), int(k.files), int(k.repositories), int(k.findings)]),
          ['l', 'l', 'l', 'r', 'r', 'r'],
        ).join('\n'),
    '',
  );

  push('## Dangerous globals', '', 'What the pickles would call or import on load (`PICKLE_DANGEROUS_GLOBAL`, by the global after alias normalisation).', '');
  if (s.dangerousGlobals.total === 0) push('None found.');
  else {
    push(...table(['Global', 'Files', 'Repositories'], s.dangerousGlobals.rows.map((g) => [c(g.global), int(g.files), int(g.repositories)]), ['l', 'r', 'r']));
    if (s.dangerousGlobals.total > s.dangerousGlobals.rows.length) push('', `…and ${int(s.dangerousGlobals.total - s.dangerousGlobals.rows.length)} more globals.`);
  }
  push('');

  push('## Repositories needing trust_remote_code', '');
  push(text(remoteCodeSentence(s), 1000), '');
  if (s.remoteCode.list.total > 0) {
    push(
      ...table(
        ['Repository', 'License', 'Files', 'modelgate: worst'],
        s.remoteCode.list.rows.map((r) => [c(repoLabel(r)), r.license === null ? '–' : text(r.license, 60), int(r.files), text(r.severity ?? 'none')]),
        ['l', 'l', 'r', 'l'],
      ),
      ...rest(s.remoteCode.list),
      '',
    );
  }

  push('## modelgate and the hub', '');
  push(`The hub's own verdicts (its securityStatus) next to ours. Hub: ${Object.entries(s.hub.states).map(([k, n]) => `${int(n)} ${HUB_STATE_LABEL[k as keyof typeof HUB_STATE_LABEL]}`).join(', ')}.`, '');
  push(...table(['', 'Repositories', 'Files'], AGREEMENTS.map((a) => [AGREEMENT_LABEL[a], int(s.hub.repositories[a]), int(s.hub.files[a])]), ['l', 'r', 'r']), '');
  push('### Flagged by modelgate, not by the hub', '', 'Scanned by the hub and not flagged by it. Check these first.', '');
  push(...comparisonTable(s.hub.oursOnly, 'None.'), '');
  push('### Flagged by the hub, not by modelgate', '', 'Files the crawl has no record of are listed with "not in the crawl".', '');
  push(...comparisonTable(s.hub.hubOnly, 'None.'), '');
  push('### Not scanned by the hub, flagged by modelgate', '');
  push(...comparisonTable(s.hub.notScanned, 'None.'), '');

  push('## Worst repositories', '', `Repositories with ${flaggedWording(s)}, worst first, then by the number of such files.`, '');
  if (s.worstRepositories.total === 0) push('None.', '');
  else {
    push(
      ...table(
        ['Repository', 'Worst', 'Flagged files', 'Files', 'Size', 'Worst file: top finding', 'Hub', 'Remote code'],
        s.worstRepositories.rows.map((r) => [
          c(repoLabel(r)),
          text(r.severity),
          int(r.flaggedFiles),
          int(r.files),
          bytes(r.bytes),
          `${c(r.worstFile)}: ${finding(r.top)}`,
          text(r.hub.flaggedFiles > 0 ? `${r.hub.flaggedFiles} flagged` : hubCell(r.hub.state, null)),
          r.needsRemoteCode ? 'yes' : 'no',
        ]),
        ['l', 'l', 'r', 'r', 'r', 'l', 'l', 'l'],
      ),
      ...rest(s.worstRepositories),
      '',
    );
  }

  push('## Engine and crawl', '');
  push(`Crawled from ${s.crawl.firstCrawledAt ?? '–'} to ${s.crawl.lastCrawledAt ?? '–'}. This report was produced by engine ${c(s.generator.engineKey)}.`, '');
  push(
    ...table(
      ['Engine key (version+analyzers/rules hash)', 'Files scanned with it', 'Repositories crawled with it'],
      mergeEngines(s).map((e) => [`${c(e.key)}${e.current ? ' (this version)' : ''}`, int(e.files), int(e.repositories)]),
      ['l', 'r', 'r'],
    ),
    '',
  );
  for (const note of engineNotes(s)) push(text(note, 1000), '');

  push('## Errors', '');
  push(text(errorsSentence(s), 1000), '');
  if (s.errors.files > 0) {
    push(...table(['Reason', 'Files'], s.errors.byKind.map((e) => [c(e.kind), int(e.files)]), ['l', 'r']), '');
    push(
      ...table(
        ['Repository', 'File', 'Size', 'Reason'],
        s.errors.list.rows.map((e) => [c(repoLabel(e)), c(e.path), bytes(e.size), `${c(e.kind)} ${text(e.message, 200)}`]),
        ['l', 'l', 'r', 'l'],
      ),
      ...rest(s.errors.list),
      '',
    );
  }
  return out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n';
}

/** Engine keys of files and repositories in one list (usually one row). */
export function mergeEngines(s: Study): Array<{ key: string; files: number; repositories: number; current: boolean }> {
  const m = new Map<string, { key: string; files: number; repositories: number; current: boolean }>();
  for (const f of s.engines.files) m.set(f.engineKey, { key: f.engineKey, files: f.files, repositories: 0, current: f.current });
  for (const r of s.engines.repositories) {
    const e = m.get(r.engineKey) ?? { key: r.engineKey, files: 0, repositories: 0, current: r.current };
    e.repositories = r.repositories;
    m.set(r.engineKey, e);
  }
  return [...m.values()];
}
