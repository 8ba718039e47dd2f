/**
 * Tar archives (v7, ustar, GNU, pax), read the way Python's tarfile reads them — it is what
 * torch.load's legacy tar path (`sys_info`, `pickle`, `storages`, `tensors`) and NeMo use:
 *  - a header is accepted when its checksum matches (unsigned or signed sum, as tarfile);
 *  - the first all-zero block ends the archive (tarfile stops there without ignore_zeros);
 *  - GNU long names/links ('L'/'K'), pax extended headers ('x', and global 'g') override
 *    path, linkpath and size; the ustar prefix is joined as tarfile does;
 *  - types tarfile does not know are regular files to it (extractfile reads them), so they
 *    are scanned too; directories and devices skipped.
 * Links are judged once the walk is over (archive.ts reportLinks): one that stays inside the
 * archive (a Hugging Face cache snapshot's snapshots/<rev>/f -> ../../blobs/<sha>) is a fact,
 * one that leads outside is a finding.
 * A bad header after the first stops the walk with ARCHIVE_CORRUPT; earlier members were
 * already scanned (tarfile silently treats it as the end, so nothing after it loads).
 */
import { SliceSource } from '../source/slice.js';
import type { ByteSource } from '../source/types.js';
import type { AnalysisContext, Analyzer, Claim, SniffInput } from './types.js';
import { asError, emitSourceFailure, emitTraversal, reportLinks, scanAndReport, type ArchiveLink } from './archive.js';

const BLOCK = 512;
/** Longest GNU long name / pax header we hold in memory; longer ones are corrupt for our purposes. */
const MAX_META = 1024 * 1024;
const NOT_FILES = new Set(['1', '2', '3', '4', '5', '6']);

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8');

function nts(b: Uint8Array, at: number, len: number): string {
  const s = b.subarray(at, at + len);
  const z = s.indexOf(0);
  return utf8.decode(z < 0 ? s : s.subarray(0, z));
}

/** tarfile's nti: base-256 when the first byte is 0x80/0xff, else octal (spaces/NUL trimmed). */
function number(b: Uint8Array, at: number, len: number): number | null {
  const first = b[at]!;
  if (first === 0x80 || first === 0xff) {
    let v = 0;
    for (let i = 1; i < len; i++) v = v * 256 + b[at + i]!;
    if (first === 0xff) v -= 256 ** (len - 1);
    return v;
  }
  const s = latin1.decode(b.subarray(at, at + len)).split('\0')[0]!.trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) return null;
  return parseInt(s, 8);
}

export function checksumOk(h: Uint8Array): boolean {
  if (h.length < BLOCK) return false;
  const stored = number(h, 148, 8);
  if (stored === null) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  return stored === unsigned || stored === signed;
}

function allZero(h: Uint8Array): boolean {
  for (let i = 0; i < h.length; i++) if (h[i] !== 0) return false;
  return true;
}

export function sniffTar(input: SniffInput): Claim | null {
  const h = input.head;
  if (h.length < BLOCK || allZero(h.subarray(0, BLOCK))) return null;
  const magic = latin1.decode(h.subarray(257, 262));
  if (magic === 'ustar') return { format: 'tar', confidence: checksumOk(h) ? 0.92 : 0.8 };
  // Old v7 archives have no magic: a matching checksum is what tarfile itself relies on.
  if (checksumOk(h)) return { format: 'tar', confidence: 0.75 };
  return null;
}

/** pax records: "<len> <key>=<value>\n". Malformed records end parsing (tarfile raises). */
function parsePax(data: Uint8Array): Map<string, string> | null {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    if (data[at] === 0) break;
    const sp = data.indexOf(0x20, at);
    if (sp < 0) return null;
    const len = parseInt(latin1.decode(data.subarray(at, sp)), 10);
    if (!Number.isFinite(len) || len <= sp - at || at + len > data.length) return null;
    const rec = utf8.decode(data.subarray(sp + 1, at + len - 1));
    const eq = rec.indexOf('=');
    if (eq < 0) return null;
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    at += len;
  }
  return out;
}

interface Pending {
  name?: string;
  linkname?: string;
  pax: Map<string, string>;
}

