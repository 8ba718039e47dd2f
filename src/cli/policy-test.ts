/**
 * What `modelgate policy test` runs once its flags are parsed (see policy.ts for the command):
 * read reports or scan files, evaluate the policy, print the verdicts.
 */
import { open, readFile, stat } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { FileReport, ScanReport } from '../scan/report.js';
import type { Waiver } from '../store/types.js';
import type { CompiledPolicy } from '../policy/evaluate.js';
import type { Decision, RepoFacts } from '../policy/types.js';
import { DEFAULT_REPO, PolicyUsageError, type PolicyTestFlags } from './policy.js';

/** Larger files are models to scan, never reports: no need to read them to find out. */
const MAX_REPORT_BYTES = 256 * 1024 * 1024;
const REPORT_SCHEMA_PREFIX = 'modelgate/scan-report@';

async function readReport(path: string, size: number): Promise<ScanReport | null> {
  if (size > MAX_REPORT_BYTES || size === 0) return null;
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(Math.min(size, 64));
    await fh.read(head, 0, head.length, 0);
    if (head.toString('latin1').trimStart()[0] !== '{') return null;
  } finally {
    await fh.close();
  }
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return null;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return null;
  const schema = (doc as { schema?: unknown }).schema;
  if (typeof schema !== 'string' || !schema.startsWith(REPORT_SCHEMA_PREFIX)) return null;
  const { REPORT_SCHEMA } = await import('../scan/report.js');
  if (schema !== REPORT_SCHEMA) throw new PolicyUsageError(`${path}: report schema ${schema} is not supported (expected ${REPORT_SCHEMA})`);
  if (!Array.isArray((doc as { files?: unknown }).files)) throw new PolicyUsageError(`${path}: report has no files`);
  return doc as ScanReport;
}

const FactsSchema = z
  .object({
    type: z.enum(['model', 'dataset']),
    id: z.string().min(1),
    revision: z.string(),
    commit: z.string(),
    createdAt: z.string(),
    lastModified: z.string(),
    license: z.string(),
    upstreamScan: z.object({ scansDone: z.boolean(), filesWithIssues: z.array(z.object({ path: z.string(), level: z.enum(['unsafe', 'caution']) })) }),
    remoteCode: z.object({ needed: z.boolean(), files: z.array(z.string()) }),
    files: z.array(z.string()),
  })
  .partial()
  .strict();

const WaiverSchema = z
  .object({
    id: z.string().min(1).optional(),
    repo: z.string().min(1).nullable().default(null),
    sha256: z.string().regex(/^[0-9a-fA-F]{64}$/).nullable().default(null),
    rule: z.string().min(1).nullable().default(null),
    reason: z.string().default(''),
    author: z.string().default(''),
    createdAt: z.string().optional(),
    expiresAt: z.string(),
    revokedAt: z.string().nullable().default(null),
  })
  .strict();

async function readData(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new PolicyUsageError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    // YAML is a superset of JSON: one parser reads both.
    return parseYaml(text);
  } catch (e) {
    throw new PolicyUsageError(`${path}: not valid YAML or JSON: ${(e as Error).message.split('\n')[0]}`);
  }
}

function firstIssue(path: string, err: z.ZodError): string {
  const issue = err.issues[0]!;
  const key = issue.path.map(String).join('.');
  return `${path}: ${key ? `${key}: ` : ''}${issue.message}`;
}

async function loadFacts(flags: PolicyTestFlags): Promise<RepoFacts> {
  let facts: z.infer<typeof FactsSchema> = {};
  if (flags.facts) {
    const res = FactsSchema.safeParse(await readData(flags.facts, 'repository facts'));
    if (!res.success) throw new PolicyUsageError(firstIssue(flags.facts, res.error));
    facts = res.data;
  }
  // Flags win over the facts file, which wins over the defaults.
  return {
    ...facts,
    type: flags.repoType ?? facts.type ?? 'model',
    id: flags.repo ?? facts.id ?? DEFAULT_REPO,
    revision: facts.revision ?? 'main',
    commit: flags.commit ?? facts.commit ?? '',
  };
}

async function loadWaivers(path: string | undefined, now: Date): Promise<Waiver[]> {
  if (!path) return [];
  const data = await readData(path, 'waivers');
  const res = z.array(WaiverSchema).safeParse(data ?? []);
  if (!res.success) throw new PolicyUsageError(firstIssue(path, res.error));
  return res.data.map((w, i) => ({ ...w, id: w.id ?? `waiver-${i + 1}`, createdAt: w.createdAt ?? now.toISOString() }));
}

