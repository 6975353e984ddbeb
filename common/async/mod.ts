/**
 * Lifetimes and waiting: the support every layer above builds on.
 *
 * - {@linkcode Group} and {@linkcode Resource}: AbortSignal-driven groups
 *   of tasks, and the shape of everything that can be closed;
 *   {@linkcode runTask} for a task that needs no signal.
 * - {@linkcode abortable}: waiting on a promise until a signal says stop.
 * - {@linkcode checkDuration}: options' durations, in milliseconds.
 * - {@linkcode QueuedIterator}: pushed values as a `for await` stream.
 * - {@linkcode SharedTimer}: one Deno timer for many deadlines.
 * - {@linkcode SerialQueue}: work handled one item at a time, in order,
 *   with a bounded queue that pushes back on the producer.
 * - {@linkcode SlotMap}: waiters by numeric key, let go of at once.
 * - {@linkcode turnSpent} and {@linkcode yieldToEventLoop}: long runs of
 *   work let timers and other sockets run.
 *
 * @module
 */

export { abortable } from "./abortable.ts";
export { checkDuration, MAX_TIMER_DELAY, timerDelay } from "./duration.ts";
export {
  type ExceptionCb,
  Group,
  type GroupOptions,
  Resource,
  runTask,
} from "./group.ts";
export {
  QueuedIterator,
  type QueuedIteratorOptions,
} from "./queued_iterator.ts";
export { type Deadline, SharedTimer } from "./shared_timer.ts";
export { type Handler, SerialQueue } from "./serial_queue.ts";
export { SlotMap } from "./slot_map.ts";
export { sleep } from "./sleep.ts";
export { TURN_MS, turnSpent, yieldToEventLoop } from "./turns.ts";
