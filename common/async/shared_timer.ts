/**
 * One timer for many deadlines: a binary heap ordered by due time, with a
 * single Deno timer set for the earliest. Every Chatter connection has a
 * ping deadline, and a Deno timer each costs ~1.3 KB of heap.
 *
 * @module
 */

import { timerDelay } from "./duration.ts";

/** Something with a deadline in a {@linkcode SharedTimer}. */
export interface Deadline {
  /** When it is due, in `performance.now()` milliseconds. */
  dueAt: number;
  /** Position in the timer's heap; -1 when not scheduled (start with -1). */
  heapIndex: number;
  /** Called once when due (then no longer scheduled). */
  onDue(): void;
}

/** A set of deadlines served by one timer. */
export class SharedTimer {
  readonly #heap: Deadline[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  readonly #onError: (d: Deadline, e: unknown) => void;

  /** @param onError Called when an `onDue` throws. */
  constructor(onError: (d: Deadline, e: unknown) => void) {
    this.#onError = onError;
  }

  /**
   * (Re)schedule `d` at `delay` ms from now; at least 1 ms, the timers'
   * grain, so that a deadline set from `onDue` is never due in the same
   * pass.
   */
  schedule(d: Deadline, delay: number): void {
    d.dueAt = performance.now() + Math.max(delay, 1);
    const heap = this.#heap;
    let i = d.heapIndex;
    if (i < 0) {
      i = heap.length;
      heap.push(d);
    }
    this.#siftDown(this.#siftUp(i));
    this.#arm();
  }

  /** Take `d` out, if scheduled. */
  unschedule(d: Deadline): void {
    const i = d.heapIndex;
    if (i < 0) return;
    d.heapIndex = -1;
    const heap = this.#heap;
    const last = heap.pop()!;
    if (last !== d) {
      heap[i] = last;
      last.heapIndex = i;
      this.#siftDown(this.#siftUp(i));
    }
    if (heap.length === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Infinity;
    }
  }

  #siftUp(i: number): number {
    const heap = this.#heap;
    const d = heap[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p];
      if (parent.dueAt <= d.dueAt) break;
      heap[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    heap[i] = d;
    d.heapIndex = i;
    return i;
  }

  #siftDown(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const d = heap[i];
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap[child + 1].dueAt < heap[child].dueAt) {
        child++;
      }
      const next = heap[child];
      if (d.dueAt <= next.dueAt) break;
      heap[i] = next;
      next.heapIndex = i;
      i = child;
    }
    heap[i] = d;
    d.heapIndex = i;
  }

  // Keeps the timer set no later than the earliest deadline (one left set
  // for an earlier time fires, finds nothing due and re-arms).
  #arm(): void {
    const heap = this.#heap;
    if (heap.length === 0) return;
    const at = heap[0].dueAt;
    if (at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(
      this.#fire,
      timerDelay(Math.max(0, at - performance.now())),
    );
  }

  #fire = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const heap = this.#heap;
    const now = performance.now();
    // Rescheduling is at least 1 ms after `now`, so this ends.
    while (heap.length > 0 && heap[0].dueAt <= now) {
      const d = heap[0];
      this.unschedule(d);
      try {
        d.onDue();
      } catch (e) {
        this.#onError(d, e);
      }
    }
    this.#arm();
  };
}
