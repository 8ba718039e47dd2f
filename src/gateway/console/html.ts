/**
 * Escaping and the page frame of the console. Repository ids, paths, client names, rule reasons
 * and finding messages all come from outside (a repository name is chosen by whoever publishes
 * it): every one goes through esc(), which also makes control and bidirectional-override
 * characters visible (`<U+202E>`) so a name cannot reorder what an operator reads.
 */
import { visible } from '../../report/shared.js';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(s: string | number | null | undefined): string {
  if (s === null || s === undefined) return '';
  return visible(String(s)).replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/** Multi-line text (a policy file, a rule's page) for <pre> and <textarea>: line breaks and tabs kept, everything else as esc(). */
export function escBlock(s: string | null | undefined): string {
  if (s === null || s === undefined) return '';
  return s
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((line) => line.split('\t').map(esc).join('\t'))
    .join('\n');
}

/** A query string built from untrusted values, escaped for an href attribute. */
export function href(path: string, params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return esc(s ? `${path}?${s}` : path);
}

export type NavItem = 'overview' | 'activity' | 'inventory' | 'waivers' | 'file' | 'login' | 'refusal' | 'policy' | 'exposure' | 'study';

export interface Frame {
  title: string;
  nav: NavItem;
  /** Signed-in admin (absent on the login page). */
  who?: string;
  /** The session's CSRF token; absent for bearer-token requests, which have no session to log out of. */
  csrf?: string;
}

const NAV: Array<[NavItem, string, string]> = [
  ['overview', '/console', 'Overview'],
  ['activity', '/console/activity', 'Activity'],
  ['inventory', '/console/inventory', 'Inventory'],
  ['waivers', '/console/waivers', 'Waivers'],
  ['policy', '/console/policy', 'Policy'],
  ['exposure', '/console/exposure', 'Exposure'],
  ['study', '/console/study', 'Study'],
];

/**
 * Without a crawl store the nav says so: the frame cannot know the configuration, so the
 * console's reply helper rewrites the study link it always renders (studyNavOff).
 */
const STUDY_LINK_END = '>Study</a>';
export function studyNavOff(html: string): string {
  return html.replace(`href="/console/study"${STUDY_LINK_END}`, 'href="/console/study">Study <span class="nav-note">(no crawl store)</span></a>').replace(`href="/console/study" aria-current="page"${STUDY_LINK_END}`, 'href="/console/study" aria-current="page">Study <span class="nav-note">(no crawl store)</span></a>');
}

export function page(f: Frame, body: string): string {
  const links = f.who
    ? NAV.map(([id, path, label]) => `<a href="${path}"${id === f.nav ? ' aria-current="page"' : ''}>${label}</a>`).join('')
    : '';
  const logout = f.who
    ? `<div class="who"><span>${esc(f.who)}</span>${f.csrf ? `<form method="post" action="/console/logout"><input type="hidden" name="csrf" value="${esc(f.csrf)}"><button type="submit">Log out</button></form>` : ''}</div>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(f.title)} · modelgate console</title><link rel="stylesheet" href="/console/assets/console.css"><link rel="icon" href="/console/assets/favicon.svg" type="image/svg+xml"></head>
<body><a class="skip" href="#main">Skip to content</a>
<header><nav aria-label="Console"><span class="brand">modelgate</span>${links}</nav>${logout}</header>
<main id="main">${body}</main></body></html>`;
}

export function verdictBadge(v: string): string {
  return `<span class="verdict v-${esc(v)}">${esc(v)}</span>`;
}

/** The hidden CSRF field of a session's form; bearer-token callers need none. */
export function csrfField(csrf: string | undefined): string {
  return csrf ? `<input type="hidden" name="csrf" value="${esc(csrf)}">` : '';
}

/** A stored ISO time as `YYYY-MM-DD HH:MM:SSZ`, escaped. */
export function when(iso: string | null | undefined): string {
  return iso ? esc(iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')) : '';
}

/** A long value clipped for a table cell (the full text is on the item's own page). */
export function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
