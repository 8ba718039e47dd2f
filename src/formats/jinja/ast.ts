/**
 * Walks the parse tree of @huggingface/jinja (the Jinja dialect transformers.js and the Hub
 * use) for what tokens alone cannot see: attribute names computed by constant expressions
 * (`x['__cla' ~ 'ss__']`, `x|attr(('_' * 2) ~ 'class' ~ ('_' * 2))`, `['__', 'class__']|join`).
 * The walk is iterative and every fold is bounded, so hostile nesting cannot exhaust the stack.
 */

/** The parts of the parser's node shapes we read; everything else is walked generically. */
interface Node {
  type: string;
  [k: string]: unknown;
}

export interface AttributeAccess {
  /** The attribute name after folding constants. */
  name: string;
  /** How it was reached: `.`, `[]` or `|attr`. */
  via: 'dot' | 'subscript' | 'attr-filter';
  /** A short rendering of the expression, e.g. `cycler.__init__.__globals__`. */
  chain: string;
}

export interface TreeFacts {
  attributes: AttributeAccess[];
  /** Strings produced by folding constant expressions (concatenation, repetition, filters). */
  folded: string[];
  /** True when the node budget stopped the walk. */
  truncated: boolean;
}

const MAX_NODES = 1_000_000;
const MAX_FOLD_DEPTH = 64;
const MAX_FOLD_LENGTH = 4096;
const MAX_RENDER = 120;
const NO_ENV: ReadonlyMap<string, string> = new Map();

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string';
}

/** Value of a constant string expression, or null when it is not one. */
export function fold(e: unknown, depth = 0, env: ReadonlyMap<string, string> = NO_ENV): string | null {
  if (!isNode(e) || depth > MAX_FOLD_DEPTH) return null;
  const f = (x: unknown): string | null => fold(x, depth + 1, env);
  const str = (x: string | null): string | null => (x !== null && x.length <= MAX_FOLD_LENGTH ? x : null);
  switch (e.type) {
    case 'StringLiteral':
      return typeof e.value === 'string' ? str(e.value) : null;
    case 'Identifier':
      // A variable set to a constant elsewhere in the template (`{% set a = '__in' ~ 'it__' %}`).
      return env.get(String(e.value)) ?? null;
    case 'IntegerLiteral':
    case 'FloatLiteral':
      return typeof e.value === 'number' ? String(e.value) : null;
    case 'BinaryExpression': {
      const op = (e.operator as { value?: string } | undefined)?.value;
      if (op === '~' || op === '+') {
        const l = f(e.left);
        const r = f(e.right);
        return l !== null && r !== null ? str(l + r) : null;
      }
      if (op === '*') {
        const l = f(e.left);
        const r = e.right as Node;
        if (l !== null && r?.type === 'IntegerLiteral' && typeof r.value === 'number' && r.value >= 0 && l.length * r.value <= MAX_FOLD_LENGTH) return l.repeat(r.value);
      }
      return null;
    }
    case 'FilterExpression': {
      const call = filterCall(e.filter);
      const name = call?.name ?? '';
      const args = call?.args ?? [];
      const operand = e.operand as Node;
      if (name === 'join' && (operand?.type === 'ArrayLiteral' || operand?.type === 'TupleLiteral') && Array.isArray(operand.value)) {
        const parts = (operand.value as unknown[]).map((x) => f(x));
        const sep = args.length ? f(args[0]) : '';
        return parts.every((p) => p !== null) && sep !== null ? str(parts.join(sep)) : null;
      }
      const v = f(operand);
      if (v === null) return null;
      switch (name) {
        case 'lower': return v.toLowerCase();
        case 'upper': return v.toUpperCase();
        case 'trim': return v.trim();
        case 'string': return v;
        case 'reverse': return [...v].reverse().join('');
        case 'join': return v;
        case 'replace': {
          const a = args.length > 1 ? f(args[0]) : null;
          const b = args.length > 1 ? f(args[1]) : null;
          return a !== null && b !== null && a !== '' ? str(v.split(a).join(b)) : null;
        }
        case 'format': {
          const vals = args.map((x) => f(x));
          if (vals.some((x) => x === null)) return null;
          let k = 0;
          return str(v.replace(/%[sdr]/g, () => vals[k++] ?? ''));
        }
        default: return null;
      }
    }
    default:
      return null;
  }
}

