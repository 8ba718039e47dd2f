/**
 * A linear, streaming look at JSON text before anything parses it: nesting depth (JSON.parse
 * and Python's json recurse, so 10^6 nested brackets must be refused up front) and the object
 * keys, decoded, so an oversized file can still be searched for `chat_template` or `auto_map`
 * spelled with escapes (`"\u0063hat_template"`). Works on byte chunks; JSON's structural
 * characters are ASCII, so UTF-8 needs no decoding here.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const MAX_KEY_BYTES = 256;

export class JsonStructureScanner {
  depth = 0;
  maxDepth = 0;
  /** Byte offset where the depth first exceeded the limit, or null. */
  tooDeepAt: number | null = null;
  readonly keys = new Set<string>();
  private inString = false;
  private escape = false;
  private keyBytes: number[] = [];
  private keyOverflow = false;
  private pendingKey: string | null = null;
  private offset = 0;

  constructor(
    private readonly depthLimit: number,
    private readonly interesting: ReadonlySet<string>,
  ) {}

  push(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (c === BACKSLASH) this.escape = true;
        else if (c === QUOTE) {
          this.inString = false;
          this.pendingKey = this.keyOverflow ? null : this.decodeKey();
          continue;
        }
        if (this.keyBytes.length < MAX_KEY_BYTES) this.keyBytes.push(c);
        else this.keyOverflow = true;
        continue;
      }
      if (c === QUOTE) {
        this.inString = true;
        this.keyBytes = [];
        this.keyOverflow = false;
        continue;
      }
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
      if (c === COLON && this.pendingKey !== null && this.interesting.has(this.pendingKey)) this.keys.add(this.pendingKey);
      this.pendingKey = null;
      if (c === 0x7b || c === 0x5b) {
        this.depth++;
        if (this.depth > this.maxDepth) this.maxDepth = this.depth;
        if (this.depth > this.depthLimit && this.tooDeepAt === null) this.tooDeepAt = this.offset + i;
      } else if ((c === 0x7d || c === 0x5d) && this.depth > 0) this.depth--;
    }
    this.offset += chunk.length;
  }

  private decodeKey(): string | null {
    try {
      const raw = new TextDecoder('utf-8', { fatal: false }).decode(Uint8Array.from(this.keyBytes));
      return JSON.parse(`"${raw}"`) as string;
    } catch {
      return null;
    }
  }
}

/**
 * Python's json module accepts NaN, Infinity and -Infinity; JSON.parse does not. Rewriting them
 * (outside strings) to null keeps a file that transformers would load from looking unparseable.
 */
export function pythonJsonToStrict(text: string): string {
  let out = '';
  let last = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
      continue;
    }
    if (c === QUOTE) {
      inString = true;
      continue;
    }
    for (const word of ['-Infinity', 'Infinity', 'NaN']) {
      if (text.startsWith(word, i)) {
        out += text.slice(last, i) + 'null';
        i += word.length - 1;
        last = i + 1;
        break;
      }
    }
  }
  return last === 0 ? text : out + text.slice(last);
}
