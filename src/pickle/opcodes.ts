/**
 * Every opcode of pickle protocols 0-5, with how its argument is encoded. This table is the
 * single source of truth for the machine and for disassembly in reports.
 */
export type ArgKind =
  | 'none'
  | 'u1' | 'u2' | 'i4' | 'u4' | 'u8' // fixed-width little-endian integers
  | 'f8be' // BINFLOAT: big-endian double
  | 'line' // one '\n'-terminated line (protocol 0 decimal, repr, raw-unicode-escape)
  | 'twolines' // GLOBAL / INST: module line and name line
  | 'len1' | 'len4' | 'len4s' | 'len8'; // length-prefixed payload (len4s: signed, negative is an error)

export interface OpInfo {
  code: number;
  name: string;
  arg: ArgKind;
  /** Lowest protocol that emits it (informational; CPython accepts every opcode in any stream). */
  proto: number;
}

const table: OpInfo[] = [
  { code: 0x28, name: 'MARK', arg: 'none', proto: 0 },
  { code: 0x2e, name: 'STOP', arg: 'none', proto: 0 },
  { code: 0x30, name: 'POP', arg: 'none', proto: 0 },
  { code: 0x31, name: 'POP_MARK', arg: 'none', proto: 1 },
  { code: 0x32, name: 'DUP', arg: 'none', proto: 0 },
  { code: 0x46, name: 'FLOAT', arg: 'line', proto: 0 },
  { code: 0x49, name: 'INT', arg: 'line', proto: 0 },
  { code: 0x4a, name: 'BININT', arg: 'i4', proto: 1 },
  { code: 0x4b, name: 'BININT1', arg: 'u1', proto: 1 },
  { code: 0x4c, name: 'LONG', arg: 'line', proto: 0 },
  { code: 0x4d, name: 'BININT2', arg: 'u2', proto: 1 },
  { code: 0x4e, name: 'NONE', arg: 'none', proto: 0 },
  { code: 0x50, name: 'PERSID', arg: 'line', proto: 0 },
  { code: 0x51, name: 'BINPERSID', arg: 'none', proto: 1 },
  { code: 0x52, name: 'REDUCE', arg: 'none', proto: 0 },
  { code: 0x53, name: 'STRING', arg: 'line', proto: 0 },
  { code: 0x54, name: 'BINSTRING', arg: 'len4s', proto: 1 },
  { code: 0x55, name: 'SHORT_BINSTRING', arg: 'len1', proto: 1 },
  { code: 0x56, name: 'UNICODE', arg: 'line', proto: 0 },
  { code: 0x58, name: 'BINUNICODE', arg: 'len4', proto: 1 },
  { code: 0x61, name: 'APPEND', arg: 'none', proto: 0 },
  { code: 0x62, name: 'BUILD', arg: 'none', proto: 0 },
  { code: 0x63, name: 'GLOBAL', arg: 'twolines', proto: 0 },
  { code: 0x64, name: 'DICT', arg: 'none', proto: 0 },
  { code: 0x7d, name: 'EMPTY_DICT', arg: 'none', proto: 1 },
  { code: 0x65, name: 'APPENDS', arg: 'none', proto: 1 },
  { code: 0x67, name: 'GET', arg: 'line', proto: 0 },
  { code: 0x68, name: 'BINGET', arg: 'u1', proto: 1 },
  { code: 0x69, name: 'INST', arg: 'twolines', proto: 0 },
  { code: 0x6a, name: 'LONG_BINGET', arg: 'u4', proto: 1 },
  { code: 0x6c, name: 'LIST', arg: 'none', proto: 0 },
  { code: 0x5d, name: 'EMPTY_LIST', arg: 'none', proto: 1 },
  { code: 0x6f, name: 'OBJ', arg: 'none', proto: 1 },
  { code: 0x70, name: 'PUT', arg: 'line', proto: 0 },
  { code: 0x71, name: 'BINPUT', arg: 'u1', proto: 1 },
  { code: 0x72, name: 'LONG_BINPUT', arg: 'u4', proto: 1 },
  { code: 0x73, name: 'SETITEM', arg: 'none', proto: 0 },
  { code: 0x74, name: 'TUPLE', arg: 'none', proto: 0 },
  { code: 0x29, name: 'EMPTY_TUPLE', arg: 'none', proto: 1 },
  { code: 0x75, name: 'SETITEMS', arg: 'none', proto: 1 },
  { code: 0x47, name: 'BINFLOAT', arg: 'f8be', proto: 1 },
  { code: 0x80, name: 'PROTO', arg: 'u1', proto: 2 },
  { code: 0x81, name: 'NEWOBJ', arg: 'none', proto: 2 },
  { code: 0x82, name: 'EXT1', arg: 'u1', proto: 2 },
  { code: 0x83, name: 'EXT2', arg: 'u2', proto: 2 },
  { code: 0x84, name: 'EXT4', arg: 'i4', proto: 2 },
  { code: 0x85, name: 'TUPLE1', arg: 'none', proto: 2 },
  { code: 0x86, name: 'TUPLE2', arg: 'none', proto: 2 },
  { code: 0x87, name: 'TUPLE3', arg: 'none', proto: 2 },
  { code: 0x88, name: 'NEWTRUE', arg: 'none', proto: 2 },
  { code: 0x89, name: 'NEWFALSE', arg: 'none', proto: 2 },
  { code: 0x8a, name: 'LONG1', arg: 'len1', proto: 2 },
  { code: 0x8b, name: 'LONG4', arg: 'len4s', proto: 2 },
  { code: 0x42, name: 'BINBYTES', arg: 'len4', proto: 3 },
  { code: 0x43, name: 'SHORT_BINBYTES', arg: 'len1', proto: 3 },
  { code: 0x8c, name: 'SHORT_BINUNICODE', arg: 'len1', proto: 4 },
  { code: 0x8d, name: 'BINUNICODE8', arg: 'len8', proto: 4 },
  { code: 0x8e, name: 'BINBYTES8', arg: 'len8', proto: 4 },
  { code: 0x8f, name: 'EMPTY_SET', arg: 'none', proto: 4 },
  { code: 0x90, name: 'ADDITEMS', arg: 'none', proto: 4 },
  { code: 0x91, name: 'FROZENSET', arg: 'none', proto: 4 },
  { code: 0x92, name: 'NEWOBJ_EX', arg: 'none', proto: 4 },
  { code: 0x93, name: 'STACK_GLOBAL', arg: 'none', proto: 4 },
  { code: 0x94, name: 'MEMOIZE', arg: 'none', proto: 4 },
  { code: 0x95, name: 'FRAME', arg: 'u8', proto: 4 },
  { code: 0x96, name: 'BYTEARRAY8', arg: 'len8', proto: 5 },
  { code: 0x97, name: 'NEXT_BUFFER', arg: 'none', proto: 5 },
  { code: 0x98, name: 'READONLY_BUFFER', arg: 'none', proto: 5 },
];

/** Opcode lookup by byte; undefined = not a pickle opcode. */
export const OPS: ReadonlyArray<OpInfo | undefined> = (() => {
  const arr: Array<OpInfo | undefined> = new Array(256).fill(undefined);
  for (const op of table) arr[op.code] = op;
  return arr;
})();

export const HIGHEST_PROTOCOL = 5;

/** Fixed number of argument bytes for fixed-width kinds (length prefixes count as their width). */
export const FIXED_WIDTH: Record<ArgKind, number> = {
  none: 0, u1: 1, u2: 2, i4: 4, u4: 4, u8: 8, f8be: 8, line: 0, twolines: 0, len1: 1, len4: 4, len4s: 4, len8: 8,
};