async function analyzeTar(source: ByteSource, ctx: AnalysisContext): Promise<void> {
  let offset = 0;
  let count = 0;
  const names: string[] = [];
  const links: ArchiveLink[] = [];
  const global = new Map<string, string>();
  let pending: Pending = { pax: new Map() };
  const corrupt = (message: string, at: number, details: Record<string, string | number> = {}): void => {
    ctx.emit({ rule: 'ARCHIVE_CORRUPT', message, offset: at, evidence: { details: { ...details, membersRead: count } } });
  };
  for (;;) {
    if (ctx.expired()) {
      ctx.incomplete(`time budget spent after ${count} tar members`, offset);
      break;
    }
    const h = await source.read(offset, BLOCK);
    if (h.length === 0) {
      if (offset === 0) corrupt('empty tar archive', 0);
      break; // archives without the end-of-archive blocks still load
    }
    if (h.length < BLOCK) {
      corrupt('tar header truncated', offset);
      break;
    }
    if (allZero(h)) break;
    if (!checksumOk(h)) {
      corrupt(`tar header checksum mismatch at offset ${offset}; later members are unreadable`, offset);
      break;
    }
    const type = h[156] === 0 ? '0' : String.fromCharCode(h[156]!);
    let size = number(h, 124, 12);
    if (size === null || size < 0) {
      corrupt('tar header has an invalid size field', offset);
      break;
    }
    const dataOffset = offset + BLOCK;
    const next = (n: number): number => dataOffset + Math.ceil(n / BLOCK) * BLOCK;

    if (type === 'L' || type === 'K' || type === 'x' || type === 'g') {
      if (size > MAX_META) {
        corrupt(`tar ${type === 'L' || type === 'K' ? 'GNU long name' : 'pax header'} of ${size} bytes is too large`, offset);
        break;
      }
      const data = await source.read(dataOffset, size);
      if (data.length < size) {
        corrupt('tar extended header truncated', offset);
        break;
      }
      if (type === 'L') pending.name = nts(data, 0, data.length);
      else if (type === 'K') pending.linkname = nts(data, 0, data.length);
      else {
        const recs = parsePax(data);
        if (!recs) {
          corrupt('malformed pax extended header', offset);
          break;
        }
        for (const [k, v] of recs) (type === 'g' ? global : pending.pax).set(k, v);
      }
      offset = next(size);
      continue;
    }

    const pax = new Map([...global, ...pending.pax]);
    let name = nts(h, 0, 100);
    const prefix = nts(h, 345, 155);
    const ustar = latin1.decode(h.subarray(257, 262)) === 'ustar';
    if (ustar && prefix && type !== 'S') name = `${prefix}/${name}`;
    if (pending.name !== undefined) name = pending.name;
    if (pax.has('path')) name = pax.get('path')!;
    let linkname = pending.linkname ?? nts(h, 157, 100);
    if (pax.has('linkpath')) linkname = pax.get('linkpath')!;
    if (pax.has('size')) {
      const s = Number(pax.get('size'));
      if (!Number.isSafeInteger(s) || s < 0) {
        corrupt('pax size is invalid', offset);
        break;
      }
      size = s;
    }
    pending = { pax: new Map() };

    count++;
    if (count > ctx.limits.maxMembers) {
      ctx.emit({
        rule: 'ARCHIVE_TOO_MANY_MEMBERS',
        message: `tar has more than ${ctx.limits.maxMembers} members; the rest are not scanned`,
        offset,
        evidence: { details: { limit: ctx.limits.maxMembers } },
      });
      ctx.incomplete(`tar has more than ${ctx.limits.maxMembers} members`, offset);
      count--;
      break;
    }
    names.push(name);
    emitTraversal(ctx, name, offset);
    const isDir = type === '5' || (type === '0' && name.endsWith('/'));
    if (type === '1' || type === '2') links.push({ name, target: linkname, kind: type === '2' ? 'symlink' : 'hardlink', offset });
    // Links, devices, fifos and directories carry no data in tar; everything else is a file to tarfile.
    if (!isDir && !NOT_FILES.has(type)) {
      let available = size;
      if (source.size !== null) available = Math.max(0, Math.min(size, source.size - dataOffset));
      else if (size > 0 && (await source.read(dataOffset + size - 1, 1)).length === 0) available = -1;
      if (available < size) {
        corrupt(`${name}: data runs past the end of the archive`, offset, { member: name, declared: size });
        if (available < 0) available = 0;
      }
      const failure = await scanAndReport(ctx, new SliceSource(name, source, dataOffset, available), undefined, dataOffset);
      if (failure) emitSourceFailure(ctx, failure, name, dataOffset);
      if (available < size) break;
    }
    offset = next(size);
  }
  reportLinks(ctx, links);
  ctx.fact('tar.members', count);
  const set = new Set(names);
  if (['sys_info', 'pickle', 'storages', 'tensors'].every((n) => set.has(n))) ctx.fact('container', 'pytorch-legacy-tar');
}

export const tarAnalyzer: Analyzer = {
  id: 'tar',
  version: '2',
  description: 'Tar archives (v7, ustar, GNU, pax) as Python tarfile reads them: every file member, links, traversal names, member limit; PyTorch legacy tar detection',
  sniff: sniffTar,
  async analyze(source: ByteSource, ctx: AnalysisContext): Promise<void> {
    try {
      await analyzeTar(source, ctx);
    } catch (e) {
      emitSourceFailure(ctx, asError(e), source.name);
    }
  },
};
