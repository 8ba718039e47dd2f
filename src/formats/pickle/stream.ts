/**
 * Drives the pickle machine over a whole stream: several pickles back to back (legacy torch's
 * five, appended ones), joblib's raw arrays between opcodes, bytes after the last STOP, and
 * serialized data passed to nested loaders (pickle.loads(b'...')).
 */
import type { ByteSource } from '../../source/types.js';
import { SliceSource } from '../../source/slice.js';
import type { AnalysisContext } from '../types.js';
import { PickleMachine, type MachineBudget } from '../../pickle/machine.js';
import { PickleReader } from '../../pickle/reader.js';
import { PickleCollector } from './collector.js';
import { joblibBuildHook } from '../joblib.js';
import { pickleConfidence } from './sniff.js';

export interface StreamOptions {
  /** Stop after this many pickles; the loader reads no more (legacy torch: 5, npy: 1). */
  maxPickles?: number;
  /** What follows the last expected pickle, when it is data rather than junk. */
  dataAfter?: string;
}

export interface StreamSummary {
  pickles: number;
  end: number;
  protocols: number[];
  joblibArrays: number;
}

export async function scanPickleStream(src: ByteSource, ctx: AnalysisContext, start: number, opts: StreamOptions = {}): Promise<StreamSummary> {
  const reader = new PickleReader(src, start);
  const collector = new PickleCollector(ctx);
  const budget: MachineBudget = { ops: 0, expired: () => ctx.expired() };
  const summary: StreamSummary = { pickles: 0, end: start, protocols: [], joblibArrays: 0 };
  const events = {
    global: collector.onGlobal.bind(collector),
    call: collector.onCall.bind(collector),
    store: collector.onStore.bind(collector),
    anomaly: collector.onAnomaly.bind(collector),
    build: joblibBuildHook,
    canonical: collector.canonical,
    skipped: () => {
      summary.joblibArrays++;
    },
  };
  try {
    for (;;) {
      const begin = reader.pos;
      const machine = new PickleMachine(reader, ctx.limits, events, budget);
      const res = await machine.run();
      if (machine.straddled) {
        // The bytes read differently by a file-reading unpickler: interpret that reading too.
        const again = new PickleMachine(new PickleReader(src, begin), ctx.limits, events, budget, 0, 'file');
        await again.run();
      }
      summary.pickles++;
      summary.end = res.end;
      if (res.proto !== null) summary.protocols.push(res.proto);
      if (res.limited) {
        ctx.incomplete(`pickle interpretation stopped: ${res.limited}`, res.end);
        break;
      }
      // A failed run is where the loader raises: nothing after it executes.
      if (!res.stopped) break;
      if (opts.maxPickles !== undefined && summary.pickles >= opts.maxPickles) break;
      await reader.ensure(64 * 1024);
      if (reader.available === 0) break;
      if (summary.pickles >= ctx.limits.maxPicklesPerStream) {
        ctx.incomplete(`more than ${ctx.limits.maxPicklesPerStream} pickles in one stream`, reader.pos);
        break;
      }
      if (pickleConfidence(reader.buf.subarray(reader.p, reader.p + 64 * 1024)) > 0) continue;
      const remaining = src.size === null ? null : src.size - reader.pos;
      ctx.emit({
        rule: 'PICKLE_TRAILING_DATA',
        message: `${remaining === null ? 'data' : `${remaining} bytes`} after the last pickle (not read by the loader; may be a polyglot)`,
        offset: reader.pos,
        evidence: { details: { bytes: remaining ?? -1 } },
      });
      break;
    }
  } finally {
    collector.flush();
  }
  if (summary.joblibArrays > 0) ctx.fact('joblib.arrays', summary.joblibArrays);
  if (opts.dataAfter && summary.pickles === opts.maxPickles) ctx.fact('data_after_pickles', opts.dataAfter);
  for (const n of collector.nested) {
    await ctx.scanMember(new SliceSource(`<data passed to ${n.via} @ ${n.offset}>`, src, n.offset, n.length));
  }
  return summary;
}
