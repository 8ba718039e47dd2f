/**
 * The policy file: YAML, validated with zod, every error one line that names the bad key
 * (`policy.yaml: rules.scan-severity.block: expected one of critical|high|medium|low, got "severe"`).
 *
 * Every rule parameter is optional in the file; defaults come from src/policy/default.ts, so the
 * same shapes validate top-level rules and group overrides.
 */
import { parseDocument } from 'yaml';
import { z } from 'zod';
import type { Action } from './types.js';
import { isValidGlob } from './glob.js';
import { isPolicyFormatName } from '../formats/catalogue.js';

export const RULE_NAMES = ['scan-severity', 'repositories', 'formats', 'remote-code', 'license', 'upstream-verdict', 'min-age', 'pinned-revisions', 'client-vulnerable'] as const;
export type RuleName = (typeof RULE_NAMES)[number];

export const THRESHOLDS = ['critical', 'high', 'medium', 'low'] as const;
export type Threshold = (typeof THRESHOLDS)[number];

export interface ScanSeverityRule {
  action: Action;
  block: Threshold;
  warn: Threshold;
  unscannable: Action;
}
export interface RepositoriesRule {
  action: Action;
  allow: string[];
  deny: string[];
}
export interface FormatsRule {
  action: Action;
  allow: string[];
  ignore: string[];
}
export interface RemoteCodeRule {
  action: Action;
}
export interface LicenseRule {
  action: Action;
  allow: string[];
  unknown: Action;
}
export interface UpstreamVerdictRule {
  action: Action;
  unsafe: Action;
  caution: Action;
  'not-scanned': Action;
  /** The upstream hub's verdict could not be learned (its API failed or said nothing). */
  unknown: Action;
}
export interface MinAgeRule {
  action: Action;
  days: number;
  unknown: Action;
}
export interface PinnedRevisionsRule {
  action: Action;
  pins: Record<string, string[]>;
}

export interface ClientVulnerableRule {
  action: Action;
  /** Catalogue entries (rules/loader-vulns.yaml) below this severity are not acted on. */
  'min-severity': Threshold;
  /** The client named no library versions at all (browsers, curl, @huggingface/hub under Node). */
  unknown: Action;
}

export interface RuleSet {
  'scan-severity': ScanSeverityRule;
  repositories: RepositoriesRule;
  formats: FormatsRule;
  'remote-code': RemoteCodeRule;
  license: LicenseRule;
  'upstream-verdict': UpstreamVerdictRule;
  'min-age': MinAgeRule;
  'pinned-revisions': PinnedRevisionsRule;
  'client-vulnerable': ClientVulnerableRule;
}

export type RuleOverrides = { [K in RuleName]?: Partial<RuleSet[K]> };

/** The policy file as written (rules partial), before defaults are applied. */
export interface PolicyFile {
  version?: string;
  description?: string;
  rules?: RuleOverrides;
  groups?: Record<string, { description?: string; rules?: RuleOverrides }>;
}

export class PolicyError extends Error {}

const action = z.enum(['block', 'warn', 'off']);
const threshold = z.enum(THRESHOLDS);
const glob = z.string().refine(isValidGlob, { error: 'expected a repository glob such as org/*, org/name or */*-gguf' });
// A name no scan can report would make `allow` refuse everything or `ignore` skip nothing: a
// typo (`safetensor`) must fail when the policy loads, not at the first download.
const formatName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._+-]*$/, { error: 'expected a lower-case format name such as safetensors' })
  .refine(isPolicyFormatName, { error: "unknown format (the names a policy may use are listed in docs/policy.md, formats)" });
const licenseId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, { error: 'expected a licence id such as apache-2.0' });
const commit = z.string().regex(/^[0-9a-fA-F]{7,40}$/, { error: 'expected a commit id (7 to 40 hex digits)' });

export const RULE_SHAPES = {
  'scan-severity': z.object({ action, block: threshold, warn: threshold, unscannable: action }).partial().strict(),
  repositories: z.object({ action, allow: z.array(glob), deny: z.array(glob) }).partial().strict(),
  formats: z.object({ action, allow: z.array(formatName), ignore: z.array(formatName) }).partial().strict(),
  'remote-code': z.object({ action }).partial().strict(),
  license: z.object({ action, allow: z.array(licenseId), unknown: action }).partial().strict(),
  'upstream-verdict': z.object({ action, unsafe: action, caution: action, 'not-scanned': action, unknown: action }).partial().strict(),
  'min-age': z.object({ action, days: z.number().min(0).max(3650), unknown: action }).partial().strict(),
  'pinned-revisions': z.object({ action, pins: z.record(glob, z.array(commit).min(1)) }).partial().strict(),
  'client-vulnerable': z.object({ action, 'min-severity': threshold, unknown: action }).partial().strict(),
} as const satisfies Record<RuleName, z.ZodType>;

