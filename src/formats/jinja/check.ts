/**
 * Checks one chat template (from GGUF metadata, tokenizer_config.json, chat_template.json or a
 * .jinja file) for sandbox escapes, names a chat template has no use for, and file access.
 * Two independent readings: our own token scan (always; it also reads templates no parser
 * accepts) and the @huggingface/jinja parse tree (constant folding). A template that does not
 * parse is itself a finding: renderers disagree on such input, which is how differentials are exploited.
 */
import type { Severity } from '../../core/findings.js';
import { lazyModule } from '../../core/lazy.js';
import type { RuleId } from '../../core/rules.js';
import { SEVERITY_RANK } from '../../core/findings.js';
import type { PatternEntry } from '../../rules/patterns.js';
import type { AnalysisContext } from '../types.js';
import { inspectTree } from './ast.js';
import { templateCatalogue, type TemplateSection } from './catalogue.js';
import { lexTemplate, type JinjaToken } from './lexer.js';

/** The Jinja parser, loaded when a template is met rather than at start-up (src/core/lazy.ts). */
const jinja = lazyModule<typeof import('@huggingface/jinja')>('@huggingface/jinja');

/** Templates up to this many characters are parsed; real ones are a few KiB (the largest seen ~60 KiB). */
export const MAX_PARSE_CHARS = 1024 * 1024;
/** Templates up to this many characters are token-scanned; beyond it the rest is not read. */
export const MAX_TEMPLATE_CHARS = 16 * 1024 * 1024;
const MAX_FINDINGS_PER_TEMPLATE = 50;

export interface TemplateOrigin {
  /** Where the template came from, e.g. `tokenizer.chat_template` or `chat_template[tool_use]`. */
  label: string;
  /** Byte offset of the template (or its containing value) in the current source. */
  offset?: number;
  /** Declared length when only a prefix of the template could be read. */
  declaredLength?: number;
}

interface Hit {
  section: TemplateSection;
  entry: PatternEntry;
  name: string;
  how: string;
  snippet: string;
  at?: number;
}

const RULE_OF: Record<TemplateSection, RuleId> = {
  attributes: 'CHAT_TEMPLATE_SANDBOX_ESCAPE',
  strings: 'CHAT_TEMPLATE_SANDBOX_ESCAPE',
  globals: 'CHAT_TEMPLATE_SUSPICIOUS_NAME',
  filters: 'CHAT_TEMPLATE_SUSPICIOUS_NAME',
  statements: 'CHAT_TEMPLATE_FILE_ACCESS',
};

function snippetAt(src: string, at: number): string {
  const start = Math.max(0, at - 30);
  return src.slice(start, at + 50).replace(/\s+/g, ' ').trim();
}

/** Strings as the template builds them: adjacent literals and `~`/`+` chains are one value. */
function stringRuns(tokens: readonly JinjaToken[]): Array<{ value: string; start: number; end: number }> {
  const runs: Array<{ value: string; start: number; end: number }> = [];
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i]!.kind !== 'string') continue;
    let value = tokens[i]!.value;
    let j = i;
    for (;;) {
      const next = tokens[j + 1];
      if (next?.kind === 'string' && next.region === tokens[i]!.region) j += 1;
      else if (next?.kind === 'op' && (next.value === '~' || next.value === '+') && tokens[j + 2]?.kind === 'string') j += 2;
      else break;
      if (value.length < 65536) value += tokens[j]!.value;
    }
    runs.push({ value, start: i, end: j });
    i = j;
  }
  return runs;
}

