/**
 * Audit exports against a real SQLite store: the truncation flag (the
 * X-Modelgate-Export-Truncated header) is exact at the cap, and the records streamed are the
 * newest ones matching, in pages, newest first.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportRecords } from '../../src/gateway/console/export.js';
import type { SqlStore } from '../../src/store/sql.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { AuditRecord } from '../../src/store/types.js';
import { auditRecord } from '../store/contract.js';

async function all(gen: AsyncGenerator<AuditRecord[]>): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const page of gen) out.push(...page);
  return out;
}

describe('audit export', () => {
  let dir: string;
  let store: SqlStore;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mg-export-'));
    store = openSqliteStore(join(dir, 'store.db'));
    await store.migrate();
    for (let i = 0; i < 250; i++) await store.appendAudit(auditRecord({ time: new Date(Date.UTC(2026, 2, 1, 0, i)).toISOString(), repo: i % 2 ? 'a/odd' : 'a/even', verdict: i % 5 === 0 ? 'block' : 'allow' }));
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('says truncated only when more records match than the cap, and streams the newest up to it', async () => {
    const over = await exportRecords(store, {}, 249);
    expect(over.truncated).toBe(true);
    const got = await all(over.records);
    expect(got.length).toBe(249);
    expect(got[0]!.time).toBe('2026-03-01T04:09:00.000Z');
    expect(got.map((r) => r.id!)).toEqual([...got.map((r) => r.id!)].sort((a, b) => b - a));
    const exact = await exportRecords(store, {}, 250);
    expect(exact.truncated).toBe(false);
    expect((await all(exact.records)).length).toBe(250);
  });

  it('gives the event loop a turn between pages, so the socket sends each page before the next is read', async () => {
    const gen = (await exportRecords(store, {}, 250)).records;
    expect((await gen.next()).value).toHaveLength(100);
    let turned = false;
    setImmediate(() => (turned = true));
    expect((await gen.next()).value).toHaveLength(150);
    expect(turned).toBe(true);
  });

  it('counts only what the filters match', async () => {
    expect((await exportRecords(store, { repo: 'a/odd' }, 125)).truncated).toBe(false);
    expect((await exportRecords(store, { repo: 'a/odd' }, 124)).truncated).toBe(true);
    const blocks = await exportRecords(store, { verdict: 'block', since: '2026-03-01T02:00:00Z' }, 26);
    expect(blocks.truncated).toBe(false);
    expect((await all(blocks.records)).every((r) => r.verdict === 'block' && r.time >= '2026-03-01T02:00:00.000Z')).toBe(true);
    expect((await exportRecords(store, { verdict: 'block', since: '2026-03-01T02:00:00Z' }, 25)).truncated).toBe(true);
  });
});
