/**
 * A symbolic pickle machine: executes every opcode of protocols 0-5 the way CPython's C
 * unpickler (`_pickle.c`) does — same stack, mark stack (with its fence), memo and MEMOIZE
 * numbering — but builds no objects and calls nothing. It reports, as events, every global it
 * resolves and every call the real loader would make, with the symbolic arguments.
 *
 * Where CPython would raise, the machine reports an anomaly. For structural errors (stack
 * underflow, missing memo entry, wrong operand types) it then continues leniently with an
 * unknown value, so a payload placed after a deliberate error is still seen: over-reporting is
 * safe, missing a global is not. Invalid opcodes and truncation stop the run.
 *
 * Each opcode's case names the `_pickle.c` function it mirrors. Where an argument's bytes come
 * from (protocol-4 frames) is frames.ts; what a call amounts to (wrappers) is calls.ts.
 */
import type { Limits } from '../core/limits.js';
import { OPS, HIGHEST_PROTOCOL, type OpInfo } from './opcodes.js';
import { evaluateCall } from './calls.js';
import type { AnomalyRule, BuildAction, CallEvent, MachineBudget, MachineEvents, RunResult } from './events.js';
import { FrameReader, type FrameMode, type Payload } from './frames.js';
import type { PickleReader } from './reader.js';
import { FALSE, NONE, TRUE, argList, sample, str, type Value } from './values.js';
import { DICT_SAMPLE, TUPLE_KEEP, SET_KEEP, addPairs, appendKeep, appendTo, frozensetOf, pairsKeep, tupleOf } from './containers.js';
import { RUN_CONSUMERS, isScalar, leSigned, scalarValue, scalarWidth, scanScalarRun, type RunLimits, type ScalarRun } from './scalars.js';
import { decodeLatin1, decodePyStringRepr, decodeRawUnicodeEscape, decodeUtf8, isDottedIdentifier } from './text.js';

export { CALL_ARGS } from './calls.js';
export type { AnomalyEvent, AnomalyRule, BuildAction, CallEvent, GlobalEvent, MachineBudget, MachineEvents, RunResult, StoreEvent } from './events.js';

/** After this many anomalies a run stops: the stream is not a pickle any loader would finish. */
const MAX_ANOMALIES = 64;
/** BUILD states kept per instance (a loader updates the instance dict with each). */
const MAX_EARLIER_STATES = 8;

/**
 * Scratch for the scalar fast path: where the first values of a run are, as many as any container
 * keeps (a dict's pairs). A run is walked synchronously, so one set serves every machine.
 */
const RUN_AT = new Int32Array(2 * DICT_SAMPLE);
const RUN_CODES = new Uint8Array(RUN_AT.length);
const RUN: ScalarRun = { end: 0, next: -1, values: 0, ops: 0, frameEnd: -1 };

class Stop extends Error {
  constructor(readonly limited?: string) {
    super('stop');
  }
}

export class PickleMachine {
  private stack: Value[] = [];
  private marks: number[] = [];
  private memo = new Map<number, Value>();
  private proto: number | null = null;
  private anomalies = 0;
  private opStart = 0;
  private opName = '';
  /** The scalar fast path declined a run ending here: the opcodes before it go one by one. */
  private noRunBefore = 0;
  private readonly runLimits: RunLimits;
  private readonly f: FrameReader;
  private readonly r: PickleReader;

  constructor(
    reader: PickleReader,
    private readonly limits: Limits,
    private readonly ev: MachineEvents,
    private readonly budget: MachineBudget,
    private readonly nesting = 0,
    /** How arguments crossing a frame end are read: see frames.ts. */
    private readonly frameMode: FrameMode = 'linear',
  ) {
    this.r = reader;
    this.f = new FrameReader(reader, limits, { anomaly: (rule, message, fatal) => this.anomaly(rule, message, fatal), truncated: () => this.truncated() }, frameMode);
    this.runLimits = { maxArgumentBytes: limits.maxPickleArgumentBytes, maxStringBytes: limits.maxPickleStringBytes, sourceSize: reader.sourceSize };
  }

  /** True when this run saw an argument straddle a frame end (the caller re-reads in file mode). */
  get straddled(): boolean {
    return this.f.straddled;
  }

