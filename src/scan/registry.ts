/**
 * The analyzers the engine dispatches to. Order matters only for ties in sniff confidence.
 * Adding a format = one analyzer file + one line here.
 */
import type { Analyzer } from '../formats/types.js';
import { pickleAnalyzer } from '../formats/pickle/analyzer.js';
import { npyAnalyzer } from '../formats/npy.js';
import { recognisedAnalyzer } from '../formats/recognised.js';
import { safetensorsAnalyzer } from '../formats/safetensors.js';
import { zipAnalyzer } from '../formats/zip.js';
import { tarAnalyzer } from '../formats/tar.js';
import { sevenZipAnalyzer } from '../formats/sevenzip/analyzer.js';
import { compressedAnalyzers } from '../formats/compressed.js';
import { ggufAnalyzer } from '../formats/gguf.js';
import { jsonConfigAnalyzer } from '../formats/json-config.js';
import { jinjaTemplateAnalyzer } from '../formats/jinja/analyzer.js';
import { pythonAnalyzer } from '../formats/python.js';
import { executableAnalyzer } from '../formats/executable.js';
import { kerasH5Analyzer } from '../formats/keras-h5.js';
import { kerasArchiveAnalyzer } from '../formats/keras-archive.js';
import { hydraYamlAnalyzer } from '../formats/hydra-yaml.js';
import { msgpackAnalyzer } from '../formats/msgpack.js';
import { savedModelAnalyzer } from '../formats/savedmodel.js';
import { kerasMetadataAnalyzer } from '../formats/keras-metadata.js';
import { onnxAnalyzer } from '../formats/onnx.js';
import { tfliteAnalyzer } from '../formats/tflite.js';
import { parquetAnalyzer } from '../formats/parquet/analyzer.js';
import { arrowIpcAnalyzer } from '../formats/arrow/analyzer.js';
import { mlflowModelAnalyzer } from '../formats/mlflow/analyzer.js';

export const ANALYZERS: readonly Analyzer[] = [zipAnalyzer, tarAnalyzer, sevenZipAnalyzer, ...compressedAnalyzers, npyAnalyzer, safetensorsAnalyzer, kerasH5Analyzer, kerasArchiveAnalyzer, mlflowModelAnalyzer, hydraYamlAnalyzer, msgpackAnalyzer, ggufAnalyzer, jsonConfigAnalyzer, jinjaTemplateAnalyzer, pythonAnalyzer, executableAnalyzer, savedModelAnalyzer, kerasMetadataAnalyzer, onnxAnalyzer, tfliteAnalyzer, parquetAnalyzer, arrowIpcAnalyzer, pickleAnalyzer, recognisedAnalyzer];

export function analyzerVersions(list: readonly Analyzer[] = ANALYZERS): Record<string, string> {
  return Object.fromEntries(list.map((a) => [a.id, a.version]));
}