function lexicalHits(src: string, tokens: readonly JinjaToken[]): Hit[] {
  const cat = templateCatalogue();
  const hits: Hit[] = [];
  const add = (section: Exclude<TemplateSection, 'strings'>, name: string, how: string, at: number) => {
    const entry = cat.name(section, name);
    if (entry) hits.push({ section, entry, name, how, snippet: snippetAt(src, at), at });
  };
  let lastRegion = -1;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const first = t.region !== lastRegion;
    lastRegion = t.region;
    if (t.kind !== 'name') continue;
    const prev = first ? undefined : tokens[i - 1];
    const next = tokens[i + 1]?.region === t.region ? tokens[i + 1] : undefined;
    if (first && t.statement) add('statements', t.value, `{% ${t.value} %} statement`, t.offset);
    else if (prev?.kind === 'op' && prev.value === '.') add('attributes', t.value, `attribute .${t.value}`, t.offset);
    else if (prev?.kind === 'op' && prev.value === '|') add('filters', t.value, `filter |${t.value}`, t.offset);
    else if (prev?.kind === 'name' && (prev.value === 'is' || (prev.value === 'not' && tokens[i - 2]?.value === 'is'))) continue;
    else if (next?.kind === 'op' && next.value === '=') continue;
    else add('globals', t.value, `name ${t.value}`, t.offset);
  }
  for (const run of stringRuns(tokens)) {
    const at = tokens[run.start]!.offset;
    const entry = cat.strings(run.value)[0];
    if (entry) hits.push({ section: 'strings', entry, name: run.value.slice(0, 80), how: `string constant ${JSON.stringify(run.value.slice(0, 60))}`, snippet: snippetAt(src, at), at });
    const before = tokens[run.start - 1];
    const after = tokens[run.end + 1];
    const beforeAttr = tokens[run.start - 2];
    const subscript = before?.kind === 'op' && before.value === '[' && after?.kind === 'op' && after.value === ']';
    const attrFilter = before?.kind === 'op' && before.value === '(' && beforeAttr?.kind === 'name' && beforeAttr.value === 'attr';
    if (subscript || attrFilter) add('attributes', run.value, subscript ? `subscript ['${run.value.slice(0, 40)}']` : `|attr('${run.value.slice(0, 40)}')`, at);
  }
  return hits;
}

/**
 * Parse-tree readings of templates already checked, by text. The same template comes back in many
 * files of a directory (every GGUF of one family, a tokenizer_config.json beside its .jinja), and
 * tokenizing and parsing it, cold interpreted code in a short scan, is most of a template's cost.
 * The readings depend on the text alone and are only read afterwards. Bounded in count and size.
 */
const treeMemo = new Map<string, { hits: readonly Hit[]; error: string | null }>();
const TREE_MEMO_ENTRIES = 32;
const TREE_MEMO_CHARS = 64 * 1024;

function treeHits(src: string): { hits: readonly Hit[]; error: string | null } {
  const known = treeMemo.get(src);
  if (known) return known;
  const found = parseTreeHits(src);
  if (src.length <= TREE_MEMO_CHARS) {
    if (treeMemo.size >= TREE_MEMO_ENTRIES) treeMemo.delete(treeMemo.keys().next().value!);
    treeMemo.set(src, found);
  }
  return found;
}

function parseTreeHits(src: string): { hits: Hit[]; error: string | null } {
  let program: unknown;
  try {
    program = jinja().parse(jinja().tokenize(src));
  } catch (e) {
    const msg = e instanceof RangeError ? 'nesting too deep for the parser' : e instanceof Error ? e.message : String(e);
    return { hits: [], error: msg.slice(0, 200) };
  }
  const cat = templateCatalogue();
  const hits: Hit[] = [];
  const facts = inspectTree(program);
  for (const a of facts.attributes) {
    const entry = cat.name('attributes', a.name);
    const how = a.via === 'dot' ? `attribute .${a.name}` : a.via === 'subscript' ? `subscript ['${a.name.slice(0, 40)}']` : `|attr('${a.name.slice(0, 40)}')`;
    if (entry) hits.push({ section: 'attributes', entry, name: a.name, how, snippet: a.chain });
  }
  for (const s of facts.folded) {
    const entry = cat.strings(s)[0];
    if (entry) hits.push({ section: 'strings', entry, name: s.slice(0, 80), how: 'string built from constants', snippet: JSON.stringify(s.slice(0, 80)) });
  }
  return { hits, error: null };
}

