/**
 * The Store contract, run unchanged against every backend (sqlite.test.ts, postgres.test.ts):
 * what the gateway may rely on, whichever database is configured.
 */
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrationNames } from '../../src/store/migrations.js';
import { isStoreError, StoreError, type StoreErrorKind } from '../../src/store/errors.js';
import type { SqlStore } from '../../src/store/sql.js';
import { AUDIT_DEFAULT_LIMIT, AUDIT_MAX_LIMIT } from '../../src/store/sql.js';
import { createTokenSecret, hashTokenSecret } from '../../src/store/tokens.js';
import type { AuditRecord, StoredScan, TokenRecord, Waiver } from '../../src/store/types.js';
import { scanFile } from '../../src/scan/scan.js';

export interface ContractTarget<L> {
  /** A new, empty database or schema of its own. */
  fresh(): Promise<L>;
  /** A new connection (pool) to it. */
  connect(loc: L): SqlStore;
}

const FIXTURE = join(import.meta.dirname, '..', '..', 'fixtures', 'malicious', 'builtins_exec.pkl');

export function sha(n: number): string {
  return n.toString(16).padStart(64, '0');
}

export async function expectStoreError(p: Promise<unknown>, kind: StoreErrorKind): Promise<StoreError> {
  try {
    await p;
  } catch (e) {
    expect(isStoreError(e), `expected StoreError, got ${String(e)}`).toBe(true);
    expect((e as StoreError).kind, (e as StoreError).message).toBe(kind);
    return e as StoreError;
  }
  throw new Error(`expected a StoreError of kind ${kind}, but the call succeeded`);
}

export function auditRecord(over: Partial<AuditRecord> = {}): AuditRecord {
  return {
    time: '2025-01-01T00:00:00.000Z',
    requestId: 'req-1',
    client: 'ci-bot',
    group: 'default',
    method: 'GET',
    repoType: 'model',
    repo: 'org/model',
    revision: 'main',
    commit: 'a'.repeat(40),
    path: 'pytorch_model.bin',
    sha256: sha(1),
    verdict: 'allow',
    rules: [],
    findings: [],
    waivers: [],
    upstreamStatus: 200,
    scanId: null,
    policyVersion: 'p1',
    message: null,
    ...over,
  };
}

function waiver(over: Partial<Waiver> = {}): Waiver {
  return {
    id: 'w1',
    repo: 'org/*',
    sha256: null,
    rule: null,
    reason: 'reviewed by security',
    author: 'alice',
    createdAt: '2025-01-01T00:00:00.000Z',
    expiresAt: '2025-02-01T00:00:00.000Z',
    revokedAt: null,
    ...over,
  };
}

function token(over: Partial<TokenRecord> = {}): TokenRecord {
  return { id: 't1', name: 'ci', role: 'client', group: 'default', createdAt: '2025-01-01T00:00:00.000Z', revokedAt: null, ...over };
}

