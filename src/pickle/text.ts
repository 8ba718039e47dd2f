/** Decoders for the text encodings pickle arguments use. */

// Made on first use: building a decoder costs ~2 ms at start-up, and most pickles never need one.
let utf8Strict: TextDecoder | undefined;
let utf8Loose: TextDecoder | undefined;

export function decodeLatin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

/**
 * UTF-8 as CPython decodes BINUNICODE ('surrogatepass') and GLOBAL lines ('strict'). Invalid
 * input is still returned (with replacement characters) so evidence keeps the name; `ok` says
 * whether CPython would have accepted it. A `truncated` prefix may end mid-character.
 */
export function decodeUtf8(b: Uint8Array, truncated: boolean): { s: string; ok: boolean } {
  try {
    utf8Strict ??= new TextDecoder('utf-8', { fatal: true });
    return { s: utf8Strict.decode(b), ok: true };
  } catch {
    utf8Loose ??= new TextDecoder('utf-8', { fatal: false });
    const s = utf8Loose.decode(b);
    if (truncated) return { s, ok: true };
    // Encoded surrogates (ED A0..BF xx) are legal under surrogatepass.
    const surrogateOnly = /\xed[\xa0-\xbf][\x80-\xbf]/.test(decodeLatin1(b));
    return { s, ok: surrogateOnly };
  }
}

const SIMPLE: Record<number, number> = {
  0x5c: 0x5c, 0x27: 0x27, 0x22: 0x22, 0x61: 0x07, 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09, 0x76: 0x0b,
};

/**
 * The protocol-0 STRING argument: a Python bytes repr in quotes, with backslash escapes
 * (as `codecs.escape_decode`). Returns null when it is not quoted, as CPython refuses it.
 */
export function decodePyStringRepr(line: Uint8Array): Uint8Array | null {
  let end = line.length;
  // CPython strips trailing whitespace (the '\r' of a CRLF file, spaces) before checking quotes.
  while (end > 0 && (line[end - 1] === 0x20 || line[end - 1] === 0x0d || line[end - 1] === 0x09)) end--;
  if (end < 2) return null;
  const q = line[0];
  if ((q !== 0x27 && q !== 0x22) || line[end - 1] !== q) return null;
  const out: number[] = [];
  for (let i = 1; i < end - 1; i++) {
    const c = line[i]!;
    if (c !== 0x5c || i + 1 >= end - 1) {
      out.push(c);
      continue;
    }
    const n = line[++i]!;
    const simple = SIMPLE[n];
    if (simple !== undefined) out.push(simple);
    else if (n === 0x0a) {
      /* line continuation */
    } else if (n === 0x78 && i + 2 < end - 1 && isHex(line[i + 1]!) && isHex(line[i + 2]!)) {
      out.push(parseInt(String.fromCharCode(line[i + 1]!, line[i + 2]!), 16));
      i += 2;
    } else if (n >= 0x30 && n <= 0x37) {
      let v = n - 0x30;
      let k = 0;
      while (k < 2 && i + 1 < end - 1 && line[i + 1]! >= 0x30 && line[i + 1]! <= 0x37) {
        v = v * 8 + (line[++i]! - 0x30);
        k++;
      }
      out.push(v & 0xff);
    } else {
      out.push(0x5c, n);
    }
  }
  return Uint8Array.from(out);
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** raw-unicode-escape: only \uXXXX and \UXXXXXXXX are escapes; every other byte is Latin-1. */
export function decodeRawUnicodeEscape(b: Uint8Array): string {
  const s = decodeLatin1(b);
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, u: string | undefined, U: string | undefined) => {
    const cp = parseInt((u ?? U)!, 16);
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : _m;
  });
}

/**
 * Made on first use, not at module load: V8 parses a regular-expression literal when it is
 * evaluated, and for these Unicode property classes that means ICU building each set and V8
 * canonicalising the ranges (~12 M instructions, 5 % of a one-pickle scan), paid by every
 * command that loads the pickle reader even when no name is outside ASCII.
 */
let ident: RegExp | undefined;
const IDENT = (): RegExp => (ident ??= /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*(\.[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*)*$/u);

/**
 * The ASCII subset of IDENT: what almost every real name is. Its letters, digits and underscore
 * are all in IDENT's classes, so a match here is a match there. The ASCII characters IDENT's
 * classes hold are exactly these (\p{L}: A-Z a-z, \p{Nd}: 0-9, \p{Pc}: _, none in \p{Nl},
 * \p{Mn}, \p{Mc}), so an ASCII string that fails here fails IDENT too: only a string with a
 * character beyond ASCII goes to IDENT (each first run of it parses the pattern again).
 */
const ASCII_IDENT = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const BEYOND_ASCII = /[^\x00-\x7f]/;

export function isDottedIdentifier(s: string): boolean {
  return s.length > 0 && s.length <= 1024 && (ASCII_IDENT.test(s) || (BEYOND_ASCII.test(s) && IDENT().test(s)));
}
