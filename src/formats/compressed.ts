/**
 * Single compressed streams: gzip, bzip2, xz, zstd, lz4 frames, zlib, .lzma (lzma-alone), and joblib's
 * pre-0.9.3 "ZF" files. Each is decompressed lazily (source/decompress) and handed to the
 * engine as one member (`<gzip>`, ...), whose content is then sniffed like any file: joblib's
 * compressed pickles, a .pt inside .gz, a tar inside .xz.
 *
 * What joblib writes (joblib/compressor.py, numpy_pickle_utils.py): 'zlib' is a bare zlib
 * stream (first byte 0x78), 'gzip' a gzip file, 'bz2' a bzip2 file, 'xz' an .xz file, 'lzma'
 * an .lzma (FORMAT_ALONE) file whose first bytes are 5d 00, 'lz4' an LZ4 frame (lz4.frame,
 * magic 04 22 4d 18); joblib picks the decompressor by
 * these prefixes and reads lzma/xz with FORMAT_AUTO. Files from joblib < 0.9.3 start with
 * "ZF", the payload length in hex padded to 19 characters (and maybe one more space), then zlib.
 */
import { inflateSync, constants as zc } from 'node:zlib';
import { DecompressingSource, type Codec } from '../source/decompress.js';
import type { ByteSource } from '../source/types.js';
import { hasXzMagic, isPickyDictSize, parseAloneHeader } from '../source/codecs/lzma.js';
import { isZlibHeader } from '../source/codecs/zlib.js';
import { hasLz4FrameMagic } from '../source/codecs/lz4.js';
import type { AnalysisContext, Analyzer, Claim, SniffInput } from './types.js';
import { asError, emitSourceFailure, scanAndReport } from './archive.js';

/** The compressed stream starting `skip` bytes into a source (joblib's ZF header precedes zlib). */
class OffsetSource implements ByteSource {
  constructor(
    private readonly inner: ByteSource,
    private readonly skip: number,
  ) {}
  get name(): string {
    return this.inner.name;
  }
  get size(): number | null {
    return this.inner.size === null ? null : Math.max(0, this.inner.size - this.skip);
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    return this.inner.read(offset + this.skip, length);
  }
  bytesRead(): number {
    return this.inner.bytesRead();
  }
}

/** Output decoded past what the member's analyzer read, to check ratio and integrity. */
const VERIFY_BYTES = 64 * 1024 * 1024;

interface StreamSpec {
  id: string;
  codec: Codec;
  member: string;
  description: string;
  sniff(input: SniffInput): Claim | null;
}

function streamAnalyzer(spec: StreamSpec): Analyzer {
  return {
    id: spec.id,
    version: '3',
    description: spec.description,
    sniff: spec.sniff,
    async analyze(source: ByteSource, ctx: AnalysisContext, claim: Claim): Promise<void> {
      const skip = typeof claim.hint?.skip === 'number' ? claim.hint.skip : 0;
      const compressed = skip ? new OffsetSource(source, skip) : source;
      const dec = new DecompressingSource(spec.member, compressed, spec.codec, {
        maxBytes: ctx.limits.maxDecompressedBytes,
        maxRatio: ctx.limits.maxCompressionRatio,
        ...(compressed.size !== null ? { compressedSize: Math.max(1, compressed.size) } : {}),
        charge: (n) => ctx.chargeDecompressed(n),
      });
      try {
        let failure = await scanAndReport(ctx, dec, compressed.size ?? undefined, skip);
        if (!failure) {
          // The member's analyzer may have read only its head. Decode a bounded stretch more, so
          // a bomb trips the ratio limit and corruption shows, at a bounded cost.
          try {
            await dec.drain(VERIFY_BYTES);
          } catch (e) {
            failure = asError(e);
          }
          failure = dec.failure() ?? failure;
        }
        if (failure) emitSourceFailure(ctx, failure, spec.member, skip);
      } catch (e) {
        emitSourceFailure(ctx, asError(e), spec.member, skip);
      } finally {
        await dec.close();
      }
      const size = dec.knownSize();
      if (size !== null) ctx.fact(`${spec.id}.decompressedBytes`, size);
    },
  };
}

function startsWith(h: Uint8Array, bytes: readonly number[], at = 0): boolean {
  for (let i = 0; i < bytes.length; i++) if (h[at + i] !== bytes[i]) return false;
  return true;
}

