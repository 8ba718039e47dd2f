/**
 * A token-level reader of Python source, enough to list the calls a file makes without a
 * Python parser: comments are skipped, strings are skipped except the expressions inside
 * f-string braces (`f"{os.system('x')}"` runs), imports give the aliases that dotted names are
 * resolved through, and each call is `name(.name)*(` not preceded by a dot.
 * Linear in the input; the token and call counts are bounded.
 */

export interface PyCall {
  /** The dotted name as written, e.g. `sp.run`. */
  written: string;
  /** After import aliases, e.g. `subprocess.run`. */
  resolved: string;
  line: number;
  /** True for a bare name (no dot), which only matches bare-name patterns such as `eval`. */
  bare: boolean;
}

interface Tok {
  kind: 'name' | 'op' | 'nl' | 'str';
  value: string;
  line: number;
}

const MAX_TOKENS = 5_000_000;
const MAX_FSTRING_DEPTH = 4;
const PREFIX_CHARS = new Set('rRbBuUfF');
/** Identifier characters by code unit: ASCII letters, `_`, digits (not first), and anything non-ASCII. */
const isNameStart = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c >= 0xc0;
const isNamePart = (c: number) => isNameStart(c) || (c >= 48 && c <= 57);
const KEYWORDS = new Set(['def', 'class', 'lambda', 'return', 'if', 'elif', 'while', 'for', 'in', 'not', 'and', 'or', 'is', 'with', 'as', 'assert', 'yield', 'await', 'else', 'print']);