  private get fence(): number {
    return this.marks.length ? this.marks[this.marks.length - 1]! : 0;
  }

  private anomaly(rule: AnomalyRule, message: string, fatal = false): void {
    this.anomalies++;
    this.ev.anomaly({ rule, message: `${this.opName ? this.opName + ': ' : ''}${message}`, offset: this.opStart, fatal });
    if (fatal) throw new Stop();
    if (this.anomalies >= MAX_ANOMALIES) {
      this.ev.anomaly({ rule: 'PICKLE_MALFORMED', message: `more than ${MAX_ANOMALIES} anomalies; stopped interpreting`, offset: this.opStart, fatal: true });
      throw new Stop();
    }
  }

  private push(v: Value): void {
    this.stack.push(v);
    if (this.stack.length + this.marks.length > this.limits.maxStackDepth) {
      this.anomaly('PICKLE_STACK_ANOMALY', `stack deeper than ${this.limits.maxStackDepth}`, true);
    }
  }

  private pop(): Value {
    if (this.stack.length <= this.fence) {
      this.anomaly('PICKLE_STACK_ANOMALY', 'stack underflow');
      return { k: 'unknown', why: 'stack underflow' };
    }
    return this.stack.pop()!;
  }

  private top(): Value {
    if (this.stack.length <= this.fence) {
      this.anomaly('PICKLE_STACK_ANOMALY', 'stack underflow');
      return { k: 'unknown', why: 'stack underflow' };
    }
    return this.stack[this.stack.length - 1]!;
  }

  private popMark(): Value[] {
    const h = this.marks.pop();
    if (h === undefined) {
      this.anomaly('PICKLE_STACK_ANOMALY', 'could not find MARK');
      return [];
    }
    return this.stack.splice(h);
  }

  private truncated(): never {
    this.anomaly('PICKLE_TRUNCATED', 'pickle data was truncated', true);
    throw new Stop();
  }

  private resolveGlobal(module: string, name: string, opcode: string): Value {
    const v: Value = { k: 'global', module, name, offset: this.opStart };
    if (!isDottedIdentifier(module) || !isDottedIdentifier(name)) {
      this.anomaly('PICKLE_MALFORMED', `global name is not a dotted identifier: ${JSON.stringify(module)} ${JSON.stringify(name)}`);
    }
    this.ev.global({ module, name, opcode, offset: this.opStart, value: v });
    return v;
  }

  /**
   * APPEND(S) on anything but a list and ADDITEMS on anything but a set look the method up on the
   * object (CPython's do_append, load_additems): an instance attribute the pickle set earlier
   * is called with the items. Reported as a call for the collector to judge.
   */
  private methodCall(target: Value, name: string, args: Value[], opcode: string): void {
    if (target.k !== 'call' && target.k !== 'global' && target.k !== 'attr') return;
    const callee: Value = { k: 'attr', obj: target, name, offset: this.opStart };
    this.ev.call({ callee, call: { k: 'call', fn: callee, args, op: opcode, offset: this.opStart }, opcode, offset: this.opStart, implicit: { name, receiver: target } });
  }

  /**
   * SETITEM(S) into a global, an attribute path or a call's result (load_setitems: PyObject_SetItem
   * through the object's type, PyDict_SetItem for dicts): reported so that writes into objects the
   * load did not create (a module's dict, a shared cache) can be judged. Containers the pickle
   * built itself (dict, list...) are not reported.
   */
  private store(target: Value, opcode: string, offset = this.opStart): void {
    if (target.k === 'call' || target.k === 'global' || target.k === 'attr') this.ev.store?.({ target, opcode, offset });
  }

  private call(fn: Value, args: Value[], opcode: string, kwargs?: Value): Value {
    return evaluateCall(this.ev, this.opStart, fn, args, opcode, kwargs);
  }

  private memoPut(idx: number, v: Value): void {
    if (!this.memo.has(idx) && this.memo.size >= this.limits.maxMemoEntries) {
      this.anomaly('PICKLE_STACK_ANOMALY', `more than ${this.limits.maxMemoEntries} memo entries`, true);
    }
    this.memo.set(idx, v);
  }

