/**
 * JSON configuration files of a model repository (config.json, tokenizer_config.json,
 * chat_template.json, processor configs...), claimed by content: text whose first token is `{`
 * followed by a key or `}`. What matters in them:
 *  - `chat_template` (a string, a list of {name, template}, or a name -> template map), rendered
 *    by Jinja2 when the model is used: checked like any chat template;
 *  - `auto_map` / `custom_pipelines`: classes that load only with trust_remote_code=True, which
 *    imports and runs Python files of the repository -> REPO_REMOTE_CODE (low: a fact for the
 *    policy's remote-code rule; what the code does is judged in the Python files themselves).
 * Hydra `_target_` keys (NeMo) are another analyzer's concern.
 * The nesting depth is measured by a linear scan before JSON.parse sees the text.
 */
import type { AnalysisContext, Analyzer } from './types.js';
import { checkTemplate } from './jinja/check.js';
import { JsonStructureScanner, pythonJsonToStrict } from './json/structure.js';
import { autoMapRefs, customPipelineRefs, type RemoteClassRef } from './json/remote-code.js';

/** Files up to this size are parsed (tokenizer.json of large vocabularies reaches ~35 MB). */
export const MAX_JSON_PARSE_BYTES = 64 * 1024 * 1024;
/** Larger files are only scanned for their keys, up to this many bytes. */
const MAX_JSON_SCAN_BYTES = 1024 * 1024 * 1024;
/** Python's json recurses (its default limit is ~1000 frames); real configs nest < 20 deep. */
export const MAX_JSON_DEPTH = 512;
const CHUNK = 4 * 1024 * 1024;
const INTERESTING = new Set(['chat_template', 'auto_map', 'custom_pipelines']);
const MAX_WALK_NODES = 2_000_000;

function sniffJsonObject(head: Uint8Array): boolean {
  let i = 0;
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) i = 3; // UTF-8 BOM
  const ws = () => {
    while (i < head.length && (head[i] === 0x20 || head[i] === 0x0a || head[i] === 0x0d || head[i] === 0x09)) i++;
  };
  ws();
  if (head[i] !== 0x7b) return false;
  i++;
  ws();
  if (i >= head.length) return head.length < 65536;
  if (head[i] !== 0x22 && head[i] !== 0x7d) return false;
  for (const c of head.subarray(0, 4096)) if (c === 0) return false;
  return true;
}

async function readAll(ctx: AnalysisContext, source: Parameters<Analyzer['analyze']>[0], scanner: JsonStructureScanner, keep: number): Promise<{ parts: Uint8Array[]; total: number; capped: boolean }> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    if (total >= MAX_JSON_SCAN_BYTES) return { parts, total, capped: true };
    const chunk = await source.read(total, CHUNK);
    if (chunk.length === 0) break;
    scanner.push(chunk);
    if (total < keep) parts.push(chunk.slice(0, keep - total));
    total += chunk.length;
    if (ctx.expired()) return { parts, total, capped: true };
    if (source.size !== null && total >= source.size) break;
  }
  return { parts, total, capped: false };
}

/** Every `chat_template` value anywhere in the document, with a label for messages. */
function findTemplates(doc: unknown): Array<{ label: string; template: string }> {
  const out: Array<{ label: string; template: string }> = [];
  const stack: Array<{ v: unknown; path: string }> = [{ v: doc, path: '' }];
  let seen = 0;
  while (stack.length && seen++ < MAX_WALK_NODES) {
    const { v, path } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      v.forEach((x, i) => stack.push({ v: x, path: `${path}[${i}]` }));
      continue;
    }
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const here = path ? `${path}.${k}` : k;
      if (k !== 'chat_template') {
        stack.push({ v: x, path: here });
        continue;
      }
      if (typeof x === 'string') out.push({ label: here, template: x });
      else if (Array.isArray(x)) {
        x.forEach((item, i) => {
          const t = (item as { template?: unknown } | null)?.template;
          const name = (item as { name?: unknown } | null)?.name;
          if (typeof t === 'string') out.push({ label: `${here}[${typeof name === 'string' ? name : i}]`, template: t });
        });
      } else if (x !== null && typeof x === 'object') {
        for (const [name, t] of Object.entries(x as Record<string, unknown>)) if (typeof t === 'string') out.push({ label: `${here}[${name}]`, template: t });
      }
    }
  }
  return out;
}

