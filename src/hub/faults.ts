/**
 * Failure injection for the gateway's fault tests. Off unless rules are given: each rule matches
 * requests by method and path glob and changes how this server answers them, so a gateway can be
 * tested against a real server misbehaving in a known way rather than against a mock.
 */
import { z } from 'zod';

const Method = z.enum(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

const Action = z.discriminatedUnion('kind', [
  /** Answer with this status (e.g. 500, 502, 503 with Retry-After) instead of the real answer. */
  z.strictObject({ kind: z.literal('status'), status: z.int().min(400).max(599), retryAfter: z.int().min(0).optional(), message: z.string().max(500).optional() }),
  /** Announce the full length, send `afterBytes` of the body, then reset the connection. */
  z.strictObject({ kind: z.literal('truncate'), afterBytes: z.int().min(0) }),
  /** Send `afterBytes`, then nothing more until the client gives up (a stalled upstream). */
  z.strictObject({ kind: z.literal('stall'), afterBytes: z.int().min(0) }),
  /** Same length and headers, different bytes: the byte at `offset` flipped, or the first byte sent when `offset` is absent or outside the range served. */
  z.strictObject({ kind: z.literal('corrupt'), offset: z.int().min(0).optional() }),
  /** Redirect elsewhere; `{path}` in the location is replaced by the request's path and query. */
  z.strictObject({ kind: z.literal('redirect'), location: z.string().min(1).max(2000), status: z.union([z.literal(301), z.literal(302), z.literal(303), z.literal(307), z.literal(308)]).optional() }),
  /** Answer a Range request with 200 and the whole file. */
  z.strictObject({ kind: z.literal('ignoreRange') }),
  /** Answer a Range request with 206 and the requested bytes under a Content-Range that names other bytes. */
  z.strictObject({ kind: z.literal('wrongContentRange') }),
  /** Only the delay (`latencyMs`), nothing else. */
  z.strictObject({ kind: z.literal('delay') }),
]);

export const FaultRuleSchema = z.strictObject({
  id: z.string().max(100).optional(),
  /** One method or several; all when absent. */
  method: z.union([Method, z.array(Method)]).optional(),
  /**
   * Glob over the request path as sent (percent-encoding kept, query excluded): `*` any characters
   * but '/', `**` anything, `?` one character but '/'. All paths when absent.
   */
  path: z.string().max(2000).optional(),
  /** Apply to this many matching requests, then stop matching (fail twice, then succeed). */
  times: z.int().min(1).optional(),
  /** Delay before answering, in addition to the global latency. */
  latencyMs: z.int().min(0).max(600_000).optional(),
  action: Action,
});

export type FaultRule = z.infer<typeof FaultRuleSchema>;
export type FaultAction = FaultRule['action'];
export const FaultRulesSchema = z.array(FaultRuleSchema).max(1000);

export interface FaultState {
  rule: FaultRule;
  /** Requests this rule has changed so far. */
  hits: number;
}

export function globToRegExp(glob: string): RegExp {
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        re += '.*';
        i++;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else re += c.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(re + '$', 's');
}

export type ParsedRules = { ok: true; value: FaultRule[] } | { ok: false; message: string };

export function parseFaultRules(raw: unknown): ParsedRules {
  const r = FaultRulesSchema.safeParse(Array.isArray(raw) ? raw : [raw]);
  if (!r.success) return { ok: false, message: z.prettifyError(r.error).replace(/\s+/g, ' ') };
  return { ok: true, value: r.data };
}

/** The rule set and its counters; the first live matching rule wins. */
export class Faults {
  private states: { state: FaultState; path: RegExp | null }[] = [];

  constructor(rules: readonly FaultRule[] = []) {
    this.set(rules);
  }

  set(rules: readonly FaultRule[]): void {
    this.states = rules.map((rule) => ({ state: { rule, hits: 0 }, path: rule.path === undefined ? null : globToRegExp(rule.path) }));
  }

  add(rule: FaultRule): void {
    this.states.push({ state: { rule, hits: 0 }, path: rule.path === undefined ? null : globToRegExp(rule.path) });
  }

  clear(): void {
    this.states = [];
  }

  list(): FaultState[] {
    return this.states.map((s) => ({ rule: s.state.rule, hits: s.state.hits }));
  }

  /** Finds the rule for a request and counts the hit (so `times` is consumed exactly once per request). */
  take(method: string, path: string): FaultRule | null {
    for (const { state, path: re } of this.states) {
      const { rule } = state;
      if (rule.times !== undefined && state.hits >= rule.times) continue;
      if (rule.method !== undefined && !(Array.isArray(rule.method) ? rule.method.includes(method as never) : rule.method === method)) continue;
      if (re !== null && !re.test(path)) continue;
      state.hits++;
      return rule;
    }
    return null;
  }
}
