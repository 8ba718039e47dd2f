import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RULES, ruleDocPath } from '../../src/core/rules.js';
import { packageRoot } from '../../src/rules/globals.js';

const root = packageRoot();
const SECTIONS = ['## What it catches', '## Why it is dangerous', '## Example', '## What to do', '## References'];
const ids = [...RULES.keys()];

describe('finding kind documentation', () => {
  it.each(ids)('%s has a page with the five sections', (id) => {
    const file = join(root, ruleDocPath(id));
    expect(existsSync(file), file).toBe(true);
    const text = readFileSync(file, 'utf8');
    const lines = text.split('\n');
    expect(lines[0]).toBe(`# ${id}: ${RULES.get(id)!.title}`);
    let last = -1;
    for (const s of SECTIONS) {
      const at = lines.findIndex((l) => l.trim() === s);
      expect(at, `${id}: missing "${s}"`).toBeGreaterThan(last);
      last = at;
    }
    // every section has content, and the references section cites something
    for (let i = 0; i < SECTIONS.length; i++) {
      const start = lines.findIndex((l) => l.trim() === SECTIONS[i]);
      const end = i + 1 < SECTIONS.length ? lines.findIndex((l) => l.trim() === SECTIONS[i + 1]) : lines.length;
      const body = lines.slice(start + 1, end).join('\n').trim();
      expect(body.length, `${id}: empty "${SECTIONS[i]}"`).toBeGreaterThan(20);
    }
    const refs = lines.slice(lines.findIndex((l) => l.trim() === '## References') + 1).filter((l) => l.startsWith('- '));
    expect(refs.length, `${id}: no references`).toBeGreaterThan(0);
  });

  it('indexes every kind in docs/rules/README.md with its severity', () => {
    const index = readFileSync(join(root, 'docs/rules/README.md'), 'utf8');
    for (const [id, kind] of RULES) {
      const row = index.split('\n').find((l) => l.startsWith(`| [${id}](${id}.md) |`));
      expect(row, `${id} missing from README.md`).toBeDefined();
      expect(row).toContain(`| ${kind.severity}`);
    }
  });

  it('has no page for a kind that does not exist', () => {
    const known = new Set(ids.map((id) => `${id}.md`));
    const pages = readFileSync(join(root, 'docs/rules/README.md'), 'utf8').match(/\(([A-Z0-9_]+\.md)\)/g) ?? [];
    for (const p of pages) expect(known.has(p.slice(1, -1)), p).toBe(true);
  });

  it('documents the globals catalogue', () => {
    for (const f of ['docs/rules/globals.md', 'docs/rules/globals-sources.md']) {
      expect(existsSync(join(root, f)), f).toBe(true);
    }
  });
});
