/**
 * Work handled one item at a time, in arrival order, with a bounded
 * queue that pushes back on the producer.
 *
 * @module
 */

import { type Resource, runTask } from "./group.ts";
import { turnSpent, yieldToEventLoop } from "./turns.ts";

/** Handles one item; returns a promise only when it did not finish at once. */
export type Handler<C, T> = (context: C, item: T) => Promise<void> | undefined;

/**
 * Items handled one at a time, in arrival order: at once when none is
 * pending (synchronously, when its handler is), else queued for a task of
 * the owner's group that runs only while items wait. Bounded: once
 * `limit` items wait, {@linkcode SerialQueue.push} returns a promise that
 * resolves when there is room, so a producer (a connection's reading)
 * waits instead of queueing more. Once the owner closes, queued items are
 * dropped and new ones ignored.
 *
 * @example
 * ```ts
 * import { Group, Resource } from "./group.ts";
 * import { SerialQueue } from "./serial_queue.ts";
 *
 * class Owner extends Resource {
 *   readonly group = new Group();
 * }
 * await using owner = new Owner();
 * const seen: string[] = [];
 * const queue = new SerialQueue<string[], string>(owner, seen, 16);
 * const slow = (out: string[], s: string) =>
 *   new Promise<void>((r) => setTimeout(r, 1)).then(() => void out.push(s));
 * queue.push("a", slow);
 * queue.push("b", (out, s) => void out.push(s)); // after "a"
 * ```
 */
export class SerialQueue<C, T> {
  readonly #owner: Resource;
  readonly #context: C;
  readonly #limit: number;
  // Waiting items and their handlers, in pairs; made on first use.
  #waiting: (T | Handler<C, T>)[] | null = null;
  #head = 0;
  #working = false;
  #room: PromiseWithResolvers<void> | null = null;

  /**
   * @param owner Whose group runs the task, and whose closing ends it.
   * @param context Passed to every handler (so that handlers need not be
   *   closures made per item).
   * @param limit Items waiting before `push` asks the producer to wait.
   */
  constructor(owner: Resource, context: C, limit: number) {
    this.#owner = owner;
    this.#context = context;
    this.#limit = limit;
  }

  /**
   * Handle `item` with `process(context, item)` after every item pushed
   * before it. `process` returns a promise when it does not finish at
   * once. It should not throw: an exception goes to the caller of `push`
   * when it ran at once, else to the owner's group (which reports it and
   * closes).
   *
   * @returns A promise only when the queue is full: wait for it before
   *   pushing more.
   */
  push(item: T, process: Handler<C, T>): Promise<void> | undefined {
    const owner = this.#owner;
    if (!owner.isOpen) return;
    if (this.#working) {
      const waiting = this.#waiting ??= [];
      waiting.push(item, process);
      if ((waiting.length - this.#head) / 2 >= this.#limit) {
        this.#room = Promise.withResolvers<void>();
        return this.#room.promise;
      }
      return;
    }
    const pending = process(this.#context, item);
    if (pending && owner.isOpen) {
      this.#working = true;
      runTask(owner.group, () => this.#work(pending)).catch(() => {});
    }
  }

  // Handles the waiting items, in order, after the one `pending`; after a
  // turn's budget of them, the event loop runs before the next (handlers
  // that return settled promises would otherwise keep it waiting).
  async #work(pending: Promise<void>): Promise<void> {
    try {
      await pending;
      while (this.#owner.isOpen) {
        if (turnSpent()) {
          await yieldToEventLoop();
          continue;
        }
        const waiting = this.#waiting;
        if (waiting === null) return;
        const item = waiting[this.#head] as T;
        const process = waiting[this.#head + 1] as Handler<C, T>;
        waiting[this.#head] = waiting[this.#head + 1] = undefined as never;
        this.#head += 2;
        if (this.#head === waiting.length) {
          this.#waiting = null;
          this.#head = 0;
        }
        this.#room?.resolve();
        this.#room = null;
        const next = process(this.#context, item);
        if (next) await next;
      }
    } finally {
      this.#working = false;
      // Closed with the queue full: let the producer end.
      this.#room?.resolve();
      this.#room = null;
    }
  }
}
