/**
 * What the Hub client waits on before each request. The crawler's limiter lives in Redis so that
 * a whole fleet shares one rate and one pause (src/queue/limiter.ts); a single process (a remote
 * scan, a unit test) uses LocalLimiter, whose pauses hold only its own requests.
 */

export interface Limiter {
  /** Resolves when this caller may send one request. */
  take(signal?: AbortSignal): Promise<void>;
  /** Stops every request behind this limiter for `ms` (from Retry-After). */
  pause(ms: number): Promise<void>;
}

/** An abortable sleep (shared by the limiters and the hub client). */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** No rate, only pauses, local to the process. */
export class LocalLimiter implements Limiter {
  private pausedUntil = 0;
  async take(signal?: AbortSignal): Promise<void> {
    const wait = this.pausedUntil - Date.now();
    if (wait > 0) await sleep(wait, signal);
  }
  async pause(ms: number): Promise<void> {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + ms);
  }
}
