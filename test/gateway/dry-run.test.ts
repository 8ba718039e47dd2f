/**
 * The policy dry run over a stored audit log, on SQLite and PostgreSQL: decisions replayed from
 * their stored scan reports (real engine reports of the gateway fixtures) under candidate
 * policies, with the waivers of their time and the history's policy texts.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dryRun } from '../../src/gateway/dry-run.js';
import { policyContentHash } from '../../src/gateway/policy-reload.js';
import { scanBlobFile } from '../../src/gateway/scan-blob.js';
import { defaultPolicy, parsePolicy } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/types.js';
import { Engine } from '../../src/scan/engine.js';
import type { FileReport } from '../../src/scan/report.js';
import type { SqlStore } from '../../src/store/sql.js';
import type { AuditRecord } from '../../src/store/types.js';
import { FIXTURES } from '../helpers/manifest.js';
import { backends, type Backend } from '../study/backends.js';

const NOW = new Date('2026-03-10T12:00:00.000Z');
const EVIL_PATH = join(FIXTURES, 'repos', 'acme', 'evil-bert', 'pytorch_model.bin');
const CLEAN_PATH = join(FIXTURES, 'repos', 'acme', 'tiny-bert', 'model.safetensors');
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const EVIL_SHA = sha(EVIL_PATH);
const CLEAN_SHA = sha(CLEAN_PATH);
const ago = (h: number) => new Date(NOW.getTime() - h * 3600_000).toISOString();
const C1 = '1'.repeat(40);
const LICENSED = 'version: lic\nrules:\n  license:\n    allow: [mit]\n';

const list = await backends();
afterAll(async () => {
  for (const b of list) await b.cleanup();
});

let evilReport: FileReport;
let cleanReport: FileReport;
beforeAll(async () => {
  const engine = new Engine({});
  evilReport = await scanBlobFile(engine, EVIL_PATH, 'pytorch_model.bin');
  cleanReport = await scanBlobFile(engine, CLEAN_PATH, 'model.safetensors');
  expect(evilReport.findings.map((f) => f.rule)).toContain('PICKLE_DANGEROUS_GLOBAL');
  expect(cleanReport.findings).toEqual([]);
});

/** A decision as the gateway records it: the running policy's outcomes on this report. */
function decided(policy: Policy, over: Partial<AuditRecord> & { time: string }, report: FileReport | null): AuditRecord {
  const repo = over.repo ?? 'acme/evil-bert';
  const path = over.path ?? 'pytorch_model.bin';
  const d = policy.evaluate({ repo: { type: 'model', id: repo, revision: 'main', commit: C1 }, file: report ? { path, sha256: over.sha256 ?? null, size: report.size, report } : null, group: 'default', now: new Date(over.time), waivers: [] });
  return {
    requestId: 'r',
    client: 'alice',
    group: 'default',
    method: 'GET',
    repoType: 'model',
    repo,
    revision: 'main',
    commit: C1,
    path,
    sha256: null,
    verdict: d.verdict,
    rules: d.outcomes.map((o) => ({ rule: o.rule, action: o.action, reason: o.reason })),
    findings: [],
    waivers: [],
    upstreamStatus: null,
    scanId: null,
    policyVersion: policy.version,
    message: null,
    ...over,
  };
}

async function seed(store: SqlStore): Promise<void> {
  const running = defaultPolicy();
  const lic = parsePolicy(LICENSED, 'lic.yaml');
  await store.recordPolicyLoad({ at: ago(24 * 30), version: lic.version, sha256: policyContentHash(LICENSED, lic.version), source: 'lic.yaml', event: 'start', actor: 'start-up' }, LICENSED);
  await store.putScan({ id: 'scan-evil', sha256: EVIL_SHA, engineKey: 'k', report: evilReport, maxSeverity: evilReport.maxSeverity, complete: true, createdAt: ago(100) });
  await store.putScan({ id: 'scan-clean', sha256: CLEAN_SHA, engineKey: 'k', report: cleanReport, maxSeverity: null, complete: true, createdAt: ago(100) });
  const evil = { sha256: EVIL_SHA, scanId: 'scan-evil' };
  const clean = { repo: 'acme/tiny-bert', path: 'model.safetensors', sha256: CLEAN_SHA, scanId: 'scan-clean' };
  const recs: AuditRecord[] = [
    decided(running, { time: ago(60), client: 'bob', ...evil }, evilReport),
    decided(running, { time: ago(24 * 40), ...clean }, cleanReport), // outside the window
    decided(running, { time: ago(30), ...clean }, cleanReport),
    decided(running, { time: ago(26), method: 'HEAD', ...evil }, evilReport), // not a download
    { ...decided(running, { time: ago(25), ...evil }, null), verdict: 'error', rules: [], scanId: null, message: 'upstream answered 502' },
    // Refused by a deny list of an older policy, before any download.
    decided(running, { time: ago(20), repo: 'acme/denied', path: 'model.bin', policyVersion: 'deny+0123456789ab', rules: [{ rule: 'repositories', action: 'block', reason: 'acme/denied is denied by "acme/denied" (rule repositories)' }], verdict: 'block' }, null),
    decided(running, { time: ago(19), repo: 'acme/gone', scanId: 'scan-deleted', sha256: 'f'.repeat(64) }, evilReport),
    // Blocked by the licence rule of the history's policy (a fact the log does not keep).
    decided(lic, { time: ago(18), repo: 'acme/licensed', path: 'model.safetensors', sha256: CLEAN_SHA, scanId: 'scan-clean', rules: [{ rule: 'license', action: 'block', reason: 'acme/licensed is licensed gpl-3.0, not an allowed licence (rule license)' }], verdict: 'block' }, cleanReport),
    // Let through by a waiver of its time.
    { ...decided(running, { time: ago(24), repo: 'acme/waived-bert', ...evil }, evilReport), verdict: 'allow', rules: [], waivers: ['w-old'] },
    decided(running, { time: ago(24), ...evil }, evilReport),
  ];
  for (const r of recs) await store.appendAudit(r);
  await store.addWaiver({ id: 'w-old', repo: 'acme/waived-bert', sha256: null, rule: null, reason: 'reviewed by hand', author: 'admin', createdAt: ago(24 * 5), expiresAt: ago(-24 * 30), revokedAt: null });
  // A waiver made after the evil decisions must not rewrite them.
  await store.addWaiver({ id: 'w-late', repo: null, sha256: EVIL_SHA, rule: null, reason: 'later', author: 'admin', createdAt: ago(12), expiresAt: ago(-24 * 30), revokedAt: null });
}

