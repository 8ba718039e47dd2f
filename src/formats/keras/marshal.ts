/**
 * A static reader of Python `marshal` data, enough to list what a marshalled code object (a
 * Keras Lambda's function) would touch: the names it looks up (co_names, of it and of every
 * nested code object), its string constants and its function names. Nothing is executed; the
 * reader walks the byte format with depth, object and size limits and stops at the first thing
 * it does not understand, keeping what it found so far.
 *
 * Code object layouts differ by Python version: 3.8-3.10 have six leading int fields, 3.11+ and
 * <= 3.7 five; 3.11+ is told from <= 3.7 by the fifth object (bytes `co_localspluskinds` rather
 * than the tuple `co_freevars`).
 */

export interface CodeSummary {
  /** co_names of every code object, deduplicated, in order of appearance. */
  names: string[];
  /** co_name of every code object (`<lambda>`, nested function names). */
  functions: string[];
  /** String constants (truncated), e.g. a shell command. */
  strings: string[];
  codeObjects: number;
  /** Why reading stopped early, if it did. */
  error?: string;
}

type Val = string | number | null | boolean | Val[] | { bytes: number } | { code: true } | { other: string };

const MAX_DEPTH = 64;
const MAX_OBJECTS = 200_000;
const MAX_KEPT = 200;
const STRING_KEEP = 200;

class Stop extends Error {}

class Reader {
  pos = 0;
  objects = 0;
  refs: Val[] = [];
  readonly out: CodeSummary = { names: [], functions: [], strings: [], codeObjects: 0 };
  private readonly latin1 = new TextDecoder('latin1');
  private readonly utf8 = new TextDecoder('utf-8', { fatal: false });

  constructor(private readonly b: Uint8Array) {}

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.b.length) throw new Stop(`truncated at byte ${this.pos}`);
  }
  u8(): number {
    this.need(1);
    return this.b[this.pos++]!;
  }
  i32(): number {
    this.need(4);
    const v = new DataView(this.b.buffer, this.b.byteOffset + this.pos, 4).getInt32(0, true);
    this.pos += 4;
    return v;
  }
  size(): number {
    const n = this.i32();
    if (n < 0 || this.pos + n > this.b.length) throw new Stop(`length ${n} at byte ${this.pos - 4} runs past the data`);
    return n;
  }
  text(n: number, ascii: boolean): string {
    this.need(n);
    const s = (ascii ? this.latin1 : this.utf8).decode(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }

  value(depth: number): Val {
    if (depth > MAX_DEPTH) throw new Stop('nesting too deep');
    if (++this.objects > MAX_OBJECTS) throw new Stop('too many objects');
    const code = this.u8();
    const flag = code & 0x80;
    const type = String.fromCharCode(code & 0x7f);
    // Containers and code objects reserve their reference slot before their contents (as CPython does).
    const slot = flag ? this.refs.push(null) - 1 : -1;
    const v = this.body(type, depth);
    if (slot >= 0) this.refs[slot] = v;
    return v;
  }

  private seq(n: number, depth: number): Val[] {
    const items: Val[] = [];
    for (let i = 0; i < n; i++) items.push(this.value(depth + 1));
    return items;
  }

  private body(t: string, depth: number): Val {
    switch (t) {
      case '0':
      case 'N':
        return null;
      case 'F':
        return false;
      case 'T':
        return true;
      case 'S':
      case '.':
        return { other: t };
      case 'i':
        return this.i32();
      case 'I':
        this.need(8);
        this.pos += 8;
        return { other: 'int64' };
      case 'g':
        this.need(8);
        this.pos += 8;
        return { other: 'float' };
      case 'y':
        this.need(16);
        this.pos += 16;
        return { other: 'complex' };
      case 'f':
        this.text(this.u8(), true);
        return { other: 'float' };
      case 'x':
        this.text(this.u8(), true);
        this.text(this.u8(), true);
        return { other: 'complex' };
      case 'l': {
        const n = Math.abs(this.i32());
        this.need(n * 2);
        this.pos += n * 2;
        return { other: 'long' };
      }
      case 's': {
        const n = this.size();
        this.pos += n;
        return { bytes: n };
      }
      case 't':
      case 'u':
        return this.text(this.size(), false);
      case 'a':
      case 'A':
        return this.text(this.size(), true);
      case 'z':
      case 'Z':
        return this.text(this.u8(), true);
      case ')':
        return this.seq(this.u8(), depth);
      case '(':
      case '[':
      case '<':
      case '>':
        return this.seq(this.size(), depth);
      case '{': {
        const items: Val[] = [];
        for (;;) {
          if (this.b[this.pos] === 0x30) {
            this.pos++;
            return items;
          }
          items.push(this.value(depth + 1), this.value(depth + 1));
        }
      }
      case 'r': {
        const i = this.i32();
        if (i < 0 || i >= this.refs.length) throw new Stop(`reference ${i} to an object not yet read`);
        return this.refs[i]!;
      }
      case 'c':
        return this.codeObject(depth);
      default:
        throw new Stop(`unknown marshal type ${JSON.stringify(t)} at byte ${this.pos - 1}`);
    }
  }

  private codeObject(depth: number): Val {
    this.out.codeObjects++;
    const bytesType = (at: number) => ((this.b[at] ?? 0) & 0x7f) === 0x73; // 's'
    const ints = bytesType(this.pos + 20) ? 5 : bytesType(this.pos + 24) ? 6 : 0;
    if (!ints) throw new Stop('code object layout not recognised');
    this.pos += ints * 4;
    this.value(depth + 1); // co_code
    const consts = this.value(depth + 1);
    const names = this.value(depth + 1);
    this.value(depth + 1); // varnames / localsplusnames
    const fifth = this.value(depth + 1); // freevars (<= 3.10) / localspluskinds (3.11+)
    const modern = ints === 5 && typeof fifth === 'object' && fifth !== null && 'bytes' in fifth;
    if (!modern) this.value(depth + 1); // cellvars
    this.value(depth + 1); // filename
    const name = this.value(depth + 1);
    if (modern) this.value(depth + 1); // qualname
    this.i32(); // firstlineno
    this.value(depth + 1); // lnotab / linetable
    if (modern) this.value(depth + 1); // exceptiontable
    if (Array.isArray(names)) for (const n of names) if (typeof n === 'string') this.keep(this.out.names, n);
    if (typeof name === 'string') this.keep(this.out.functions, name);
    if (Array.isArray(consts)) for (const c of consts) if (typeof c === 'string' && c.length > 0) this.keep(this.out.strings, c.length > STRING_KEEP ? c.slice(0, STRING_KEEP) + '…' : c);
    return { code: true };
  }

  private keep(list: string[], s: string): void {
    if (list.length < MAX_KEPT && !list.includes(s)) list.push(s);
  }
}

/** Summarises marshalled code; never throws. */
export function summariseMarshal(data: Uint8Array): CodeSummary {
  const r = new Reader(data);
  try {
    r.value(0);
  } catch (e) {
    r.out.error = e instanceof Stop ? e.message : `unreadable: ${(e as Error).message}`;
  }
  return r.out;
}
