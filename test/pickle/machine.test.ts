import { describe, expect, it } from 'vitest';
import { asm, op, stackGlobal } from '../helpers/asm.js';
import { trace } from '../helpers/machine.js';

const names = (t: Awaited<ReturnType<typeof trace>>) => t.globals.map((g) => `${g.module}.${g.name}`);

describe('pickle machine: globals and calls', () => {
  it('protocol-0 GLOBAL + REDUCE records the call with its argument', async () => {
    const t = await trace(asm(op.GLOBAL('os', 'system'), op.MARK, op.STRING('echo hi'), op.TUPLE, op.REDUCE, op.STOP));
    expect(names(t)).toEqual(['os.system']);
    expect(t.chains).toEqual(["os.system('echo hi')"]);
    expect(t.calls[0]!.opcode).toBe('REDUCE');
    expect(t.runs[0]!.stopped).toBe(true);
  });

  it('STACK_GLOBAL operands pushed with protocol-0 STRING opcodes resolve', async () => {
    const t = await trace(asm(op.PROTO(4), op.STRING('os'), op.STRING('system'), op.STACK_GLOBAL, op.STRING('id'), op.TUPLE1, op.REDUCE, op.STOP));
    expect(names(t)).toEqual(['os.system']);
    expect(t.chains).toEqual(["os.system('id')"]);
  });

  it('STACK_GLOBAL operands fetched from the memo with MEMOIZE / PUT numbering as CPython does', async () => {
    // PUT 5 fills one slot, so the next MEMOIZE stores at index 1 (memo size), not 6.
    const t = await trace(
      asm(op.PROTO(4), op.SHORT_BINUNICODE('builtins'), op.PUT(5), op.POP, op.SHORT_BINUNICODE('eval'), op.MEMOIZE, op.POP,
        op.GET(5), op.BINGET(1), op.STACK_GLOBAL, op.SHORT_BINUNICODE('1+1'), op.TUPLE1, op.REDUCE, op.STOP),
    );
    expect(names(t)).toEqual(['builtins.eval']);
    expect(t.anomalies).toEqual([]);
  });

  it('INST calls the global with the items after MARK', async () => {
    const t = await trace(asm(op.MARK, op.STRING('echo inst'), op.INST('subprocess', 'check_output'), op.STOP));
    expect(t.calls.map((c) => c.opcode)).toEqual(['INST']);
    expect(t.chains).toEqual(["subprocess.check_output('echo inst')"]);
  });

  it('OBJ calls the first item after MARK with the rest', async () => {
    const t = await trace(asm(op.MARK, op.GLOBAL('os', 'system'), op.STRING('echo obj'), op.OBJ, op.STOP));
    expect(t.chains).toEqual(["os.system('echo obj')"]);
    expect(t.calls[0]!.opcode).toBe('OBJ');
  });

  it('NEWOBJ_EX passes args and kwargs', async () => {
    const t = await trace(asm(op.PROTO(4), stackGlobal('subprocess', 'Popen'), op.SHORT_BINUNICODE('ls'), op.TUPLE1,
      op.EMPTY_DICT, op.SHORT_BINUNICODE('shell'), op.NONE, op.SETITEM, op.NEWOBJ_EX, op.STOP));
    expect(t.chains).toEqual(["subprocess.Popen('ls', shell=None)"]);
  });

  it('a call whose result is discarded with POP is still recorded', async () => {
    const t = await trace(asm(op.GLOBAL('os', 'system'), op.STRING('echo x'), op.TUPLE1, op.REDUCE, op.POP, op.NONE, op.STOP));
    expect(t.chains).toEqual(["os.system('echo x')"]);
    expect(t.runs[0]!.result).toEqual({ k: 'none' });
  });

  it('getattr on an imported module becomes an attribute that a later call reaches', async () => {
    const t = await trace(asm(op.PROTO(2),
      op.GLOBAL('builtins', 'getattr'), op.GLOBAL('importlib', 'import_module'), op.STRING('os'), op.TUPLE1, op.REDUCE,
      op.STRING('system'), op.TUPLE2, op.REDUCE, op.STRING('echo g'), op.TUPLE1, op.REDUCE, op.STOP));
    const last = t.calls[t.calls.length - 1]!;
    expect(last.callee.k).toBe('attr');
    expect(t.chains[t.chains.length - 1]).toBe("importlib.import_module('os').system('echo g')");
  });

  it('BUILD is reported as a __setstate__ call on the instance', async () => {
    const t = await trace(asm(op.PROTO(2), op.GLOBAL('mod', 'Cls'), op.EMPTY_TUPLE, op.NEWOBJ, op.EMPTY_DICT, op.BUILD, op.STOP));
    expect(t.calls.map((c) => c.opcode)).toEqual(['NEWOBJ', 'BUILD']);
  });
});