interface FileDecision {
  path: string;
  sha256: string | null;
  decision: Decision;
}


function renderConsole(policy: CompiledPolicy, flags: PolicyTestFlags, repo: RepoFacts, repoDecision: Decision, files: FileDecision[]): string {
  const out: string[] = [];
  out.push(`policy ${policy.version}, group ${flags.group}, repository ${repo.type === 'dataset' ? 'datasets/' : ''}${repo.id}${repo.commit ? `@${repo.commit.slice(0, 12)}` : ''}`);
  const block = (title: string, d: Decision) => {
    out.push('', `${title}: ${d.verdict.toUpperCase()}`);
    for (const o of d.outcomes) {
      out.push(`  ${o.action.padEnd(6)} ${o.reason}`);
      if (o.finding) out.push(`         ${o.finding.rule} at ${o.finding.location}`);
    }
    for (const w of d.waived) out.push(`  waived ${w.reason} [waiver ${w.waiver}]`);
  };
  block('repository', repoDecision);
  for (const f of files) block(f.path, f.decision);
  const count = (v: string) => files.filter((f) => f.decision.verdict === v).length;
  out.push('', `${files.length} file${files.length === 1 ? '' : 's'}: ${count('block')} blocked, ${count('warn')} warned, ${count('allow')} allowed`, '');
  return out.join('\n');
}

export async function runPolicyTest(inputs: string[], flags: PolicyTestFlags): Promise<number> {
  // Loaded on demand, like serve: `scan` should not pay for the policy modules.
  const { PolicyError, loadPolicy } = await import('../policy/index.js');
  let policy: CompiledPolicy;
  try {
    policy = loadPolicy(flags.policy);
  } catch (e) {
    if (e instanceof PolicyError) throw new PolicyUsageError(e.message);
    throw e;
  }
  if (flags.group !== 'default' && !policy.groups.includes(flags.group)) {
    throw new PolicyUsageError(`--group: the policy defines no group ${JSON.stringify(flags.group)} (groups: ${['default', ...policy.groups].join(', ')})`);
  }
  let now = new Date();
  if (flags.now !== undefined) {
    now = new Date(flags.now);
    if (!/^\d{4}-\d{2}-\d{2}/.test(flags.now) || Number.isNaN(now.getTime())) throw new PolicyUsageError(`--now: expected an ISO 8601 time such as 2025-06-01T12:00:00Z, got ${JSON.stringify(flags.now)}`);
  }

  const reports: FileReport[][] = [];
  const toScan: Array<{ index: number; path: string }> = [];
  for (const [index, p] of inputs.entries()) {
    let st;
    try {
      st = await stat(p);
    } catch {
      throw new PolicyUsageError(`no such file or directory: ${p}`);
    }
    const report = st.isFile() ? await readReport(p, st.size) : null;
    if (report) reports[index] = report.files;
    else toScan.push({ index, path: p });
  }
  if (toScan.length > 0) {
    const { scanPath } = await import('../scan/scan.js');
    // One scan per input keeps the output in the order the inputs were given.
    for (const { index, path } of toScan) reports[index] = (await scanPath([path], { hash: true })).files;
  }

  const repo = await loadFacts(flags);
  const waivers = await loadWaivers(flags.waivers, now);
  const repoDecision = policy.evaluate({ repo, file: null, group: flags.group, now, waivers });
  // As the gateway reads a request's User-Agent (client-vulnerable); absent: a client naming nothing.
  const { parseClientUserAgent } = await import('../rules/client-agent.js');
  const client = flags.userAgent === undefined ? undefined : { libraries: parseClientUserAgent(flags.userAgent).libraries, userAgent: flags.userAgent };
  const files: FileDecision[] = reports.flat().map((r) => {
    const sha256 = r.sha256 ?? null;
    return { path: r.path, sha256, decision: policy.evaluate({ repo, file: { path: r.path, sha256, size: r.size, report: r }, group: flags.group, now, waivers, ...(client ? { client } : {}) }) };
  });

  if (flags.format === 'json') {
    process.stdout.write(`${JSON.stringify({ policyVersion: policy.version, group: flags.group, now: now.toISOString(), repo, repository: repoDecision, files }, null, 2)}\n`);
  } else process.stdout.write(renderConsole(policy, flags, repo, repoDecision, files));

  const verdicts = [repoDecision, ...files.map((f) => f.decision)].map((d) => d.verdict);
  const failing = flags.failOn === 'warn' ? ['block', 'warn'] : ['block'];
  return verdicts.some((v) => failing.includes(v)) ? 1 : 0;
}

