/**
 * A tiny pickle assembler for hand-made opcode streams (the tricks no library emits).
 * Each helper returns bytes; `asm` concatenates them.
 */
const enc = new TextEncoder();

export type Part = Uint8Array | number[] | string;

export function asm(...parts: Part[]): Uint8Array {
  const chunks = parts.map((p) => (typeof p === 'string' ? Uint8Array.from(p, (c) => c.charCodeAt(0) & 0xff) : Uint8Array.from(p)));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

const le = (n: number, w: number) => Array.from({ length: w }, (_, i) => Math.floor(n / 256 ** i) % 256);

export const op = {
  PROTO: (p: number) => [0x80, p],
  FRAME: (n: number) => [0x95, ...le(n, 8)],
  MARK: '(',
  STOP: '.',
  POP: '0',
  POP_MARK: '1',
  DUP: '2',
  NONE: 'N',
  TUPLE: 't',
  TUPLE1: [0x85],
  TUPLE2: [0x86],
  TUPLE3: [0x87],
  EMPTY_TUPLE: ')',
  EMPTY_LIST: ']',
  EMPTY_DICT: '}',
  APPEND: 'a',
  APPENDS: 'e',
  SETITEM: 's',
  LIST: 'l',
  DICT: 'd',
  REDUCE: 'R',
  BUILD: 'b',
  NEWOBJ: [0x81],
  NEWOBJ_EX: [0x92],
  OBJ: 'o',
  STACK_GLOBAL: [0x93],
  MEMOIZE: [0x94],
  GLOBAL: (m: string, n: string) => `c${m}\n${n}\n`,
  INST: (m: string, n: string) => `i${m}\n${n}\n`,
  STRING: (s: string) => `S'${s}'\n`,
  UNICODE: (s: string) => `V${s}\n`,
  SHORT_BINUNICODE: (s: string) => [0x8c, enc.encode(s).length, ...enc.encode(s)],
  BINUNICODE: (s: string) => [0x58, ...le(enc.encode(s).length, 4), ...enc.encode(s)],
  BINUNICODE8_LEN: (n: number) => [0x8d, ...le(n, 8)],
  SHORT_BINBYTES: (b: number[]) => [0x43, b.length, ...b],
  BININT1: (n: number) => [0x4b, n],
  BININT: (n: number) => [0x4a, ...le(n >>> 0, 4)],
  INT: (n: number) => `I${n}\n`,
  PUT: (i: number) => `p${i}\n`,
  GET: (i: number) => `g${i}\n`,
  BINPUT: (i: number) => [0x71, i],
  BINGET: (i: number) => [0x68, i],
  LONG_BINPUT: (i: number) => [0x72, ...le(i, 4)],
  LONG_BINGET: (i: number) => [0x6a, ...le(i, 4)],
  EXT1: (c: number) => [0x82, c],
  BININT2: (n: number) => [0x4d, ...le(n, 2)],
  BINFLOAT: (x: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, false);
    return [0x47, ...b];
  },
  /** Two's complement, little-endian, shortest form (as pickle's encode_long). */
  LONG1: (v: bigint) => {
    const b: number[] = [];
    for (let x = v; ; ) {
      b.push(Number(x & 0xffn));
      x >>= 8n;
      if ((x === 0n && !(b[b.length - 1]! & 0x80)) || (x === -1n && b[b.length - 1]! & 0x80)) break;
    }
    return [0x8a, b.length, ...b];
  },
  NEWTRUE: [0x88],
  NEWFALSE: [0x89],
  SETITEMS: 'u',
  EMPTY_SET: [0x8f],
  ADDITEMS: [0x90],
  FROZENSET: [0x91],
};

/** `module.name` pushed as a protocol-4 STACK_GLOBAL. */
export function stackGlobal(module: string, name: string): Uint8Array {
  return asm(op.SHORT_BINUNICODE(module), op.SHORT_BINUNICODE(name), op.STACK_GLOBAL);
}