  private memoGet(idx: number): Value {
    const v = this.memo.get(idx);
    if (v === undefined) {
      this.anomaly('PICKLE_STACK_ANOMALY', `memo value not found at index ${idx}`);
      return { k: 'unknown', why: `memo[${idx}] missing` };
    }
    return v;
  }

  private decimal(line: Uint8Array, what: string): number {
    const s = decodeLatin1(line).trim();
    if (!/^-?\d+$/.test(s)) {
      this.anomaly('PICKLE_MALFORMED', `invalid ${what} ${JSON.stringify(s.slice(0, 40))}`);
      return -1;
    }
    return Number(s);
  }

  /** Run one pickle from the reader's position to STOP. */
  async run(): Promise<RunResult> {
    const r = this.r;
    let ops = 0;
    try {
      for (;;) {
        if (r.available < 16 && !r.eof) await r.ensure(16, true); // between opcodes: nothing points into the buffer
        if (r.available === 0) {
          this.opStart = r.pos;
          this.opName = '';
          this.truncated();
        }
        this.opStart = r.pos;
        this.f.beginOp(this.opStart);
        const code = r.buf[r.p]!;
        if (isScalar(code) && this.opStart >= this.noRunBefore) {
          const n = this.scalarRun();
          if (n > 0) {
            ops += n;
            continue;
          }
        }
        const op: OpInfo | undefined = OPS[code];
        if (op === undefined) {
          this.opName = '';
          this.anomaly('PICKLE_MALFORMED', `invalid opcode 0x${code.toString(16).padStart(2, '0')}`, true);
          throw new Stop();
        }
        this.opName = op.name;
        r.p++;
        ops++;
        if ((++this.budget.ops & 0xffff) === 0) {
          if (this.budget.ops > this.limits.maxPickleOps) throw new Stop(`more than ${this.limits.maxPickleOps} opcodes`);
          if (this.budget.expired()) throw new Stop('time budget exhausted');
        }
        let done = this.step(code);
        if (done !== true && done !== false) done = await done;
        this.f.endOp(this.opStart);
        if (done) {
          return { stopped: true, end: r.pos, ops, proto: this.proto, result: this.stack.length ? this.stack[this.stack.length - 1]! : null };
        }
      }
    } catch (e) {
      if (e instanceof Stop) {
        const res: RunResult = { stopped: false, end: r.pos, ops, proto: this.proto, result: null };
        if (e.limited) res.limited = e.limited;
        return res;
      }
      throw e;
    }
  }

