/**
 * An async iterator for a producer that must never wait: bounded, it
 * drops the oldest value rather than grow or push back.
 *
 * @module
 */

/**
 * Fed by `push`, ended by `end`, like `QueuedIterator`, but past
 * `maxPending` unread values the oldest is dropped, so the consumer
 * always gets the latest ones.
 */
export class LatestIterator<T> implements AsyncIterableIterator<T> {
  #items: T[] = [];
  #waiter: PromiseWithResolvers<IteratorResult<T>> | null = null;
  #ended = false;
  #onReturn: (() => void) | null;
  readonly #maxPending: number;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => void this.return();

  /**
   * Create an empty iterator.
   *
   * @param maxPending Unread values kept (at least 1).
   * @param onReturn Called once when the consumer stops or it ends.
   * @param signal Ends the iteration, as `break` does.
   */
  constructor(
    maxPending: number,
    onReturn: () => void,
    signal: AbortSignal | undefined,
  ) {
    this.#maxPending = maxPending;
    this.#onReturn = onReturn;
    this.#signal = signal;
    if (signal?.aborted) {
      this.#ended = true;
      this.#onReturn = null;
    } else {
      signal?.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  /** True once ended (by `end`, `return` or the signal). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Deliver a value, dropping the oldest unread one past the bound. */
  push(value: T): void {
    if (this.#ended) return;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = null;
      waiter.resolve({ value, done: false });
      return;
    }
    this.#items.push(value);
    // At most maxPending (a few dozen) values: shift is cheap.
    if (this.#items.length > this.#maxPending) this.#items.shift();
  }

  /** No more values: the consumer finishes after the buffered ones. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#waiter?.resolve({ value: undefined, done: true });
    this.#waiter = null;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    const onReturn = this.#onReturn;
    this.#onReturn = null;
    onReturn?.();
  }

  /** Next value, waiting for one to be pushed. */
  next(): Promise<IteratorResult<T>> {
    if (this.#items.length > 0) {
      return Promise.resolve({ value: this.#items.shift()!, done: false });
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    if (this.#waiter) throw new Error("next() called while another is pending");
    this.#waiter = Promise.withResolvers();
    return this.#waiter.promise;
  }

  /** The consumer stops (e.g. `break` out of `for await`). */
  return(): Promise<IteratorResult<T>> {
    this.#items = [];
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** This iterator. */
  [Symbol.asyncIterator](): this {
    return this;
  }
}