/** Check a template and emit its findings into `ctx`. Never throws. */
export function checkTemplate(ctx: AnalysisContext, template: string, origin: TemplateOrigin): void {
  const where = origin.offset !== undefined ? { offset: origin.offset } : {};
  const declared = Math.max(origin.declaredLength ?? 0, template.length);
  let src = template;
  if (declared > MAX_TEMPLATE_CHARS || src.length > MAX_TEMPLATE_CHARS) {
    ctx.emit({
      rule: 'CHAT_TEMPLATE_TOO_LARGE',
      message: `chat template ${origin.label} is ${declared} characters; only the first ${MAX_TEMPLATE_CHARS} were checked`,
      ...where,
      evidence: { details: { template: origin.label, length: declared, limit: MAX_TEMPLATE_CHARS } },
    });
    src = src.slice(0, MAX_TEMPLATE_CHARS);
  }
  const lex = lexTemplate(src);
  // Parse-tree hits first: on equal severity their rendering (`cycler.__init__.__globals__`) is the one kept.
  const hits: Hit[] = [];
  if (src.length > MAX_PARSE_CHARS) {
    if (declared <= MAX_TEMPLATE_CHARS) {
      ctx.emit({
        rule: 'CHAT_TEMPLATE_TOO_LARGE',
        message: `chat template ${origin.label} is ${src.length} characters, too large to parse (limit ${MAX_PARSE_CHARS}); checked token by token only`,
        ...where,
        evidence: { details: { template: origin.label, length: src.length, limit: MAX_PARSE_CHARS } },
      });
    }
  } else {
    const tree = treeHits(src);
    hits.push(...tree.hits);
    if (tree.error !== null || lex.unterminated !== null) {
      ctx.emit({
        rule: 'CHAT_TEMPLATE_UNPARSEABLE',
        message: `chat template ${origin.label} does not parse (${tree.error ?? `unterminated ${lex.unterminated}`}); renderers may read it differently`,
        ...where,
        evidence: { details: { template: origin.label, error: tree.error ?? `unterminated ${lex.unterminated}` } },
      });
    }
  }
  hits.push(...lexicalHits(src, lex.tokens));
  if (lex.truncated) ctx.incomplete(`chat template ${origin.label} has more tokens than the scan limit`, origin.offset);
  emitHits(ctx, hits, origin);
}

function emitHits(ctx: AnalysisContext, hits: readonly Hit[], origin: TemplateOrigin): void {
  // One finding per (rule, name); the worst severity and the first snippet win.
  const best = new Map<string, Hit>();
  for (const h of hits) {
    const key = `${RULE_OF[h.section]}|${h.name}`;
    const old = best.get(key);
    if (!old || SEVERITY_RANK[h.entry.severity] > SEVERITY_RANK[old.entry.severity]) best.set(key, h);
  }
  const ordered = [...best.values()].sort((a, b) => SEVERITY_RANK[b.entry.severity] - SEVERITY_RANK[a.entry.severity]);
  for (const h of ordered.slice(0, MAX_FINDINGS_PER_TEMPLATE)) {
    const severity: Severity = h.entry.severity;
    if (severity === 'info') continue;
    ctx.emit({
      rule: RULE_OF[h.section],
      severity,
      message: `chat template ${origin.label}: ${h.how} — ${h.snippet}`,
      ...(origin.offset !== undefined ? { offset: origin.offset } : {}),
      evidence: {
        matched: h.entry.pattern,
        reason: h.entry.reason,
        chain: h.snippet,
        details: { template: origin.label, name: h.name, ...(h.at !== undefined ? { position: h.at } : {}) },
      },
      references: h.entry.references,
    });
  }
}
