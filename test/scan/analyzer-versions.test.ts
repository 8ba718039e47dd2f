/**
 * Cached verdicts are keyed by the engine key: it must change whenever a verdict could, i.e. when
 * any rules file or any analyzer's code changes (issue 10, item 13).
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync, appendFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/scan/engine.js';
import { engineKeyOf, rulesDigest } from '../../src/scan/engine-key.js';
import { currentAnalyzers, manifestProblems, readManifest, ROOT } from '../helpers/analyzer-sources.js';

const tmp = mkdtempSync(join(tmpdir(), 'mg-rules-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function copyRules(name: string): string {
  const dir = join(tmp, name);
  cpSync(join(ROOT, 'rules'), dir, { recursive: true });
  return dir;
}

describe('engine key', () => {
  const info = new Engine().info;
  const base = engineKeyOf(info, rulesDigest(copyRules('base')));

  it('is the same for the same rules', () => {
    expect(engineKeyOf(info, rulesDigest(copyRules('same')))).toBe(base);
    expect(engineKeyOf(info)).toBe(engineKeyOf(info, rulesDigest(join(ROOT, 'rules'))));
  });

  it('changes when rules/tf-ops.yaml changes (a file the globals catalogue does not cover)', () => {
    const dir = copyRules('tf-ops');
    appendFileSync(join(dir, 'tf-ops.yaml'), '\n# edited\n');
    expect(engineKeyOf(info, rulesDigest(dir))).not.toBe(base);
  });

  it('changes when a template rule changes', () => {
    const dir = copyRules('templates');
    appendFileSync(join(dir, 'templates.yaml'), '\n# edited\n');
    expect(engineKeyOf(info, rulesDigest(dir))).not.toBe(base);
  });

  it('changes when a new data file appears under rules/, at any depth', () => {
    const flat = copyRules('new-file');
    writeFileSync(join(flat, 'globals-facts.json'), '{}\n');
    expect(engineKeyOf(info, rulesDigest(flat))).not.toBe(base);
    const deep = copyRules('new-deep');
    mkdirSync(join(deep, 'extra'));
    writeFileSync(join(deep, 'extra', 'x.txt'), 'x\n');
    expect(engineKeyOf(info, rulesDigest(deep))).not.toBe(base);
  });

  it('changes when an analyzer version changes', () => {
    const bumped = { ...info, analyzers: { ...info.analyzers, pickle: String(Number(info.analyzers['pickle']) + 1) } };
    expect(engineKeyOf(bumped, rulesDigest(copyRules('bump')))).not.toBe(base);
  });
});

describe('analyzer versions', () => {
  it('src/scan/analyzer-sources.json matches every analyzer: code never changes without its version', async () => {
    expect(manifestProblems(readManifest(), await currentAnalyzers())).toEqual([]);
  });

  it('the check names an analyzer whose code changed under the same version', async () => {
    const recorded = readManifest();
    const changed = { ...recorded, pickle: { ...recorded.pickle!, sources: '0'.repeat(64) } };
    const problems = manifestProblems(changed, await currentAnalyzers());
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^pickle: its code changed but its version is still ${recorded.pickle!.version}: bump the analyzer's version`));
  });

  it('an edit to a file an analyzer imports counts as a change to that analyzer', async () => {
    const current = await currentAnalyzers();
    expect(current.pickle!.files).toContain('src/pickle/machine.ts');
    expect(current.zip!.files).toEqual(expect.arrayContaining(['src/formats/archive.ts', 'src/formats/zip.ts', 'src/formats/zip/structure.ts']));
    expect(current.zip!.files).not.toContain('src/formats/pickle/collector.ts');
  });
});
