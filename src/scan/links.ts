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
 */
import { lstat, readlink, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
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
