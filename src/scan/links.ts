/**
 * ONNX external data reached through links. The ONNX analyzer sees only the model's bytes: it
 * reports locations that are absolute or climb out with `..` (ONNX_EXTERNAL_DATA_PATH), and
 * lists the others as the `onnx.external_data` fact. Whether an innocent-looking `weights.bin`
 * is a symbolic link to `/etc/passwd`, or sits under a directory link to `~/.ssh`, is a fact of
 * the directory the model was scanned in, so it is decided here, where the scan has the path.
 *
 * Links are followed one component at a time with lstat/readlink rather than realpath, so a
 * dangling link (its target absent on this machine, present on the victim's) is still judged by
 * where it points. A location is fine when it ends inside the model's directory, or inside the
 * directory the model file itself really lives in (a Hugging Face cache snapshot links both the
 * model and its data file to blobs/).
 *
 * Inside an archive the same question is answered from the report alone (no I/O): the archive
 * analyzers report each link member with its target (ARCHIVE_SYMLINK), the ONNX analyzer lists
 * each member model's locations as a fact, and a location is followed through the archive's
 * links as an extractor would lay them out.
 */
import { lstat, readlink, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, posix, relative, resolve, sep } from 'node:path';
import { SEVERITY_RANK, type Finding } from '../core/findings.js';
import type { FileReport } from './report.js';

const MAX_HOPS = 40;
const MAX_LOCATIONS = 32;

interface Resolution {
  /** Where the location ends up after every link on the way is followed. */
  target: string;
  /** Each link followed: `path -> link text`. */
  links: string[];
  /** A component was missing: the rest of the path was joined without checking it. */
  dangling: boolean;
}

/** Follows `rel` from `base` (a real directory) component by component. */
async function follow(base: string, rel: string): Promise<Resolution | null> {
  let pending = rel.split(/[\\/]+/).filter((c) => c !== '' && c !== '.');
  let cur = base;
  const links: string[] = [];
  let hops = 0;
  while (pending.length) {
    const part = pending.shift()!;
    const next = part === '..' ? dirname(cur) : resolve(cur, part);
    let st;
    try {
      st = await lstat(next);
    } catch {
      return { target: resolve(next, ...pending), links, dangling: true };
    }
    if (!st.isSymbolicLink()) {
      cur = next;
      continue;
    }
    if (++hops > MAX_HOPS) return null;
    let text: string;
    try {
      text = await readlink(next);
    } catch {
      return null;
    }
    links.push(`${next} -> ${text}`);
    // An absolute link restarts from the root; a relative one from the link's own directory.
    cur = isAbsolute(text) ? sep : dirname(next);
    pending = [...text.split(/[\\/]+/).filter((c) => c !== '' && c !== '.'), ...pending];
  }
  return { target: cur, links, dangling: false };
}

const inside = (p: string, root: string) => {
  const r = relative(root, p);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
};

function add(report: FileReport, f: Finding): void {
  report.findings.push(f);
  if (report.maxSeverity === null || SEVERITY_RANK[f.severity] > SEVERITY_RANK[report.maxSeverity]) report.maxSeverity = f.severity;
}

/**
 * Adds ONNX_EXTERNAL_DATA_PATH findings to a scanned ONNX file's report for external-data
 * locations that links carry out of the model directory. Locations the analyzer already
 * reported (absolute, `..`, URLs) are not looked at again.
 */
export async function checkExternalDataLinks(path: string, report: FileReport): Promise<void> {
  if (!report.formats.includes('onnx')) return;
  const locations = report.facts['onnx.external_data'];
  if (!Array.isArray(locations) || locations.length === 0) return;
  let dir: string;
  let realDir: string;
  try {
    dir = await realpath(dirname(resolve(path)));
    realDir = dirname(await realpath(path));
  } catch {
    return;
  }
  for (const location of locations.slice(0, MAX_LOCATIONS)) {
    if (location.includes('\0') || isAbsolute(location) || /^[A-Za-z]:|^[A-Za-z][A-Za-z0-9+.-]*:\/\/|^~/.test(location) || location.split(/[\\/]+/).includes('..')) continue;
    const r = await follow(dir, location);
    if (r === null) {
      add(report, {
        rule: 'ONNX_EXTERNAL_DATA_PATH',
        severity: 'high',
        message: `external data ${JSON.stringify(location.slice(0, 200))} is reached through a loop of more than ${MAX_HOPS} symbolic links or an unreadable link`,
        location: { path: [path] },
        evidence: { details: { location: location.slice(0, 500) } },
        references: ['CVE-2022-25882', 'CVE-2024-27318'],
      });
      continue;
    }
    if (r.links.length === 0 || inside(r.target, dir) || inside(r.target, realDir)) continue;
    add(report, {
      rule: 'ONNX_EXTERNAL_DATA_PATH',
      severity: 'high',
      message: `external data ${JSON.stringify(location.slice(0, 200))} is a symbolic link (${r.links.slice(0, 3).join('; ')}) that leads to ${r.target}${r.dangling ? ' (absent on this machine)' : ''}, outside the model directory: loading the model reads that file into its weights`,
      location: { path: [path] },
      evidence: { details: { location: location.slice(0, 500), target: r.target.slice(0, 500), links: r.links.slice(0, 5).join('; ').slice(0, 1000) } },
      references: ['CVE-2022-25882', 'CVE-2024-27318'],
    });
  }
}

