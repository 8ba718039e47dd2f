import { describe, expect, it } from 'vitest';
import { asm, op, type Part } from '../helpers/asm.js';
import { trace } from '../helpers/machine.js';
import type { Value } from '../../src/pickle/values.js';

// Runs of scalar opcodes consumed by APPENDS / SETITEMS / ADDITEMS / TUPLE / FROZENSET take the
// machine's fast path (src/pickle/scalars.ts). These pin down that it builds the same containers,
// and stops at the same opcode with the same message, as executing one opcode at a time.

const ints = (n: number, f: (i: number) => Part = (i) => op.BININT1(i & 0xff)): Part[] => Array.from({ length: n }, (_, i) => f(i));

/** A protocol-4 list written as pickle writes it: batches of `batch` items between MARK and APPENDS. */
function batchedList(items: Part[], batch = 1000): Uint8Array {
  const parts: Part[] = [op.PROTO(4), op.EMPTY_LIST];
  for (let i = 0; i < items.length; i += batch) parts.push(asm(op.MARK, ...items.slice(i, i + batch), op.APPENDS));
  return asm(...parts, op.STOP);
}

const int = (v: number | bigint): Value => ({ k: 'int', v });

describe('pickle machine: runs of scalars', () => {
  it('decodes every scalar opcode as the step-by-step path does (TUPLE keeps 32 items)', async () => {
    const t = await trace(asm(op.PROTO(4), op.MARK, op.BININT1(7), op.BININT2(300), op.BININT(-5), op.LONG1(2n ** 40n), op.LONG1(-(2n ** 70n)),
      op.BINFLOAT(1.5), op.NONE, op.NEWTRUE, op.NEWFALSE, ...ints(31), op.TUPLE, op.STOP));
    expect(t.anomalies).toEqual([]);
    const res = t.runs[0]!.result!;
    expect(res.k).toBe('tuple');
    if (res.k !== 'tuple') return;
    expect(res.len).toBe(40);
    expect(res.items).toHaveLength(32);
    expect(res.items.slice(0, 10)).toEqual([int(7), int(300), int(-5), int(2 ** 40), int(-(2n ** 70n)), { k: 'float', v: 1.5 }, { k: 'none' },
      { k: 'bool', v: true }, { k: 'bool', v: false }, int(0)]);
    expect(res.items[31]).toEqual(int(22));
  });

  it('a list written in batches equals the same items appended one at a time', async () => {
    const items = ints(3000, (i) => [op.BININT1(i & 0xff), op.BININT2(i), op.BININT(-i), op.BINFLOAT(i / 4), op.LONG1(BigInt(i) << 40n)][i % 5]!);
    const batched = await trace(batchedList(items));
    const oneByOne = await trace(asm(op.PROTO(4), op.EMPTY_LIST, ...items.flatMap((it) => [it, op.APPEND]), op.STOP));
    expect(batched.anomalies).toEqual([]);
    expect(batched.runs[0]!.result).toEqual(oneByOne.runs[0]!.result);
    expect(batched.runs[0]!.result).toMatchObject({ k: 'list', len: 3000, items: [int(0), int(1), int(-2), { k: 'float', v: 0.75 }, int(2 ** 42), int(5), int(6), int(-7)] });
    expect(batched.runs[0]!.ops).toBe(2 + 3 * 1002 + 1);
  });

  it('SETITEMS fills a dict (32 entries kept); an odd item count is still reported', async () => {
    const pairs = Array.from({ length: 40 }, (_, i) => [op.BININT1(i), op.BININT2(1000 + i)]).flat();
    const t = await trace(asm(op.PROTO(4), op.EMPTY_DICT, op.MARK, ...pairs, op.SETITEMS, op.STOP));
    expect(t.anomalies).toEqual([]);
    const d = t.runs[0]!.result!;
    expect(d).toMatchObject({ k: 'dict', len: 40 });
    if (d.k === 'dict') expect([d.entries.length, d.entries[31]]).toEqual([32, [int(31), int(1031)]]);

    const odd = await trace(asm(op.PROTO(4), op.EMPTY_DICT, op.MARK, op.BININT1(1), op.BININT1(2), op.BININT1(3), op.SETITEMS, op.STOP));
    expect(odd.anomalies.map((a) => [a.rule, a.message, a.offset])).toEqual([['PICKLE_STACK_ANOMALY', 'SETITEMS: odd number of items for SETITEMS', 10]]);
    expect(odd.runs[0]!.result).toMatchObject({ k: 'dict', len: 1, entries: [[int(1), int(2)]] });
  });

  it('ADDITEMS and FROZENSET keep 8 items and the full count', async () => {
    const s = await trace(asm(op.PROTO(4), op.EMPTY_SET, op.MARK, ...ints(20), op.ADDITEMS, op.STOP));
    expect(s.runs[0]!.result).toMatchObject({ k: 'set', len: 20, frozen: false, items: [0, 1, 2, 3, 4, 5, 6, 7].map(int) });
    const f = await trace(asm(op.PROTO(4), op.MARK, ...ints(10, (i) => op.BININT2(500 + i)), op.FROZENSET, op.STOP));
    expect(f.runs[0]!.result).toMatchObject({ k: 'set', len: 10, frozen: true });
    if (f.runs[0]!.result!.k === 'set') expect(f.runs[0]!.result!.items).toHaveLength(8);
  });

  it('the stack limit stops the run at the opcode that exceeds it', async () => {
    // list + MARK + 8 values = 10; the 9th BININT1 (offset 4 + 8 * 2) makes 11.
    const t = await trace(batchedList(ints(20)), { maxStackDepth: 10 });
    expect(t.anomalies).toEqual([{ rule: 'PICKLE_STACK_ANOMALY', message: 'BININT1: stack deeper than 10', offset: 20, fatal: true }]);
    expect(t.runs[0]).toMatchObject({ stopped: false, end: 22 });
  });

  // 70 batches of 1000: opcode 65536 is the 403rd BININT1 of batch 65, at 3 + 65 * 2002 + 1 + 402 * 2.
  const long = batchedList(ints(70_000));
  it('the opcode limit stops inside a batch where the step-by-step path stops', async () => {
    const t = await trace(long, { maxPickleOps: 65_535 });
    expect(t.runs[0]).toMatchObject({ stopped: false, end: 130_939, ops: 65_536, limited: 'more than 65535 opcodes' });
  });

  it('the time budget is checked inside a batch as often as before', async () => {
    const t = await trace(long, {}, 1, () => true);
    expect(t.runs[0]).toMatchObject({ stopped: false, end: 130_939, ops: 65_536, limited: 'time budget exhausted' });
    const untilSecond = await trace(batchedList(ints(140_000)), {}, 1, (() => { let n = 0; return () => n++ > 0; })());
    expect(untilSecond.runs[0]).toMatchObject({ stopped: false, ops: 131_072, limited: 'time budget exhausted' });
  });

  it('FRAMEs between scalars are opened; an argument across a frame end is still a violation', async () => {
    const body = asm(op.EMPTY_LIST, op.MARK, ...ints(1000, (i) => op.BININT2(i)), op.APPENDS);
    const cut = 1 + 1 + 500 * 3;
    const framed = await trace(asm(op.PROTO(4), op.FRAME(cut), body.subarray(0, cut), op.FRAME(body.length - cut + 1), body.subarray(cut), op.STOP));
    expect(framed.anomalies).toEqual([]);
    expect(framed.runs[0]!.result).toMatchObject({ k: 'list', len: 1000 });

    // The first frame ends one byte into the 501st BININT2's argument.
    const straddle = await trace(asm(op.PROTO(4), op.FRAME(cut + 2), body, op.STOP));
    expect(straddle.anomalies.map((a) => [a.rule, a.offset])).toEqual([['PICKLE_FRAME_VIOLATION', 2 + 9 + cut]]);
    expect(straddle.runs[0]!.result).toMatchObject({ k: 'list', len: 1000 });
  });

  it('a list longer than the reader buffer (1 MiB) keeps its count across refills', async () => {
    const t = await trace(batchedList(ints(300_000, (i) => op.BININT(i * 7))));
    expect(t.anomalies).toEqual([]);
    expect(t.runs[0]!.result).toMatchObject({ k: 'list', len: 300_000, items: [0, 7, 14, 21, 28, 35, 42, 49].map(int) });
  });
});

describe('pickle reader: refills between opcodes reuse a buffer', () => {
  it('a GLOBAL whose name line crosses a refill after two reused buffers is read whole', async () => {
    // Reads are 1 MiB chunks at multiples of 1 MiB. GLOBAL starts 16 bytes before 2 MiB (no refill
    // before it): its module line is in the buffer, its name line crosses into the next chunk.
    const at = 2 * 1024 * 1024 - 16;
    const filler = new Uint8Array(at - 2);
    for (let i = 0; i < filler.length; i += 2) filler.set([0x4e, 0x30], i); // NONE POP
    const t = await trace(asm(op.PROTO(2), filler, op.GLOBAL('subprocess', 'check_output'), op.STOP));
    expect(t.anomalies).toEqual([]);
    expect(t.globals.map((g) => [g.module, g.name, g.offset])).toEqual([['subprocess', 'check_output', at]]);
  });
});
