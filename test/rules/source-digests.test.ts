/**
 * The rule files' digests kept by the build (src/rules/source-digests.ts): a stored digest is
 * used only for the very bytes copied under it; any other bytes (an edit, a damaged or missing
 * copy, no index) are hashed. Either way the answer is sha256 of the bytes given.
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/core/package.js';
import { writeSourceDigests } from '../../src/rules/compile.js';
import { combinedDigest, forgetSourcesIndex, ruleFileDigest, SOURCES_DIR, SOURCES_INDEX, type SourcesIndex } from '../../src/rules/source-digests.js';

const sha = (b: string | Uint8Array) => createHash('sha256').update(b).digest('hex');
const ZEROS = '0'.repeat(64);

/** A package root of its own: rules/ with two files and an index whose stored digests are known. */
function tree(): { dir: string; a: Buffer; b: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'mg-digests-'));
  mkdirSync(join(dir, 'rules'));
  mkdirSync(join(dir, SOURCES_DIR), { recursive: true });
  const a = Buffer.from('version: 1\nnames: [a, b]\n');
  const b = Buffer.from('{"facts": true}\n');
  writeFileSync(join(dir, 'rules', 'a.yaml'), a);
  writeFileSync(join(dir, 'rules', 'b.json'), b);
  return { dir, a, b };
}

/**
 * An index that names a copy by a *wrong* digest: were the stored digest used without comparing
 * bytes, the answer would be that wrong digest, so the tests can tell which way it was found.
 */
function storeUnder(dir: string, file: string, bytes: Uint8Array, digest: string, combined: Record<string, string> = {}): void {
  writeFileSync(join(dir, SOURCES_DIR, digest), bytes);
  const path = join(dir, SOURCES_DIR, SOURCES_INDEX);
  let index: SourcesIndex = { files: {}, combined: {} };
  try {
    index = JSON.parse(readFileSync(path, 'utf8')) as SourcesIndex;
  } catch {
    // first file
  }
  index.files[file] = digest;
  Object.assign(index.combined, combined);
  writeFileSync(path, JSON.stringify(index));
  forgetSourcesIndex();
}

afterEach(() => forgetSourcesIndex());

describe('ruleFileDigest', () => {
  it('takes the stored digest for the very bytes copied under it (nothing hashed: a marker digest comes back)', () => {
    const { dir, a } = tree();
    storeUnder(dir, 'a.yaml', a, ZEROS);
    expect(ruleFileDigest('a.yaml', new Uint8Array(a), dir)).toBe(ZEROS);
    // Text is compared as its UTF-8 bytes, as createHash hashes it.
    expect(ruleFileDigest('a.yaml', a.toString('utf8'), dir)).toBe(ZEROS);
  });

  it('hashes bytes that differ from the copy, by one byte or by length', () => {
    const { dir, a } = tree();
    storeUnder(dir, 'a.yaml', a, ZEROS);
    const edited = Buffer.from(a);
    edited[0] = 0x56;
    expect(ruleFileDigest('a.yaml', edited, dir)).toBe(sha(edited));
    const longer = Buffer.concat([a, Buffer.from('\n')]);
    expect(ruleFileDigest('a.yaml', longer, dir)).toBe(sha(longer));
  });

  it('hashes when the copy is missing, the index names no such file, holds no digest, or is damaged', () => {
    const { dir, a, b } = tree();
    expect(ruleFileDigest('a.yaml', a, dir)).toBe(sha(a));
    storeUnder(dir, 'a.yaml', a, ZEROS);
    rmSync(join(dir, SOURCES_DIR, ZEROS));
    forgetSourcesIndex();
    expect(ruleFileDigest('a.yaml', Buffer.from(a), dir)).toBe(sha(a));
    expect(ruleFileDigest('b.json', b, dir)).toBe(sha(b));
    // A name that is not a digest is never read as a path (here it would lead to the file itself).
    writeFileSync(join(dir, SOURCES_DIR, SOURCES_INDEX), JSON.stringify({ files: { 'a.yaml': '../../rules/a.yaml' }, combined: {} }));
    forgetSourcesIndex();
    expect(ruleFileDigest('a.yaml', Buffer.from(a), dir)).toBe(sha(a));
    writeFileSync(join(dir, SOURCES_DIR, SOURCES_INDEX), '{"files": {"a.yaml": "');
    forgetSourcesIndex();
    expect(ruleFileDigest('a.yaml', Buffer.from(a), dir)).toBe(sha(a));
  });
});

describe('combinedDigest', () => {
  it('is sha256 of the parts one after another, with or without a stored value', () => {
    const { dir, a, b } = tree();
    const parts = [{ file: 'a.yaml', bytes: a }, '\0sep\0', { file: 'b.json', bytes: b }];
    const whole = sha(Buffer.concat([a, Buffer.from('\0sep\0'), b]));
    expect(combinedDigest(parts, dir)).toBe(whole);
    // Stored under the true digests of the files: the stored value (a marker here) is used...
    const key = JSON.stringify([['file', 'a.yaml', sha(a)], ['text', '\0sep\0'], ['file', 'b.json', sha(b)]]);
    storeUnder(dir, 'a.yaml', a, sha(a));
    storeUnder(dir, 'b.json', b, sha(b), { [key]: ZEROS });
    expect(combinedDigest(parts, dir)).toBe(ZEROS);
    // ...but not once a file changed (its digest, so the key, differs), nor for another separator.
    const edited = Buffer.concat([b, Buffer.from(' ')]);
    expect(combinedDigest([parts[0]!, parts[1]!, { file: 'b.json', bytes: edited }], dir)).toBe(sha(Buffer.concat([a, Buffer.from('\0sep\0'), edited])));
    expect(combinedDigest([parts[0]!, '\0other\0', parts[2]!], dir)).toBe(sha(Buffer.concat([a, Buffer.from('\0other\0'), b])));
  });
});

describe('the build', () => {
  it('copies every rule file under its sha256 and stores the versions the loaders hash over several files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-digests-build-'));
    cpSync(join(packageRoot(), 'rules'), join(dir, 'rules'), { recursive: true });
    writeSourceDigests(dir);
    const index = JSON.parse(readFileSync(join(dir, SOURCES_DIR, SOURCES_INDEX), 'utf8')) as SourcesIndex;
    expect(Object.keys(index.files)).toEqual(expect.arrayContaining(['globals.yaml', 'globals-facts.json', 'tf-standard-ops.txt', 'onnx-domains.yaml']));
    for (const [file, digest] of Object.entries(index.files)) {
      const bytes = readFileSync(join(dir, 'rules', file));
      expect(digest).toBe(sha(bytes));
      expect(readFileSync(join(dir, SOURCES_DIR, digest)).equals(bytes)).toBe(true);
    }
    // The globals' version (YAML, separator, facts) and the TensorFlow op lists' (three files).
    const combined = Object.entries(index.combined);
    expect(combined).toHaveLength(2);
    const text = (file: string) => readFileSync(join(dir, 'rules', file));
    const globals = sha(Buffer.concat([text('globals.yaml'), Buffer.from('\0facts\0'), text('globals-facts.json')]));
    const tf = sha(Buffer.concat([text('tf-ops.yaml'), text('tf-standard-ops.txt'), text('tflite-custom-ops.yaml')]));
    expect(combined.map(([, v]) => v).sort()).toEqual([globals, tf].sort());
  });
});
