/**
 * The registry of finding kinds. Ids are stable (policies, waivers and SARIF rules refer to them);
 * each has a page docs/rules/<ID>.md saying what it catches, why it matters, an example and
 * references. A test keeps this table and the pages in step.
 */
import type { Severity } from './findings.js';

export interface RuleKind {
  id: string;
  /** Severity used when the emitter does not choose one (catalogue-driven kinds do). */
  severity: Severity;
  title: string;
  /** True for kinds that mean "we could not see everything": policy treats them as unscannable. */
  unscannable?: boolean;
}

const kinds = [
  // pickle: what would run
  { id: 'PICKLE_DANGEROUS_GLOBAL', severity: 'critical', title: 'Pickle imports or calls a dangerous global' },
  { id: 'PICKLE_UNKNOWN_GLOBAL', severity: 'medium', title: 'Pickle imports a global that is not known to be safe' },
  { id: 'PICKLE_CODE_REBUILT', severity: 'low', title: 'Pickle rebuilds Python functions or classes from bytecode (dill, cloudpickle)' },
  { id: 'PICKLE_COMPUTED_CALL', severity: 'high', title: 'Pickle calls a callable computed at load time' },
  { id: 'PICKLE_NESTED_PICKLE', severity: 'high', title: 'Pickle deserialises embedded serialized data' },
  { id: 'PICKLE_GLOBAL_MUTATION', severity: 'critical', title: 'Pickle changes an imported module, class or function, or an object the process shares' },
  // pickle: structure
  { id: 'PICKLE_MALFORMED', severity: 'medium', title: 'Pickle stream is malformed' },
  { id: 'PICKLE_TRUNCATED', severity: 'medium', title: 'Pickle stream ends before STOP' },
  { id: 'PICKLE_STACK_ANOMALY', severity: 'medium', title: 'Pickle misuses the stack, mark stack or memo' },
  { id: 'PICKLE_FRAME_VIOLATION', severity: 'medium', title: 'Pickle opcode straddles a FRAME boundary' },
  { id: 'PICKLE_ABSURD_LENGTH', severity: 'medium', title: 'Pickle declares an absurd length' },
  { id: 'PICKLE_TRAILING_DATA', severity: 'low', title: 'Bytes follow the last pickle' },
  // containers
  { id: 'ARCHIVE_PATH_TRAVERSAL', severity: 'high', title: 'Archive member name escapes the extraction directory' },
  { id: 'ARCHIVE_SYMLINK', severity: 'medium', title: 'Archive contains a link' },
  { id: 'ARCHIVE_BOMB', severity: 'high', title: 'Decompression exceeds size or ratio limits' },
  { id: 'ARCHIVE_TOO_DEEP', severity: 'medium', unscannable: true, title: 'Containers nested deeper than the limit' },
  { id: 'ARCHIVE_TOO_MANY_MEMBERS', severity: 'medium', unscannable: true, title: 'Archive has more members than the limit' },
  { id: 'ARCHIVE_ENCRYPTED', severity: 'medium', unscannable: true, title: 'Archive member is encrypted' },
  { id: 'ARCHIVE_CORRUPT', severity: 'medium', unscannable: true, title: 'Archive structure is corrupt' },
  { id: 'ARCHIVE_UNSUPPORTED_METHOD', severity: 'medium', unscannable: true, title: 'Archive member uses an unsupported compression method' },
  { id: 'ZIP_HEADER_MISMATCH', severity: 'medium', title: 'Zip local and central headers disagree' },
  { id: 'ZIP_DUPLICATE_NAME', severity: 'medium', title: 'Zip has several members with the same name' },
  { id: 'ZIP_CRC_MISMATCH', severity: 'medium', title: 'Zip member CRC does not match its data' },
  { id: 'ZIP_PREPENDED_DATA', severity: 'medium', title: 'Bytes precede the zip archive' },
  { id: 'ZIP_UNUSUAL_FLAGS', severity: 'low', title: 'Zip member sets unusual general-purpose flags' },
  // numpy / torch
  { id: 'NPY_OBJECT_ARRAY', severity: 'low', title: 'NumPy array stores Python objects (pickle)' },
  { id: 'NPY_MALFORMED', severity: 'medium', title: 'NumPy array header is malformed' },
  { id: 'TORCHSCRIPT_CODE', severity: 'info', title: 'TorchScript code is present' },
  { id: 'SAFETENSORS_MALFORMED', severity: 'medium', title: 'safetensors header is malformed' },
  { id: 'JOBLIB_UNRESOLVED_ARRAY', severity: 'medium', unscannable: true, title: 'joblib array data could not be skipped' },
  // the scan itself
  { id: 'SCAN_INCOMPLETE', severity: 'medium', unscannable: true, title: 'File was not completely scanned' },
  { id: 'SCAN_ERROR', severity: 'medium', unscannable: true, title: 'Analyzer failed on this file' },
  { id: 'SCAN_UNREADABLE', severity: 'medium', unscannable: true, title: 'File could not be read' },
  { id: 'FORMAT_UNKNOWN', severity: 'low', title: 'Format not recognised' },
  { id: 'FORMAT_NOT_ANALYSED', severity: 'medium', unscannable: true, title: 'Format recognised but not analysed' },
  // GGUF, chat templates, repositories, executables, Python and TorchScript code
  { id: 'GGUF_MALFORMED', severity: 'medium', title: 'GGUF header, metadata or tensor table is malformed' },
  { id: 'CHAT_TEMPLATE_SANDBOX_ESCAPE', severity: 'critical', title: 'Chat template reaches Python internals (Jinja2 sandbox escape)' },
  { id: 'CHAT_TEMPLATE_SUSPICIOUS_NAME', severity: 'medium', title: 'Chat template uses a name chat templates have no use for' },
  { id: 'CHAT_TEMPLATE_FILE_ACCESS', severity: 'high', title: 'Chat template includes, imports or extends other templates' },
  { id: 'CHAT_TEMPLATE_UNPARSEABLE', severity: 'medium', title: 'Chat template does not parse' },
  { id: 'CHAT_TEMPLATE_TOO_LARGE', severity: 'medium', title: 'Chat template exceeds the size limit' },
  { id: 'JSON_TOO_DEEP', severity: 'medium', title: 'JSON nesting exceeds the depth limit' },
  { id: 'JSON_TOO_LARGE', severity: 'low', title: 'JSON file exceeds the size limit for parsing' },
  { id: 'REPO_REMOTE_CODE', severity: 'low', title: 'Model needs trust_remote_code: it runs Python files from the repository' },
  { id: 'PYTHON_DANGEROUS_CALL', severity: 'high', title: 'Python source calls a function that reaches the host' },
  { id: 'TORCHSCRIPT_HOST_OP', severity: 'high', title: 'TorchScript code calls an operation that reaches the host' },
  { id: 'TORCHSCRIPT_CUSTOM_OP', severity: 'medium', title: 'TorchScript code calls a custom operator or class (native code)' },
  { id: 'EXECUTABLE_FILE', severity: 'high', title: 'Executable program or script among model files' },
  // HDF5, Keras, NeMo/Hydra, Flax msgpack
  { id: 'HDF5_MALFORMED', severity: 'medium', unscannable: true, title: 'HDF5 structure is malformed or exceeds reader limits' },
  { id: 'HDF5_UNSUPPORTED', severity: 'medium', unscannable: true, title: 'HDF5 file uses a feature the reader does not support' },
  { id: 'KERAS_LAMBDA_LAYER', severity: 'critical', title: 'Keras config carries a Lambda function (Python code)' },
  { id: 'KERAS_UNSAFE_MODULE_REFERENCE', severity: 'high', title: 'Keras config references a module outside Keras' },
  { id: 'KERAS_DANGEROUS_REFERENCE', severity: 'high', title: 'Keras config references a Keras object that is not a modelling object' },
  { id: 'KERAS_CONFIG_MALFORMED', severity: 'medium', unscannable: true, title: 'Keras model config is missing, unreadable or malformed' },
  { id: 'KERAS_CODE_IN_ARCHIVE', severity: 'high', title: '.keras archive contains code or an executable' },
  { id: 'KERAS_HOST_FILE_REFERENCE', severity: 'high', title: 'Keras layer config names a host file or URL the layer reads when rebuilt' },
  { id: 'HYDRA_UNSAFE_TARGET', severity: 'high', title: 'Hydra config instantiates a callable outside the allowlist' },
  { id: 'HYDRA_CONFIG_MALFORMED', severity: 'medium', unscannable: true, title: 'Hydra/NeMo YAML config is malformed or exceeds limits' },
  { id: 'MSGPACK_MALFORMED', severity: 'medium', unscannable: true, title: 'msgpack data is malformed or exceeds limits' },
  { id: 'MSGPACK_UNKNOWN_EXTENSION', severity: 'medium', title: 'msgpack data uses an extension type Flax does not define' },
  // protobuf / FlatBuffer model formats: TensorFlow SavedModel, ONNX, TFLite
  { id: 'PROTOBUF_MALFORMED', severity: 'medium', unscannable: true, title: 'Protobuf model file is malformed or truncated' },
  { id: 'PROTOBUF_TOO_DEEP', severity: 'medium', unscannable: true, title: 'Protobuf messages nested deeper than the limit' },
  { id: 'TF_HOST_OP', severity: 'high', title: 'TensorFlow op reaches the host (files, Python, network)' },
  { id: 'TF_CUSTOM_OP', severity: 'medium', title: 'TensorFlow graph uses an op outside the stock runtime (native library)' },
  { id: 'TF_ASSET_PATH_TRAVERSAL', severity: 'high', title: 'SavedModel asset file name escapes the model directory' },
  { id: 'ONNX_EXTERNAL_DATA_PATH', severity: 'high', title: 'ONNX external data location escapes the model directory' },
  { id: 'ONNX_CUSTOM_DOMAIN', severity: 'medium', title: 'ONNX node uses a custom operator domain (native library)' },
  { id: 'ONNX_TENSOR_SIZE_ANOMALY', severity: 'medium', title: 'ONNX tensor sizes do not add up' },
  { id: 'TFLITE_CUSTOM_OP', severity: 'medium', title: 'TFLite model uses a custom op (native kernel)' },
  { id: 'TFLITE_FLEX_OP', severity: 'medium', title: 'TFLite model runs TensorFlow ops through the Flex delegate' },
  { id: 'TFLITE_MALFORMED', severity: 'medium', unscannable: true, title: 'TFLite FlatBuffer is malformed' },
  // MLflow models (the MLmodel file and, from a directory scan, the environment beside it)
  { id: 'MLFLOW_PICKLE_ARTIFACT', severity: 'info', title: 'MLflow model loader unpickles an artefact of the model' },
  { id: 'MLFLOW_MODEL_CODE', severity: 'low', title: 'MLflow model runs Python shipped with it (code paths, loader module, models from code)' },
  { id: 'MLFLOW_PATH_ESCAPE', severity: 'high', title: 'MLmodel names a path outside the model directory' },
  { id: 'MLFLOW_ENV_VULNERABLE', severity: 'medium', title: "MLflow model's environment pins a library version with a known loader vulnerability" },
  { id: 'MLFLOW_CONFIG_MALFORMED', severity: 'medium', unscannable: true, title: 'MLmodel or its environment file is malformed or unreadable' },
  // Parquet (dataset files)
  { id: 'PARQUET_PY_EXTENSION_TYPE', severity: 'high', title: 'Parquet Arrow schema has a pickled Python extension type (arrow.py_extension_type)' },
  { id: 'PARQUET_MALFORMED', severity: 'medium', unscannable: true, title: 'Parquet footer or its Arrow schema is malformed' },
  // Arrow IPC (dataset files: datasets' .arrow shards, Feather v2)
  { id: 'ARROW_PY_EXTENSION_TYPE', severity: 'high', title: 'Arrow IPC schema has a pickled Python extension type (arrow.py_extension_type)' },
  { id: 'ARROW_MALFORMED', severity: 'medium', unscannable: true, title: 'Arrow IPC file or stream schema is malformed' },
] as const satisfies readonly RuleKind[];

/** Every finding rule id: emitting one not in the table above is a compile error. */
export type RuleId = (typeof kinds)[number]['id'];

export const RULES: ReadonlyMap<string, RuleKind> = new Map(kinds.map((k): [string, RuleKind] => [k.id, k]));

export function ruleKind(id: string): RuleKind {
  const k = RULES.get(id);
  if (!k) throw new Error(`unknown finding kind ${id}: add it to src/core/rules.ts and docs/rules/`);
  return k;
}

/** Where the documentation of a finding kind lives, relative to the package root. */
export function ruleDocPath(id: string): string {
  return `docs/rules/${id}.md`;
}
