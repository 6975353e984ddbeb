/**
 * Sharing the event loop: long runs of work yield now and then, so that
 * timers and other sockets are not kept waiting.
 *
 * An `await` on a promise that is already settled continues in a
 * microtask, and a read of a socket that has data completes at once: a
 * loop that always finds work (a socket that always has data, a queue
 * that is never empty) never returns to the event loop, and every timer
 * and every other connection waits for it.
 *
 * The budget is one for the whole process, since the event loop is: the
 * reads, consumers and request queues of every connection count against
 * it, and whichever finds it spent yields.
 *
 * @module
 */

/**
 * Milliseconds of work without a turn of the event loop after which
 * {@linkcode turnSpent} says yield.
 */
export const TURN_MS = 5;

// Calls since the clock was last read; when the current run of work began
// to be timed (0: not timed); whether a timer is set to tell that the
// event loop turned meanwhile.
let calls = 0;
let since = 0;
let watching = false;

function turned(): void {
  watching = false;
  since = 0;
}

/**
 * One more unit of work done (a read, a message, a request); true when
 * work has gone on for {@linkcode TURN_MS} without the event loop turning:
 * then `await` {@linkcode yieldToEventLoop} before the next unit. The
 * clock is read every 8th call only, and a timer tells when the event loop
 * turned (timers run only then), so work that waits for I/O now and then
 * never yields.
 *
 * @example
 * ```ts
 * import { turnSpent, yieldToEventLoop } from "./turns.ts";
 * for (let i = 0; i < 100_000; i++) {
 *   if (turnSpent()) await yieldToEventLoop();
 * }
 * ```
 */
export function turnSpent(): boolean {
  if ((++calls & 7) !== 0) return false;
  const now = performance.now();
  if (since === 0) {
    since = now;
    if (!watching) {
      watching = true;
      Deno.unrefTimer(setTimeout(turned, 0));
    }
    return false;
  }
  return now - since > TURN_MS;
}

/**
 * Resolves in a later turn of the event loop, after the timers and I/O
 * that are due, and starts a new budget for {@linkcode turnSpent}.
 *
 * Only a timer does that here: Deno runs neither timers nor the reads of
 * other sockets for a microtask, `setImmediate`, a MessageChannel message
 * or an operation that completes on its thread pool, if JavaScript is
 * ready to go on. A 0 ms timer waits a millisecond or two, which is why
 * yielding waits for {@linkcode TURN_MS} of work first.
 *
 * @example
 * ```ts
 * import { yieldToEventLoop } from "./turns.ts";
 * await yieldToEventLoop();
 * ```
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0)).then(() => {
    since = 0;
  });
}
