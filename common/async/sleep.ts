/**
 * Waiting a while, unless an AbortSignal says stop.
 *
 * @module
 */

import { timerDelay } from "./duration.ts";

/**
 * Resolves after `ms` milliseconds, or as soon as `signal` aborts (at once
 * when it has); never rejects. Delays past the longest a timer takes are
 * that longest.
 *
 * @param ms A checked duration.
 * @param signal Ends the wait early.
 *
 * @example
 * ```ts
 * import { sleep } from "./sleep.ts";
 * await sleep(10, AbortSignal.timeout(1));
 * ```
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, timerDelay(ms));
    signal.addEventListener("abort", done, { once: true });
  });
}