const FACT_SUFFIX = ': onnx.external_data';
const CHAIN = ' › ';

/** Follows `rel` from the archive directory `dir` through the archive's own links (names without a leading ./). */
function followInArchive(dir: string, rel: string, links: ReadonlyMap<string, string>): { target: string; via: string[] } | null {
  let parts = [...(dir ? dir.split('/') : []), ...rel.split(/[\\/]+/)].filter((c) => c !== '' && c !== '.');
  const via: string[] = [];
  for (let hops = 0; hops <= MAX_HOPS; hops++) {
    const out: string[] = [];
    let restarted = false;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (part === '..') {
        if (out.length === 0) return { target: ['..', ...parts.slice(i + 1)].join('/'), via };
        out.pop();
        continue;
      }
      out.push(part);
      const link = links.get(out.join('/'));
      if (link === undefined) continue;
      via.push(`${out.join('/')} -> ${link}`);
      if (link.startsWith('/') || /^[A-Za-z]:/.test(link)) return { target: posix.join(link, ...parts.slice(i + 1)), via };
      parts = [...out.slice(0, -1), ...link.split(/[\\/]+/), ...parts.slice(i + 1)].filter((c) => c !== '' && c !== '.');
      restarted = true;
      break;
    }
    if (!restarted) return { target: out.join('/'), via };
  }
  return null;
}

const strip = (name: string) => name.replace(/^(\.\/)+/, '');

/**
 * Adds ONNX_EXTERNAL_DATA_PATH findings for ONNX members of an archive whose relative
 * external-data location goes through one of the archive's links to an absolute path or out of
 * the archive. Links that stay inside the archive are fine.
 */
export function checkArchiveExternalDataLinks(report: FileReport): void {
  const byContainer = new Map<string, Map<string, string>>();
  for (const f of report.findings) {
    const target = f.evidence.details?.['target'];
    const member = f.evidence.details?.['member'];
    if (f.rule !== 'ARCHIVE_SYMLINK' || typeof target !== 'string' || typeof member !== 'string') continue;
    const key = f.location.path.slice(1).join(CHAIN);
    if (!byContainer.has(key)) byContainer.set(key, new Map());
    byContainer.get(key)!.set(strip(member).replace(/\/+$/, ''), target);
  }
  if (byContainer.size === 0) return;
  for (const [key, value] of Object.entries(report.facts)) {
    if (!key.endsWith(FACT_SUFFIX) || !Array.isArray(value)) continue;
    const chain = key.slice(0, -FACT_SUFFIX.length).split(CHAIN);
    const member = strip(chain[chain.length - 1]!);
    const links = byContainer.get(chain.slice(0, -1).join(CHAIN));
    if (!links) continue;
    for (const location of value.slice(0, MAX_LOCATIONS)) {
      if (location.includes('\0') || isAbsolute(location) || /^[A-Za-z]:|^[A-Za-z][A-Za-z0-9+.-]*:\/\/|^~/.test(location) || location.split(/[\\/]+/).includes('..')) continue;
      const r = followInArchive(posix.dirname(member) === '.' ? '' : posix.dirname(member), location, links);
      const escapes = r === null || r.target.startsWith('/') || /^[A-Za-z]:/.test(r.target) || r.target === '..' || r.target.startsWith('../');
      if (!escapes || (r !== null && r.via.length === 0)) continue;
      add(report, {
        rule: 'ONNX_EXTERNAL_DATA_PATH',
        severity: 'high',
        message: r === null
          ? `${member}: external data ${JSON.stringify(location.slice(0, 200))} goes through a loop of links in the archive`
          : `${member}: external data ${JSON.stringify(location.slice(0, 200))} goes through the archive's link ${r.via.slice(0, 3).join('; ')} to ${r.target}, outside the extracted model: loading the model reads that file into its weights`,
        location: { path: [report.path, ...chain] },
        evidence: { details: { location: location.slice(0, 500), ...(r ? { target: r.target.slice(0, 500), links: r.via.slice(0, 5).join('; ').slice(0, 1000) } : {}) } },
        references: ['CVE-2022-25882', 'CVE-2024-27318'],
      });
    }
  }
}
