/**
 * Generated data for the console-at-scale bench (bench/console-scale.ts): an audit log of
 * client decisions over 90 days on a fixed set of files, their stored scans, and what the
 * console reads besides (the inventory folded from that log, waivers and requests, policy
 * history, an exposure run with its worsened files). Rows are built once in memory, the same
 * for SQLite and PostgreSQL, and written with plain multi-row inserts (no store methods: they
 * write one row at a time), after the store's own migrations created the schema.
 *
 * Deterministic (a fixed-seed generator), so both databases hold the same rows.
 */
import { createHash } from 'node:crypto';

export interface Shape {
  records: number;
  files: number;
  days: number;
  /** Scans are stored under this engine key (the gateway's own, so no exposure run starts). */
  engineKey: string;
  /** Newest record's time. */
  now: number;
}

/** A table's rows as column-ordered arrays. */
export interface Rows {
  table: string;
  columns: string[];
  rows: unknown[][];
}

/** Handles named in the bench's URLs: a hot file, a rare rule, a quiet client... */
export interface Landmarks {
  repo: string;
  commit: string;
  client: string;
  hotAuditId: number;
  midDay: string;
  rareRule: string;
  absentRule: string;
  maxId: number;
}

const FILES_PER_COMMIT = 10;
const COMMITS_PER_REPO = 2;
const CLIENTS = 500;
const GROUPS = ['default', 'research', 'prod', 'ci', 'contractors'];
const PATHS = ['pytorch_model.bin', 'model.safetensors', 'config.json', 'tokenizer.json', 'training_args.bin', 'model.onnx', 'optimizer.pt', 'rng_state.pth', 'scheduler.pt', 'model.gguf'];
const FORMATS = ['pickle', 'safetensors', 'json', 'json', 'pickle', 'onnx', 'pytorch-zip', 'pickle', 'pickle', 'gguf'];