const rulesSchema = z.object(RULE_SHAPES).partial().strict();
const version = z.union([z.string().min(1).max(64), z.number()]).transform(String);
const groupName = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const PolicyFileSchema = z
  .object({
    version,
    description: z.string(),
    rules: rulesSchema,
    groups: z.record(
      z
        .string()
        .refine((g) => g !== 'default', { error: 'expected a group name other than default (the top-level rules are the default group)' })
        .refine((g) => groupName.test(g), { error: 'expected a group name of letters, digits, _ . and -' }),
      z.object({ description: z.string(), rules: rulesSchema }).partial().strict(),
    ),
  })
  .partial()
  .strict();

const TOP_KEYS = ['version', 'description', 'rules', 'groups'];
const GROUP_KEYS = ['description', 'rules'];

/** The keys a mapping at `path` accepts, for "unknown key" errors; `rule` when those keys are rule names. */
function knownKeys(path: readonly PropertyKey[]): { keys: string[]; rule: boolean } {
  const p = path.map(String);
  const ruleKeys = (name: string | undefined) => ({ keys: Object.keys(RULE_SHAPES[name as RuleName]?.shape ?? {}), rule: false });
  if (p.length === 0) return { keys: TOP_KEYS, rule: false };
  if (p.length === 1 && p[0] === 'rules') return { keys: [...RULE_NAMES], rule: true };
  if (p.length === 2 && p[0] === 'rules') return ruleKeys(p[1]);
  if (p.length === 2 && p[0] === 'groups') return { keys: GROUP_KEYS, rule: false };
  if (p.length === 3 && p[0] === 'groups' && p[2] === 'rules') return { keys: [...RULE_NAMES], rule: true };
  if (p.length === 4 && p[0] === 'groups' && p[2] === 'rules') return ruleKeys(p[3]);
  return { keys: [], rule: false };
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const TYPE_NAMES: Record<string, string> = { array: 'a list', object: 'a mapping', record: 'a mapping', string: 'a string', number: 'a number', boolean: 'true or false' };

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

function issueText(issue: z.core.$ZodIssue, root: unknown): { path: readonly PropertyKey[]; text: string } {
  const got = describe(valueAt(root, issue.path));
  switch (issue.code) {
    case 'invalid_value':
      return { path: issue.path, text: `expected one of ${issue.values.map(String).join('|')}, got ${got}` };
    case 'invalid_type':
      if (got === 'nothing') return { path: issue.path, text: 'required' };
      return { path: issue.path, text: `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}, got ${got}` };
    case 'unrecognized_keys': {
      const known = knownKeys(issue.path);
      const text = `unknown ${known.rule ? 'rule' : 'key'}${known.keys.length ? `; expected one of ${known.keys.join('|')}` : ''}`;
      return { path: [...issue.path, issue.keys[0] ?? ''], text };
    }
    case 'invalid_union':
      return { path: issue.path, text: `expected a string or a number, got ${got}` };
    case 'too_small':
      if (issue.origin === 'array') return { path: issue.path, text: `expected at least ${String(issue.minimum)} entr${issue.minimum === 1 ? 'y' : 'ies'}` };
      if (issue.origin === 'string') return { path: issue.path, text: 'must not be empty' };
      return { path: issue.path, text: `expected at least ${String(issue.minimum)}, got ${got}` };
    case 'too_big':
      if (issue.origin === 'string') return { path: issue.path, text: `longer than ${String(issue.maximum)} characters` };
      return { path: issue.path, text: `expected at most ${String(issue.maximum)}, got ${got}` };
    case 'invalid_key':
      // The key itself is the bad value (zod puts it at the end of the path).
      return { path: issue.path, text: `${issue.issues[0]?.message ?? 'invalid key'}, got ${describe(issue.path[issue.path.length - 1])}` };
    default:
      return { path: issue.path, text: got === 'nothing' ? issue.message : `${issue.message}, got ${got}` };
  }
}

export function formatIssue(source: string, issue: z.core.$ZodIssue, root: unknown): string {
  const { path, text } = issueText(issue, root);
  const key = path.map(String).join('.');
  return key ? `${source}: ${key}: ${text}` : `${source}: ${text}`;
}

/** Parse and validate a policy file's text; throws PolicyError with one line. */
export function parsePolicyFile(text: string, source: string): PolicyFile {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const err = doc.errors[0];
  if (err) throw new PolicyError(`${source}: not valid YAML: ${(err.message.split('\n')[0] ?? '').replace(/:$/, '')}`);
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new PolicyError(`${source}: expected a mapping with version, rules and groups, got ${describe(data)}`);
  const res = PolicyFileSchema.safeParse(data);
  if (!res.success) throw new PolicyError(formatIssue(source, res.error.issues[0]!, data));
  return res.data as PolicyFile;
}
