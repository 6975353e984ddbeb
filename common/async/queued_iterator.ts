/**
 * Pushed values turned into a `for await` stream, as nats.deno's
 * `QueuedIterator` does.
 *
 * @module
 */

/** Options of {@linkcode QueuedIterator}. */
export interface QueuedIteratorOptions {
  /**
   * Buffered values at which {@linkcode QueuedIterator.full} turns true
   * (default: never). `push` still buffers past it: the producer is the
   * one to stop (as the Eventer client stops reading its socket), and to
   * resume once `onRoom` is called.
   */
  maxPending?: number;
  /**
   * Called when the consumer takes a value from a full buffer, leaving
   * room for one more. Not called when the iterator ends: `onReturn` is.
   */
  onRoom?: () => void;
  /**
   * Ends the iteration, as `break` does: buffered values are dropped. An
   * already aborted signal gives an iterator ended from the start, whose
   * `onReturn` is never called.
   */
  signal?: AbortSignal;
}

/**
 * An async iterator fed by `push` and ended by `end`. Values pushed
 * before the consumer asks are buffered; `end` lets the consumer drain
 * what is buffered, then finishes the iteration.
 *
 * @example
 * ```ts
 * import { QueuedIterator } from "@hat/eventer";
 * const it = new QueuedIterator<number>();
 * it.push(1);
 * it.end();
 * for await (const v of it) console.log(v);
 * ```
 *
 * @example A bounded buffer: the producer waits for room
 * ```ts
 * import { QueuedIterator } from "@hat/eventer";
 * let room = Promise.withResolvers<void>();
 * const it = new QueuedIterator<number>(null, {
 *   maxPending: 2,
 *   onRoom: () => room.resolve(),
 * });
 * it.push(1);
 * it.push(2);
 * if (it.full) {
 *   await it.next(); // the consumer takes one: onRoom is called
 *   await room.promise;
 * }
 * ```
 */
export class QueuedIterator<T> implements AsyncIterableIterator<T> {
  #items: T[] = [];
  #head = 0;
  #ended = false;
  #waiter: PromiseWithResolvers<IteratorResult<T>> | null = null;
  #onReturn: (() => void) | null;
  readonly #maxPending: number;
  readonly #onRoom: (() => void) | null;
  #signal: AbortSignal | null = null;
  #onAbort: (() => void) | null = null;

  /**
   * Create an empty iterator.
   *
   * @param onReturn Called once when the consumer stops or the iterator ends.
   * @param options Bound, room callback and abort signal.
   */
  constructor(
    onReturn?: (() => void) | null,
    options?: QueuedIteratorOptions,
  ) {
    options ??= {};
    this.#onReturn = onReturn ?? null;
    this.#maxPending = options.maxPending ?? Infinity;
    this.#onRoom = options.onRoom ?? null;
    const signal = options.signal;
    if (signal?.aborted) {
      // Ended from the start; `onReturn` is for an iterator that was live.
      this.#ended = true;
      this.#onReturn = null;
    } else if (signal) {
      this.#signal = signal;
      this.#onAbort = () => this.return();
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  /** Values buffered and not yet consumed. */
  get pending(): number {
    return this.#items.length - this.#head;
  }

  /** True while `maxPending` values or more are buffered and not ended. */
  get full(): boolean {
    return !this.#ended && this.#items.length - this.#head >= this.#maxPending;
  }

  /** True once ended (by `end`, `return` or the signal). */
  get ended(): boolean {
    return this.#ended;
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
      const pending = this.#items.length - this.#head;
      if (pending === 0) {
        this.#items = [];
        this.#head = 0;
      }
      // Exactly when the buffer goes from full to one below the bound.
      if (pending === this.#maxPending - 1 && !this.#ended) this.#onRoom?.();
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
    if (this.#onAbort) {
      this.#signal!.removeEventListener("abort", this.#onAbort);
      this.#onAbort = null;
      this.#signal = null;
    }
    const onReturn = this.#onReturn;
    this.#onReturn = null;
    onReturn?.();
  }
}
