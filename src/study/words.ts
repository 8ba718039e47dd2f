/**
 * Wording and number formatting shared by the Markdown and HTML renderers, so that both say
 * exactly the same thing about the same study. Nothing here escapes: callers escape for their
 * own output (every string from the store came from an upstream hub, that is from attackers).
 */
import type { Agreement, HubState, RepoRef, SeverityBucket, Study, TopFinding } from './types.js';

export function int(n: number): string {
  return n.toLocaleString('en-US');
}

/** `1 repository`, `2 repositories`. */
export function count(n: number, one: string, many: string): string {
  return `${int(n)} ${n === 1 ? one : many}`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

export function percent(part: number, whole: number): string {
  if (whole === 0) return '–';
  const p = (100 * part) / whole;
  return `${p >= 10 || p === 0 ? p.toFixed(0) : p.toFixed(1)}%`;
}

/** How the hub addresses a repository: datasets carry their prefix. */
export function repoLabel(r: Pick<RepoRef, 'type' | 'repo'>): string {
  return r.type === 'model' ? r.repo : `${r.type}s/${r.repo}`;
}

export const BUCKET_LABEL: Record<SeverityBucket, string> = {
  critical: 'critical',
  high: 'high',
  medium: 'medium',
  low: 'low',
  info: 'info',
  none: 'no findings',
  'not-scanned': 'not scanned',
};

export const BUCKET_COLOR: Record<SeverityBucket, string> = {
  critical: '#b42318',
  high: '#e8590c',
  medium: '#c99a06',
  low: '#2f6fdb',
  info: '#7a8594',
  none: '#2f9e44',
  'not-scanned': '#b8bec7',
};

export const AGREEMENT_LABEL: Record<Agreement, string> = {
  both: 'flagged by both',
  'ours-only': 'flagged by modelgate only',
  'hub-only': 'flagged by the hub only',
  neither: 'flagged by neither',
  'hub-not-scanned-flagged': 'not scanned by the hub, flagged by modelgate',
  'hub-not-scanned-clean': 'not scanned by the hub, not flagged',
};

export const AGREEMENT_COLOR: Record<Agreement, string> = {
  both: '#6741d9',
  'ours-only': '#c92a2a',
  'hub-only': '#f08c00',
  neither: '#8ce99a',
  'hub-not-scanned-flagged': '#862e9c',
  'hub-not-scanned-clean': '#ced4da',
};

export const HUB_STATE_LABEL: Record<HubState, string> = {
  scanned: 'scanned',
  'not-scanned': 'not scanned (scansDone: false)',
  none: 'no verdict (no securityStatus)',
};

export function hubCell(state: HubState, level: string | null): string {
  if (level !== null) return level;
  return state === 'scanned' ? 'not flagged' : state === 'not-scanned' ? 'not scanned' : 'no verdict';
}

/** One line for a finding: `RULE (severity): global` or the message when there is no global. */
export function findingWords(t: TopFinding): { rule: string; detail: string } {
  return { rule: t.rule, detail: t.global ?? t.message };
}

export function flaggedWording(s: Study): string {
  return `worst finding at or above ${s.options.threshold}`;
}

export function hubWording(s: Study): string {
  return s.options.hubLevel === 'unsafe' ? 'listed by the hub as unsafe' : 'listed by the hub as unsafe or caution';
}

/** Key numbers as sentences, for the summary of both renderers. */
export function headline(s: Study): string[] {
  const flaggedRepos = s.hub.repositories.both + s.hub.repositories['ours-only'] + s.hub.repositories['hub-not-scanned-flagged'];
  const flaggedFiles = s.hub.files.both + s.hub.files['ours-only'] + s.hub.files['hub-not-scanned-flagged'];
  const lines = [
    `${count(s.crawl.repositories, 'repository', 'repositories')} (${count(s.files.total, 'file', 'files')}, ${bytes(s.files.bytes)}) crawled; ${int(s.files.scanned)} scanned, ${int(s.files.notScanned)} could not be scanned.`,
    `${count(flaggedRepos, 'repository', 'repositories')} (${count(flaggedFiles, 'file', 'files')}) ${flaggedRepos === 1 ? 'has' : 'have'} a finding at or above ${s.options.threshold}.`,
    `Of those, ${int(s.hub.repositories['ours-only'])} ${s.hub.repositories['ours-only'] === 1 ? 'was' : 'were'} scanned by the hub and not flagged by it, and ${int(s.hub.repositories['hub-not-scanned-flagged'])} ${s.hub.repositories['hub-not-scanned-flagged'] === 1 ? 'was' : 'were'} not scanned by the hub at all.`,
    `The hub flags ${count(s.hub.repositories['hub-only'], 'repository', 'repositories')} (${count(s.hub.files['hub-only'], 'file', 'files')}) that modelgate does not flag at that threshold.`,
  ];
  if (s.remoteCode.repositories > 0) lines.push(`${count(s.remoteCode.repositories, 'repository needs', 'repositories need')} trust_remote_code=True.`);
  return lines;
}

export const KIND_NOTE = 'A file counts once per kind however many findings of that kind it has; "findings" counts them all.';
export const FORMAT_NOTE = 'A file identified as several formats (a polyglot) counts under each; "(unrecognised)" is a scanned file no analyzer recognised.';
export const LATEST_NOTE = 'Each repository counts once, at its most recently crawled commit.';

export function remoteCodeSentence(s: Study): string {
  return `${count(s.remoteCode.repositories, 'repository runs', 'repositories run')} Python from the repository when loaded with trust_remote_code=True; ${int(s.remoteCode.flagged)} of them also ${s.remoteCode.flagged === 1 ? 'has' : 'have'} a finding at or above ${s.options.threshold}.`;
}

export function errorsSentence(s: Study): string {
  return `${count(s.errors.files, 'file', 'files')} could not be scanned; ${int(s.files.incomplete)} ${s.files.incomplete === 1 ? 'was' : 'were'} scanned only partly (counted under their findings, never as clean); ${count(s.crawl.partialRepositories, 'repository is', 'repositories are')} partial.`;
}

/** Warnings about the engine keys: results of several engines, and range scans. */
export function engineNotes(s: Study): string[] {
  const keys = [...s.engines.files.map((e) => e.engineKey), ...s.engines.repositories.map((e) => e.engineKey)];
  const engines = new Set(keys.map((k) => k.split('~')[0]));
  const notes: string[] = [];
  if (engines.size > 1) notes.push('Results come from more than one engine version: run the workers again with one version to make them comparable (files already scanned under it are not scanned again).');
  if (keys.some((k) => k.endsWith('~unverified'))) notes.push('Keys ending in ~unverified are scans made by range requests, whose bytes were not hashed whole: same engine, but the gateway does not reuse them.');
  return notes;
}
