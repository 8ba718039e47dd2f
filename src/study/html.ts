/**
 * The study as one self-contained HTML page: inline CSS, inline SVG charts, no script and no
 * external resource (a Content-Security-Policy meta tag forbids any), so it can be mailed,
 * archived or attached to an article as one file and opened offline.
 *
 * Every string that came from the store goes through esc(): repository ids, paths, globals,
 * messages and the hub's levels are chosen by whoever uploads a model.
 */
import { SEVERITIES } from '../core/findings.js';
import { mergeEngines } from './markdown.js';
import { esc } from './escape.js';
import { barChart, stackedBars } from './svg.js';
import { AGREEMENTS, SEVERITY_BUCKETS, type Capped, type ComparisonRow, type Study, type TopFinding } from './types.js';
import {
  AGREEMENT_COLOR,
  AGREEMENT_LABEL,
  BUCKET_COLOR,
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

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; background: #f6f8fa; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; background: #fff; }
h1 { font-size: 28px; margin: 8px 0 4px; }
h2 { font-size: 21px; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 17px; margin: 24px 0 6px; }
p.meta, p.note { color: #57606a; margin: 4px 0 12px; }
ul.headline { padding-left: 20px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 12px; margin: 16px 0; }
.card { border: 1px solid #d0d7de; border-radius: 8px; padding: 10px 14px; }
.card .v { font-size: 24px; font-weight: 650; display: block; }
.card .k { color: #57606a; font-size: 13px; }
.card.alert .v { color: #b42318; }
figure { margin: 12px 0 16px; overflow-x: auto; }
figcaption { color: #57606a; font-size: 13px; }
svg.chart { max-width: 100%; height: auto; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 12px; font-size: 14px; }
caption { text-align: left; color: #57606a; font-size: 13px; padding: 4px 0; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; vertical-align: top; text-align: left; }
th { background: #f6f8fa; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td code, li code, p code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f6f8fa; padding: 0 3px; border-radius: 4px; overflow-wrap: anywhere; }
.sev { display: inline-block; padding: 0 6px; border-radius: 10px; color: #fff; font-size: 12px; font-weight: 600; }
.more { color: #57606a; font-style: italic; }
table.narrow { width: auto; min-width: 360px; }
.pair { display: grid; grid-template-columns: minmax(0, 1.1fr) minmax(0, 1fr); gap: 24px; align-items: start; }
.pair figure { margin-top: 30px; }
@media (max-width: 960px) { .pair { grid-template-columns: minmax(0, 1fr); } }
@media print { body { background: #fff; } main { padding: 0; } }
`;

function code(s: string): string {
  return `<code>${esc(s)}</code>`;
}

function sevBadge(sev: string | null): string {
  if (sev === null) return 'none';
  const color = (BUCKET_COLOR as Record<string, string>)[sev] ?? '#7a8594';
  return `<span class="sev" style="background:${color}">${esc(sev)}</span>`;
}

interface Col {
  head: string;
  num?: boolean;
}

function table(caption: string, cols: readonly Col[], rows: readonly string[][], narrow = false): string {
  const head = cols.map((c) => `<th scope="col"${c.num ? ' class="n"' : ''}>${esc(c.head)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((cell, i) => `<td${cols[i]?.num ? ' class="n"' : ''}>${cell}</td>`).join('')}</tr>`).join('\n');
  return `<table${narrow ? ' class="narrow"' : ''}><caption>${esc(caption)}</caption><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function more(list: Capped<unknown>, what: string): string {
  const n = list.total - list.rows.length;
  return n > 0 ? `<p class="more">…and ${esc(int(n))} more ${esc(what)}, not listed (raise --limit to list them).</p>` : '';
}

function finding(t: TopFinding | null): string {
  if (t === null) return '–';
  return `${code(t.rule)} ${sevBadge(t.severity)} ${t.global !== null ? code(t.global) : esc(t.message)}`;
}

function section(id: string, title: string, body: string): string {
  return `<section id="${id}" aria-labelledby="h-${id}"><h2 id="h-${id}">${esc(title)}</h2>\n${body}\n</section>`;
}

function comparison(list: Capped<ComparisonRow>, caption: string): string {
  if (list.total === 0) return '<p>None.</p>';
  const rows = list.rows.map((r) => [
    code(repoLabel(r)),
    code(r.path),
    r.ours.top !== null ? finding(r.ours.top) : r.ours.scanned ? 'no finding' : esc(`not scanned: ${r.ours.error ?? ''}`),
    esc(hubCell(r.hub.state, r.hub.level)),
  ]);
  return table(caption, [{ head: 'Repository' }, { head: 'File' }, { head: 'modelgate: top finding' }, { head: 'Hub' }], rows) + more(list, 'files');
}

export function renderStudyHtml(s: Study): string {
  const parts: string[] = [];
  const flaggedRepos = s.hub.repositories.both + s.hub.repositories['ours-only'] + s.hub.repositories['hub-not-scanned-flagged'];

  parts.push(
    `<header><h1>${esc(s.title)}</h1>` +
      `<p class="meta">Generated ${esc(s.generatedAt)} by modelgate ${esc(s.generator.version)} from a ${s.store.dialect === 'postgres' ? 'PostgreSQL' : 'SQLite'} store. ` +
      `“Flagged by modelgate” means ${esc(flaggedWording(s))}; “flagged by the hub” means ${esc(hubWording(s))}. ${esc(LATEST_NOTE)}</p></header>`,
  );

  const cards: Array<[string, string, boolean]> = [
    [int(s.crawl.repositories), 'repositories', false],
    [int(s.files.total), 'files', false],
    [bytes(s.files.bytes), 'of model files', false],
    [int(flaggedRepos), `repositories flagged (≥ ${s.options.threshold})`, true],
    [int(s.hub.repositories['ours-only']), 'flagged by modelgate, not by the hub', true],
    [int(s.hub.repositories['hub-not-scanned-flagged']), 'flagged, not scanned by the hub', true],
  ];
  parts.push(
    section(
      'summary',
      'Summary',
      `<div class="cards">${cards.map(([v, k, alert]) => `<div class="card${alert ? ' alert' : ''}"><span class="v">${esc(v)}</span><span class="k">${esc(k)}</span></div>`).join('')}</div>` +
        `<ul class="headline">${headline(s).map((l) => `<li>${esc(l)}</li>`).join('')}</ul>` +
        table(
          'Crawl totals',
          [{ head: '' }, { head: 'Count', num: true }],
          [
            ['Repositories', int(s.crawl.repositories)],
            ...Object.entries(s.crawl.byType).map(([t, n]) => [esc(`…${t}s`), esc(int(n))]),
            ['Commits crawled (history included)', int(s.crawl.commits)],
            ['Files', int(s.files.total)],
            ['Files scanned', int(s.files.scanned)],
            ['Files not completely scanned', int(s.files.incomplete)],
            ['Files that could not be scanned', int(s.files.notScanned)],
            ['Distinct contents scanned', int(s.files.distinctContents)],
            ['Total size', bytes(s.files.bytes)],
          ],
          true,
        ),
    ),
  );

  const agreementRows = [
    { label: 'Repositories', unit: 'repositories', segments: AGREEMENTS.map((a) => ({ label: AGREEMENT_LABEL[a], value: s.hub.repositories[a], color: AGREEMENT_COLOR[a] })) },
    { label: 'Files', unit: 'files', segments: AGREEMENTS.map((a) => ({ label: AGREEMENT_LABEL[a], value: s.hub.files[a], color: AGREEMENT_COLOR[a] })) },
  ];
  parts.push(
    section(
      'hub',
      'modelgate and the hub',
      `<p>The hub's own verdicts (its securityStatus) next to ours. Hub: ${esc(Object.entries(s.hub.states).map(([k, n]) => `${int(n)} ${HUB_STATE_LABEL[k as keyof typeof HUB_STATE_LABEL]}`).join(', '))}.</p>` +
        `<figure>${stackedBars({ id: 'chart-hub', title: 'modelgate and the hub: who flags what', rows: agreementRows })}<figcaption>Share of repositories and files by agreement between modelgate and the hub.</figcaption></figure>` +
        table(
          'Agreement between modelgate and the hub',
          [{ head: '' }, { head: 'Repositories', num: true }, { head: 'Files', num: true }],
          AGREEMENTS.map((a) => [esc(AGREEMENT_LABEL[a]), esc(int(s.hub.repositories[a])), esc(int(s.hub.files[a]))]),
          true,
        ) +
        `<h3 id="ours-only">Flagged by modelgate, not by the hub</h3><p class="note">Scanned by the hub and not flagged by it. Check these first.</p>` +
        comparison(s.hub.oursOnly, 'Files flagged by modelgate and not by the hub') +
        `<h3 id="hub-only">Flagged by the hub, not by modelgate</h3><p class="note">Files the crawl has no record of are listed with “not in the crawl”.</p>` +
        comparison(s.hub.hubOnly, 'Files flagged by the hub and not by modelgate') +
        `<h3 id="not-scanned">Not scanned by the hub, flagged by modelgate</h3>` +
        comparison(s.hub.notScanned, 'Files flagged by modelgate in repositories the hub did not scan'),
    ),
  );

  parts.push(
    section(
      'formats',
      'Formats',
      `<p class="note">${esc(FORMAT_NOTE)}</p>` +
        `<div class="pair"><figure>${barChart({ id: 'chart-formats', title: 'Scanned files by format', unit: 'files', bars: s.formats.rows.map((f) => ({ label: f.format, value: f.files, color: '#2f6fdb' })) })}<figcaption>Scanned files by format (top ${esc(int(s.formats.rows.length))} of ${esc(int(s.formats.total))}).</figcaption></figure>` +
        table(
          'Files by format',
          [{ head: 'Format' }, { head: 'Files', num: true }, { head: 'Repositories', num: true }, { head: 'Size', num: true }],
          s.formats.rows.map((f) => [code(f.format), esc(int(f.files)), esc(int(f.repositories)), esc(bytes(f.bytes))]),
        ) +
        '</div>',
    ),
  );

  const atOrAbove = (which: 'files' | 'repositories', i: number): number => SEVERITIES.slice(0, i + 1).reduce((a, sev) => a + s.severity[which][sev], 0);
  parts.push(
    section(
      'severity',
      'Findings by severity',
      `<p class="note">Each file and repository counts once, under its worst finding.</p>` +
        `<figure>${barChart({ id: 'chart-severity', title: 'Files by worst severity', unit: 'files', bars: SEVERITY_BUCKETS.map((b) => ({ label: BUCKET_LABEL[b], value: s.severity.files[b], color: BUCKET_COLOR[b] })) })}<figcaption>Files by their worst finding.</figcaption></figure>` +
        table(
          'Files and repositories by worst severity',
          [{ head: 'Worst severity' }, { head: 'Files', num: true }, { head: 'Files at or above', num: true }, { head: 'Repositories', num: true }, { head: 'Repositories at or above', num: true }],
          SEVERITY_BUCKETS.map((b) => {
            const i = (SEVERITIES as readonly string[]).indexOf(b);
            return [
              i >= 0 ? sevBadge(b) : esc(BUCKET_LABEL[b]),
              esc(int(s.severity.files[b])),
              i >= 0 ? esc(`${int(atOrAbove('files', i))} (${percent(atOrAbove('files', i), s.files.total)})`) : '',
              esc(int(s.severity.repositories[b])),
              i >= 0 ? esc(`${int(atOrAbove('repositories', i))} (${percent(atOrAbove('repositories', i), s.crawl.repositories)})`) : '',
            ];
          }),
          true,
        ),
    ),
  );

  parts.push(
    section(
      'kinds',
      'Findings by kind',
      `<p class="note">${esc(KIND_NOTE)}</p>` +
        (s.kinds.rows.length === 0
          ? '<p>No findings.</p>'
          : table(
              'Files and repositories by finding kind',
              [{ head: 'Kind' }, { head: 'What it means' }, { head: 'Worst severity' }, { head: 'Files', num: true }, { head: 'Repositories', num: true }, { head: 'Findings', num: true }],
              s.kinds.rows.map((k) => [code(k.rule), esc(k.title), sevBadge(k.severity), esc(int(k.files)), esc(int(k.repositories)), esc(int(k.findings))]),
            )),
    ),
  );

  parts.push(
    section(
      'globals',
      'Dangerous globals',
      `<p class="note">What the pickles would call or import on load (PICKLE_DANGEROUS_GLOBAL, by the global after alias normalisation).</p>` +
        (s.dangerousGlobals.total === 0
          ? '<p>None found.</p>'
          : `<div class="pair"><figure>${barChart({ id: 'chart-globals', title: 'Most common dangerous globals', unit: 'files', labelWidth: 260, bars: s.dangerousGlobals.rows.map((g) => ({ label: g.global, value: g.files, color: '#b42318' })) })}<figcaption>Files naming each global (top ${esc(int(s.dangerousGlobals.rows.length))} of ${esc(int(s.dangerousGlobals.total))}).</figcaption></figure>` +
            table(
              'Dangerous globals by files and repositories',
              [{ head: 'Global' }, { head: 'Files', num: true }, { head: 'Repositories', num: true }],
              s.dangerousGlobals.rows.map((g) => [code(g.global), esc(int(g.files)), esc(int(g.repositories))]),
            ) +
            '</div>'),
    ),
  );

  parts.push(
    section(
      'remote-code',
      'Repositories needing trust_remote_code',
      `<p>${esc(remoteCodeSentence(s))}</p>` +
        (s.remoteCode.list.total === 0
          ? ''
          : table(
              'Repositories needing trust_remote_code',
              [{ head: 'Repository' }, { head: 'License' }, { head: 'Files', num: true }, { head: 'modelgate: worst' }],
              s.remoteCode.list.rows.map((r) => [code(repoLabel(r)), r.license === null ? '–' : esc(r.license), esc(int(r.files)), sevBadge(r.severity)]),
            ) + more(s.remoteCode.list, 'repositories')),
    ),
  );

  parts.push(
    section(
      'worst',
      'Worst repositories',
      `<p class="note">Repositories with ${esc(flaggedWording(s))}, worst first, then by the number of such files.</p>` +
        (s.worstRepositories.total === 0
          ? '<p>None.</p>'
          : table(
              'Worst repositories',
              [{ head: 'Repository' }, { head: 'Worst' }, { head: 'Flagged files', num: true }, { head: 'Files', num: true }, { head: 'Size', num: true }, { head: 'Worst file: top finding' }, { head: 'Hub' }, { head: 'Remote code' }],
              s.worstRepositories.rows.map((r) => [
                code(repoLabel(r)),
                sevBadge(r.severity),
                esc(int(r.flaggedFiles)),
                esc(int(r.files)),
                esc(bytes(r.bytes)),
                `${code(r.worstFile)}: ${finding(r.top)}`,
                esc(r.hub.flaggedFiles > 0 ? `${r.hub.flaggedFiles} flagged` : hubCell(r.hub.state, null)),
                r.needsRemoteCode ? 'yes' : 'no',
              ]),
            ) + more(s.worstRepositories, 'repositories')),
    ),
  );

  const engines = mergeEngines(s);
  parts.push(
    section(
      'engine',
      'Engine and crawl',
      `<p>${esc(`Crawled from ${s.crawl.firstCrawledAt ?? '–'} to ${s.crawl.lastCrawledAt ?? '–'}. This report was produced by engine ${s.generator.engineKey}.`)}</p>` +
        table(
          'Engine versions the results were produced with',
          [{ head: 'Engine key (version+analyzers/rules hash)' }, { head: 'Files scanned with it', num: true }, { head: 'Repositories crawled with it', num: true }],
          engines.map((e) => [`${code(e.key)}${e.current ? ' (this version)' : ''}`, esc(int(e.files)), esc(int(e.repositories))]),
          true,
        ) +
        engineNotes(s).map((n) => `<p class="note">${esc(n)}</p>`).join(''),
    ),
  );

  parts.push(
    section(
      'errors',
      'Errors',
      `<p>${esc(errorsSentence(s))}</p>` +
        (s.errors.files === 0
          ? ''
          : table('Files not scanned, by reason', [{ head: 'Reason' }, { head: 'Files', num: true }], s.errors.byKind.map((e) => [code(e.kind), esc(int(e.files))]), true) +
            table(
              'Files not scanned',
              [{ head: 'Repository' }, { head: 'File' }, { head: 'Size', num: true }, { head: 'Reason' }],
              s.errors.list.rows.map((e) => [code(repoLabel(e)), code(e.path), esc(bytes(e.size)), `${code(e.kind)} ${esc(e.message)}`]),
            ) +
            more(s.errors.list, 'files')),
    ),
  );

  return (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">` +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<meta name="generator" content="modelgate ${esc(s.generator.version)}">` +
    `<title>${esc(s.title)}</title><style>${CSS}</style></head>\n<body><main>\n${parts.join('\n')}\n</main></body></html>\n`
  );
}
