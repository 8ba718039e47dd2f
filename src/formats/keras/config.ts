/**
 * The Keras configuration check shared by the .keras (config.json) and legacy .h5
 * (model_config attribute) analyzers. Keras rebuilds a model by resolving every object with a
 * `class_name` (and `module` / `registered_name`) and calling it with its `config`; the check
 * walks the whole tree — nested models, layers inside wrappers (TimeDistributed, Bidirectional),
 * Functional and Sequential layer lists, shared objects, training configs — and reports:
 *  - Lambda code: Keras 3 `{"class_name": "__lambda__"}` objects and Keras 2 `function_type:
 *    "lambda"` lists, with the names the marshalled bytecode uses (read statically);
 *  - references to modules outside Keras' namespaces (rules/keras.yaml), including Python
 *    builtins stored as `{"module": "builtins", "class_name": "function"}`;
 *  - Keras objects that are not modelling objects (get_file, enable_unsafe_deserialization,
 *    TorchModuleWrapper, whose embedded torch.save archive is handed to the engine as a member);
 *  - layer config values the layer opens as files when rebuilt (a string `vocabulary` of a
 *    lookup layer, tokenizer `merges` / `proto`): a host path or URL is a file read at load time.
 */
import { BufferSource } from '../../source/buffer.js';
import type { Severity } from '../../core/findings.js';
import type { RuleId } from '../../core/rules.js';
import type { AnalysisContext } from '../types.js';
import { pathEscape } from '../protobuf/report.js';
import { summariseMarshal } from './marshal.js';
import { cvesForRule, isSafeModule, type KerasRules } from './rules.js';

export type KerasFormat = 'keras' | 'h5';

export interface ConfigCheck {
  ctx: AnalysisContext;
  rules: KerasRules;
  format: KerasFormat;
  /** Where the config came from, for messages: `config.json`, `model_config attribute`. */
  where: string;
}

export interface ConfigSummary {
  modelClass: string | null;
  objects: number;
  layerClasses: string[];
  customObjects: string[];
  lambdas: number;
}

const MAX_DEPTH = 200;
const MAX_NODES = 2_000_000;
const MAX_CODE_BASE64 = 64 * 1024 * 1024;
/** Relative-looking paths that still reach system or credential files once resolved. */
const SENSITIVE = /(^|[\\/])(\.ssh|\.aws|\.netrc|\.git-credentials|\.kube|\.docker|\.gnupg)([\\/]|$)/i;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const isObj = (v: Json | undefined): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: Json | undefined): string | null => (typeof v === 'string' ? v : null);

class Walker {
  readonly summary: ConfigSummary = { modelClass: null, objects: 0, layerClasses: [], customObjects: [], lambdas: 0 };
  private nodes = 0;
  private tooDeep = false;
  private readonly members: Array<{ name: string; bytes: Uint8Array }> = [];

  constructor(private readonly c: ConfigCheck) {}

  private emit(rule: RuleId, severity: Severity, message: string, details: Record<string, string | number | boolean>, extra: { reason?: string; matched?: string; global?: string; canonical?: string } = {}, refs: string[] = []): void {
    // Dangerous references carry their own entry's CVE; the table's triggers fit the other kinds.
    const table = rule === 'KERAS_DANGEROUS_REFERENCE' ? [] : cvesForRule(this.c.rules, rule, this.c.format);
    const references = [...new Set([...refs, ...table])];
    this.c.ctx.emit({ rule, severity, message, evidence: { ...extra, details: { source: this.c.where, ...details } }, references });
  }

