/**
 * A 7z folder is a small graph of coders: packed streams in, one final output out, with bind
 * pairs wiring one coder's output into another's input (LZMA2 -> BCJ, LZMA -> Delta). Its
 * output is built lazily as a chain of decompressing byte sources, so members of a solid block
 * are read by decoding forward, never by materialising the block.
 */
import { DecompressingSource, type Codec } from '../../source/decompress.js';
import { SliceSource } from '../../source/slice.js';
import { SourceError, type ByteSource } from '../../source/types.js';
import type { AnalysisContext } from '../types.js';
import { SIGNATURE_HEADER_SIZE, corrupt, mainOutStream, type Folder, type StreamsInfo } from './header.js';

/** What each method id decodes with; 'copy' passes bytes through. */
const METHODS: ReadonlyMap<string, { name: string; codec: Codec | 'copy' }> = new Map([
  ['00', { name: 'Copy', codec: 'copy' }],
  ['21', { name: 'LZMA2', codec: 'lzma2-raw' }],
  ['030101', { name: 'LZMA', codec: 'lzma-raw' }],
  ['03030103', { name: 'BCJ (x86)', codec: 'bcj-x86' }],
  ['03', { name: 'Delta', codec: 'delta' }],
  ['040108', { name: 'Deflate', codec: 'deflate-raw' }],
  ['040202', { name: 'BZip2', codec: 'bzip2' }],
]);

const AES = '06f10701';

/** Names of methods we recognise but do not decode, for messages. */
const OTHER_NAMES: Record<string, string> = {
  '0303011b': 'BCJ2',
  '03030205': 'PPC filter',
  '03030401': 'IA64 filter',
  '03030501': 'ARM filter',
  '03030701': 'ARM Thumb filter',
  '03030805': 'SPARC filter',
  '0a': 'ARM64 filter',
  '0b': 'RISC-V filter',
  '030401': 'PPMd',
  '040109': 'Deflate64',
  '04f71101': 'Zstandard',
  '04f71102': 'Brotli',
  '04f71104': 'LZ4',
  '04f71105': 'LZ5',
  '04f71106': 'Lizard',
  [AES]: '7zAES (AES-256)',
};

export function methodName(id: string): string {
  return METHODS.get(id)?.name ?? OTHER_NAMES[id] ?? `method ${id || '(empty)'}`;
}

export function folderMethods(f: Folder): string[] {
  return f.coders.map((c) => methodName(c.method));
}

/**
 * The folder's output, with the size the header declares: a read inside that size that comes
 * back short means the packed data ended early, which is corruption, never a quiet end.
 */
export class FolderSource implements ByteSource {
  private failure_: SourceError | null = null;
  constructor(
    readonly name: string,
    private readonly inner: ByteSource,
    readonly size: number,
    readonly decoders: readonly DecompressingSource[],
  ) {}
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset >= this.size || length <= 0) return new Uint8Array(0);
    const want = Math.min(length, this.size - offset);
    const b = await this.inner.read(offset, want);
    if (b.length < want) {
      this.failure_ = corrupt(`folder data ends after ${offset + b.length} of its declared ${this.size} bytes`, { declared: this.size, produced: offset + b.length });
      if (b.length === 0) throw this.failure_;
    }
    return b;
  }
  bytesRead(): number {
    return this.inner.bytesRead();
  }
  /** The first error met while decoding (a decoder's own, or the short read). */
  failure(): SourceError | null {
    for (const d of this.decoders) {
      const f = d.failure();
      if (f) return f;
    }
    return this.failure_;
  }
  async close(): Promise<void> {
    for (const d of this.decoders) await d.close();
  }
}

/**
 * Builds the output of folder `index`, or the SourceError that says why it cannot be read:
 * 'encrypted' for 7zAES, 'unsupported' for other methods and for coders with several streams
 * (BCJ2), 'corrupt' for a graph that does not wire up.
 */
export function openFolder(ctx: AnalysisContext, archive: ByteSource, info: StreamsInfo, index: number, name: string, opts: { charge: boolean; windowBytes?: number }): FolderSource | SourceError {
  const folder = info.folders[index]!;
  if (folder.coders.some((c) => c.method === AES)) {
    return new SourceError('encrypted', `encrypted with 7zAES (AES-256); the contents cannot be read without the password`, { methods: folderMethods(folder).join(' + ') });
  }
  const unknown = folder.coders.find((c) => !METHODS.has(c.method));
  if (unknown) return new SourceError('unsupported', `compression ${methodName(unknown.method)} is not supported`, { method: unknown.method, methods: folderMethods(folder).join(' + ') });
  if (folder.coders.some((c) => c.numIn !== 1 || c.numOut !== 1)) return new SourceError('unsupported', 'coders with several streams are not supported', { methods: folderMethods(folder).join(' + ') });

  // Pack streams follow each other from just after the signature header.
  let packStart = SIGNATURE_HEADER_SIZE + info.packPos;
  for (let i = 0; i < folder.firstPack; i++) packStart += info.packSizes[i]!;
  const packOffsets: number[] = [];
  let packedTotal = 0;
  for (let j = 0; j < folder.packed.length; j++) {
    packOffsets.push(packStart);
    const s = info.packSizes[folder.firstPack + j]!;
    packStart += s;
    packedTotal += s;
  }
  const decoders: DecompressingSource[] = [];
  const main = mainOutStream(folder);
  // With one in and one out stream per coder, coder i owns in-stream i and out-stream i.
  const outSource = (out: number, depth: number): ByteSource => {
    if (depth > folder.coders.length) throw corrupt('folder coders form a loop');
    const coder = folder.coders[out]!;
    const method = METHODS.get(coder.method)!;
    const size = folder.unpackSizes[out]!;
    const input = inSource(out, depth);
    if (method.codec === 'copy') return new SliceSource(name, input, 0, size);
    const d = new DecompressingSource(name, input, method.codec, {
      maxBytes: ctx.limits.maxDecompressedBytes,
      maxRatio: ctx.limits.maxCompressionRatio,
      compressedSize: Math.max(1, packedTotal),
      ...(opts.charge && out === main ? { charge: (n: number) => ctx.chargeDecompressed(n) } : {}),
      ...(opts.windowBytes !== undefined && out === main ? { windowBytes: opts.windowBytes } : {}),
      declaredSize: size,
      props: coder.props,
    });
    decoders.push(d);
    return d;
  };
  const inSource = (inIndex: number, depth: number): ByteSource => {
    const bound = folder.bindPairs.find((p) => p.inIndex === inIndex);
    if (bound) return outSource(bound.outIndex, depth + 1);
    const j = folder.packed.indexOf(inIndex);
    if (j < 0) throw corrupt('coder input is neither bound nor packed');
    const size = info.packSizes[folder.firstPack + j]!;
    return new SliceSource(name, archive, packOffsets[j]!, size);
  };
  try {
    const out = outSource(main, 0);
    return new FolderSource(name, out, folder.unpackSizes[main]!, decoders);
  } catch (e) {
    return e instanceof SourceError ? e : corrupt(String(e));
  }
}