function suite(b: Backend): void {
  describe.skipIf(b.skip !== null)(`dry run on ${b.name}${b.skip ? ` — SKIPPED: ${b.skip}` : ''}`, () => {
    let store: SqlStore;
    beforeAll(async () => {
      store = (await b.fresh()).store;
      await seed(store);
    });
    afterAll(async () => store?.close());

    it('lists the decisions a looser scan-severity flips, file by file, with the rules that would fire', async () => {
      const candidate = parsePolicy('version: soft\nrules:\n  scan-severity: {action: warn}\n', 'candidate');
      const r = await dryRun(store, candidate, { days: 7, now: NOW });
      // 2 evil, clean, denied, licensed, waived: the HEAD, the error, the old and the scan-less one are not replayed.
      expect(r.examined).toBe(6);
      expect(r.missingScans).toBe(1);
      expect(r.truncated).toBe(false);
      expect(r.candidateVersion).toBe(candidate.version);
      expect(r.since).toBe(ago(24 * 7));
      const evil = r.flipped.find((f) => f.repo === 'acme/evil-bert')!;
      expect(evil).toMatchObject({ path: 'pytorch_model.bin', sha256: EVIL_SHA, before: 'block', after: 'warn', decisions: 2, clients: ['alice', 'bob'], repositoryOnly: false, unknownFacts: [] });
      expect(evil.rules).toEqual([{ rule: 'scan-severity', action: 'warn', reason: expect.stringMatching(/^pytorch_model\.bin .*\(critical, rule scan-severity\)$/) }]);
      expect(evil.recordedRules[0]!.action).toBe('block');
      const denied = r.flipped.find((f) => f.repo === 'acme/denied')!;
      expect(denied).toMatchObject({ before: 'block', after: 'allow', repositoryOnly: true, rules: [] });
      // The candidate turns the licence rule off: the recorded refusal no longer holds.
      expect(r.flipped.find((f) => f.repo === 'acme/licensed')).toMatchObject({ before: 'block', after: 'allow' });
      expect(r.flipped.map((f) => f.repo).sort()).toEqual(['acme/denied', 'acme/evil-bert', 'acme/licensed']);
      expect([r.stricter, r.looser]).toEqual([0, 4]);
      // Newly warned first (the worst outcome), then the ones let through.
      expect(r.flipped[0]!.repo).toBe('acme/evil-bert');
    });

    it('flags a newly denied repository as stricter', async () => {
      const r = await dryRun(store, parsePolicy('rules:\n  repositories: {deny: [acme/tiny-bert, acme/denied]}\n', 'candidate'), { days: 7, now: NOW });
      expect(r.flipped).toHaveLength(2);
      expect(r.flipped[0]).toMatchObject({ repo: 'acme/tiny-bert', before: 'allow', after: 'block', decisions: 1, rules: [{ rule: 'repositories', action: 'block', reason: 'acme/tiny-bert is denied by "acme/tiny-bert" (rule repositories)' }] });
      expect(r.flipped[1]).toMatchObject({ repo: 'acme/licensed', after: 'allow' });
      expect([r.stricter, r.looser]).toEqual([1, 1]);
    });

    it('replays each decision with the waivers of its time, and a widened window reaches older decisions', async () => {
      // The running policy itself: the evil decisions stay refused although a waiver for those
      // bytes exists now (it came later), and the waived one stays allowed.
      const same = await dryRun(store, defaultPolicy(), { days: 7, now: NOW });
      expect(same.flipped.map((f) => f.repo).sort()).toEqual(['acme/denied', 'acme/licensed']);
      const wide = await dryRun(store, parsePolicy('rules:\n  repositories: {deny: [acme/tiny-bert]}\n', 'candidate'), { days: 60, now: NOW });
      expect(wide.flipped.find((f) => f.repo === 'acme/tiny-bert')!.decisions).toBe(2);
    });

    it('carries the outcomes of rules on repository facts, and says when the candidate changes them', async () => {
      const r = await dryRun(store, parsePolicy(LICENSED, 'candidate'), { days: 7, now: NOW });
      // The licensed decision was made by this very policy (history): kept, and certain.
      expect(r.flipped.find((f) => f.repo === 'acme/licensed')).toBeUndefined();
      // Decisions of the default policy (licence off), and of an unknown one, cannot be judged on a licence now.
      expect(r.uncertain).toBe(5);
      expect(r.flipped.map((f) => f.repo)).toEqual(['acme/denied']);
      expect(r.flipped[0]!.unknownFacts).toEqual(['license']);
    });

    it('stops at the decision cap and says so', async () => {
      const r = await dryRun(store, defaultPolicy(), { days: 7, now: NOW, maxDecisions: 2 });
      expect(r.examined).toBe(2);
      expect(r.truncated).toBe(true);
    });
  });
}

for (const b of list) suite(b);