function tokenize(src: string, tokens: Tok[], lineBase: number, fdepth: number): void {
  let i = 0;
  let line = lineBase;
  let depth = 0;
  while (i < src.length && tokens.length < MAX_TOKENS) {
    const c = src[i]!;
    if (c === '\n') {
      line++;
      if (depth === 0) tokens.push({ kind: 'nl', value: '\n', line });
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f') {
      i++;
      continue;
    }
    if (c === '\\' && src[i + 1] === '\n') {
      i += 2;
      line++;
      continue;
    }
    if (c === '#') {
      const eol = src.indexOf('\n', i);
      i = eol < 0 ? src.length : eol;
      continue;
    }
    // String prefixes: r, b, u, f and their pairs, any case.
    const pm = c === '"' || c === "'" || PREFIX_CHARS.has(c) ? /^([rRbBuUfF]{0,2})(['"])/.exec(src.slice(i, i + 3)) : null;
    if (pm && (pm[1] === '' || /^(r|b|u|f|rb|br|fr|rf)$/i.test(pm[1]!)) && (pm[1] !== '' || c === '"' || c === "'")) {
      const prefix = pm[1]!.toLowerCase();
      const q = pm[2]!;
      let j = i + pm[1]!.length;
      const triple = src.startsWith(q.repeat(3), j);
      const delim = triple ? q.repeat(3) : q;
      j += delim.length;
      const bodyStart = j;
      const bodyLine = line;
      let closed = false;
      while (j < src.length) {
        if (src.startsWith(delim, j)) {
          closed = true;
          break;
        }
        // A backslash keeps the next character in the string, raw strings included.
        if (src[j] === '\\' && src[j + 1] === '\n') {
          line++;
          j += 2;
          continue;
        }
        if (src[j] === '\\') j++;
        if (src[j] === '\n') {
          if (!triple) break;
          line++;
        }
        j++;
      }
      const body = src.slice(bodyStart, Math.min(j, src.length));
      tokens.push({ kind: 'str', value: body.slice(0, 256), line: bodyLine });
      if (prefix.includes('f') && fdepth < MAX_FSTRING_DEPTH) {
        // Expressions between single braces are code.
        const re = /\{(?!\{)([^{}]*)\}/g;
        for (const m of body.matchAll(re)) {
          const before = body.slice(0, m.index);
          tokenize(m[1]!, tokens, bodyLine + (before.match(/\n/g)?.length ?? 0), fdepth + 1);
        }
      }
      i = closed ? j + delim.length : j;
      continue;
    }
    if (isNameStart(src.charCodeAt(i))) {
      let j = i + 1;
      while (j < src.length && isNamePart(src.charCodeAt(j))) j++;
      tokens.push({ kind: 'name', value: src.slice(i, j), line });
      i = j;
      continue;
    }
    if (c === '(' || c === '[' || c === '{') depth++;
    else if ((c === ')' || c === ']' || c === '}') && depth > 0) depth--;
    tokens.push({ kind: 'op', value: c, line });
    i++;
  }
}

/** Reads `import a.b as c, d` and `from a import b as c, (d, e)` into alias -> dotted module path. */
function readImports(tokens: readonly Tok[], aliases: Map<string, string>): void {
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const atStart = i === 0 || tokens[i - 1]!.kind === 'nl' || (tokens[i - 1]!.kind === 'op' && tokens[i - 1]!.value === ';');
    if (!atStart || t.kind !== 'name' || (t.value !== 'import' && t.value !== 'from')) continue;
    const dotted = (k: number): [string, number] => {
      let s = '';
      while (k < tokens.length && (tokens[k]!.kind === 'name' || (tokens[k]!.kind === 'op' && tokens[k]!.value === '.'))) {
        if (tokens[k]!.kind === 'name' && (tokens[k]!.value === 'import' || tokens[k]!.value === 'as')) break;
        s += tokens[k]!.value;
        k++;
      }
      return [s, k];
    };
    if (t.value === 'import') {
      let k = i + 1;
      while (k < tokens.length && tokens[k]!.kind !== 'nl') {
        const [mod, next] = dotted(k);
        k = next;
        if (tokens[k]?.value === 'as' && tokens[k + 1]?.kind === 'name') {
          aliases.set(tokens[k + 1]!.value, mod);
          k += 2;
        } else if (mod) aliases.set(mod.split('.')[0]!, mod.split('.')[0]!);
        if (tokens[k]?.value === ',') k++;
        else break;
      }
    } else {
      const [mod, next] = dotted(i + 1);
      let k = next;
      if (tokens[k]?.value !== 'import') continue;
      k++;
      while (k < tokens.length && tokens[k]!.kind !== 'nl') {
        const tk = tokens[k]!;
        if (tk.kind === 'name' && tk.value !== 'as') {
          const full = mod.startsWith('.') ? `${mod}.${tk.value}` : `${mod}.${tk.value}`;
          if (tokens[k + 1]?.value === 'as' && tokens[k + 2]?.kind === 'name') {
            aliases.set(tokens[k + 2]!.value, full);
            k += 3;
            continue;
          }
          aliases.set(tk.value, full);
        }
        k++;
      }
    }
  }
}

export interface PyScan {
  /** Calls the `keepCall` filter accepted. */
  calls: PyCall[];
  /** Dotted names (called or not) the `keepName` filter accepted, for TorchScript checks. */
  names: Array<{ resolved: string; line: number }>;
  /** Every call seen, kept or not. */
  callCount: number;
  truncated: boolean;
}

export interface ScanFilters {
  keepCall(resolved: string, bare: boolean): boolean;
  keepName?(resolved: string): boolean;
  /** Most calls and names kept (the scan goes on counting). */
  maxKept?: number;
}

/** Calls and dotted names of a Python (or TorchScript) source text. */
export function scanPython(src: string, filters: ScanFilters): PyScan {
  const maxKept = filters.maxKept ?? 10_000;
  const tokens: Tok[] = [];
  tokenize(src, tokens, 1, 0);
  const aliases = new Map<string, string>();
  readImports(tokens, aliases);
  const out: PyScan = { calls: [], names: [], callCount: 0, truncated: tokens.length >= MAX_TOKENS };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== 'name') continue;
    const prev = tokens[i - 1];
    if (prev?.kind === 'op' && prev.value === '.') continue;
    if (prev?.kind === 'name' && (prev.value === 'def' || prev.value === 'class' || prev.value === 'import' || prev.value === 'as')) continue;
    const parts = [t.value];
    let k = i + 1;
    while (tokens[k]?.kind === 'op' && tokens[k]!.value === '.' && tokens[k + 1]?.kind === 'name') {
      parts.push(tokens[k + 1]!.value);
      k += 2;
    }
    const head = aliases.get(parts[0]!);
    const resolved = head !== undefined ? [head, ...parts.slice(1)].join('.') : parts.join('.');
    if (parts.length > 1 && filters.keepName?.(resolved)) {
      if (out.names.length < maxKept) out.names.push({ resolved, line: t.line });
      else out.truncated = true;
    }
    const next = tokens[k];
    if (next?.kind === 'op' && next.value === '(' && !(parts.length === 1 && KEYWORDS.has(t.value))) {
      out.callCount++;
      const bare = parts.length === 1 && head === undefined;
      if (filters.keepCall(resolved, bare)) {
        if (out.calls.length < maxKept) out.calls.push({ written: parts.join('.'), resolved, line: t.line, bare });
        else out.truncated = true;
      }
    }
    i = k - 1;
  }
  return out;
}
