/**
 * The inventory: every repository@commit pulled through the gateway (newest pull first), and
 * one repository's page: its facts (licence, custom code), its commits, and each file with its
 * format, newest verdict, findings, who pulled it, when and how often; plus its ML-BOM.
 */
import type { InventoryClient, InventoryFile, InventoryRepo } from '../../../store/types.js';
import { esc, href, page, verdictBadge, when } from '../html.js';
import { ruleLink } from './file.js';

export interface Frame {
  who: string;
  csrf?: string;
}

function frameOf(v: Frame): { who: string; csrf?: string } {
  return { who: v.who, ...(v.csrf ? { csrf: v.csrf } : {}) };
}

export function repoHref(r: Pick<InventoryRepo, 'repoType' | 'repo'> & { commit?: string }): string {
  return href('/console/inventory/repo', { type: r.repoType, repo: r.repo, ...(r.commit ? { commit: r.commit } : {}) });
}

function customCode(r: InventoryRepo): string {
  if (r.remoteCode === null) return '<span class="muted">not learned</span>';
  if (r.remoteCode === 'unknown') return '<span class="bad">unknown</span>';
  if (r.remoteCode === 'no') return 'no';
  return `<span class="bad">yes</span>${r.remoteFiles.length ? ` <span class="mono">(${r.remoteFiles.map((f) => esc(f)).join(', ')})</span>` : ''}`;
}

function licence(r: InventoryRepo): string {
  return r.license ? `<span class="mono">${esc(r.license)}</span>` : '<span class="muted">none known</span>';
}

function refusedCell(r: InventoryRepo): string {
  const parts: string[] = [];
  if (r.blockedFiles) parts.push(`${verdictBadge('block')} ${r.blockedFiles}`);
  if (r.warnedFiles) parts.push(`${verdictBadge('warn')} ${r.warnedFiles}`);
  return parts.length ? parts.join(' ') : '<span class="muted">none</span>';
}

function reposTable(repos: readonly InventoryRepo[], caption: string): string {
  if (!repos.length) return '<p class="muted">Nothing pulled yet.</p>';
  return `<div class="scroll"><table class="records"><caption class="muted">${esc(caption)}</caption><thead><tr><th scope="col">last pulled (UTC)</th><th scope="col">repository @ commit</th><th scope="col" class="num">files</th><th scope="col">flagged files</th><th scope="col" class="num">pulls</th><th scope="col" class="num">refused</th><th scope="col">licence</th><th scope="col">custom code</th></tr></thead><tbody>${repos
    .map(
      (r) =>
        `<tr><td class="mono time">${when(r.lastAt)}</td><td><a class="mono" href="${repoHref(r)}">${esc(r.repoType === 'dataset' ? `datasets/${r.repo}` : r.repo)}@${esc(r.commit.slice(0, 12))}</a></td><td data-label="files" class="num">${r.files}</td><td data-label="flagged">${refusedCell(r)}</td><td data-label="pulls" class="num">${r.served}</td><td data-label="refused" class="num">${r.refused}</td><td data-label="licence">${licence(r)}</td><td data-label="custom code">${customCode(r)}</td></tr>`,
    )
    .join('')}</tbody></table></div>`;
}

export interface InventoryView extends Frame {
  repos: InventoryRepo[];
  repoFilter: string;
  /** Cursor of the next (older) page. */
  next: string | null;
  first: boolean;
  behind: boolean;
}

function behindNote(behind: boolean): string {
  return behind ? '<p class="notice" role="status">The newest downloads are still being counted; reload in a moment for the complete picture.</p>' : '';
}

