/**
 * HDF5 files, and Keras legacy `.h5` models among them: the root group's `model_config`
 * (and `training_config`) attributes hold the model as JSON, which goes through the shared
 * Keras config check. `keras_version` and `backend` become facts.
 *
 * Why our own HDF5 reader rather than h5wasm: h5wasm opens a file through its own (Emscripten)
 * file system, so it cannot read an archive member or an HTTP range source without copying the
 * whole file into memory first, and it runs the HDF5 C library's parser on hostile input. The
 * reader in ./hdf5 reads only the superblock, the root object header and the attribute storage
 * through the ByteSource, with every address bounds-checked, so the same analyzer works on
 * files, archive members and remote files, at a cost independent of the weights.
 *
 * An HDF5 file without `model_config` is not a Keras model (weights files, datasets): it is
 * recorded as a fact, with no finding. A file whose structure cannot be read is a finding.
 */
import { SizedSource, sizeOf } from './archive.js';
import type { AnalysisContext, Analyzer, Claim, SniffInput } from './types.js';
import { readRootAttributes, H5Error, signatureAt, type RootAttributes } from './hdf5/file.js';
import type { Attribute } from './hdf5/attributes.js';
import { checkKerasConfig, parseConfig, reportSummary } from './keras/config.js';
import { kerasRules } from './keras/rules.js';
import { reportKerasVersion } from './keras/version.js';

function sniffHdf5(input: SniffInput): Claim | null {
  for (let at = 0; at + 8 <= input.head.length; at = at === 0 ? 512 : at * 2) {
    if (signatureAt(input.head, at)) return { format: 'hdf5', confidence: 0.9, hint: { at } };
  }
  return null;
}

function h5Finding(ctx: AnalysisContext, e: H5Error, context: string): void {
  const rule = e.kind === 'unsupported' ? 'HDF5_UNSUPPORTED' : 'HDF5_MALFORMED';
  ctx.emit({ rule, message: `${context}: ${e.message}`, ...(e.offset !== undefined ? { offset: e.offset } : {}), evidence: { details: { kind: e.kind } } });
  ctx.incomplete(`HDF5 ${context}: ${e.message}`, e.offset);
}

function stringOf(a: Attribute | undefined): string | null {
  if (!a || a.value.kind !== 'strings' || a.value.values.length !== 1) return null;
  return a.value.values[0]!;
}

async function analyzeKeras(ctx: AnalysisContext, root: RootAttributes): Promise<void> {
  const byName = new Map(root.attributes.map((a) => [a.name, a]));
  const modelConfig = byName.get('model_config');
  ctx.fact('hdf5.root_attributes', root.attributes.map((a) => a.name).slice(0, 50));
  if (!modelConfig) {
    ctx.fact('hdf5.content', 'HDF5 file without a Keras model_config attribute (not a Keras model)');
    const kv = stringOf(byName.get('keras_version'));
    if (kv) ctx.fact('keras.version', kv.slice(0, 64));
    return;
  }
  ctx.fact('container', 'keras-h5');
  const rules = kerasRules();
  reportKerasVersion(ctx, rules, stringOf(byName.get('keras_version')), 'h5');
  const backend = stringOf(byName.get('backend'));
  if (backend) ctx.fact('keras.backend', backend.slice(0, 64));
  // Every copy is checked: duplicate names (compact and dense) must not hide one from us.
  for (const attr of root.attributes.filter((a) => a.name === 'model_config' || a.name === 'training_config')) {
    const name = attr.name;
    const where = `${name} attribute`;
    const text = stringOf(attr);
    if (text === null) {
      ctx.emit({ rule: 'KERAS_CONFIG_MALFORMED', message: `${where} is not a single string (${attr.value.kind === 'other' ? attr.value.description : `${attr.value.values.length} strings`})`, evidence: { details: { source: where } } });
      continue;
    }
    const check = { ctx, rules, format: 'h5' as const, where };
    const config = parseConfig(check, text);
    if (config === null) continue;
    const summary = await checkKerasConfig(check, config);
    if (name === 'model_config') reportSummary(ctx, 'keras', summary);
  }
}

export const kerasH5Analyzer: Analyzer = {
  id: 'keras-h5',
  version: '2',
  description: 'HDF5 (superblock 0-3, object headers v1/v2, compact and dense attributes, global heap strings): root attributes only; Keras legacy .h5 model_config/training_config checked for Lambda bytecode, foreign module references and dangerous Keras objects',
  sniff: sniffHdf5,
  async analyze(input, ctx) {
    const size = await sizeOf(input);
    const source = input.size === null ? new SizedSource(input, size) : input;
    let root: RootAttributes;
    try {
      root = await readRootAttributes(source, size, () => ctx.expired());
    } catch (e) {
      if (e instanceof H5Error) return h5Finding(ctx, e, 'root group unreadable');
      throw e;
    }
    ctx.fact('hdf5.superblock_version', root.superblock.version);
    for (const p of root.problems) h5Finding(ctx, p, 'root group attribute unreadable');
    await analyzeKeras(ctx, root);
  },
};