  /**
   * The fast path for opcode-dense pickles (scalars.ts): a run of scalars from the current
   * opcode, consumed with the MARK-popping opcode that ends it, as the step-by-step path would
   * (same stack, mark stack, container, frame state and opcode count) but decoding only the
   * values the container keeps. It declines (returns 0, and leaves the run to step() one opcode
   * at a time) whenever the step-by-step path would do anything else: raise an anomaly, stop on
   * a limit or the time budget, read past the buffer, or meet an opcode it does not handle.
   */
  private scalarRun(): number {
    const marks = this.marks;
    // A run worth the walk fills a MARK: it starts right after it (or where the last walk
    // stopped at the end of the buffer). Scalars among other values ({str: int}, pairs) go
    // straight to step().
    if (marks.length === 0 || (this.stack.length !== marks[marks.length - 1] && this.opStart !== this.noRunBefore)) return 0;
    const r = this.r;
    const run = RUN;
    scanScalarRun(r.buf, r.p, r.base, this.f.openFrameEnd, this.runLimits, RUN_AT, RUN_CODES, run);
    const stack = this.stack;
    const next = run.next;
    if (run.values === 0 || !RUN_CONSUMERS.includes(next)) return this.decline(run.end);
    if (stack.length + run.values + marks.length > this.limits.maxStackDepth) return this.decline(run.end);
    const h = marks[marks.length - 1]!;
    const fenceAfter = marks.length > 1 ? marks[marks.length - 2]! : 0;
    const count = stack.length - h + run.values;
    // APPENDS, ADDITEMS, SETITEMS then act on the value under the mark: it must be there.
    const target = next === 0x74 || next === 0x91 ? null : h > fenceAfter ? stack[h - 1]! : undefined;
    if (target === undefined || (next === 0x75 && count % 2 === 1)) return this.decline(run.end);
    // APPENDS and ADDITEMS into anything but a list or set call a method looked up on it
    // (methodCall): step() reports that call with the items, which this path does not keep.
    if ((next === 0x65 || next === 0x90) && target !== null && (target.k === 'call' || target.k === 'global' || target.k === 'attr')) return this.decline(run.end);
    // The run loop's budget checks (every 65536th opcode) must all pass on the way.
    const before = this.budget.ops;
    const after = before + run.ops + 1;
    for (let m = (Math.floor(before / 0x10000) + 1) * 0x10000; m <= after; m += 0x10000) {
      if (m > this.limits.maxPickleOps || this.budget.expired()) return this.decline(run.end);
    }
    const keep = target === null ? (next === 0x74 ? TUPLE_KEEP : SET_KEEP) : next === 0x75 ? pairsKeep(target) : appendKeep(target);
    marks.pop();
    const items = stack.splice(h);
    if (items.length > keep) items.length = keep;
    for (let i = 0; items.length < keep && i < run.values && i < RUN_AT.length; i++) items.push(scalarValue(RUN_CODES[i]!, r.buf, RUN_AT[i]!));
    if (next === 0x74) this.push(tupleOf(items, count));
    else if (next === 0x91) this.push(frozensetOf(items, count));
    else if (next === 0x75) {
      addPairs(target!, items, count);
      this.store(target!, 'SETITEMS', r.base + run.end); // where SETITEMS is, as step() reports it
    } else appendTo(target!, items, count);
    this.budget.ops = after;
    r.p = run.end + 1;
    this.f.adoptFrameEnd(run.frameEnd);
    return run.ops + 1;
  }

  /** The opcodes before `end` (buffer index) go one by one through step(). */
  private decline(end: number): number {
    this.noRunBefore = this.r.base + end;
    return 0;
  }

  /**
   * Execute one opcode whose byte has been consumed. Returns true on STOP. Synchronous unless
   * an argument runs past the buffer: the run loop keeps >= 16 bytes buffered (or is at the
   * end of data), so fixed-width arguments never wait, and the slow path is a rare promise.
   */
  private step(code: number): boolean | Promise<boolean> {
    const arg = OPS[code]!.arg;
    if (arg === 'line') {
      const l = this.f.lineSync();
      return l !== null ? this.withLine(code, l) : this.f.line().then((x) => this.withLine(code, x));
    }
    if (arg === 'twolines') {
      const a = this.f.lineSync();
      const b = a !== null ? this.f.lineSync() : null;
      if (a !== null && b !== null) return this.withTwoLines(code, a, b);
      // Re-reading is safe: lineSync only consumed `a` if it also returned it.
      return (async () => {
        const x = a ?? (await this.f.line());
        const y = await this.f.line();
        return this.withTwoLines(code, x, y);
      })();
    }
    if (arg === 'len1' || arg === 'len4' || arg === 'len4s' || arg === 'len8') {
      const n = this.lengthPrefix(code, arg);
      const p = this.f.payloadSync(n);
      return p !== null ? this.withPayload(code, p) : this.f.payload(n).then((x) => this.withPayload(code, x));
    }
    return this.simple(code);
  }

  private lengthPrefix(code: number, arg: 'len1' | 'len4' | 'len4s' | 'len8'): number {
    if (arg === 'len1') {
      this.f.needSync(1);
      return this.f.u8();
    }
    if (arg === 'len8') {
      this.f.needSync(8);
      const lo = this.f.uint(4);
      return this.f.uint(4) * 2 ** 32 + lo;
    }
    this.f.needSync(4);
    const n = this.f.uint(4);
    if (arg === 'len4s' && n >= 0x80000000) this.anomaly('PICKLE_MALFORMED', `${OPS[code]!.name} has a negative byte count`, true);
    return n;
  }