export function inventoryPage(v: InventoryView): string {
  const form = `<form class="filters one" method="get" action="/console/inventory" role="search" aria-label="Find a repository"><label for="i-repo">repository (exact id)<input id="i-repo" name="repo" value="${esc(v.repoFilter)}" class="mono"></label><button type="submit">Find</button></form>`;
  const pager = `<nav class="pager" aria-label="Pages">${v.first ? '' : `<a href="${href('/console/inventory', { repo: v.repoFilter })}">« Newest</a>`}${v.next ? `<a rel="next" href="${href('/console/inventory', { repo: v.repoFilter, after: v.next })}">Older ›</a>` : '<span class="muted">No older repositories.</span>'}</nav>`;
  const body = `<h1>Inventory</h1>
<p class="muted">Every repository and file pulled through the gateway, counted from the audit log: a pull is a GET answered with the file, a refusal a GET refused.</p>
${behindNote(v.behind)}${form}${reposTable(v.repos, 'repositories at a commit, last pulled first')}${pager}`;
  return page({ title: 'Inventory', nav: 'inventory', ...frameOf(v) }, body);
}

export interface RepoView extends Frame {
  repoType: InventoryRepo['repoType'];
  repo: string;
  /** The commit shown, when one is chosen (and known). */
  current: InventoryRepo | null;
  commits: InventoryRepo[];
  files: InventoryFile[];
  formats: ReadonlyMap<string, string[]>;
  behind: boolean;
}

export function fileClientsHref(r: Pick<InventoryRepo, 'repoType' | 'repo' | 'commit'>, path: string, before?: string): string {
  return href('/console/inventory/clients', { type: r.repoType, repo: r.repo, commit: r.commit, path, before });
}

function who(v: RepoView, f: InventoryFile): string {
  if (!f.clientCount) return '<span class="muted">nobody</span>';
  const shown = f.clients.map((c) => `<li>${esc(c.client)} <span class="muted">×${c.served}${c.refused ? `, refused ×${c.refused}` : ''}, last ${when(c.lastAt)}</span></li>`);
  // The page reads only each file's newest clients; the rest, and the total, are a link away.
  const more = f.clientCount > f.clients.length && v.current ? `<li><a href="${fileClientsHref(v.current, f.path)}">and ${f.clientCount - f.clients.length} more</a> <span class="muted">(${f.clientCount} clients in all)</span></li>` : '';
  return `<ul class="plain">${shown.join('')}${more}</ul>`;
}

function filesTable(v: RepoView): string {
  if (!v.files.length) return '<p class="muted">No file of this commit was pulled.</p>';
  return `<div class="scroll"><table class="records"><caption class="muted">${v.files.length} file${v.files.length === 1 ? '' : 's'}</caption><thead><tr><th scope="col">file</th><th scope="col">format</th><th scope="col">newest verdict</th><th scope="col">findings</th><th scope="col" class="num">pulls</th><th scope="col" class="num">refused</th><th scope="col">pulled by</th><th scope="col">first, last (UTC)</th></tr></thead><tbody>${v.files
    .map((f) => {
      const formats = f.scanId ? (v.formats.get(f.scanId) ?? []) : [];
      return `<tr><td><span class="mono">${esc(f.path)}</span>${f.sha256 ? `<div class="muted mono"><abbr title="${esc(f.sha256)}">sha256 ${esc(f.sha256.slice(0, 12))}…</abbr></div>` : ''}</td>
<td data-label="format">${formats.length ? formats.map((x) => `<code>${esc(x)}</code>`).join(', ') : '<span class="muted">not scanned</span>'}</td>
<td data-label="verdict"><a href="/console/audit/${esc(f.lastAuditId)}" aria-label="${esc(f.verdict)}: the decision for ${esc(f.path)}">${verdictBadge(f.verdict)}</a></td>
<td data-label="findings">${f.findings.length ? f.findings.map((k) => ruleLink(k)).join(', ') : '<span class="muted">none</span>'}</td>
<td data-label="pulls" class="num">${f.served}</td><td data-label="refused" class="num">${f.refused}</td><td data-label="pulled by">${who(v, f)}</td><td data-label="first, last" class="mono">${when(f.firstAt)}<br>${when(f.lastAt)}</td></tr>`;
    })
    .join('')}</tbody></table></div>`;
}

