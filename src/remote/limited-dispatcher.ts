/**
 * An undici Dispatcher that takes a token from the Hub client's limiter before each request and
 * reports every response status. Handed to HttpRangeSource as its `dispatcher` (HubClient's
 * rangeAccess), so range requests are charged to the same limiter as the API calls, and a
 * 429/503 answered to one of them pauses everyone behind it, for the crawler the whole fleet (the
 * range source itself only backs off locally). Redirect hops are separate dispatches, so each is
 * charged too.
 */
import { Dispatcher } from 'undici';
import type { Limiter } from './limiter.js';

export interface LimitedDispatcherHooks {
  /** Once per request, when its token was granted. */
  request?(): void;
  /** The status of each response, with its Retry-After header if any. */
  status?(status: number, retryAfter: string | undefined): void;
}

type Handler = Dispatcher.DispatchHandler;

function retryAfterOf(raw: readonly (Buffer | string)[] | null | undefined): string | undefined {
  if (!raw) return undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toString().toLowerCase() === 'retry-after') return raw[i + 1]!.toString();
  }
  return undefined;
}

export class LimitedDispatcher extends Dispatcher {
  constructor(
    private readonly inner: Dispatcher,
    private readonly limiter: Limiter,
    private readonly hooks: LimitedDispatcherHooks = {},
  ) {
    super();
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Handler): boolean {
    const observed = this.observe(handler);
    this.limiter.take().then(
      () => {
        this.hooks.request?.();
        try {
          this.inner.dispatch(options, observed);
        } catch (e) {
          fail(observed, e);
        }
      },
      (e: unknown) => fail(observed, e),
    );
    // The inner dispatcher queues what it cannot send yet; this wrapper never asks callers to wait for 'drain'.
    return true;
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    // The inner dispatcher is shared and closed by its owner.
    if (callback) {
      queueMicrotask(callback);
      return;
    }
    return Promise.resolve();
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const callback = typeof a === 'function' ? a : b;
    if (callback) {
      queueMicrotask(callback);
      return;
    }
    return Promise.resolve();
  }

  /** Wraps the handler in the same style it was written in, seeing the status on the way. */
  private observe(handler: Handler): Handler {
    const hooks = this.hooks;
    if (typeof handler.onRequestStart === 'function' || typeof handler.onResponseStart === 'function') {
      return {
        onRequestStart: (controller, context) => handler.onRequestStart?.(controller, context),
        onRequestUpgrade: (controller, statusCode, headers, socket) => handler.onRequestUpgrade?.(controller, statusCode, headers, socket),
        onResponseStart: (controller, statusCode, headers, statusMessage) => {
          const ra = headers['retry-after'];
          hooks.status?.(statusCode, Array.isArray(ra) ? ra[0] : ra);
          handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
        },
        onResponseData: (controller, chunk) => handler.onResponseData?.(controller, chunk),
        onResponseEnd: (controller, trailers) => handler.onResponseEnd?.(controller, trailers),
        onResponseError: (controller, error) => handler.onResponseError?.(controller, error),
      };
    }
    return {
      // undici passes a context after `abort` that its types leave out; request() keeps it.
      onConnect: ((abort: (err?: Error) => void, context: unknown) => (handler.onConnect as ((a: (err?: Error) => void, c: unknown) => void) | undefined)?.(abort, context)) as Handler['onConnect'],
      onError: (err) => handler.onError?.(err),
      onUpgrade: (statusCode, headers, socket) => handler.onUpgrade?.(statusCode, headers, socket),
      onResponseStarted: () => handler.onResponseStarted?.(),
      onHeaders: (statusCode, headers, resume, statusText) => {
        hooks.status?.(statusCode, retryAfterOf(headers));
        return handler.onHeaders?.(statusCode, headers, resume, statusText) ?? true;
      },
      onData: (chunk) => handler.onData?.(chunk) ?? true,
      onComplete: (trailers) => handler.onComplete?.(trailers),
      onBodySent: (chunkSize, totalBytesSent) => handler.onBodySent?.(chunkSize, totalBytesSent),
    };
  }
}

/** A request that never reached the inner dispatcher (the limiter failed: Redis gone for good). */
function fail(handler: Handler, e: unknown): void {
  const err = e instanceof Error ? e : new Error(String(e));
  if (typeof handler.onError === 'function') {
    handler.onError(err);
    return;
  }
  const controller: Dispatcher.DispatchController = {
    aborted: true,
    paused: false,
    reason: err,
    abort: () => undefined,
    pause: () => undefined,
    resume: () => undefined,
  };
  handler.onResponseError?.(controller, err);
}
