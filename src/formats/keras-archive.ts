/**
 * Keras 3 `.keras` archives: a zip holding `config.json` (the model), `metadata.json` (the
 * Keras version) and `model.weights.h5` (weights only).
 *
 * Why a separate analyzer rather than a hook in zip.ts: the zip analyzer stays format-agnostic
 * and keeps scanning every member (the weights file goes to the HDF5 analyzer, anything else
 * to whatever claims it). This analyzer claims a zip whose directory lists a root `config.json`
 * with a confidence just above the plain zip claim; the engine runs both (the zip claim rests on
 * a magic number), so members are not scanned twice. It reads only `config.json` and
 * `metadata.json`, through the zip structure functions in ./zip/structure.ts, and checks the
 * names and first bytes of the other members for code (Python files, executables).
 */
import { SliceSource } from '../source/slice.js';
import { DecompressingSource, type Codec } from '../source/decompress.js';
import { SourceError, type ByteSource } from '../source/types.js';
import { SizedSource, asError, sizeOf } from './archive.js';
import type { AnalysisContext, Analyzer, Claim, SniffInput } from './types.js';
import { findEnd, readLocalHeader, u16, u32, walkCentral, type CentralEntry } from './zip/structure.js';
import { checkKerasConfig, parseConfig, reportSummary } from './keras/config.js';
import { kerasRules } from './keras/rules.js';
import { reportKerasVersion } from './keras/version.js';

const CONFIG = 'config.json';
const METADATA = 'metadata.json';
const MAX_JSON = 64 * 1024 * 1024;
const CODECS: ReadonlyMap<number, Codec | 'stored'> = new Map<number, Codec | 'stored'>([
  [0, 'stored'],
  [8, 'deflate-raw'],
  [12, 'bzip2'],
  [14, 'zip-lzma'],
  [93, 'zstd'],
  [95, 'xz'],
]);
const CODE_NAME = /\.(py|pyc|pyo|pyd|pyw|so|dylib|dll|exe|sh|bat|cmd|ps1|pth)$/i;
const latin1 = new TextDecoder('latin1');
/** A central directory record's signature, PK\x01\x02. */
const SIG_CENTRAL = Buffer.from([0x50, 0x4b, 0x01, 0x02]);

/** Member names from central directory records in the tail, or local headers from the head. */
function listedNames(input: SniffInput): string[] {
  const names: string[] = [];
  const t = input.tail;
  // Every zip's tail is searched here: a native search, not a loop over each byte in JavaScript
  // (that loop was optimised by TurboFan, with OSR, in nearly every scan of a few zips).
  const tb = Buffer.from(t.buffer, t.byteOffset, t.length);
  for (let i = tb.indexOf(SIG_CENTRAL); i !== -1 && i + 46 <= t.length && names.length < 1000; i = tb.indexOf(SIG_CENTRAL, i + 1)) {
    const n = u16(t, i + 28);
    if (i + 46 + n <= t.length) names.push(latin1.decode(t.subarray(i + 46, i + 46 + n)));
  }
  // Sources of unknown size (a member of a compressed stream) have no tail: Keras writes
  // metadata.json and config.json first, so their local headers are in the head.
  const h = input.head;
  for (let at = 0, k = 0; at + 30 <= h.length && u32(h, at) === 0x04034b50 && k < 64; k++) {
    const n = u16(h, at + 26);
    const extra = u16(h, at + 28);
    if (at + 30 + n > h.length) break;
    names.push(latin1.decode(h.subarray(at + 30, at + 30 + n)));
    const flags = u16(h, at + 6);
    const csize = u32(h, at + 18);
    if (flags & 0x08 && csize === 0) break;
    at += 30 + n + extra + csize;
  }
  return names;
}

function sniffKeras(input: SniffInput): Claim | null {
  const h = input.head;
  if (!(h[0] === 0x50 && h[1] === 0x4b && (h[2] === 0x03 || h[2] === 0x05))) return null;
  const names = listedNames(input);
  if (!names.includes(CONFIG)) return null;
  // Just above the zip analyzer's 0.95, which still runs as a secondary claim and scans the members.
  return { format: 'keras', confidence: 0.96 };
}

/** Opens a member's data (stored or compressed), bounded by the scan limits. */
async function memberSource(ctx: AnalysisContext, source: ByteSource, size: number, e: CentralEntry): Promise<{ data: ByteSource; close: () => Promise<void> } | SourceError> {
  const local = await readLocalHeader(source, e.localOffset);
  if (local instanceof SourceError) return local;
  const codec = CODECS.get(e.method);
  if (codec === undefined) return new SourceError('unsupported', `compression method ${e.method}`);
  const raw = new SliceSource(e.name, source, local.dataOffset, Math.max(0, Math.min(e.compressedSize, size - local.dataOffset)));
  if (codec === 'stored') return { data: raw, close: async () => {} };
  const d = new DecompressingSource(e.name, raw, codec, {
    maxBytes: Math.min(ctx.limits.maxDecompressedBytes, MAX_JSON),
    maxRatio: ctx.limits.maxCompressionRatio,
    compressedSize: Math.max(1, raw.size),
    charge: (n) => ctx.chargeDecompressed(n),
    declaredSize: e.flags & 0x08 ? null : e.uncompressedSize,
  });
  return { data: d, close: () => d.close() };
}