/** xorshift32: fast, seeded, good enough to spread rows. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

const hex = (s: string, n = 64) => createHash('sha256').update(s).digest('hex').slice(0, n);

type Kind = 'allow' | 'warn' | 'block';

interface FileSpec {
  repo: string;
  commit: string;
  path: string;
  sha256: string;
  scanId: string;
  kind: Kind;
  findings: Array<{ rule: string; severity: string; message: string }>;
}

function fileSpecs(n: number): FileSpec[] {
  const r = rng(7);
  const out: FileSpec[] = [];
  for (let i = 0; i < n; i++) {
    const commitNo = Math.floor(i / FILES_PER_COMMIT);
    const repoNo = Math.floor(commitNo / COMMITS_PER_REPO);
    const repo = `org${repoNo % 397}/model-${repoNo}`;
    const commit = hex(`commit ${commitNo}`, 40);
    const slot = i % FILES_PER_COMMIT;
    const x = r();
    const kind: Kind = x < 0.05 ? 'block' : x < 0.13 ? 'warn' : 'allow';
    const findings =
      kind === 'block'
        ? [{ rule: 'PICKLE_DANGEROUS_GLOBAL', severity: 'critical', message: 'the pickle calls os.system' }]
        : kind === 'warn'
          ? [{ rule: r() < 0.5 ? 'PICKLE_UNKNOWN_GLOBAL' : 'CUSTOM_CODE', severity: 'medium', message: 'imports a global outside the allow list' }]
          : [];
    out.push({ repo, commit, path: PATHS[slot]!, sha256: hex(`file ${i}`), scanId: `scan-${i}`, kind, findings });
  }
  return out;
}

function scanReport(f: FileSpec, i: number): string {
  const slot = i % FILES_PER_COMMIT;
  return JSON.stringify({
    path: f.path,
    size: 1000 + i,
    formats: [FORMATS[slot]],
    findings: f.findings.map((x) => ({ ...x, location: { path: [f.path], offset: 42 }, evidence: { global: 'posix.system', canonical: 'os.system', use: 'called', opcode: 'REDUCE' }, references: [] })),
    facts: {},
    imports: [],
    members: [],
    complete: true,
    maxSeverity: f.findings[0]?.severity ?? null,
    bytesRead: 1000 + i,
    durationMs: 3,
    sha256: f.sha256,
  });
}

function rulesOf(kind: Kind, extra: string | null): string {
  const rules: Array<{ rule: string; action: string; reason: string }> = [];
  if (kind === 'block') rules.push({ rule: 'scan-severity', action: 'block', reason: 'a finding of severity critical' });
  if (kind === 'warn') rules.push({ rule: 'scan-severity', action: 'warn', reason: 'a finding of severity medium' });
  if (extra) rules.push({ rule: extra, action: 'warn', reason: 'flagged' });
  return JSON.stringify(rules);
}

export function generate(shape: Shape): { tables: Rows[]; landmarks: Landmarks } {
  const files = fileSpecs(shape.files);
  const r = rng(11);
  const start = shape.now - shape.days * 86_400_000;
  const span = shape.days * 86_400_000;
  const audit: unknown[][] = [];
  // Inventory aggregates, folded here as the gateway's fold would.
  const invFiles = new Map<number, { served: number; refused: number; firstAt: string; lastAt: string; lastId: number }>();
  const invClients = new Map<string, { file: number; client: string; served: number; refused: number; firstAt: string; lastAt: string }>();
  const clientOf = (k: number) => `client-${k}`;
  let hotAuditId = 0;
  for (let id = 1; id <= shape.records; id++) {
    const time = new Date(start + Math.floor(((id - 0.5) / shape.records) * span)).toISOString();
    const x = r();
    // 0.3 % admin actions, 0.1 % exposure announcements, 0.5 % upstream errors; the rest are client requests.
    if (x < 0.003) {
      audit.push([id, time, `req-${id}`, 'ops-admin', 'default', 'POST', 'model', '*', '', null, null, null, 'allow', '[]', '[]', JSON.stringify([`w${id}`]), null, null, 'p1', `waiver w${id} added by ops-admin: vetted`, null, null]);
      continue;
    }
    // Hot files: a few hundred take a good share of the downloads.
    const fi = Math.min(shape.files - 1, Math.floor(shape.files * r() ** 3));
    const f = files[fi]!;
    const k = Math.floor(CLIENTS * r() ** 2);
    const client = clientOf(k);
    const group = GROUPS[k % GROUPS.length]!;
    if (x < 0.004) {
      audit.push([id, time, `exposure-run-${id}`, 'modelgate-exposure', group, 'EXPOSURE', 'model', f.repo, 'main', f.commit, f.path, f.sha256, 'block', rulesOf('block', null), JSON.stringify(f.findings), '[]', null, f.scanId, 'p1', `exposure: ${f.path} was allow when served and is now block`, null, null]);
      continue;
    }
    if (x < 0.009) {
      audit.push([id, time, `req-${id}`, client, group, 'GET', 'model', f.repo, 'main', f.commit, f.path, null, 'error', '[]', '[]', '[]', 502, null, 'p1', 'upstream answered 502', null, null]);
      continue;
    }
    const head = x < 0.15;
    // Rare extra rules: one in 5,000 decisions names `license`, none `formats`.
    const extra = r() < 0.0002 ? 'license' : null;
    const verdict = extra && f.kind === 'allow' ? 'warn' : f.kind;
    const method = head ? 'HEAD' : 'GET';
    audit.push([id, time, `req-${id}`, client, group, method, 'model', f.repo, 'main', f.commit, f.path, f.sha256, verdict, rulesOf(f.kind, extra), JSON.stringify(f.findings), '[]', head ? null : 200, f.scanId, 'p1', verdict === 'block' ? 'refused by scan-severity' : null, null, null]);
    if (head) continue;
    if (fi === 0) hotAuditId = id;
    const served = verdict === 'block' ? 0 : 1;
    const refused = 1 - served;
    const a = invFiles.get(fi);
    if (a) {
      a.served += served;
      a.refused += refused;
      a.lastAt = time;
      a.lastId = id;
    } else invFiles.set(fi, { served, refused, firstAt: time, lastAt: time, lastId: id });
    const ck = `${fi}\u0000${client}`;
    const c = invClients.get(ck);
    if (c) {
      c.served += served;
      c.refused += refused;
      c.lastAt = time;
    } else invClients.set(ck, { file: fi, client, served, refused, firstAt: time, lastAt: time });
  }

  const scans = files.map((f, i) => [f.scanId, f.sha256, shape.engineKey, scanReport(f, i), f.findings[0]?.severity ?? null, 1, new Date(start).toISOString()]);
  const kinds = (f: FileSpec) => JSON.stringify([...new Set(f.findings.map((x) => x.rule))]);
  const inventoryFiles = [...invFiles.entries()].map(([fi, a]) => {
    const f = files[fi]!;
    return ['model', f.repo, f.commit, f.path, f.sha256, f.scanId, f.kind, a.lastId, kinds(f), a.served, a.refused, a.firstAt, a.lastAt];
  });
  const inventoryClients = [...invClients.values()].map((c) => {
    const f = files[c.file]!;
    return ['model', f.repo, f.commit, f.path, c.client, c.served, c.refused, c.firstAt, c.lastAt];
  });
  const repos = new Map<string, { repo: string; commit: string; files: number; blocked: number; warned: number; served: number; refused: number; firstAt: string; lastAt: string }>();
  for (const [fi, a] of invFiles) {
    const f = files[fi]!;
    const key = `${f.repo}@${f.commit}`;
    const rp = repos.get(key) ?? { repo: f.repo, commit: f.commit, files: 0, blocked: 0, warned: 0, served: 0, refused: 0, firstAt: a.firstAt, lastAt: a.lastAt };
    rp.files++;
    if (f.kind === 'block') rp.blocked++;
    if (f.kind === 'warn') rp.warned++;
    rp.served += a.served;
    rp.refused += a.refused;
    if (a.firstAt < rp.firstAt) rp.firstAt = a.firstAt;
    if (a.lastAt > rp.lastAt) rp.lastAt = a.lastAt;
    repos.set(key, rp);
  }
  const inventoryRepos = [...repos.values()].map((x, i) => ['model', x.repo, x.commit, x.files, x.blocked, x.warned, x.served, x.refused, x.firstAt, x.lastAt, i % 3 ? 'apache-2.0' : 'mit', i % 7 ? 'no' : 'yes', i % 7 ? '[]' : '["modeling_custom.py"]', x.lastAt]);

  // Waivers and requests: a few hundred, as a busy organisation might keep.
  const waivers: unknown[][] = [];
  const requests: unknown[][] = [];
  for (let i = 0; i < 400; i++) {
    const f = files[(i * 97) % files.length]!;
    const created = new Date(start + (i / 400) * span).toISOString();
    let end = Date.parse(created) + (i % 2 ? 120 : 10) * 86_400_000;
    // A waiver that ended in the last week would start an exposure run in the background.
    if (end > shape.now - 8 * 86_400_000 && end <= shape.now) end = shape.now + 30 * 86_400_000;
    const expires = new Date(end).toISOString();
    waivers.push([`waiver-${i}`, f.repo, i % 3 ? f.sha256 : null, i % 5 ? null : 'scan-severity', 'vetted by the platform team', 'ops-admin', created, expires, i % 11 ? null : expires]);
  }
  for (let i = 0; i < 3000; i++) {
    const f = files[(i * 31) % files.length]!;
    const created = new Date(start + (i / 3000) * span).toISOString();
    const status = i >= 2900 ? 'pending' : i % 4 ? 'approved' : 'rejected';
    requests.push([hex(`request ${i}`, 16), created, clientOf(i % CLIENTS), GROUPS[i % GROUPS.length], 'link', null, 'model', f.repo, f.sha256, null, 'we need this model for the evaluation', status, status === 'pending' ? null : 'ops-admin', status === 'pending' ? null : created, null, status === 'approved' ? `waiver-${i % 400}` : null]);
  }
  const policyVersions: unknown[][] = [];
  const policyLoads: unknown[][] = [];
  for (let i = 0; i < 60; i++) {
    const text = `version: "v${i}"\nrules:\n  scan-severity: {action: block, at: high}\n`;
    const sha = hex(text);
    const at = new Date(start + (i / 60) * span).toISOString();
    policyVersions.push([sha, `v${i}`, text, at]);
    policyLoads.push([i + 1, at, sha, `v${i}`, '/etc/modelgate/policy.yaml', i ? 'reload' : 'start', i ? 'ops-admin' : 'start-up']);
  }
  const runId = 'e-bench';
  // Finished, with its item counts kept as finishExposureRun keeps them (migration 0010).
  const runs = [[runId, 'engine', 'rules 1.0 -> 1.1', shape.engineKey, 'p1', new Date(shape.now - 86_400_000).toISOString(), new Date(shape.now - 80_000_000).toISOString(), files.length, files.length, 0, 0]];
  const items = files.map((f) => [runId, f.sha256, 'done', null, null, null, new Date(shape.now - 80_000_000).toISOString()]);
  const exposures: unknown[][] = [];
  for (let i = 0; i < 2000; i++) {
    const f = files[(i * 13) % files.length]!;
    exposures.push([i + 1, runId, new Date(shape.now - 85_000_000 + i * 1000).toISOString(), f.sha256, 'model', f.repo, f.commit, f.path, GROUPS[i % GROUPS.length], 1_000_000_000 + i, 'allow', 'block', rulesOf('block', null), JSON.stringify(f.findings), f.scanId, shape.engineKey, null]);
  }

  const landmarks: Landmarks = {
    repo: files[0]!.repo,
    commit: files[0]!.commit,
    client: clientOf(CLIENTS - 1),
    hotAuditId,
    midDay: new Date(start + span / 2).toISOString().slice(0, 10),
    rareRule: 'license',
    absentRule: 'formats',
    maxId: shape.records,
  };
  return {
    landmarks,
    tables: [
      { table: 'scans', columns: ['id', 'sha256', 'engine_key', 'report', 'max_severity', 'complete', 'created_at'], rows: scans },
      {
        table: 'audit',
        columns: ['id', 'time', 'request_id', 'client', 'client_group', 'method', 'repo_type', 'repo', 'revision', 'commit', 'path', 'sha256', 'verdict', 'rules', 'findings', 'waivers', 'upstream_status', 'scan_id', 'policy_version', 'message', 'client_libraries', 'ticket_hash'],
        rows: audit,
      },
      { table: 'inventory_files', columns: ['repo_type', 'repo', 'commit', 'path', 'sha256', 'scan_id', 'verdict', 'last_audit_id', 'findings', 'served', 'refused', 'first_at', 'last_at'], rows: inventoryFiles },
      { table: 'inventory_clients', columns: ['repo_type', 'repo', 'commit', 'path', 'client', 'served', 'refused', 'first_at', 'last_at'], rows: inventoryClients },
      { table: 'inventory_repos', columns: ['repo_type', 'repo', 'commit', 'files', 'blocked_files', 'warned_files', 'served', 'refused', 'first_at', 'last_at', 'license', 'remote_code', 'remote_files', 'facts_at'], rows: inventoryRepos },
      { table: 'waivers', columns: ['id', 'repo', 'sha256', 'rule', 'reason', 'author', 'created_at', 'expires_at', 'revoked_at'], rows: waivers },
      { table: 'waiver_requests', columns: ['id', 'created_at', 'requester', 'requester_group', 'via', 'audit_id', 'repo_type', 'repo', 'sha256', 'rule', 'justification', 'status', 'decided_by', 'decided_at', 'note', 'waiver_id'], rows: requests },
      { table: 'policy_versions', columns: ['sha256', 'version', 'text', 'first_loaded_at'], rows: policyVersions },
      { table: 'policy_loads', columns: ['id', 'at', 'sha256', 'version', 'source', 'event', 'actor'], rows: policyLoads },
      { table: 'exposure_runs', columns: ['id', 'reason', 'detail', 'engine_key', 'policy_version', 'created_at', 'finished_at', 'total', 'done_items', 'skipped_items', 'failed_items'], rows: runs },
      { table: 'exposure_items', columns: ['run_id', 'sha256', 'state', 'owner', 'lease_until', 'note', 'updated_at'], rows: items },
      {
        table: 'exposures',
        columns: ['id', 'run_id', 'found_at', 'sha256', 'repo_type', 'repo', 'commit', 'path', 'client_group', 'basis_audit_id', 'before', 'after', 'rules', 'findings', 'scan_id', 'engine_key', 'audit_id'],
        rows: exposures,
      },
    ],
  };
}