export function repoPage(v: RepoView): string {
  const name = v.repoType === 'dataset' ? `datasets/${v.repo}` : v.repo;
  const c = v.current;
  if (!c && !v.commits.length) return page({ title: 'Not in the inventory', nav: 'inventory', ...frameOf(v) }, `<p><a href="/console/inventory">« Inventory</a></p><h1>Not in the inventory</h1><p>Nothing of <span class="mono">${esc(name)}</span> was pulled through the gateway${v.behind ? ' yet (the newest downloads are still being counted)' : ''}.</p>`);
  const commits = v.commits.length > 1 || !c ? `<h2>Commits pulled</h2>${reposTable(v.commits, 'last pulled first')}` : '';
  const detail = c
    ? `<dl class="facts">
<dt>commit</dt><dd class="mono">${esc(c.commit)}</dd>
<dt>licence</dt><dd>${licence(c)}</dd>
<dt>custom code</dt><dd>${customCode(c)}</dd>
<dt>pulled</dt><dd>${c.served} time${c.served === 1 ? '' : 's'}, refused ${c.refused} time${c.refused === 1 ? '' : 's'}; first ${when(c.firstAt)}, last ${when(c.lastAt)} (UTC)</dd>
<dt>activity</dt><dd><a href="${href('/console/activity', { repo: c.repo })}">the audit records of this repository</a></dd>
</dl>
<p><a href="${href('/console/inventory/bom.json', { type: c.repoType, repo: c.repo, commit: c.commit })}" download>Download the CycloneDX ML-BOM</a> <span class="muted">(JSON, CycloneDX 1.6: every scanned file with its findings)</span></p>
<h2>Files</h2>${filesTable(v)}`
    : '';
  const title = c ? `${name}@${c.commit.slice(0, 12)}` : name;
  return page({ title, nav: 'inventory', ...frameOf(v) }, `<p><a href="/console/inventory">« Inventory</a></p><h1><code>${esc(title)}</code></h1>${behindNote(v.behind)}${detail}${commits}`);
}

export interface FileClientsView extends Frame {
  repoType: InventoryRepo['repoType'];
  repo: string;
  commit: string;
  path: string;
  clients: InventoryClient[];
  /** Cursor of the next (older) page. */
  next: string | null;
  first: boolean;
  behind: boolean;
}

/** Everyone who pulled one file or was refused it: who, how often, first and last time. */
export function fileClientsPage(v: FileClientsView): string {
  const name = `${v.repoType === 'dataset' ? `datasets/${v.repo}` : v.repo}@${v.commit.slice(0, 12)}`;
  const back = `<p><a href="${repoHref(v)}">« ${esc(name)}</a></p>`;
  const table = v.clients.length
    ? `<div class="scroll"><table class="records"><caption class="muted">clients, last pull or refusal first</caption><thead><tr><th scope="col">client</th><th scope="col" class="num">pulls</th><th scope="col" class="num">refused</th><th scope="col">first (UTC)</th><th scope="col">last (UTC)</th></tr></thead><tbody>${v.clients
        .map((c) => `<tr><td class="mono">${esc(c.client)}</td><td data-label="pulls" class="num">${c.served}</td><td data-label="refused" class="num">${c.refused}</td><td data-label="first" class="mono time">${when(c.firstAt)}</td><td data-label="last" class="mono time">${when(c.lastAt)}</td></tr>`)
        .join('')}</tbody></table></div>`
    : `<p class="muted">${v.first ? 'Nobody pulled this file through the gateway.' : 'No older clients.'}</p>`;
  const pager = `<nav class="pager" aria-label="Pages">${v.first ? '' : `<a href="${fileClientsHref(v, v.path)}">« Newest</a>`}${v.next ? `<a rel="next" href="${fileClientsHref(v, v.path, v.next)}">Older ›</a>` : '<span class="muted">No older clients.</span>'}</nav>`;
  return page({ title: `Clients of ${v.path}`, nav: 'inventory', ...frameOf(v) }, `${back}<h1>Who pulled <code>${esc(v.path)}</code></h1>${behindNote(v.behind)}${table}${pager}`);
}