  private withLine(code: number, line: Uint8Array): boolean {
    switch (code) {
      case 0x46: { // FLOAT (load_float)
        const s = decodeLatin1(line).trim();
        const f = Number(s);
        if (s === '' || (Number.isNaN(f) && !/^[-+]?nan$/i.test(s))) this.anomaly('PICKLE_MALFORMED', `invalid float ${JSON.stringify(s.slice(0, 40))}`);
        this.push({ k: 'float', v: f });
        return false;
      }
      case 0x49: { // INT (load_int): "00"/"01" are the protocol-0 booleans
        const s = decodeLatin1(line).trim();
        if (s === '00') this.push(FALSE);
        else if (s === '01') this.push(TRUE);
        else this.push(this.parseInt(s, false));
        return false;
      }
      case 0x4c: // LONG (load_long)
        this.push(this.parseInt(decodeLatin1(line).trim(), true));
        return false;
      case 0x53: { // STRING (load_string): a quoted Python repr, decoded to str (default encoding ASCII)
        const dec = decodePyStringRepr(line);
        if (dec === null) {
          this.anomaly('PICKLE_MALFORMED', 'the STRING opcode argument must be quoted');
          this.push({ k: 'unknown', why: 'bad STRING' });
        } else this.push(str(decodeLatin1(dec.subarray(0, this.limits.maxPickleStringBytes)), dec.length));
        return false;
      }
      case 0x56: // UNICODE (load_unicode): raw-unicode-escape
        this.push(str(decodeRawUnicodeEscape(line.subarray(0, this.limits.maxPickleStringBytes)), line.length));
        return false;
      case 0x67: // GET (load_get)
        this.push(this.memoGet(this.decimal(line, 'GET index')));
        return false;
      case 0x70: { // PUT (load_put)
        const idx = this.decimal(line, 'PUT index');
        if (idx < 0) this.anomaly('PICKLE_STACK_ANOMALY', 'negative PUT argument');
        else this.memoPut(idx, this.top());
        return false;
      }
      case 0x50: // PERSID (load_persid)
        this.push({ k: 'persid', pid: str(decodeLatin1(line)) });
        return false;
      default:
        this.anomaly('PICKLE_MALFORMED', `opcode 0x${code.toString(16)} not handled`, true);
        return false;
    }
  }

  private withTwoLines(code: number, a: Uint8Array, b: Uint8Array): boolean {
    // GLOBAL / INST (load_global, load_inst): CPython decodes both lines as strict UTF-8 and imports module, then name.
    const mod = decodeUtf8(a, false);
    const name = decodeUtf8(b, false);
    if (!mod.ok || !name.ok) this.anomaly('PICKLE_MALFORMED', 'undecodable module or name');
    const g = this.resolveGlobal(mod.s, name.s, code === 0x63 ? 'GLOBAL' : 'INST');
    if (code === 0x63) this.push(g);
    else this.push(this.call(g, this.popMark(), 'INST'));
    return false;
  }

  private withPayload(code: number, p: Payload): boolean {
    switch (code) {
      case 0x8a: // LONG1
      case 0x8b: // LONG4 (load_counted_long)
        this.push(p.len <= 64 && p.head.length === p.len ? { k: 'int', v: leSigned(p.head) } : { k: 'unknown', why: `${p.len}-byte integer` });
        return false;
      case 0x54: // BINSTRING
      case 0x55: // SHORT_BINSTRING (load_counted_binstring)
        this.push({ k: 'str', v: decodeLatin1(p.head), len: p.len, at: p.at });
        return false;
      case 0x58: // BINUNICODE
      case 0x8c: // SHORT_BINUNICODE
      case 0x8d: { // BINUNICODE8 (load_counted_binunicode)
        const d = decodeUtf8(p.head, p.head.length < p.len);
        if (!d.ok) this.anomaly('PICKLE_MALFORMED', 'invalid UTF-8 in string');
        this.push({ k: 'str', v: d.s, len: p.len, at: p.at });
        return false;
      }
      default: // BINBYTES, SHORT_BINBYTES, BINBYTES8 (load_counted_binbytes), BYTEARRAY8 (load_counted_bytearray)
        // Copy: a view would pin the whole read buffer in memory for as long as the value lives.
        this.push({ k: 'bytes', v: p.head.slice(0, 256), len: p.len, mutable: code === 0x96, at: p.at });
        return false;
    }
  }