  walk(v: Json, depth: number, layer: string): void {
    if (++this.nodes > MAX_NODES) return;
    if (depth > MAX_DEPTH) {
      if (!this.tooDeep) {
        this.tooDeep = true;
        this.emit('KERAS_CONFIG_MALFORMED', 'medium', `${this.c.where} nests deeper than ${MAX_DEPTH} levels; the rest was not checked`, { limit: MAX_DEPTH });
        this.c.ctx.incomplete(`Keras config deeper than ${MAX_DEPTH}`);
      }
      return;
    }
    if (Array.isArray(v)) {
      for (const x of v) this.walk(x, depth + 1, layer);
      return;
    }
    if (!isObj(v)) return;
    let here = layer;
    const cls = str(v['class_name']);
    if (cls !== null) {
      this.summary.objects++;
      const cfg = v['config'];
      const name = isObj(cfg) ? str(cfg['name']) : null;
      if (name !== null) here = layer ? `${layer} › ${name}` : name;
      if (isObj(cfg) && name !== null && !this.summary.layerClasses.includes(cls) && this.summary.layerClasses.length < 200) this.summary.layerClasses.push(cls);
      this.reference(v, cls, here || cls);
      if (isObj(cfg)) this.hostFiles(cfg, cls, here || cls);
      if (cls === 'Lambda' && isObj(cfg)) this.lambdaConfig(cfg, here || 'lambda');
    }
    this.keras2Lambda(v, here || 'object');
    for (const [k, x] of Object.entries(v)) {
      if (k === 'class_name' || k === 'module' || k === 'registered_name') continue;
      this.walk(x, depth + 1, here);
    }
  }

  /** Keras 3: `{"class_name": "__lambda__", "config": {"code": ...}}` or `{"config": {"value": [code, ...]}}`. */
  private reference(o: Obj, cls: string, where: string): void {
    const cfg = o['config'];
    if (cls === '__lambda__') {
      const code = isObj(cfg) ? (str(cfg['code']) ?? (Array.isArray(cfg['value']) ? str(cfg['value'][0]) : str(cfg['value']))) : null;
      this.lambdaCode(where, code, 'Keras 3 __lambda__');
      return;
    }
    const registered = str(o['registered_name']);
    const fnName = cls === 'function' ? str(cfg) : null;
    const target = fnName ?? cls;
    for (const key of this.c.rules.moduleKeys) {
      const module = str(o[key]);
      if (module === null || module === '' || isSafeModule(this.c.rules, module)) continue;
      this.foreignModule(module, target, where, key);
    }
    const module = str(o['module']);
    if (module === null || isSafeModule(this.c.rules, module)) {
      for (const n of new Set([cls, registered, fnName])) {
        const entry = n === null ? undefined : this.c.rules.dangerous.get(n);
        if (!entry) continue;
        this.emit('KERAS_DANGEROUS_REFERENCE', entry.severity, `'${where}' references ${module ? module + '.' : ''}${entry.name}: ${entry.reason}`, { layer: where, name: entry.name, ...(module ? { module } : {}) }, { reason: entry.reason, matched: entry.name }, entry.references);
        if (entry.name === 'TorchModuleWrapper' && isObj(cfg)) this.torchModule(cfg, where);
      }
      if (module === null && cls.includes('.')) this.dotted(cls, where);
    }
    if (registered !== null && registered.includes('>') && !this.summary.customObjects.includes(registered) && this.summary.customObjects.length < 100) this.summary.customObjects.push(registered);
    else if (fnName !== null && module === 'builtins' && !this.c.rules.pythonBuiltins.names.has(fnName) && !this.summary.customObjects.includes(fnName) && this.summary.customObjects.length < 100) this.summary.customObjects.push(fnName);
  }