export function runStoreContract<L>(target: ContractTarget<L>): void {
  const opened: SqlStore[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  function connect(loc: L): SqlStore {
    const s = target.connect(loc);
    opened.push(s);
    return s;
  }

  async function freshStore(): Promise<{ store: SqlStore; loc: L }> {
    const loc = await target.fresh();
    const store = connect(loc);
    await store.migrate();
    return { store, loc };
  }

  async function appliedMigrations(store: SqlStore): Promise<string[]> {
    const r = await sql<{ name: string }>`select name from modelgate_migration order by name`.execute(store.db);
    return r.rows.map((x) => x.name);
  }

  describe('migrations', () => {
    it('are idempotent: twice on one connection, again from another', async () => {
      const { store, loc } = await freshStore();
      await store.migrate();
      const other = connect(loc);
      await other.migrate();
      expect(await appliedMigrations(other)).toEqual(migrationNames(store.dialect));
      expect(await store.ping()).toBe(true);
    });

    it('are safe when several connections migrate at once', async () => {
      const loc = await target.fresh();
      const stores = [connect(loc), connect(loc), connect(loc)];
      await Promise.all(stores.map((s) => s.migrate()));
      expect(await appliedMigrations(stores[0]!)).toEqual(migrationNames(stores[0]!.dialect));
      await stores[1]!.appendAudit(auditRecord());
      expect(await stores[2]!.queryAudit({})).toHaveLength(1);
    });
  });

  describe('scans', () => {
    it('round-trip a real FileReport', async () => {
      const { store } = await freshStore();
      const report = (await scanFile(FIXTURE)).files[0]!;
      expect(report.findings.length).toBeGreaterThan(0);
      const scan: StoredScan = {
        id: 'scan_abc123',
        sha256: sha(7),
        engineKey: 'modelgate@0.1.0/rules@1',
        report,
        maxSeverity: report.maxSeverity,
        complete: report.complete,
        createdAt: '2025-03-04T05:06:07.089Z',
      };
      await store.putScan(scan);
      expect(await store.getScan(sha(7), 'modelgate@0.1.0/rules@1')).toEqual(scan);
      expect(await store.getScanById('scan_abc123')).toEqual(scan);
      expect(await store.getScan(sha(7), 'other-engine')).toBeNull();
      expect(await store.getScanById('nope')).toBeNull();
    });

    it('keep the first scan for (sha256, engineKey) and refuse a reused id', async () => {
      const { store } = await freshStore();
      const base: StoredScan = {
        id: 's1',
        sha256: sha(1),
        engineKey: 'e1',
        report: { path: 'a', size: 1, formats: [], findings: [], facts: {}, imports: [], members: [], complete: true, maxSeverity: null, bytesRead: 1, durationMs: 0 },
        maxSeverity: null,
        complete: true,
        createdAt: '2025-01-01T00:00:00.000Z',
      };
      await store.putScan(base);
      await store.putScan(base); // exact repeat: no-op
      await store.putScan({ ...base, id: 's2', complete: false }); // a racing replica: first wins
      expect((await store.getScan(sha(1), 'e1'))?.id).toBe('s1');
      expect(await store.getScanById('s2')).toBeNull();
      await expectStoreError(store.putScan({ ...base, sha256: sha(2) }), 'conflict');
    });

    it('report stored JSON that does not parse as corrupt', async () => {
      const { store } = await freshStore();
      await store.db
        .insertInto('scans')
        .values({ id: 'bad', sha256: sha(3), engine_key: 'e', report: '{"trunc', max_severity: null, complete: 1, created_at: '2025-01-01T00:00:00.000Z' })
        .execute();
      await expectStoreError(store.getScanById('bad'), 'corrupt');
    });
  });

  describe('file metadata', () => {
    it('round-trips, upserts, and keeps sizes above 4 GiB exact', async () => {
      const { store } = await freshStore();
      const meta = {
        repoType: 'model' as const,
        repo: 'org/big',
        commit: 'c'.repeat(40),
        path: 'weights/model-00001-of-00002.safetensors',
        size: 53_687_091_200,
        etag: 'e'.repeat(40),
        sha256: sha(9),
        lfs: true,
        fetchedAt: '2025-01-01T00:00:00.000Z',
      };
      await store.putFileMeta(meta);
      expect(await store.getFileMeta('model', 'org/big', 'c'.repeat(40), meta.path)).toEqual(meta);
      expect(await store.getFileMeta('dataset', 'org/big', 'c'.repeat(40), meta.path)).toBeNull();
      const updated = { ...meta, size: 12, sha256: null, lfs: false, fetchedAt: '2025-02-01T00:00:00.000Z' };
      await store.putFileMeta(updated);
      expect(await store.getFileMeta('model', 'org/big', 'c'.repeat(40), meta.path)).toEqual(updated);
    });
  });

  describe('audit', () => {
    it('appends with growing ids and round-trips every field', async () => {
      const { store } = await freshStore();
      const rec = auditRecord({
        verdict: 'block',
        rules: [{ rule: 'block-critical', action: 'block', reason: 'critical finding' }],
        findings: [{ rule: 'PICKLE_DANGEROUS_GLOBAL', severity: 'critical', message: 'calls os.system "quoted" ✓' }],
        waivers: ['w1', 'w2'],
        upstreamStatus: null,
        scanId: 'scan_1',
        message: 'blocked: os.system',
        commit: null,
        path: null,
        sha256: null,
        clientLibraries: { torch: '2.5.1+cpu', 'huggingface-hub': '0.30.2' },
      });
      const id1 = await store.appendAudit(rec);
      const id2 = await store.appendAudit(auditRecord());
      expect(typeof id1).toBe('number');
      expect(id2).toBeGreaterThan(id1);
      const [second, first] = await store.queryAudit({});
      expect(first).toEqual({ ...rec, id: id1 });
      expect(second?.id).toBe(id2);
    });

    it('normalises times to ISO-8601 UTC and refuses values that are not times', async () => {
      const { store } = await freshStore();
      await store.appendAudit(auditRecord({ time: '2025-01-01T01:00:00+01:00' }));
      expect((await store.queryAudit({}))[0]?.time).toBe('2025-01-01T00:00:00.000Z');
      await expectStoreError(store.appendAudit(auditRecord({ time: 'yesterday' })), 'invalid');
      await expectStoreError(store.appendAudit(auditRecord({ verdict: 'maybe' as AuditRecord['verdict'] })), 'invalid');
    });

    it('filters by repo, verdict, client, sha256, since, until and before, newest first', async () => {
      const { store } = await freshStore();
      const ids: number[] = [];
      const recs = [
        auditRecord({ time: '2025-01-01T00:00:00.000Z', repo: 'a/x', verdict: 'allow', client: 'c1', sha256: sha(1) }),
        auditRecord({ time: '2025-01-02T00:00:00.000Z', repo: 'a/x', verdict: 'block', client: 'c2', sha256: sha(2) }),
        auditRecord({ time: '2025-01-03T00:00:00.000Z', repo: 'b/y', verdict: 'warn', client: 'c1', sha256: sha(1) }),
        auditRecord({ time: '2025-01-04T00:00:00.000Z', repo: 'b/y', verdict: 'block', client: 'c1', sha256: null }),
        auditRecord({ time: '2025-01-05T00:00:00.000Z', repo: 'a/x', verdict: 'error', client: 'c3', sha256: sha(3) }),
      ];
      for (const r of recs) ids.push(await store.appendAudit(r));
      const idsOf = async (q: Parameters<SqlStore['queryAudit']>[0]): Promise<number[]> => (await store.queryAudit(q)).map((r) => r.id!);
      const at = (...i: number[]): number[] => i.map((k) => ids[k]!);

      expect(await idsOf({})).toEqual(at(4, 3, 2, 1, 0));
      expect(await idsOf({ repo: 'a/x' })).toEqual(at(4, 1, 0));
      expect(await idsOf({ verdict: 'block' })).toEqual(at(3, 1));
      expect(await idsOf({ client: 'c1' })).toEqual(at(3, 2, 0));
      expect(await idsOf({ sha256: sha(1) })).toEqual(at(2, 0));
      expect(await idsOf({ since: '2025-01-03T00:00:00.000Z' })).toEqual(at(4, 3, 2));
      expect(await idsOf({ until: '2025-01-03T00:00:00.000Z' })).toEqual(at(1, 0));
      expect(await idsOf({ since: '2025-01-02T00:00:00Z', until: '2025-01-04T00:00:00Z' })).toEqual(at(2, 1));
      expect(await idsOf({ before: ids[3] })).toEqual(at(2, 1, 0));
      expect(await idsOf({ limit: 2 })).toEqual(at(4, 3));
      expect(await idsOf({ repo: 'b/y', verdict: 'block', client: 'c1' })).toEqual(at(3));
      expect(await idsOf({ repo: 'a/x', before: ids[4], limit: 1 })).toEqual(at(1));
      expect(await idsOf({ repo: 'nobody/none' })).toEqual([]);
      await expectStoreError(store.queryAudit({ since: 'not a time' }), 'invalid');
    });

    it('paginates with the before cursor without gaps or repeats', async () => {
      const { store } = await freshStore();
      const all: number[] = [];
      for (let i = 0; i < 11; i++) all.push(await store.appendAudit(auditRecord({ requestId: `r${i}` })));
      const seen: number[] = [];
      let before: number | undefined;
      for (;;) {
        const page = await store.queryAudit({ limit: 3, ...(before !== undefined ? { before } : {}) });
        if (page.length === 0) break;
        expect(page.length).toBeLessThanOrEqual(3);
        seen.push(...page.map((r) => r.id!));
        before = page[page.length - 1]!.id;
      }
      expect(seen).toEqual([...all].reverse());
    });

    it(`defaults to ${AUDIT_DEFAULT_LIMIT} records and caps at ${AUDIT_MAX_LIMIT}`, async () => {
      const { store } = await freshStore();
      const n = AUDIT_MAX_LIMIT + 5;
      // Bulk rows straight into the table: a thousand individually fsynced appends would only slow the test.
      const row = {
        time: '2025-01-01T00:00:00.000Z', request_id: 'r', client: 'c', client_group: 'g', method: 'GET', repo_type: 'model',
        repo: 'o/r', revision: 'main', commit: null, path: null, sha256: null, verdict: 'allow', rules: '[]', findings: '[]',
        waivers: '[]', upstream_status: null, scan_id: null, policy_version: 'p', message: null,
      };
      for (let i = 0; i < n; i += 500) {
        await store.db.insertInto('audit').values(Array.from({ length: Math.min(500, n - i) }, () => row)).execute();
      }
      expect(await store.queryAudit({})).toHaveLength(AUDIT_DEFAULT_LIMIT);
      expect(await store.queryAudit({ limit: 1_000_000 })).toHaveLength(AUDIT_MAX_LIMIT);
      expect(await store.queryAudit({ limit: 0 })).toHaveLength(1);
    });

    it('is readable from another connection as soon as appendAudit resolves', async () => {
      const { store, loc } = await freshStore();
      const id = await store.appendAudit(auditRecord({ requestId: 'durable-1' }));
      const other = connect(loc);
      const got = await other.queryAudit({ before: id + 1, limit: 1 });
      expect(got[0]?.requestId).toBe('durable-1');
    });
  });

  describe('waivers', () => {
    it('lists active, expired and revoked waivers correctly', async () => {
      const { store } = await freshStore();
      await store.addWaiver(waiver({ id: 'active', expiresAt: '2025-06-01T00:00:00.000Z' }));
      await store.addWaiver(waiver({ id: 'expired', repo: null, sha256: sha(5), expiresAt: '2025-01-10T00:00:00.000Z' }));
      await store.addWaiver(waiver({ id: 'revoked', repo: null, rule: 'block-critical', expiresAt: '2025-06-01T00:00:00.000Z' }));
      expect(await store.revokeWaiver('revoked', '2025-01-15T00:00:00.000Z')).toBe(true);
      expect(await store.revokeWaiver('revoked', '2025-01-16T00:00:00.000Z')).toBe(false);
      expect(await store.revokeWaiver('missing', '2025-01-16T00:00:00.000Z')).toBe(false);

      const active = await store.listWaivers({ activeAt: '2025-02-01T00:00:00.000Z' });
      expect(active.map((w) => w.id)).toEqual(['active']);
      // Expiry is exclusive: a waiver expiring at T no longer applies at T.
      expect((await store.listWaivers({ activeAt: '2025-01-10T00:00:00.000Z' })).map((w) => w.id)).toEqual(['active']);
      expect((await store.listWaivers({ activeAt: '2025-01-09T23:59:59.999Z' })).map((w) => w.id).sort()).toEqual(['active', 'expired']);

      const all = await store.listWaivers();
      expect(all.map((w) => w.id).sort()).toEqual(['active', 'expired', 'revoked']);
      expect(all.find((w) => w.id === 'revoked')?.revokedAt).toBe('2025-01-15T00:00:00.000Z');
      expect(all.find((w) => w.id === 'expired')).toEqual(waiver({ id: 'expired', repo: null, sha256: sha(5), expiresAt: '2025-01-10T00:00:00.000Z' }));
    });

    it('refuse a waiver that matches nothing, a bad sha256 and a duplicate id', async () => {
      const { store } = await freshStore();
      await expectStoreError(store.addWaiver(waiver({ repo: null })), 'invalid');
      await expectStoreError(store.addWaiver(waiver({ repo: null, sha256: 'XYZ' })), 'invalid');
      await store.addWaiver(waiver());
      await expectStoreError(store.addWaiver(waiver()), 'conflict');
    });
  });

  describe('tokens', () => {
    it('store only the hash of the secret', async () => {
      const { store } = await freshStore();
      const secret = createTokenSecret();
      const hash = hashTokenSecret(secret);
      await store.addToken(token(), hash);

      const raw = await sql<Record<string, unknown>>`select * from tokens`.execute(store.db);
      const dump = JSON.stringify(raw.rows);
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(secret.slice(3));
      expect(dump).toContain(hash);

      expect(await store.findToken(hash)).toEqual(token());
      expect(await store.findToken(hashTokenSecret(createTokenSecret()))).toBeNull();
      // A caller handing over the secret instead of its hash is refused, so it cannot be stored by mistake.
      await expectStoreError(store.addToken(token({ id: 't2' }), secret), 'invalid');
    });

    it('list, revoke, and refuse a duplicate secret hash', async () => {
      const { store } = await freshStore();
      const h1 = hashTokenSecret(createTokenSecret());
      const h2 = hashTokenSecret(createTokenSecret());
      await store.addToken(token({ id: 't1', name: 'ci' }), h1);
      await store.addToken(token({ id: 't2', name: 'root', role: 'admin', group: 'ops', createdAt: '2025-01-02T00:00:00.000Z' }), h2);
      await expectStoreError(store.addToken(token({ id: 't3' }), h1), 'conflict');
      expect((await store.listTokens()).map((t) => t.id)).toEqual(['t1', 't2']);
      expect(await store.revokeToken('t1', '2025-01-05T00:00:00.000Z')).toBe(true);
      expect(await store.revokeToken('t1', '2025-01-06T00:00:00.000Z')).toBe(false);
      expect((await store.findToken(h1))?.revokedAt).toBe('2025-01-05T00:00:00.000Z');
      expect(await store.findToken(h2)).toEqual(token({ id: 't2', name: 'root', role: 'admin', group: 'ops', createdAt: '2025-01-02T00:00:00.000Z' }));
    });
  });

  describe('availability', () => {
    it('pings, and after close reports unavailable instead of throwing raw errors', async () => {
      const { store } = await freshStore();
      expect(await store.ping()).toBe(true);
      await store.close();
      await store.close(); // idempotent
      expect(await store.ping()).toBe(false);
      await expectStoreError(store.appendAudit(auditRecord()), 'unavailable');
      await expectStoreError(store.getScan(sha(1), 'e'), 'unavailable');
    });
  });
}
