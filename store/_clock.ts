/**
 * The store's default clock: wall-clock time with microsecond resolution,
 * as the reference's `common.now()` (`time.time()` in microseconds).
 *
 * @module
 */

import type { Timestamp } from "../common/event/mod.ts";

/**
 * A wall clock with microsecond resolution.
 *
 * `Date.now()` has milliseconds only, so requests registered within one
 * millisecond would share a timestamp. The monotonic `performance.now()`
 * supplies the fraction; it is kept within a millisecond of `Date.now()`,
 * re-anchored when the wall clock is stepped or the two drift apart. The
 * store clamps what this returns so timestamps never go backwards.
 */
export class PreciseClock {
  // Wall-clock milliseconds at performance.now() == 0.
  #origin = performance.timeOrigin;

  /** The current time. */
  now(): Timestamp {
    const mono = performance.now();
    const wall = Date.now();
    let ms = this.#origin + mono;
    if (ms < wall - 1 || ms > wall + 2) {
      this.#origin = wall - mono;
      ms = wall;
    }
    const us = Math.floor(ms * 1000);
    const s = Math.floor(us / 1e6);
    return { s, us: us - s * 1e6 };
  }
}
