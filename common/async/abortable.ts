/**
 * Waiting on a promise until an AbortSignal says stop.
 *
 * @module
 */

/**
 * `promise`, or a rejection with `signal.reason` as soon as the signal
 * aborts (the promise itself goes on; only the wait ends).
 *
 * @param promise What to wait for.
 * @param signal Stops the wait; none means wait for `promise` alone.
 * @returns `promise`'s value.
 * @throws The signal's reason, when it aborts first.
 *
 * @example
 * ```ts
 * import { abortable } from "./abortable.ts";
 * const value = await abortable(Promise.resolve(1), AbortSignal.timeout(100));
 * ```
 */
export function abortable<T>(
  promise: Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() =>
      signal.removeEventListener("abort", onAbort)
    );
  });
}
