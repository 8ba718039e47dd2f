import { DEFAULT_LIMITS, type Limits } from '../../src/core/limits.js';
import { PickleMachine, type AnomalyEvent, type CallEvent, type GlobalEvent, type RunResult } from '../../src/pickle/machine.js';
import { PickleReader } from '../../src/pickle/reader.js';
import { BufferSource } from '../../src/source/buffer.js';
import { render } from '../../src/pickle/values.js';

export interface Trace {
  globals: GlobalEvent[];
  calls: CallEvent[];
  anomalies: AnomalyEvent[];
  runs: RunResult[];
  /** Rendered call chains, for readable assertions. */
  chains: string[];
}

/** Run the machine over bytes, pickle after pickle, collecting every event. */
export async function trace(bytes: Uint8Array, limits: Partial<Limits> = {}, maxPickles = 1, expired: () => boolean = () => false): Promise<Trace> {
  const t: Trace = { globals: [], calls: [], anomalies: [], runs: [], chains: [] };
  const reader = new PickleReader(new BufferSource('t', bytes), 0);
  const budget = { ops: 0, expired };
  for (let i = 0; i < maxPickles; i++) {
    const m = new PickleMachine(reader, { ...DEFAULT_LIMITS, ...limits }, {
      global: (e) => t.globals.push(e),
      call: (e) => {
        t.calls.push(e);
        t.chains.push(render(e.call));
      },
      anomaly: (e) => t.anomalies.push(e),
    }, budget);
    const r = await m.run();
    t.runs.push(r);
    if (!r.stopped) break;
    await reader.ensure(1);
    if (reader.available === 0) break;
  }
  return t;
}