/** A zlib stream is only two magic-ish bytes: confirm by inflating the head. */
function inflatesCleanly(b: Uint8Array): boolean {
  // Only the error's code is read, but node:zlib formats the error's stack on the spot (its
  // stream's destroy), and the first stack formatted through the bundle makes V8 index the lines
  // of the whole 1.2 MB bundle (~15 M instructions): an error without frames costs neither.
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    inflateSync(b, { finishFlush: zc.Z_SYNC_FLUSH, maxOutputLength: 1 << 16 });
    return true;
  } catch (e) {
    // Too much output for the probe still means valid deflate data.
    return (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export const gzipAnalyzer = streamAnalyzer({
  id: 'gzip',
  codec: 'gzip',
  member: '<gzip>',
  description: 'gzip streams (multi-member), decompressed lazily and scanned as one member',
  sniff: (i) => (startsWith(i.head, [0x1f, 0x8b, 0x08]) && (i.head[3]! & 0xe0) === 0 ? { format: 'gzip', confidence: 0.9 } : null),
});

export const bzip2Analyzer = streamAnalyzer({
  id: 'bzip2',
  codec: 'bzip2',
  member: '<bzip2>',
  description: 'bzip2 streams (concatenated), decompressed lazily and scanned as one member',
  sniff: (i) => {
    const h = i.head;
    if (!startsWith(h, [0x42, 0x5a, 0x68]) || h[3]! < 0x31 || h[3]! > 0x39) return null;
    if (startsWith(h, [0x31, 0x41, 0x59, 0x26, 0x53, 0x59], 4) || startsWith(h, [0x17, 0x72, 0x45, 0x38, 0x50, 0x90], 4)) return { format: 'bzip2', confidence: 0.9 };
    return null;
  },
});

export const xzAnalyzer = streamAnalyzer({
  id: 'xz',
  codec: 'xz',
  member: '<xz>',
  description: 'xz streams (LZMA2), decompressed lazily and scanned as one member',
  sniff: (i) => (hasXzMagic(i.head) ? { format: 'xz', confidence: 0.95 } : null),
});

export const zstdAnalyzer = streamAnalyzer({
  id: 'zstd',
  codec: 'zstd',
  member: '<zstd>',
  description: 'Zstandard frames, decompressed lazily and scanned as one member',
  sniff: (i) => (startsWith(i.head, [0x28, 0xb5, 0x2f, 0xfd]) ? { format: 'zstd', confidence: 0.9 } : null),
});

export const lz4Analyzer = streamAnalyzer({
  id: 'lz4',
  codec: 'lz4',
  member: '<lz4>',
  description: "LZ4 frames (lz4.frame, joblib's 'lz4' compression), decompressed lazily and scanned as one member",
  sniff: (i) => (hasLz4FrameMagic(i.head) ? { format: 'lz4', confidence: 0.9 } : null),
});

export const zlibAnalyzer = streamAnalyzer({
  id: 'zlib',
  codec: 'zlib',
  member: '<zlib>',
  description: "bare zlib streams (joblib's 'zlib' compression), decompressed lazily and scanned as one member",
  sniff: (i) => (isZlibHeader(i.head[0], i.head[1]) && inflatesCleanly(i.head) ? { format: 'zlib', confidence: 0.8 } : null),
});

export const lzmaAloneAnalyzer = streamAnalyzer({
  id: 'lzma',
  codec: 'lzma-alone',
  member: '<lzma>',
  description: ".lzma streams (LZMA-alone: Python's FORMAT_ALONE, joblib's 'lzma'), decompressed lazily and scanned as one member",
  sniff: (i) => {
    // Only a properties byte, a dictionary size and a length: require every check liblzma's
    // FORMAT_AUTO applies (picky dictionary size), the range coder's zero first byte, and a
    // plausible length, so a pickle starting with ']' (0x5d) is not taken for one.
    const h = parseAloneHeader(i.head);
    if (!h || i.head[13] !== 0 || !isPickyDictSize(h.dictSize)) return null;
    if (h.props.lc + h.props.lp > 12 || h.props.pb > 4) return null;
    if (h.size !== null && i.size !== null && h.size === 0 && i.size > 32) return null;
    return { format: 'lzma', confidence: 0.75 };
  },
});

/** joblib < 0.9.3: "ZF" + hex length ljust(19) [+ ' '] + zlib. */
export const joblibZfileAnalyzer = streamAnalyzer({
  id: 'joblib-zfile',
  codec: 'zlib',
  member: '<joblib zfile>',
  description: 'joblib pre-0.9.3 compressed pickles ("ZF" header + zlib)',
  sniff: (i) => {
    const h = i.head;
    if (!startsWith(h, [0x5a, 0x46]) || h.length < 23) return null;
    const len = new TextDecoder('latin1').decode(h.subarray(2, 21));
    if (!/^0x[0-9a-fA-F]+L? *$/.test(len)) return null;
    const skip = h[21] === 0x20 ? 22 : 21;
    if (!isZlibHeader(h[skip], h[skip + 1])) return null;
    return { format: 'joblib-zfile', confidence: 0.9, hint: { skip } };
  },
});

export const compressedAnalyzers: Analyzer[] = [gzipAnalyzer, bzip2Analyzer, xzAnalyzer, zstdAnalyzer, lz4Analyzer, zlibAnalyzer, lzmaAloneAnalyzer, joblibZfileAnalyzer];
