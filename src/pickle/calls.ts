/**
 * What a call made by the loader (REDUCE, NEWOBJ, OBJ, INST) amounts to, with wrappers evaluated:
 * the machine's stack semantics end where the callable is known, and this decides what is reported.
 */
import type { CallEvent, MachineEvents } from './events.js';
import { argList, sample, type Value } from './values.js';
import { attrChain, defaultCanonical, itemOf, partialParts, wrapperKind } from './wrappers.js';

/** Arguments kept per call and items per tuple: enough for a code object's 18 constructor fields. */
export const CALL_ARGS = 32;
/** Wrappers of wrappers followed before the call is reported as it stands. */
const MAX_WRAPPER_DEPTH = 8;

/**
 * A call the loader makes. Wrappers are evaluated (see wrappers.ts): a call through a partial,
 * a methodcaller or dill's _create_array is reported as the call it becomes, with `via` naming
 * the wrapper, and getattr/attrgetter/itemgetter evaluate to the attribute or item they reach.
 */
export function evaluateCall(ev: MachineEvents, at: number, fn: Value, args: Value[], opcode: string, kwargs?: Value, via?: string, depth = 0): Value {
  const v: Value = { k: 'call', fn, args: sample(args, CALL_ARGS), op: opcode, offset: at };
  if (kwargs) v.kwargs = kwargs;
  const canonical = ev.canonical ?? defaultCanonical;
  if (depth < MAX_WRAPPER_DEPTH) {
    const kind = wrapperKind(fn, canonical);
    const first = args[0];
    const second = args[1];
    if (kind === 'getattr' && first && second?.k === 'str') {
      const result: Value = { k: 'attr', obj: first, name: second.v, offset: at };
      emit(ev, at, fn, v, opcode, via, result);
      return result;
    }
    if (kind === 'rebuild_from_type' && first) {
      emit(ev, at, fn, v, opcode, via);
      evaluateCall(ev, at, first, args[2] ? argList(args[2]) : [], opcode, undefined, 'torch._tensor._rebuild_from_type_v2', depth + 1);
      return v;
    }
    if (kind === 'create_array' && first) {
      emit(ev, at, fn, v, opcode, via);
      return evaluateCall(ev, at, first, second ? argList(second) : [], opcode, undefined, 'dill._dill._create_array', depth + 1);
    }
    if (fn.k === 'call') {
      const inner = wrapperKind(fn.fn, canonical);
      if (inner === 'partial') {
        const p = partialParts(fn);
        if (p.func) return evaluateCall(ev, at, p.func, [...p.args, ...args], opcode, kwargs, 'functools.partial', depth + 1);
      } else if (inner === 'attrgetter' && first && fn.args.length > 0 && fn.args.every((a) => a.k === 'str')) {
        const attrs = fn.args.map((a) => attrChain(first, (a as { v: string }).v, at));
        const result: Value = attrs.length === 1 ? attrs[0]! : { k: 'tuple', items: attrs, len: attrs.length };
        emit(ev, at, fn, v, opcode, 'operator.attrgetter', result);
        return result;
      } else if (inner === 'itemgetter' && first && fn.args.length === 1) {
        const result = itemOf(first, fn.args[0]!, at);
        emit(ev, at, fn, v, opcode, 'operator.itemgetter', result);
        return result;
      } else if (inner === 'methodcaller' && first && fn.args[0]?.k === 'str') {
        const method: Value = { k: 'attr', obj: first, name: fn.args[0].v, offset: at };
        return evaluateCall(ev, at, method, fn.args.slice(1), opcode, fn.kwargs, 'operator.methodcaller', depth + 1);
      }
    }
  }
  emit(ev, at, fn, v, opcode, via);
  return v;
}

function emit(ev: MachineEvents, at: number, callee: Value, call: Value, opcode: string, via?: string, result?: Value): void {
  const e: CallEvent = { callee, call, opcode, offset: at };
  if (via !== undefined) e.via = via;
  if (result !== undefined) e.result = result;
  ev.call(e);
}