describe('pickle machine: structure and anomalies', () => {
  it('POP on an empty region above a MARK pops the mark, as the C unpickler does', async () => {
    const t = await trace(asm(op.NONE, op.MARK, op.POP, op.STOP));
    expect(t.anomalies).toEqual([]);
    expect(t.runs[0]!.stopped).toBe(true);
  });

  it('stack underflow is an anomaly and interpretation continues', async () => {
    const t = await trace(asm(op.REDUCE, op.GLOBAL('os', 'system'), op.STRING('x'), op.TUPLE1, op.REDUCE, op.STOP));
    expect(t.anomalies.map((a) => a.rule)).toContain('PICKLE_STACK_ANOMALY');
    expect(t.chains).toContain("os.system('x')");
  });

  it('a GET of a memo index never PUT is an anomaly', async () => {
    const t = await trace(asm(op.BINGET(7), op.STOP));
    expect(t.anomalies[0]).toMatchObject({ rule: 'PICKLE_STACK_ANOMALY', message: 'BINGET: memo value not found at index 7' });
  });

  it('duplicate PROTO is reported', async () => {
    const t = await trace(asm(op.PROTO(2), op.PROTO(4), op.NONE, op.STOP));
    expect(t.anomalies.map((a) => a.message)).toEqual(['PROTO: duplicate PROTO (2 then 4)']);
  });

  it('an opcode straddling a FRAME boundary is reported', async () => {
    // The frame says 3 bytes, but SHORT_BINUNICODE('os') is 4 bytes long.
    const t = await trace(asm(op.PROTO(4), op.FRAME(3), op.SHORT_BINUNICODE('os'), op.POP, op.NONE, op.STOP));
    expect(t.anomalies.map((a) => a.rule)).toEqual(['PICKLE_FRAME_VIOLATION']);
    expect(t.runs[0]!.stopped).toBe(true);
  });

  it('an absurd declared length stops with a finding, not an allocation', async () => {
    const t = await trace(asm(op.PROTO(4), op.BINUNICODE8_LEN(2 ** 62), 'abc'));
    expect(t.anomalies.map((a) => a.rule)).toEqual(['PICKLE_ABSURD_LENGTH']);
    expect(t.runs[0]!.stopped).toBe(false);
  });

  it('truncation after a payload still reports the payload', async () => {
    const t = await trace(asm(op.GLOBAL('os', 'system'), op.STRING('echo t'), op.TUPLE1, op.REDUCE, op.SHORT_BINUNICODE('abc').slice(0, 3)));
    expect(t.chains).toEqual(["os.system('echo t')"]);
    expect(t.anomalies.map((a) => a.rule)).toEqual(['PICKLE_TRUNCATED']);
  });

  it('an invalid opcode stops the run', async () => {
    const t = await trace(asm(op.NONE, [0xff], op.STOP));
    expect(t.anomalies[0]).toMatchObject({ rule: 'PICKLE_MALFORMED', message: 'invalid opcode 0xff', offset: 1 });
  });

  it('reads several pickles back to back', async () => {
    const t = await trace(asm(op.PROTO(2), op.NONE, op.STOP, op.GLOBAL('os', 'system'), op.STRING('2nd'), op.TUPLE1, op.REDUCE, op.STOP), {}, 5);
    expect(t.runs.map((r) => r.stopped)).toEqual([true, true]);
    expect(t.chains).toEqual(["os.system('2nd')"]);
  });

  it('an unregistered EXT code is an anomaly and a computed value', async () => {
    const t = await trace(asm(op.PROTO(2), op.EXT1(42), op.EMPTY_TUPLE, op.REDUCE, op.STOP));
    expect(t.anomalies[0]!.message).toMatch(/extension code 42/);
  });

  it('keeps memory bounded on a long list: only a sample is retained', async () => {
    const parts: number[] = [0x80, 4, 0x5d, 0x28];
    for (let i = 0; i < 100_000; i++) parts.push(0x4b, i & 0xff);
    parts.push(0x65, 0x2e);
    const t = await trace(Uint8Array.from(parts));
    const res = t.runs[0]!.result!;
    expect(res.k).toBe('list');
    if (res.k === 'list') {
      expect(res.len).toBe(100_000);
      expect(res.items.length).toBe(8);
    }
  });
});