/** A short, bounded rendering of an expression for evidence. */
export function render(e: unknown, depth = 0): string {
  if (!isNode(e)) return '?';
  if (depth > 12) return '…';
  let out: string;
  switch (e.type) {
    case 'Identifier': out = String(e.value); break;
    case 'StringLiteral': out = JSON.stringify(String(e.value).slice(0, 40)); break;
    case 'IntegerLiteral': case 'FloatLiteral': out = String(e.value); break;
    case 'MemberExpression': {
      const obj = render(e.object, depth + 1);
      const folded = e.computed ? fold(e.property) : null;
      out = e.computed ? `${obj}[${folded !== null ? JSON.stringify(folded) : render(e.property, depth + 1)}]` : `${obj}.${render(e.property, depth + 1)}`;
      break;
    }
    case 'CallExpression': {
      const args = Array.isArray(e.args) ? (e.args as unknown[]) : [];
      out = `${render(e.callee, depth + 1)}(${args.length ? '…' : ''})`;
      break;
    }
    case 'FilterExpression': out = `${render(e.operand, depth + 1)}|${render(e.filter, depth + 1)}`; break;
    case 'BinaryExpression': {
      const f = fold(e);
      out = f !== null ? JSON.stringify(f) : `${render(e.left, depth + 1)} ${String((e.operator as { value?: string })?.value)} ${render(e.right, depth + 1)}`;
      break;
    }
    default: out = e.type;
  }
  return out.length > MAX_RENDER ? out.slice(0, MAX_RENDER - 1) + '…' : out;
}

function filterCall(f: unknown): { name: string; args: unknown[] } | null {
  if (!isNode(f)) return null;
  if (f.type === 'Identifier') return { name: String(f.value), args: [] };
  if (f.type === 'CallExpression' && isNode(f.callee) && f.callee.type === 'Identifier') return { name: String(f.callee.value), args: Array.isArray(f.args) ? (f.args as unknown[]) : [] };
  return null;
}

/** Nodes of the tree, depth-first, iteratively and within the node budget. */
function* nodes(program: unknown): Generator<Node> {
  const stack: unknown[] = [program];
  let seen = 0;
  while (stack.length && seen < MAX_NODES) {
    const v = stack.pop();
    if (Array.isArray(v)) for (const x of v) stack.push(x);
    else if (v instanceof Map) for (const [k, x] of v) stack.push(k, x);
    else if (isNode(v)) {
      seen++;
      yield v;
      // Keys, not entries: no [key, value] array per property of every node (same keys, same order).
      for (const k of Object.keys(v)) {
        if (k === 'type') continue;
        const x: unknown = v[k];
        if (typeof x === 'object' && x !== null) stack.push(x);
      }
    }
  }
}

/** Variables `{% set name = <constant string> %}`; a name set to several constants keeps the last seen. */
function constants(program: unknown): Map<string, string> {
  const env = new Map<string, string>();
  for (const n of nodes(program)) {
    if (n.type !== 'Set' || !isNode(n.assignee) || n.assignee.type !== 'Identifier') continue;
    const v = fold(n.value, 0, env);
    if (v !== null) env.set(String(n.assignee.value), v);
  }
  return env;
}

/** Attribute accesses and folded strings of a parsed template. */
export function inspectTree(program: unknown): TreeFacts {
  const facts: TreeFacts = { attributes: [], folded: [], truncated: false };
  const env = constants(program);
  let seen = 0;
  for (const v of nodes(program)) {
    seen++;
    if (v.type === 'MemberExpression') {
      const p = v.property as Node;
      const name = v.computed ? fold(p, 0, env) : p?.type === 'Identifier' ? String(p.value) : null;
      if (name !== null) facts.attributes.push({ name, via: v.computed ? 'subscript' : 'dot', chain: render(v) });
    } else if (v.type === 'FilterExpression') {
      const f = filterCall(v.filter);
      if (f?.name === 'attr' && f.args.length) {
        const name = fold(f.args[0], 0, env);
        if (name !== null) facts.attributes.push({ name, via: 'attr-filter', chain: render(v) });
      }
    }
    if (v.type === 'BinaryExpression' || v.type === 'FilterExpression') {
      const s = fold(v, 0, env);
      if (s !== null) facts.folded.push(s);
    }
  }
  facts.truncated = seen >= MAX_NODES;
  return facts;
}
