import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isStoreError } from '../../src/store/errors.js';
import { openStore, parseStoreLocation } from '../../src/store/open.js';

const dir = mkdtempSync(join(tmpdir(), 'modelgate-open-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('store location', () => {
  it.each([
    ['postgres://u@h:5432/db', { kind: 'postgres', url: 'postgres://u@h:5432/db' }],
    ['postgresql://u@h/db?schema=mg', { kind: 'postgres', url: 'postgresql://u@h/db?schema=mg' }],
    ['sqlite:/var/lib/modelgate/store.db', { kind: 'sqlite', path: '/var/lib/modelgate/store.db' }],
    ['sqlite:///var/lib/modelgate/store.db', { kind: 'sqlite', path: '/var/lib/modelgate/store.db' }],
    ['sqlite:data/store.db', { kind: 'sqlite', path: 'data/store.db' }],
    ['sqlite::memory:', { kind: 'sqlite', path: ':memory:' }],
    ['./data/store.db', { kind: 'sqlite', path: './data/store.db' }],
    ['/abs/store.db', { kind: 'sqlite', path: '/abs/store.db' }],
    ['C:\\data\\store.db', { kind: 'sqlite', path: 'C:\\data\\store.db' }],
  ])('%s', (input, want) => {
    expect(parseStoreLocation(input)).toEqual(want);
  });

  it.each(['mysql://u@h/db', 'redis://localhost', 'file:store.db', '', 'sqlite:'])('refuses %j with one clear line', (input) => {
    try {
      parseStoreLocation(input);
      expect.fail('accepted');
    } catch (e) {
      expect(isStoreError(e, 'invalid')).toBe(true);
      expect((e as Error).message).not.toContain('\n');
      expect((e as Error).message).toMatch(/postgres:\/\/|SQLite|names no/);
    }
  });

  it('opens a working SQLite store from a plain path', async () => {
    const store = openStore(join(dir, 'nested', 'store.db'));
    try {
      expect(store.dialect).toBe('sqlite');
      await store.migrate();
      expect(await store.ping()).toBe(true);
    } finally {
      await store.close();
    }
  });
});