function reportRemoteCode(ctx: AnalysisContext, key: string, refs: readonly RemoteClassRef[]): void {
  if (!refs.length) return;
  const files = [...new Set(refs.filter((r) => r.repository === undefined).map((r) => r.file))];
  const foreign = [...new Set(refs.filter((r) => r.repository !== undefined).map((r) => `${r.repository}:${r.file}`))];
  const runs = [...files, ...foreign.map((f) => `${f} (another repository)`)];
  ctx.emit({
    rule: 'REPO_REMOTE_CODE',
    message: `${key} needs trust_remote_code=True: loading imports and runs ${runs.join(', ')} (${refs.slice(0, 4).map((r) => `${r.slot} → ${r.reference}`).join('; ')})`,
    evidence: {
      chain: refs.map((r) => `${r.slot} → ${r.reference}`).slice(0, 20).join('; '),
      reason: 'transformers imports these Python modules and runs them with the rights of the user who loads the model',
      files,
      details: { key, files: files.join(', '), ...(foreign.length ? { otherRepositories: foreign.join(', ') } : {}) },
    },
    references: ['https://huggingface.co/docs/transformers/custom_models'],
  });
}

export const jsonConfigAnalyzer: Analyzer = {
  id: 'json-config',
  version: '2',
  description: 'JSON configs (config.json, tokenizer_config.json, chat_template.json): chat templates, auto_map/custom_pipelines (trust_remote_code), nesting depth',
  sniff(input) {
    return sniffJsonObject(input.head) ? { format: 'json', confidence: 0.6 } : null;
  },
  async analyze(source, ctx) {
    const scanner = new JsonStructureScanner(MAX_JSON_DEPTH, INTERESTING);
    const { parts, total, capped } = await readAll(ctx, source, scanner, MAX_JSON_PARSE_BYTES + 1);
    ctx.fact('json.bytes', total);
    if (scanner.tooDeepAt !== null) {
      ctx.emit({
        rule: 'JSON_TOO_DEEP',
        message: `JSON nests deeper than ${MAX_JSON_DEPTH} levels (at least ${scanner.maxDepth}); parsers that recurse fail or crash on it, so it was not parsed`,
        offset: scanner.tooDeepAt,
        evidence: { details: { depth: scanner.maxDepth, limit: MAX_JSON_DEPTH } },
      });
      return;
    }
    if (total > MAX_JSON_PARSE_BYTES) {
      const keys = [...scanner.keys];
      ctx.emit({
        rule: 'JSON_TOO_LARGE',
        severity: keys.length ? 'medium' : 'low',
        message: `JSON of ${total}${capped ? '+' : ''} bytes is larger than the ${MAX_JSON_PARSE_BYTES}-byte parse limit${keys.length ? `; it holds ${keys.join(', ')}, which could not be checked` : ''}`,
        evidence: { details: { bytes: total, limit: MAX_JSON_PARSE_BYTES, keys: keys.join(', ') } },
      });
      if (keys.length) ctx.incomplete(`JSON too large to check its ${keys.join(', ')}`);
      return;
    }
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    let text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    let doc: unknown;
    try {
      doc = JSON.parse(pythonJsonToStrict(text));
    } catch (e) {
      if (ctx.depth === 0) ctx.emit({ rule: 'FORMAT_UNKNOWN', severity: 'info', message: `text file; not valid JSON (${(e as Error).message.slice(0, 120)})` });
      return;
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return;
    const top = doc as Record<string, unknown>;
    // The transformers release that wrote the config: a framework the model declares (ML-BOM).
    const tv = top['transformers_version'];
    if (typeof tv === 'string' && tv.trim() !== '') ctx.fact('transformers.version', tv.trim().slice(0, 64));
    const autoMap = autoMapRefs(top['auto_map']);
    const pipelines = customPipelineRefs(top['custom_pipelines']);
    reportRemoteCode(ctx, 'auto_map', autoMap);
    reportRemoteCode(ctx, 'custom_pipelines', pipelines);
    const refs = [...autoMap, ...pipelines];
    if (refs.length) {
      // Read by the repository summary (scan/repository.ts): which files trust_remote_code would run.
      ctx.fact('remote_code.files', [...new Set(refs.map((r) => (r.repository !== undefined ? `${r.repository}:${r.file}` : r.file)))]);
      ctx.fact('remote_code.references', refs.map((r) => `${r.slot}=${r.reference}`).slice(0, 100));
    }
    const templates = findTemplates(doc);
    if (templates.length) ctx.fact('chat_templates', templates.map((t) => t.label));
    for (const t of templates) checkTemplate(ctx, t.template, { label: t.label });
  },
};
