/**
 * The default policy, used when no policy file is given, and the parameter defaults every policy
 * file starts from. policy.example.yaml at the repository root is this policy written out with
 * comments; a test keeps the two equal.
 *
 * Only scan-severity is on: a file with a high or critical finding, or one that could not be fully
 * scanned, is blocked; medium findings are let through with a warning. Every other rule needs
 * facts only the operator can judge (which repositories, formats, licences), so it starts off.
 */
import type { RuleSet } from './schema.js';

export const DEFAULT_VERSION = 'default';

export const DEFAULT_RULES: RuleSet = {
  'scan-severity': { action: 'block', block: 'high', warn: 'medium', unscannable: 'block' },
  repositories: { action: 'off', allow: [], deny: [] },
  // Report formats that are never model weights: text (README), JSON (config.json,
  // tokenizer.json), chat templates, Hydra YAML configs, dataset files (Parquet, Arrow IPC) and
  // bytes of no recognised format (tokenizer.model, images). An "approved formats" list is about
  // weights, and every repository has these; scan-severity still judges their findings (template
  // escapes, auto_map, _target_, a pickled Arrow extension type).
  formats: { action: 'off', allow: [], ignore: ['text', 'json', 'jinja', 'hydra-yaml', 'parquet', 'arrow-ipc', 'unknown'] },
  'remote-code': { action: 'off' },
  license: { action: 'off', allow: [], unknown: 'block' },
  'upstream-verdict': { action: 'off', unsafe: 'block', caution: 'warn', 'not-scanned': 'off', unknown: 'block' },
  'min-age': { action: 'off', days: 7, unknown: 'block' },
  'pinned-revisions': { action: 'off', pins: {} },
};

/**
 * The action of a rule a policy file names without `action`: naming a rule with its parameters
 * (`license: {allow: [mit]}`) means enforcing it, never silently leaving it off. Group overrides
 * without `action` inherit the top-level one instead.
 */
export const ACTION_WHEN_NAMED = 'block';
