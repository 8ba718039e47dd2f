/**
 * Every format id a scan can report, with what it means for someone about to load the file.
 * Analyzers claim formats from this list (Claim.format is a FormatId, so the compiler rejects an
 * id that is not here), and everything that groups formats -- the repository summary, remote
 * streaming, policy checks -- derives its sets from these traits instead of keeping its own list.
 */

export interface FormatTraits {
  /** Holds model weights a framework loads (what the repository summary calls weights). */
  weights: boolean;
  /** Loading it runs the pickle machine (arbitrary code unless restricted). */
  pickle: boolean;
  /** Read front to back (compressed streams, pickles): remote scans fetch it sequentially. */
  stream: boolean;
  /** A native program or script. */
  executable: boolean;
}

const DATA: FormatTraits = { weights: false, pickle: false, stream: false, executable: false };
const WEIGHTS: FormatTraits = { ...DATA, weights: true };
const PICKLE_WEIGHTS: FormatTraits = { ...WEIGHTS, pickle: true };
const STREAM: FormatTraits = { ...DATA, stream: true };
const EXECUTABLE: FormatTraits = { ...DATA, executable: true };

export const FORMATS = {
  // pickle-based
  pickle: { ...PICKLE_WEIGHTS, stream: true },
  'pytorch-legacy': PICKLE_WEIGHTS,
  'joblib-zfile': { ...PICKLE_WEIGHTS, stream: true },
  // weights without code on load
  safetensors: WEIGHTS,
  gguf: WEIGHTS,
  npy: WEIGHTS,
  onnx: WEIGHTS,
  tflite: WEIGHTS,
  'tf-savedmodel': WEIGHTS,
  keras: WEIGHTS,
  h5: WEIGHTS,
  hdf5: WEIGHTS,
  msgpack: WEIGHTS,
  // containers and compression (their members are reported on their own)
  zip: DATA,
  tar: DATA,
  '7z': DATA,
  rar: DATA,
  gzip: STREAM,
  bzip2: STREAM,
  xz: STREAM,
  lzma: STREAM,
  zstd: STREAM,
  lz4: STREAM,
  zlib: STREAM,
  // configuration, templates, code
  json: DATA,
  'hydra-yaml': DATA,
  'keras-metadata': DATA,
  'mlflow-model': DATA,
  jinja: DATA,
  python: DATA,
  'torchscript-code': DATA,
  script: EXECUTABLE,
  elf: EXECUTABLE,
  pe: EXECUTABLE,
  macho: EXECUTABLE,
  // data sets
  parquet: DATA,
  'parquet-encrypted': DATA,
  'arrow-ipc': DATA,
  // what the engine reports when no analyzer claims a file
  text: DATA,
  unknown: DATA,
  empty: DATA,
  unreadable: DATA,
} as const satisfies Record<string, FormatTraits>;

export type FormatId = keyof typeof FORMATS;

export const FORMAT_IDS: readonly FormatId[] = Object.keys(FORMATS) as FormatId[];

export function isFormatId(s: string): s is FormatId {
  return Object.prototype.hasOwnProperty.call(FORMATS, s);
}

/** The formats with a trait, e.g. formatsWhere('pickle'). */
export function formatsWhere(trait: keyof FormatTraits): ReadonlySet<FormatId> {
  return new Set(FORMAT_IDS.filter((id) => FORMATS[id][trait]));
}

/**
 * What a container or stream holds, as analyzers state it (facts `container` and `format.detail`):
 * a zip that is a PyTorch checkpoint or an npz, a tar in the legacy PyTorch layout, an HDF5 file
 * written by Keras, a pickle stream written by joblib. A policy may name these to approve one kind
 * of container without approving every zip or tar.
 */
export const CONTENT_NAMES = ['pytorch-zip', 'npz', 'pytorch-legacy-tar', 'keras-h5', 'joblib'] as const;

/** Every name a policy's format lists may use: the format ids and the content names. */
export function isPolicyFormatName(s: string): boolean {
  return isFormatId(s) || (CONTENT_NAMES as readonly string[]).includes(s);
}
