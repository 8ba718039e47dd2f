/** The policy layer's public surface: load a policy, evaluate it, word its refusals. */
export type { Action, Verdict, RepoFacts, FileFacts, PolicyInput, RuleOutcome, Decision, Policy } from './types.js';
export { RULE_NAMES, THRESHOLDS, PolicyError, parsePolicyFile, type RuleName, type RuleSet, type PolicyFile, type RuleOverrides } from './schema.js';
export { DEFAULT_RULES, DEFAULT_VERSION } from './default.js';
export { CompiledPolicy, evaluateRules } from './evaluate.js';
export { compilePolicy, parsePolicy, loadPolicy, loadPolicyFile, defaultPolicy, POLICY_SEMANTICS } from './load.js';
export { refusalMessage, warningMessage, asciiLine, MAX_MESSAGE_LENGTH } from './message.js';
export { repoMatches, isValidGlob } from './glob.js';
