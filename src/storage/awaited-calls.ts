/**
 * PGlite has one session, and a `transaction()` holds it from its first call to its end. A call
 * made outside the transaction (from a timer, another request) waits for the session; if the
 * transaction's callback then awaits that call, each waits for the other until
 * `pool_timeout_secs`. So the stores of a single-session backend return a promise that sees where
 * it is awaited (`await` calls `then` in the awaiting async context): awaited inside a
 * `transaction()` that holds the session it needs, the call is aborted at once with
 * `SCOPE_NESTED`, before it sends anything more. Awaited anywhere else, it is an ordinary promise.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** One call of a store method on a single-session backend, made outside any `transaction()`. */
export interface OutsideCall {
  /** Set by the call's runner: aborts the call (nothing more of it is sent). */
  abort?: (error: Error) => void;
  /** The database the call needs, set by its runner. */
  db?: object;
  /** The call has settled: awaiting it waits for nothing. */
  settled: boolean;
}

/** The call a store method runs for, in the method's async context (read by its runner). */
export const outsideCalls = new AsyncLocalStorage<OutsideCall>();

/** A promise that tells `awaited` each time it is awaited or chained, in the awaiting context. */
class WatchedCall<T> extends Promise<T> {
  // Promises chained from it are ordinary ones.
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }

  #awaited: (() => void) | undefined;

  static watch<T>(result: Promise<T>, awaited: () => void): WatchedCall<T> {
    const watched = new WatchedCall<T>((resolve, reject) => result.then(resolve, reject));
    watched.#awaited = awaited;
    return watched;
  }

  override then<A = T, B = never>(
    onFulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    this.#awaited?.();
    return super.then(onFulfilled, onRejected);
  }
}

/**
 * `store` with each method wrapped: the method runs as an {@link OutsideCall}, and its promise
 * calls `awaited(call)` where it is awaited. Methods that return no promise (`scan`) are passed on.
 */
export function watchAwaits<S extends object>(store: S, awaited: (call: OutsideCall) => void): S {
  const watched: Record<string, unknown> = {};
  // Every method of the store's class and of the classes it extends.
  const names = new Set<string>();
  for (let proto = Object.getPrototypeOf(store) as object | null; proto !== null && proto !== Object.prototype;) {
    for (const name of Object.getOwnPropertyNames(proto)) names.add(name);
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  for (const name of names) {
    const method: unknown = (store as Record<string, unknown>)[name];
    if (name === 'constructor' || typeof method !== 'function') continue;
    watched[name] = (...args: unknown[]): unknown => {
      const call: OutsideCall = { settled: false };
      const result: unknown = outsideCalls.run(call, () => (method as (...a: unknown[]) => unknown).apply(store, args));
      if (!(result instanceof Promise)) return result;
      const settle = () => {
        call.settled = true;
      };
      result.then(settle, settle);
      return WatchedCall.watch(result, () => awaited(call));
    };
  }
  return Object.freeze(watched) as S;
}
