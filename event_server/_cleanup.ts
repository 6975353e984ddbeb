/**
 * Retention in the Event Server: the store's cleanup run every
 * `cleanupPeriod`, a few milliseconds of steps at a time, so that other
 * clients are served meanwhile.
 *
 * @module
 */

import { timerDelay } from "../common/async/mod.ts";
import { log } from "../common/log.ts";
import type { EventStore } from "../store/mod.ts";

// Milliseconds of retention cleanup steps in one event-loop turn at most
// (a step takes out up to 256 entries: 2-3 ms of work), and milliseconds
// between two such turns: a cleanup takes at most a quarter of the time,
// so that a client's request waits for one turn at most.
const CLEANUP_TURN_MS = 5;
const CLEANUP_PAUSE_MS = 15;

/**
 * Every `period` ms, cleanup steps of `store` for at most CLEANUP_TURN_MS
 * a turn, CLEANUP_PAUSE_MS between turns, until the store has nothing
 * more to do; until `signal` aborts. Registered events waiting for their
 * commit end a turn (a step cannot run before the commit).
 *
 * @param store A store with a `cleanup`.
 * @param period Milliseconds between cleanups.
 * @param signal Ends the loop.
 */
export async function runCleanup(
  store: EventStore,
  period: number,
  signal: AbortSignal,
): Promise<void> {
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, timerDelay(ms));
      signal.addEventListener("abort", done, { once: true });
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
    });
  while (!signal.aborted) {
    await pause(period);
    for (;;) {
      if (signal.aborted || store.closed) return;
      const start = performance.now();
      let more = true;
      try {
        while (
          more && store.pendingCount === 0 &&
          performance.now() - start < CLEANUP_TURN_MS
        ) {
          more = store.cleanup!().more;
        }
      } catch (e) {
        log.error("retention cleanup failed:", e);
        break;
      }
      if (!more) break;
      await pause(CLEANUP_PAUSE_MS);
    }
  }
}
