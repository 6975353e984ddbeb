/**
 * Pushed values turned into a `for await` stream, as nats.deno's
 * `QueuedIterator` does.
 *
 * @module
 */

/**
 * An async iterator fed by `push` and ended by `end`. Values pushed
 * before the consumer asks are buffered; `end` lets the consumer drain
 * what is buffered, then finishes the iteration.
 *
 * @example
 * ```ts
 * import { QueuedIterator } from "./queued_iterator.ts";
 * const it = new QueuedIterator<number>();
 * it.push(1);
 * it.end();
 * for await (const v of it) console.log(v);
 * ```
 */
export class QueuedIterator<T> implements AsyncIterableIterator<T> {
  #items: T[] = [];
  #head = 0;
  #ended = false;
  #waiter: PromiseWithResolvers<IteratorResult<T>> | null = null;
  #onReturn: (() => void) | null;

  /**
   * Create an empty iterator.
   *
   * @param onReturn Called once when the consumer stops or the iterator ends.
   */
  constructor(onReturn: (() => void) | null = null) {
    this.#onReturn = onReturn;
  }

  /** Values buffered and not yet consumed. */
  get pending(): number {
    return this.#items.length - this.#head;
  }

  /** Deliver a value (ignored once ended). */
  push(value: T): void {
    if (this.#ended) return;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = null;
      waiter.resolve({ value, done: false });
    } else {
      this.#items.push(value);
    }
  }

  /** No more values: the consumer finishes after draining the buffer. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#waiter?.resolve({ value: undefined, done: true });
    this.#waiter = null;
    this.#release();
  }

  /** Next value, waiting for one to be pushed. */
  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#items.length) {
      const value = this.#items[this.#head++];
      if (this.#head === this.#items.length) {
        this.#items = [];
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    if (this.#waiter) throw new Error("next() called while another is pending");
    this.#waiter = Promise.withResolvers<IteratorResult<T>>();
    return this.#waiter.promise;
  }

  /** The consumer stops (e.g. `break` out of `for await`). */
  return(): Promise<IteratorResult<T>> {
    this.#items = [];
    this.#head = 0;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** This iterator. */
  [Symbol.asyncIterator](): this {
    return this;
  }

  #release(): void {
    const onReturn = this.#onReturn;
    this.#onReturn = null;
    onReturn?.();
  }
}
