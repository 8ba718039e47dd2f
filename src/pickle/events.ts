/** What the pickle machine reports to its caller, and what it asks of it (see machine.ts). */
import type { Value } from './values.js';
import type { Canonical } from './wrappers.js';

export type AnomalyRule =
  | 'PICKLE_MALFORMED'
  | 'PICKLE_TRUNCATED'
  | 'PICKLE_STACK_ANOMALY'
  | 'PICKLE_FRAME_VIOLATION'
  | 'PICKLE_ABSURD_LENGTH'
  | 'JOBLIB_UNRESOLVED_ARRAY';

export interface GlobalEvent {
  module: string;
  name: string;
  opcode: string;
  offset: number;
  value: Value;
}

export interface CallEvent {
  /** What is called: a global, an attribute of one, or a computed value. */
  callee: Value;
  /** The symbolic result (rendered as the call chain). */
  call: Value;
  opcode: string;
  offset: number;
  /** The wrapper the call went through (functools.partial, operator.methodcaller...). */
  via?: string;
  /** What the call evaluates to when the machine can tell (getattr, attrgetter, itemgetter). */
  result?: Value;
  /**
   * A method the loader looks up on an object by name and calls (BUILD's __setstate__, APPENDS'
   * extend, ADDITEMS' add) on `receiver`; `states` are the BUILD states it had before (BUILD).
   */
  implicit?: { name: string; receiver: Value; states?: readonly Value[]; names?: readonly string[] };
}

/**
 * SETITEM / SETITEMS into something that is not a container the pickle made: a global, an
 * attribute path, or a call's result (obj[key] = value through the object's type).
 */
export interface StoreEvent {
  target: Value;
  opcode: string;
  offset: number;
}

export interface AnomalyEvent {
  rule: AnomalyRule;
  message: string;
  offset: number;
  fatal: boolean;
}

/** What a format-aware hook asks the machine to do after a BUILD (joblib interleaves raw data). */
export type BuildAction =
  | { kind: 'skip'; bytes: number; paddingPrefix: boolean }
  | { kind: 'nested-pickle' }
  | { kind: 'unresolved'; why: string };

export interface MachineEvents {
  global(ev: GlobalEvent): void;
  call(ev: CallEvent): void;
  anomaly(ev: AnomalyEvent): void;
  /** Item assignment into a global, attribute or call result (see StoreEvent). */
  store?(ev: StoreEvent): void;
  /** Raw data skipped on behalf of a hook (for facts and the trailing-data logic). */
  skipped?(offset: number, bytes: number, why: string): void;
  build?(inst: Value, state: Value, offset: number): BuildAction | undefined;
  /** Canonical dotted name of a global, so wrappers are recognised under any alias. */
  canonical?: Canonical;
}

export interface RunResult {
  /** True when STOP was reached. */
  stopped: boolean;
  /** Offset just after STOP, or where the run ended. */
  end: number;
  ops: number;
  proto: number | null;
  result: Value | null;
  /** Set when the run stopped because of a limit (not an input error). */
  limited?: string;
}

/** Shared counters across the pickles of one file, so limits apply per file. */
export interface MachineBudget {
  ops: number;
  expired(): boolean;
}
