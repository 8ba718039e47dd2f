/**
 * From policy file to Policy: apply defaults and group overrides, check what the schema alone
 * cannot (a rule that is on needs its list), and derive the version the gateway keys verdicts by.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ACTION_WHEN_NAMED, DEFAULT_RULES, DEFAULT_VERSION } from './default.js';
import { CompiledPolicy } from './evaluate.js';
import { loaderVulnCatalogue } from '../rules/loader-vulns.js';
import { PolicyError, RULE_NAMES, parsePolicyFile, type PolicyFile, type RuleOverrides, type RuleSet } from './schema.js';

/**
 * Bumped when evaluation changes meaning for the same file, so verdicts cached under an older
 * engine are not reused.
 */
export const POLICY_SEMANTICS = 1;

/**
 * With client-vulnerable on anywhere, the loader catalogue is part of what the policy means: an
 * edit to rules/loader-vulns.yaml changes the version recorded with each decision.
 */
function loaderCatalogueVersion(base: RuleSet, groups: ReadonlyMap<string, RuleSet>): { loaderVulns?: string } {
  const on = [base, ...groups.values()].some((r) => r['client-vulnerable'].action !== 'off');
  return on ? { loaderVulns: loaderVulnCatalogue().version } : {};
}

function applyOverrides(base: RuleSet, over: RuleOverrides | undefined, namedMeansOn: boolean): RuleSet {
  const out: Record<string, unknown> = { ...base };
  for (const name of RULE_NAMES) {
    const o = over?.[name];
    if (o === undefined) continue;
    const defined = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
    out[name] = { ...base[name], ...(namedMeansOn && !('action' in defined) ? { action: ACTION_WHEN_NAMED } : {}), ...defined };
  }
  return out as unknown as RuleSet;
}

function check(rules: RuleSet, source: string, prefix: string): void {
  if (rules.formats.action !== 'off' && rules.formats.allow.length === 0) {
    throw new PolicyError(`${source}: ${prefix}formats.allow: list the approved formats (the rule is ${rules.formats.action})`);
  }
  if (rules.license.action !== 'off' && rules.license.allow.length === 0) {
    throw new PolicyError(`${source}: ${prefix}license.allow: list the allowed licences (the rule is ${rules.license.action})`);
  }
}

/** JSON with sorted keys: the version must not change when only key order or comments do. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

export function compilePolicy(file: PolicyFile, source: string, declaredDefault = 'unversioned'): CompiledPolicy {
  const base = applyOverrides(DEFAULT_RULES, file.rules, true);
  check(base, source, 'rules.');
  const groups = new Map<string, RuleSet>();
  for (const [name, g] of Object.entries(file.groups ?? {})) {
    const rules = applyOverrides(base, g.rules, false);
    check(rules, source, `groups.${name}.rules.`);
    groups.set(name, rules);
  }
  const hash = createHash('sha256')
    .update(canonical({ semantics: POLICY_SEMANTICS, rules: base, groups: Object.fromEntries(groups), ...loaderCatalogueVersion(base, groups) }))
    .digest('hex')
    .slice(0, 12);
  return new CompiledPolicy(`${file.version ?? declaredDefault}+${hash}`, base, groups);
}

/** Parse a policy file's text; `source` names it in errors (usually the path as given). */
export function parsePolicy(text: string, source = 'policy'): CompiledPolicy {
  return compilePolicy(parsePolicyFile(text, source), source);
}

export function loadPolicyFile(path: string): CompiledPolicy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new PolicyError(`cannot read policy file ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return parsePolicy(text, path);
}

/** The policy in force when none is configured (see default.ts). */
export function defaultPolicy(): CompiledPolicy {
  return compilePolicy({}, 'default policy', DEFAULT_VERSION);
}

/** The gateway's entry point: the policy file when one is configured, else the default policy. */
export function loadPolicy(path?: string | null): CompiledPolicy {
  return path ? loadPolicyFile(path) : defaultPolicy();
}
