/**
 * Our own Jinja2 lexer, independent of any parser: it finds every `{{ }}` and `{% %}` region
 * and splits it into names, strings, numbers and operators, the way Jinja2's lexer does
 * (bracket balancing before a closing delimiter, `{% raw %}` blocks as text, comments skipped).
 * The checks run on these tokens whether or not a parser accepts the template, so a template
 * built to exploit a difference between parsers is still read token by token.
 * Linear in the input, bounded by MAX_TOKENS.
 */

export type TokenKind = 'name' | 'string' | 'number' | 'op';

export interface JinjaToken {
  kind: TokenKind;
  /** Name text, decoded string value, number text or operator. */
  value: string;
  /** Character offset of the token in the template. */
  offset: number;
  /** Index of the code region (one `{{ }}` or `{% %}`) the token belongs to. */
  region: number;
  /** True for tokens inside `{% %}`. */
  statement: boolean;
}

export interface LexResult {
  tokens: JinjaToken[];
  /** A region or string that never closes (Jinja2 refuses such templates). */
  unterminated: string | null;
  /** True when MAX_TOKENS stopped the lexer. */
  truncated: boolean;
}

const MAX_TOKENS = 2_000_000;
/** Identifier characters by code unit: ASCII letters, `_`, digits (not first), and anything non-ASCII. */
const isNameStart = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c >= 0xc0;
const isNamePart = (c: number) => isNameStart(c) || (c >= 48 && c <= 57);
const TWO_CHAR_OPS = new Set(['==', '!=', '<=', '>=', '//', '**']);

/** Python string escapes as Jinja2 decodes them (`\x5f`, `\u005f`, `\137`, `\N{LOW LINE}`...). */
function decodeEscape(s: string, i: number): [string, number] {
  const c = s[i + 1];
  if (c === undefined) return ['\\', i + 1];
  const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0' };
  const hex = (len: number): [string, number] | null => {
    const h = s.slice(i + 2, i + 2 + len);
    if (h.length !== len || !/^[0-9a-fA-F]+$/.test(h)) return null;
    const cp = parseInt(h, 16);
    return cp <= 0x10ffff ? [String.fromCodePoint(cp), i + 2 + len] : null;
  };
  if (c === 'x') return hex(2) ?? ['\\x', i + 2];
  if (c === 'u') return hex(4) ?? ['\\u', i + 2];
  if (c === 'U') return hex(8) ?? ['\\U', i + 2];
  if (c >= '0' && c <= '7') {
    const m = /^[0-7]{1,3}/.exec(s.slice(i + 1, i + 4))!;
    return [String.fromCharCode(parseInt(m[0], 8)), i + 1 + m[0].length];
  }
  if (c === 'N' && s[i + 2] === '{') {
    const end = s.indexOf('}', i + 3);
    if (end > 0 && end - i < 100) {
      const name = s.slice(i + 3, end).toUpperCase();
      // Only the characters that spell Python names matter to the checks.
      const known: Record<string, string> = { 'LOW LINE': '_', 'FULL STOP': '.', 'LEFT SQUARE BRACKET': '[', 'RIGHT SQUARE BRACKET': ']' };
      const letter = /^LATIN (SMALL|CAPITAL) LETTER ([A-Z])$/.exec(name);
      const v = known[name] ?? (letter ? (letter[1] === 'SMALL' ? letter[2]!.toLowerCase() : letter[2]!) : '\uFFFD');
      return [v, end + 1];
    }
  }
  return simple[c] !== undefined ? [simple[c]!, i + 2] : ['\\' + c, i + 2];
}

export function lexTemplate(src: string): LexResult {
  const tokens: JinjaToken[] = [];
  let region = -1;
  let i = 0;
  const push = (t: Omit<JinjaToken, 'region'>): boolean => {
    if (tokens.length >= MAX_TOKENS) return false;
    (t as JinjaToken).region = region;
    tokens.push(t as JinjaToken);
    return true;
  };
  while (i < src.length) {
    const open = src.indexOf('{', i);
    if (open < 0 || open + 1 >= src.length) break;
    const kind = src[open + 1];
    if (kind === '#') {
      const end = src.indexOf('#}', open + 2);
      if (end < 0) return { tokens, unterminated: `comment opened at ${open}`, truncated: false };
      i = end + 2;
      continue;
    }
    if (kind !== '{' && kind !== '%') {
      i = open + 1;
      continue;
    }
    const statement = kind === '%';
    const close = statement ? '%}' : '}}';
    let j = open + 2;
    if (src[j] === '-' || src[j] === '+') j++;
    // {% raw %} ... {% endraw %}: the body is output text, never code.
    if (statement) {
      const raw = /^\s*raw\s*[-+]?%\}/.exec(src.slice(j, j + 64));
      if (raw) {
        const endRaw = /\{%[-+]?\s*endraw\s*[-+]?%\}/g;
        endRaw.lastIndex = j + raw[0].length;
        const m = endRaw.exec(src);
        if (!m) return { tokens, unterminated: `raw block opened at ${open}`, truncated: false };
        i = m.index + m[0].length;
        continue;
      }
    }
    region++;
    let depth = 0;
    let closed = false;
    while (j < src.length) {
      const c = src[j]!;
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
        j++;
        continue;
      }
      if (depth === 0 && (src.startsWith(close, j) || ((c === '-' || c === '+') && src.startsWith(close, j + 1)))) {
        j += c === '-' || c === '+' ? 3 : 2;
        closed = true;
        break;
      }
      if (c === "'" || c === '"') {
        let k = j + 1;
        let value = '';
        let done = false;
        // Runs without escapes are sliced, not built character by character.
        let run = k;
        const quote = src.charCodeAt(j);
        while (k < src.length) {
          const d = src.charCodeAt(k);
          if (d === quote) {
            value += src.slice(run, k);
            done = true;
            break;
          }
          if (d === 92) {
            value += src.slice(run, k);
            const [v, next] = decodeEscape(src, k);
            value += v;
            k = next;
            run = k;
          } else k++;
        }
        if (!done) return { tokens, unterminated: `string opened at ${j}`, truncated: false };
        if (!push({ kind: 'string', value, offset: j, statement })) return { tokens, unterminated: null, truncated: true };
        j = k + 1;
        continue;
      }
      if (isNameStart(src.charCodeAt(j))) {
        let k = j + 1;
        while (k < src.length && isNamePart(src.charCodeAt(k))) k++;
        if (!push({ kind: 'name', value: src.slice(j, k), offset: j, statement })) return { tokens, unterminated: null, truncated: true };
        j = k;
        continue;
      }
      if (c >= '0' && c <= '9') {
        let k = j + 1;
        while (k < src.length && /[0-9._eE]/.test(src[k]!)) k++;
        if (!push({ kind: 'number', value: src.slice(j, k), offset: j, statement })) return { tokens, unterminated: null, truncated: true };
        j = k;
        continue;
      }
      const two = src.slice(j, j + 2);
      const op = TWO_CHAR_OPS.has(two) ? two : c;
      if (op === '(' || op === '[' || op === '{') depth++;
      else if ((op === ')' || op === ']' || op === '}') && depth > 0) depth--;
      if (!push({ kind: 'op', value: op, offset: j, statement })) return { tokens, unterminated: null, truncated: true };
      j += op.length;
    }
    if (!closed) return { tokens, unterminated: `${statement ? 'statement' : 'expression'} opened at ${open}`, truncated: false };
    i = j;
  }
  return { tokens, unterminated: null, truncated: false };
}