  private foreignModule(module: string, name: string, where: string, key: string): void {
    if (module === 'builtins' || module === '__builtin__') {
      // Plain functions are saved under "builtins"; only real Python builtins resolve to something.
      if (!this.c.rules.pythonBuiltins.names.has(name)) return;
      const cls = this.c.ctx.globals.classify('builtins', name);
      const sev: Severity = cls.verdict === 'dangerous' ? 'critical' : 'high';
      this.emit('KERAS_UNSAFE_MODULE_REFERENCE', sev, `'${where}' references the Python builtin ${name}: ${this.c.rules.pythonBuiltins.reason}`, { layer: where, module, name, key }, { global: `builtins.${name}`, canonical: cls.canonical, ...(cls.reason ? { reason: cls.reason } : {}) }, [...this.c.rules.pythonBuiltins.references, ...cls.references]);
      return;
    }
    const cls = this.c.ctx.globals.classify(module, name);
    const sev: Severity = cls.verdict === 'dangerous' ? 'critical' : 'high';
    const known = cls.verdict === 'dangerous' ? ' (a known code-execution callable)' : '';
    this.emit('KERAS_UNSAFE_MODULE_REFERENCE', sev, `'${where}' references ${module}.${name}${known}, outside Keras' namespaces: Keras imports it and calls it while rebuilding the model`, { layer: where, module, name, key }, { global: `${module}.${name}`, canonical: cls.canonical, ...(cls.reason ? { reason: cls.reason } : {}), ...(cls.matched ? { matched: cls.matched } : {}) }, cls.references);
  }

  /**
   * A string where the layer accepts an inline list or a file path is always a path to Keras: it
   * resolves it against the process's working directory (or a gfile URL scheme), never the archive.
   */
  private hostFiles(cfg: Obj, cls: string, where: string): void {
    for (const k of this.c.rules.hostFileKeys) {
      const path = str(cfg[k.key]);
      if (path === null || path.trim() === '') continue;
      const shown = JSON.stringify(path.slice(0, 200));
      const why = pathEscape(path) ?? (SENSITIVE.test(path) ? 'names a system or credential location' : null);
      const severity: Severity = why ? 'high' : 'low';
      const message = why
        ? `'${where}' (${cls}) has ${k.key} ${shown}, which ${why}: Keras opens it as a file while rebuilding the layer, reading a host file into the model`
        : `'${where}' (${cls}) has ${k.key} ${shown}, a relative file path: Keras opens it relative to the loading process's working directory, not the archive`;
      this.emit('KERAS_HOST_FILE_REFERENCE', severity, message, { layer: where, class_name: cls, key: k.key, path: path.slice(0, 500) }, { reason: k.reason, matched: path.slice(0, 200) }, k.references);
    }
  }

  /** A class_name written as a dotted path with no module: only a catalogued danger is reported. */
  private dotted(cls: string, where: string): void {
    const at = cls.lastIndexOf('.');
    const g = this.c.ctx.globals.classify(cls.slice(0, at), cls.slice(at + 1));
    if (g.verdict !== 'dangerous') return;
    this.emit('KERAS_UNSAFE_MODULE_REFERENCE', 'critical', `'${where}' names ${cls} as its class: ${g.reason ?? 'a dangerous callable'}`, { layer: where, class_name: cls }, { global: cls, canonical: g.canonical, ...(g.reason ? { reason: g.reason } : {}) }, g.references);
  }

  /** Keras 3 Lambda configs; Keras 2 Lambda configs name the function's module separately. */
  private lambdaConfig(cfg: Obj, where: string): void {
    this.summary.lambdas++;
    for (const [fnKey, modKey, typeKey] of [['function', 'module', 'function_type'], ['output_shape', 'output_shape_module', 'output_shape_type'], ['mask', 'mask_module', 'mask_type']] as const) {
      const fn = str(cfg[fnKey]);
      if (fn === null || cfg[typeKey] !== 'function') continue;
      const module = str(cfg[modKey]);
      if (module !== null && module !== '' && !isSafeModule(this.c.rules, module)) this.foreignModule(module, fn, where, modKey);
      else this.emit('KERAS_LAMBDA_LAYER', 'medium', `Lambda layer '${where}' calls the Python function ${JSON.stringify(fn)}${module ? ` from ${module}` : ''}`, { layer: where, function: fn, ...(module ? { module } : {}) });
    }
  }

  /** Keras 2: `"function": [code, defaults, closure], "function_type": "lambda"` (also output_shape, mask). */
  private keras2Lambda(o: Obj, where: string): void {
    for (const [k, t] of Object.entries(o)) {
      if (!k.endsWith('_type') || t !== 'lambda') continue;
      const v = o[k.slice(0, -5)];
      const code = Array.isArray(v) ? str(v[0]) : str(v);
      this.lambdaCode(where, code, `Keras 2 ${k.slice(0, -5)}`);
    }
  }

