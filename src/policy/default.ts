/**
 * The default policy, used when no policy file is given, and the parameter defaults every policy
 * file starts from. policy.example.yaml at the repository root is this policy written out with
 * comments; a test keeps the two equal.
 *
 * Only scan-severity is on: a file with a finding at medium or above, or one that could not be
 * fully scanned, is blocked -- the same line `modelgate scan` draws for its exit code. Medium is
 * where an attack that needs a global outside the catalogue lands (an unknown callable invoked
 * during the load), so serving it with a warning would let exactly those attacks through; the
 * benign corpus (test/corpus/benign) keeps everyday files below it. Low findings (an unknown
 * class merely referenced, unrecognised bytes such as tokenizer.model) stay in the report and the
 * audit record but neither warn nor block: a warning on every tokenizer trains people to ignore
 * warnings. Every other rule needs facts only the operator can judge (which repositories,
 * formats, licences), so it starts off.
 */
import type { RuleSet } from './schema.js';

export const DEFAULT_VERSION = 'default';

export const DEFAULT_RULES: RuleSet = {
  'scan-severity': { action: 'block', block: 'medium', warn: 'medium', unscannable: 'block' },
  repositories: { action: 'off', allow: [], deny: [] },
  // Report formats that are never model weights: text (README), JSON (config.json,
  // tokenizer.json), chat templates, Hydra YAML configs, dataset files (Parquet, Arrow IPC) and
  // bytes of no recognised format (tokenizer.model, images). An "approved formats" list is about
  // weights, and every repository has these; scan-severity still judges their findings (template
  // escapes, auto_map, _target_, a pickled Arrow extension type).
  formats: { action: 'off', allow: [], ignore: ['text', 'json', 'jinja', 'hydra-yaml', 'mlflow-model', 'parquet', 'arrow-ipc', 'unknown'] },
  'remote-code': { action: 'off' },
  license: { action: 'off', allow: [], unknown: 'block' },
  'upstream-verdict': { action: 'off', unsafe: 'block', caution: 'warn', 'not-scanned': 'off', unknown: 'block' },
  'min-age': { action: 'off', days: 7, unknown: 'block' },
  'pinned-revisions': { action: 'off', pins: {} },
  // Off: it judges the client, not the file. When on, a client naming no library versions
  // (browsers, curl, @huggingface/hub) is allowed: the rule protects honest Python clients from
  // their own loaders; it cannot stop anyone from lying in User-Agent.
  'client-vulnerable': { action: 'off', 'min-severity': 'medium', unknown: 'off' },
};

/**
 * The action of a rule a policy file names without `action`: naming a rule with its parameters
 * (`license: {allow: [mit]}`) means enforcing it, never silently leaving it off. Group overrides
 * without `action` inherit the top-level one instead.
 */
export const ACTION_WHEN_NAMED = 'block';