  /** Opcodes with no argument or a fixed-width one. */
  private simple(code: number): boolean | Promise<boolean> {
    const r = this.r;
    switch (code) {
      case 0x28: // MARK (load_mark)
        this.marks.push(this.stack.length);
        return false;
      case 0x2e: { // STOP (the STOP case of load)
        const v = this.pop();
        // CPython returns the top value and ignores the rest; pickletools refuses: a differential.
        if (this.marks.length) this.anomaly('PICKLE_STACK_ANOMALY', `${this.marks.length} MARK${this.marks.length > 1 ? 's' : ''} left open at STOP`);
        else if (this.stack.length) this.anomaly('PICKLE_STACK_ANOMALY', `${this.stack.length} value${this.stack.length > 1 ? 's' : ''} left on the stack at STOP`);
        this.stack = [v];
        return true;
      }
      case 0x30: { // POP (load_pop): C pops a mark instead when the top of stack sits at it
        if (this.marks.length && this.marks[this.marks.length - 1] === this.stack.length) this.marks.pop();
        else this.pop();
        return false;
      }
      case 0x31: // POP_MARK (load_pop_mark)
        this.popMark();
        return false;
      case 0x32: // DUP (load_dup)
        this.push(this.top());
        return false;
      case 0x4a: // BININT (load_binint)
      case 0x4b: // BININT1 (load_binint1)
      case 0x4d: // BININT2 (load_binint2)
      case 0x47: { // BINFLOAT (load_binfloat)
        const w = scalarWidth(code);
        this.f.needSync(w);
        const v = scalarValue(code, r.buf, r.p);
        r.p += w;
        this.push(v);
        return false;
      }
      case 0x4e: // NONE (load_none)
        this.push(NONE);
        return false;
      case 0x88: // NEWTRUE
        this.push(TRUE);
        return false;
      case 0x89: // NEWFALSE (load_bool)
        this.push(FALSE);
        return false;
      case 0x29: // EMPTY_TUPLE (load_counted_tuple)
        this.push({ k: 'tuple', items: [], len: 0 });
        return false;
      case 0x74: // TUPLE (load_tuple)
        this.push(tupleOf(this.popMark()));
        return false;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: { // TUPLE3 (load_counted_tuple)
        const n = code - 0x84;
        const items: Value[] = new Array(n);
        for (let i = n - 1; i >= 0; i--) items[i] = this.pop();
        this.push({ k: 'tuple', items, len: n });
        return false;
      }
      case 0x5d: // EMPTY_LIST (load_empty_list)
        this.push({ k: 'list', items: [], len: 0 });
        return false;
      case 0x6c: { // LIST (load_list)
        const items = this.popMark();
        this.push({ k: 'list', items: sample(items), len: items.length });
        return false;
      }
      case 0x7d: // EMPTY_DICT (load_empty_dict)
        this.push({ k: 'dict', entries: [], len: 0 });
        return false;
      case 0x64: { // DICT (load_dict)
        const items = this.popMark();
        if (items.length % 2) this.anomaly('PICKLE_STACK_ANOMALY', 'odd number of items for DICT');
        const d: Value = { k: 'dict', entries: [], len: 0 };
        addPairs(d, items);
        this.push(d);
        return false;
      }
      case 0x8f: // EMPTY_SET (load_empty_set)
        this.push({ k: 'set', items: [], len: 0, frozen: false });
        return false;
      case 0x91: // FROZENSET (load_frozenset)
        this.push(frozensetOf(this.popMark()));
        return false;
      case 0x61: { // APPEND (load_append)
        const v = this.pop();
        const target = this.top();
        appendTo(target, [v]);
        this.methodCall(target, 'append', [v], 'APPEND');
        return false;
      }
      case 0x65: // APPENDS
      case 0x90: { // ADDITEMS (load_appends, load_additems)
        const items = this.popMark();
        const target = this.top();
        appendTo(target, items);
        // Not a list: target.extend(items) (else append per item); not a set: target.add per item.
        if (code === 0x65) this.methodCall(target, 'extend', [{ k: 'list', items: sample(items), len: items.length }], 'APPENDS');
        else for (const x of items.slice(0, 2)) this.methodCall(target, 'add', [x], 'ADDITEMS');
        return false;
      }
      case 0x73: { // SETITEM (load_setitem)
        const v = this.pop();
        const k = this.pop();
        const target = this.top();
        addPairs(target, [k, v]);
        this.store(target, 'SETITEM');
        return false;
      }
      case 0x75: { // SETITEMS (load_setitems)
        const items = this.popMark();
        if (items.length % 2) this.anomaly('PICKLE_STACK_ANOMALY', 'odd number of items for SETITEMS');
        const target = this.top();
        addPairs(target, items);
        this.store(target, 'SETITEMS');
        return false;
      }
      case 0x68: // BINGET (load_binget)
        this.f.needSync(1);
        this.push(this.memoGet(this.f.u8()));
        return false;
      case 0x6a: // LONG_BINGET (load_long_binget)
        this.f.needSync(4);
        this.push(this.memoGet(this.f.uint(4)));
        return false;
      case 0x71: // BINPUT (load_binput)
        this.f.needSync(1);
        this.memoPut(this.f.u8(), this.top());
        return false;
      case 0x72: // LONG_BINPUT (load_long_binput)
        this.f.needSync(4);
        this.memoPut(this.f.uint(4), this.top());
        return false;
      case 0x94: // MEMOIZE (load_memoize): the index is the number of entries already in the memo, as in CPython
        this.memoPut(this.memo.size, this.top());
        return false;
      case 0x93: { // STACK_GLOBAL (load_stack_global)
        const name = this.pop();
        const mod = this.pop();
        if (mod.k !== 'str' || name.k !== 'str') {
          this.anomaly('PICKLE_STACK_ANOMALY', 'STACK_GLOBAL requires str operands');
          const v: Value = { k: 'unknown', why: 'STACK_GLOBAL on non-str operands' };
          this.ev.call({ callee: v, call: v, opcode: 'STACK_GLOBAL', offset: this.opStart });
          this.push(v);
        } else this.push(this.resolveGlobal(mod.v, name.v, 'STACK_GLOBAL'));
        return false;
      }
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: { // EXT4 (load_extension)
        const w = code === 0x82 ? 1 : code === 0x83 ? 2 : 4;
        this.f.needSync(w);
        const c = this.f.uint(w);
        this.anomaly('PICKLE_STACK_ANOMALY', `extension code ${c} needs the copyreg extension registry (empty by default: the loader fails unless a library registered it)`);
        const v: Value = { k: 'ext', code: c };
        this.ev.call({ callee: v, call: v, opcode: 'EXT', offset: this.opStart });
        this.push(v);
        return false;
      }
      case 0x52: { // REDUCE (load_reduce)
        const args = this.pop();
        const fn = this.pop();
        if (args.k !== 'tuple' && args.k !== 'unknown') this.anomaly('PICKLE_STACK_ANOMALY', 'REDUCE arguments are not a tuple');
        this.push(this.call(fn, argList(args), 'REDUCE'));
        return false;
      }
      case 0x81: { // NEWOBJ (load_newobj): cls.__new__(cls, *args)
        const args = this.pop();
        const cls = this.pop();
        this.push(this.call(cls, argList(args), 'NEWOBJ'));
        return false;
      }
      case 0x92: { // NEWOBJ_EX (load_newobj, use_kwargs): cls.__new__(cls, *args, **kwargs)
        const kwargs = this.pop();
        const args = this.pop();
        const cls = this.pop();
        this.push(this.call(cls, argList(args), 'NEWOBJ_EX', kwargs));
        return false;
      }
      case 0x6f: { // OBJ (load_obj): calls the first item after the mark with the rest
        const items = this.popMark();
        const cls = items.shift();
        if (cls === undefined) {
          this.anomaly('PICKLE_STACK_ANOMALY', 'OBJ with nothing after MARK');
          this.push({ k: 'unknown', why: 'empty OBJ' });
        } else this.push(this.call(cls, items, 'OBJ'));
        return false;
      }
      case 0x62: { // BUILD (load_build): inst.__setstate__(state) or a __dict__ update
        const state = this.pop();
        const inst = this.top();
        // A BUILD without __setstate__ updates the instance dict: earlier states still hold.
        const e: CallEvent = { callee: inst, call: { k: 'call', fn: inst, args: [state], op: 'BUILD', offset: this.opStart }, opcode: 'BUILD', offset: this.opStart };
        if (inst.k === 'call') {
          // __setstate__ is looked up on the instance as it stands before this BUILD.
          e.implicit = { name: '__setstate__', receiver: inst, states: statesOf(inst) };
          if (inst.state !== undefined) {
            const earlier = [...(inst.earlier ?? []), inst.state];
            inst.earlier = earlier.length > MAX_EARLIER_STATES ? [{ k: 'unknown', why: 'more BUILDs than the scanner keeps' }, ...earlier.slice(-MAX_EARLIER_STATES)] : earlier;
          }
          inst.state = state;
        }
        this.ev.call(e);
        const action = this.ev.build?.(inst, state, this.opStart);
        return action ? this.afterBuild(action).then(() => false) : false;
      }
      case 0x51: // BINPERSID (load_binpersid)
        this.push({ k: 'persid', pid: this.pop() });
        return false;
      case 0x80: { // PROTO (load_proto)
        this.f.needSync(1);
        const p = this.f.u8();
        if (p > HIGHEST_PROTOCOL) this.anomaly('PICKLE_MALFORMED', `unsupported pickle protocol: ${p}`, true);
        if (this.proto !== null) this.anomaly('PICKLE_MALFORMED', `duplicate PROTO (${this.proto} then ${p})`);
        this.proto = p;
        return false;
      }
      case 0x95: // FRAME (load_frame)
        this.f.frame(this.opStart);
        return false;
      case 0x97: // NEXT_BUFFER (load_next_buffer): out-of-band data the loader must supply
        this.push({ k: 'buffer', readonly: false });
        return false;
      case 0x98: { // READONLY_BUFFER (load_readonly_buffer)
        const v = this.pop();
        this.push(v.k === 'buffer' ? { k: 'buffer', readonly: true } : v);
        return false;
      }
      default:
        this.anomaly('PICKLE_MALFORMED', `opcode 0x${code.toString(16)} not handled`, true);
        return false;
    }
  }