async function readText(ctx: AnalysisContext, source: ByteSource, size: number, e: CentralEntry): Promise<string | SourceError> {
  const m = await memberSource(ctx, source, size, e);
  if (m instanceof SourceError) return m;
  try {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const b = await m.data.read(total, 1 << 20);
      if (b.length === 0) break;
      total += b.length;
      if (total > MAX_JSON) return new SourceError('limit', `${e.name} is larger than ${MAX_JSON} bytes`);
      parts.push(b.slice());
    }
    return new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(parts));
  } catch (err) {
    return asError(err);
  } finally {
    await m.close();
  }
}

const EXEC_MAGICS: Array<[string, number[]]> = [
  ['ELF executable', [0x7f, 0x45, 0x4c, 0x46]],
  ['Windows PE executable', [0x4d, 0x5a]],
  ['Mach-O executable', [0xcf, 0xfa, 0xed, 0xfe]],
  ['Mach-O executable', [0xce, 0xfa, 0xed, 0xfe]],
  ['script with a shebang', [0x23, 0x21]],
];

async function checkMembers(ctx: AnalysisContext, source: ByteSource, size: number, entries: CentralEntry[]): Promise<void> {
  for (const e of entries.slice(0, 1000)) {
    if (e.name.endsWith('/')) continue;
    let why: string | null = CODE_NAME.test(e.name) ? 'its name marks it as code' : null;
    if (!why && e.uncompressedSize > 0) {
      const m = await memberSource(ctx, source, size, e);
      if (m instanceof SourceError) continue; // the zip analyzer reports unreadable members
      try {
        const head = await m.data.read(0, 4);
        const hit = EXEC_MAGICS.find(([, sig]) => sig.every((x, i) => head[i] === x));
        if (hit) why = `its content is a ${hit[0]}`;
      } catch {
        // unreadable members are the zip analyzer's to report
      } finally {
        await m.close();
      }
    }
    if (why) {
      ctx.emit({
        rule: 'KERAS_CODE_IN_ARCHIVE',
        message: `.keras archive contains ${JSON.stringify(e.name)}: ${why}; Keras archives hold a config, metadata and weights only`,
        offset: e.localOffset,
        evidence: { details: { member: e.name } },
      });
    }
  }
}

async function analyzeArchive(input: ByteSource, ctx: AnalysisContext): Promise<void> {
  const size = await sizeOf(input);
  const source = input.size === null ? new SizedSource(input, size) : input;
  const end = await findEnd(source, size);
  const entries: CentralEntry[] = [];
  if (end) {
    for await (const step of walkCentral(source, end)) {
      if (step.kind === 'corrupt' || entries.length >= ctx.limits.maxMembers) break;
      entries.push(step.entry);
    }
  }
  const configs = entries.filter((e) => e.name === CONFIG);
  if (configs.length === 0) {
    // The zip analyzer reports the broken directory; the config it would hold is unseen.
    ctx.emit({ rule: 'KERAS_CONFIG_MALFORMED', message: 'archive looks like a .keras model but config.json could not be found in its central directory', evidence: { details: { source: CONFIG } } });
    ctx.incomplete('Keras config.json not readable');
    return;
  }
  ctx.fact('container', 'keras');
  const rules = kerasRules();
  for (const meta of entries.filter((e) => e.name === METADATA)) {
    const text = await readText(ctx, source, size, meta);
    if (typeof text !== 'string') continue;
    try {
      const m = JSON.parse(text) as unknown;
      const v = m !== null && typeof m === 'object' ? (m as Record<string, unknown>)['keras_version'] : undefined;
      if (typeof v === 'string') reportKerasVersion(ctx, rules, v, 'keras');
    } catch {
      ctx.fact('keras.metadata', 'metadata.json is not valid JSON');
    }
  }
  // Duplicates are all checked: zipfile reads the last, other readers the first.
  for (const e of configs) {
    const text = await readText(ctx, source, size, e);
    const check = { ctx, rules, format: 'keras' as const, where: configs.length > 1 ? `config.json (entry ${e.index})` : CONFIG };
    if (typeof text !== 'string') {
      ctx.emit({ rule: 'KERAS_CONFIG_MALFORMED', message: `${check.where} could not be read: ${text.message}`, offset: e.localOffset, evidence: { details: { source: check.where, kind: text.kind } } });
      ctx.incomplete(`Keras config.json unreadable: ${text.message}`, e.localOffset);
      continue;
    }
    const config = parseConfig(check, text);
    if (config === null) continue;
    reportSummary(ctx, 'keras', await checkKerasConfig(check, config));
  }
  await checkMembers(ctx, source, size, entries);
}

export const kerasArchiveAnalyzer: Analyzer = {
  id: 'keras-archive',
  version: '3',
  description: 'Keras 3 .keras archives: config.json checked for Lambda bytecode, foreign module references and dangerous Keras objects; metadata.json version; code members (members themselves are scanned by the zip analyzer)',
  sniff: sniffKeras,
  async analyze(source, ctx) {
    try {
      await analyzeArchive(source, ctx);
    } catch (e) {
      const err = asError(e);
      ctx.emit({ rule: 'KERAS_CONFIG_MALFORMED', message: `.keras archive could not be read: ${err.message}`, evidence: { details: { kind: err.kind } } });
      ctx.incomplete(`.keras archive unreadable: ${err.message}`);
    }
  },
};
