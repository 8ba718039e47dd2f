/**
 * Benign corpus (issue 9): every file the real ML libraries write in everyday use must scan with
 * nothing at medium or above. Each generator in test/corpus/benign/ writes its files at test time;
 * a library the environment lacks is skipped by the generator, which says so (SKIP lines).
 */
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generate, generators, scanCorpus } from './benign-corpus.js';

const GENERATE_TIMEOUT = 600_000;

/**
 * Files still flagged for a reason outside the pickle judgement, each with an owner-visible reason.
 * Their loud findings are printed, not asserted; every other file must be quiet. Shrink this list.
 */
const PENDING: Array<{ file: RegExp; reason: string }> = [];
const pending = (file: string) => PENDING.find((p) => p.file.test(file));

describe('benign corpus', () => {
  const scripts = generators();

  it('has generators', () => {
    expect(scripts.length).toBeGreaterThan(0);
  });

  for (const script of scripts) {
    it(`${script}: nothing at medium or above (pending files printed)`, async () => {
      const gen = await generate(script);
      try {
        for (const s of gen.skips) console.log(`${script}: ${s}`);
        const res = await scanCorpus(gen.dir);
        console.log(`${script}: ${res.files} files, ${res.flaggedMedium} flagged >= medium, ${res.flaggedLow} flagged >= low`);
        const seenLow = new Set<string>();
        for (const l of res.low) {
          const key = `${l.rule}: ${l.message}`;
          if (seenLow.has(key)) continue;
          seenLow.add(key);
          console.log(`${script}: low ${l.file}: ${key}`);
        }
        expect(res.files, `${script} wrote no file`).toBeGreaterThan(0);
        for (const l of res.loud.filter((x) => pending(x.file))) console.log(`${script}: pending ${l.file}: ${l.severity} ${l.rule}: ${l.message} (${pending(l.file)!.reason})`);
        expect(res.loud.filter((l) => !pending(l.file)).map((l) => `${l.file}: ${l.severity} ${l.rule}: ${l.message}`)).toEqual([]);
        expect(res.incomplete, 'files whose scan did not finish').toEqual([]);
      } finally {
        rmSync(gen.dir, { recursive: true, force: true });
      }
    }, GENERATE_TIMEOUT);
  }
});