  private parseInt(s: string, isLong: boolean): Value {
    const t = isLong && /[lL]$/.test(s) ? s.slice(0, -1) : s;
    if (!/^[-+]?\d+$/.test(t)) {
      this.anomaly('PICKLE_MALFORMED', `invalid literal for int(): ${JSON.stringify(t.slice(0, 40))}`);
      return { k: 'unknown', why: 'bad int' };
    }
    if (t.length > 4300) return { k: 'unknown', why: 'huge int' };
    const big = BigInt(t);
    return { k: 'int', v: big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big };
  }

  /** Raw data or a nested pickle inside the stream (joblib arrays). */
  private async afterBuild(action: BuildAction): Promise<void> {
    const r = this.r;
    if (action.kind === 'unresolved') {
      this.anomaly('JOBLIB_UNRESOLVED_ARRAY', `cannot locate the raw array data that follows this object (${action.why}); the rest of the stream was not read`, true);
      return;
    }
    this.f.leaveForRawData();
    if (action.kind === 'nested-pickle') {
      if (this.nesting >= 16) this.anomaly('PICKLE_STACK_ANOMALY', 'nested pickles deeper than 16', true);
      const inner = new PickleMachine(r, this.limits, this.ev, this.budget, this.nesting + 1, this.frameMode);
      const res = await inner.run();
      if (!res.stopped) throw new Stop(res.limited);
      return;
    }
    const start = r.pos;
    let bytes = action.bytes;
    if (action.paddingPrefix) {
      this.f.needSync(1);
      bytes += this.f.u8();
    }
    if (!(await r.skip(bytes))) this.truncated();
    this.ev.skipped?.(start, r.pos - start, 'array data');
  }
}

/** The BUILD states given to an instance so far, oldest first. */
export function statesOf(inst: Extract<Value, { k: 'call' }>): readonly Value[] {
  if (inst.state === undefined) return [];
  return inst.earlier ? [...inst.earlier, inst.state] : [inst.state];
}
