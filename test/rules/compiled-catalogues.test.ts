/**
 * The build-time compiled catalogues (src/rules/catalogue-data.ts, compile.ts,
 * globals-facts-compiled.ts): each one equals what parsing its source gives, it is what the
 * loaders read when it is current, it is never used once the source has changed, and versions
 * still hash the source.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/core/package.js';
import { COMPILED_DIR, compiledDocument, parseCatalogueText, readCatalogue } from '../../src/rules/catalogue-data.js';
import { asciiJson, compileCatalogue, compileFactsFile, FACTS_FILE, yamlCatalogues } from '../../src/rules/compile.js';
import { compiledFacts, tablesReader, type CompiledFacts } from '../../src/rules/globals-facts-compiled.js';
import { parseGlobalFacts } from '../../src/rules/globals-facts.js';
import { defaultFactsPath, defaultGlobalCatalogue, defaultGlobalsPath, loadGlobalCatalogue } from '../../src/rules/globals.js';
import { onnxDomainCatalogue, onnxDomainCatalogueVersion } from '../../src/rules/onnx-domains.js';
import { tfOpCatalogue, tfOpCatalogueVersion } from '../../src/rules/tf-ops.js';

const root = packageRoot();
const rulesText = (file: string) => readFileSync(join(root, 'rules', file), 'utf8');
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
/** What a compiled file holds once written and read back (ASCII JSON, read as one-byte text). */
const roundTrip = (value: unknown): unknown => JSON.parse(Buffer.from(asciiJson(value), 'utf8').toString('latin1'));

describe('every YAML catalogue compiles to its parsed document', () => {
  const files = yamlCatalogues();

  it('covers every rules/*.yaml', () => {
    expect(files).toEqual(expect.arrayContaining(['globals.yaml', 'call-conditions.yaml', 'hydra.yaml', 'keras.yaml', 'keras-cves.yaml', 'loader-vulns.yaml', 'onnx-domains.yaml', 'python-calls.yaml', 'templates.yaml', 'tf-ops.yaml', 'tflite-custom-ops.yaml']));
    expect(files.every((f) => f.endsWith('.yaml'))).toBe(true);
  });

  it.each(files)('%s: the compiled form deep-equals the YAML parsed, and names the exact source bytes', (file) => {
    const text = rulesText(file);
    const c = compileCatalogue(file);
    expect(c.source).toBe(file);
    expect(c.sha256).toBe(sha(text));
    const parsed = parseCatalogueText(file, text);
    expect(parsed).not.toBeNull();
    expect(roundTrip(c.data)).toStrictEqual(parsed);
  });

  it('refuses a document JSON cannot carry (a YAML timestamp read by js-yaml is a Date)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-compile-'));
    mkdirSync(join(dir, 'rules'));
    writeFileSync(join(dir, 'rules', 'globals.yaml'), 'version: 1\nwhen: 2024-01-02\n');
    expect(() => compileCatalogue('globals.yaml', dir)).toThrow('rules/globals.yaml: holds a value JSON cannot carry; quote it');
  });

  it('refuses, at build time, a globals catalogue whose entries contradict each other', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-compile-'));
    mkdirSync(join(dir, 'rules'));
    writeFileSync(
      join(dir, 'rules', 'globals.yaml'),
      'version: 1\naliases: []\ndangerous:\n  - { match: os, severity: critical, reason: r, references: [x] }\nsafe:\n  - { match: os.path.join, reason: r, references: [x] }\n',
    );
    expect(() => compileCatalogue('globals.yaml', dir)).toThrow(/also matched by dangerous entry os/);
  });
});

describe('loaders read the compiled form only while it is current', () => {
  function tree(): string {
    const dir = mkdtempSync(join(tmpdir(), 'mg-compiled-'));
    mkdirSync(join(dir, 'rules'));
    mkdirSync(join(dir, COMPILED_DIR), { recursive: true });
    copyFileSync(join(root, 'rules', 'onnx-domains.yaml'), join(dir, 'rules', 'onnx-domains.yaml'));
    return dir;
  }
  const write = (dir: string, value: unknown) => writeFileSync(join(dir, COMPILED_DIR, 'onnx-domains.yaml.json'), asciiJson(value));

  it('uses the compiled document when its sha256 is the YAML on disk (no YAML parse)', () => {
    const dir = tree();
    const c = compileCatalogue('onnx-domains.yaml', dir);
    // A marker the YAML does not hold: seeing it proves the compiled file was read.
    write(dir, { ...c, data: { marker: 'from the compiled file' } });
    const got = readCatalogue('onnx-domains.yaml', dir);
    expect(got.compiled).toBe(true);
    expect(got.data).toEqual({ marker: 'from the compiled file' });
  });

  it('parses the YAML when it changed since the build, so an edit always takes effect', () => {
    const dir = tree();
    write(dir, { ...compileCatalogue('onnx-domains.yaml', dir), data: { marker: 'stale' } });
    writeFileSync(join(dir, 'rules', 'onnx-domains.yaml'), 'version: 1\nstandard_domains: []\n');
    const got = readCatalogue('onnx-domains.yaml', dir);
    expect(got.compiled).toBe(false);
    expect(got.data).toEqual({ version: 1, standard_domains: [] });
  });

  it('parses the YAML when there is no compiled file, or a damaged one', () => {
    const dir = tree();
    expect(readCatalogue('onnx-domains.yaml', dir).compiled).toBe(false);
    writeFileSync(join(dir, COMPILED_DIR, 'onnx-domains.yaml.json'), '{"source": "onnx-domains.yaml", "sha2');
    const got = readCatalogue('onnx-domains.yaml', dir);
    expect(got.compiled).toBe(false);
    expect(got.data).toEqual(parseCatalogueText('onnx-domains.yaml', rulesText('onnx-domains.yaml')));
  });

  it('ignores a compiled file of another catalogue', () => {
    const dir = tree();
    write(dir, { ...compileCatalogue('onnx-domains.yaml', dir), source: 'tf-ops.yaml' });
    expect(compiledDocument('onnx-domains.yaml', rulesText('onnx-domains.yaml'), dir)).toBeNull();
  });
});