  private lambdaCode(where: string, code: string | null, kind: string): void {
    if (code === null) {
      this.emit('KERAS_LAMBDA_LAYER', 'critical', `Lambda '${where}' is a serialized Python function (${kind}) whose code could not be located`, { layer: where, kind });
      return;
    }
    if (code.length > MAX_CODE_BASE64) {
      this.emit('KERAS_LAMBDA_LAYER', 'critical', `Lambda '${where}' carries ${code.length} characters of encoded Python bytecode (${kind}); too large to inspect`, { layer: where, kind, encodedLength: code.length });
      return;
    }
    const bytes = new Uint8Array(Buffer.from(code, 'base64'));
    const s = summariseMarshal(bytes);
    const names = s.names.slice(0, 40);
    const details: Record<string, string | number | boolean> = { layer: where, kind, bytecodeBytes: bytes.length, codeObjects: s.codeObjects };
    if (names.length) details['names'] = names.join(', ');
    if (s.functions.length) details['functions'] = s.functions.slice(0, 20).join(', ');
    if (s.strings.length) details['strings'] = s.strings.slice(0, 10).map((x) => JSON.stringify(x)).join(', ');
    if (s.error) details['marshalNote'] = s.error;
    const uses = names.length ? `; it uses ${names.slice(0, 12).join(', ')}` : '';
    this.emit('KERAS_LAMBDA_LAYER', 'critical', `Lambda layer '${where}' carries marshalled Python bytecode (${bytes.length} bytes, ${kind})${uses}`, details);
  }

  /** TorchModuleWrapper keeps a torch.save archive in config.module: scan it like any checkpoint. */
  private torchModule(cfg: Obj, where: string): void {
    const b64 = str(cfg['module']);
    if (b64 === null || b64.length > MAX_CODE_BASE64) return;
    const bytes = new Uint8Array(Buffer.from(b64, 'base64'));
    if (bytes.length && this.members.length < 100) this.members.push({ name: `${where} (TorchModuleWrapper module)`, bytes });
  }

  async scanMembers(): Promise<void> {
    for (const m of this.members) await this.c.ctx.scanMember(new BufferSource(m.name, m.bytes));
  }
}

/** Parses config text; null (after a finding) when it is not JSON or not an object. */
export function parseConfig(c: ConfigCheck, text: string): Json | null {
  let v: Json;
  try {
    v = JSON.parse(text) as Json;
  } catch (e) {
    c.ctx.emit({ rule: 'KERAS_CONFIG_MALFORMED', message: `${c.where} is not valid JSON: ${(e as Error).message}`, evidence: { details: { source: c.where, length: text.length } } });
    return null;
  }
  if (!isObj(v)) {
    c.ctx.emit({ rule: 'KERAS_CONFIG_MALFORMED', message: `${c.where} is not a JSON object`, evidence: { details: { source: c.where } } });
    return null;
  }
  return v;
}

export async function checkKerasConfig(c: ConfigCheck, config: Json): Promise<ConfigSummary> {
  const w = new Walker(c);
  w.walk(config, 0, '');
  if (isObj(config)) w.summary.modelClass = str(config['class_name']);
  await w.scanMembers();
  return w.summary;
}

/** Facts every Keras analyzer reports about a config. */
export function reportSummary(ctx: AnalysisContext, prefix: string, s: ConfigSummary): void {
  if (s.modelClass) ctx.fact(`${prefix}.model_class`, s.modelClass);
  ctx.fact(`${prefix}.objects`, s.objects);
  if (s.layerClasses.length) ctx.fact(`${prefix}.classes`, s.layerClasses.slice(0, 50));
  if (s.customObjects.length) ctx.fact(`${prefix}.custom_objects`, s.customObjects.slice(0, 50));
}

export type { Json };