describe('the compiled facts answer exactly as the parsed facts', () => {
  const text = readFileSync(defaultFactsPath(), 'utf8');
  const parsed = parseGlobalFacts(text);
  const { catalogue: file, tables } = compileFactsFile();
  // Read back as the runtime reads it: ASCII text, sliced where the header says.
  const compiled = compiledFacts(roundTrip(file.data) as CompiledFacts, ([offset, length]) => tables.slice(offset, offset + length));
  const doc = JSON.parse(text) as { moduleAliases: Record<string, string[]>; reexports: Record<string, Record<string, string>>; kinds: Record<string, Record<string, string[]>> };
  const paths = new Set<string>();
  for (const ps of Object.values(doc.moduleAliases)) for (const p of ps) paths.add(p);
  for (const [m, names] of Object.entries(doc.reexports)) for (const n of Object.keys(names)) paths.add(`${m}.${n}`);
  for (const groups of Object.values(doc.kinds)) for (const [m, names] of Object.entries(groups)) for (const n of names) paths.add(m === '' ? n : `${m}.${n}`);

  it('records the sha256 of the facts file, and the length of its ASCII tables', () => {
    expect(file.source).toBe(FACTS_FILE);
    expect(file.sha256).toBe(sha(text));
    expect(/[^\x00-\x7f]/.test(tables)).toBe(false);
    expect((file.data as CompiledFacts).tablesLength).toBe(tables.length);
  });

  it('reads the tables file only when it has the recorded length', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-tables-'));
    const path = join(dir, 'globals-facts.tables');
    writeFileSync(path, '|a b||c d|');
    expect(tablesReader(path, 11)).toBeNull();
    expect(tablesReader(join(dir, 'missing'), 10)).toBeNull();
    expect(tablesReader(path, 10)!([5, 5])).toBe('|c d|');
  });

  it('has the same provenance, counts, depth and reaches facts', () => {
    expect(compiled.generated).toStrictEqual(parsed.generated);
    expect(compiled.reaches).toStrictEqual(parsed.reaches);
    expect([compiled.moduleAliasCount, compiled.reexportCount, compiled.maxDepth]).toEqual([parsed.moduleAliasCount, parsed.reexportCount, parsed.maxDepth]);
  });

  it(`rewrites and kinds agree on every path the facts name (${paths.size}), their prefixes and near misses`, () => {
    expect(paths.size).toBeGreaterThan(20_000);
    const probes = new Set<string>(['', '.', 'os', 'os.system', 'zzz', '~', '__proto__', 'constructor', 'builtins.__proto__']);
    for (const p of paths) {
      const dot = p.lastIndexOf('.');
      probes.add(p);
      probes.add(p.slice(0, Math.max(dot, 0)));
      probes.add(p.slice(0, dot + 1));
      probes.add(`${p}.x`);
      probes.add(`${p}_`);
    }
    const differ: string[] = [];
    for (const p of probes) {
      if (compiled.rewrite(p) !== parsed.rewrite(p) || compiled.kind(p) !== parsed.kind(p)) differ.push(p);
    }
    expect(differ).toEqual([]);
    // Not vacuous: the tables do answer.
    expect(compiled.rewrite('torch.nn.Linear')).toBe('torch.nn.modules.linear.Linear');
    expect(compiled.rewrite('random._os')).toBe('os');
    expect(compiled.kind('random._os')).toBe('module');
  });
});

describe('versions (cache keys) still hash the sources', () => {
  it('the shipped globals catalogue has the version of its YAML and facts, compiled or not', () => {
    const fromSources = loadGlobalCatalogue(defaultGlobalsPath(), defaultFactsPath());
    const expected = createHash('sha256').update(rulesText('globals.yaml')).update('\0facts\0').update(readFileSync(defaultFactsPath())).digest('hex');
    expect(fromSources.version).toBe(`1+${expected.slice(0, 12)}`);
    expect(defaultGlobalCatalogue().version).toBe(fromSources.version);
  });

  it('the TensorFlow and ONNX catalogue versions come from their files, without parsing them', () => {
    const tf = createHash('sha256');
    for (const f of ['tf-ops.yaml', 'tf-standard-ops.txt', 'tflite-custom-ops.yaml']) tf.update(rulesText(f));
    expect(tfOpCatalogueVersion()).toBe(`1+${tf.digest('hex').slice(0, 12)}`);
    expect(tfOpCatalogue().version).toBe(tfOpCatalogueVersion());
    expect(onnxDomainCatalogueVersion()).toBe(`1+${sha(rulesText('onnx-domains.yaml')).slice(0, 12)}`);
    expect(onnxDomainCatalogue().version).toBe(onnxDomainCatalogueVersion());
  });
});
