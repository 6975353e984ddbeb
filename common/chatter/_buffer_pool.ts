/**
 * Pools of buffers that Chatter connections share: their write buffers
 * (_writer_pool.ts) and their large receive buffers.
 *
 * @module
 */

/** Limits of a {@linkcode BufferPool}. */
export interface BufferPoolLimits {
  /** Most buffers kept. */
  maxCount: number;
  /** Most bytes kept while the pool is in use. */
  maxBytes: number;
  /** Bytes kept once the pool was not used for a sweep period. */
  idleBytes: number;
  /** Sweep period, in milliseconds. */
  sweepMs: number;
}

/**
 * Buffers given back for reuse: `take` hands out the newest, `takeAtLeast`
 * the smallest that is large enough. While takes and gives go on it keeps
 * up to `maxBytes` (a fan-out to 100 clients has 100 buffers in use at
 * once); once a whole sweep period passed without either, it shrinks back
 * to `idleBytes`, so that a process that is idle again holds little.
 */
export class BufferPool<T> {
  readonly #items: T[] = [];
  readonly #sizeOf: (item: T) => number;
  readonly #limits: BufferPoolLimits;
  #bytes = 0;
  #used = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #sweep = () => this.#onSweep();

  /**
   * @param sizeOf The bytes an item holds.
   * @param limits What the pool keeps.
   */
  constructor(sizeOf: (item: T) => number, limits: BufferPoolLimits) {
    this.#sizeOf = sizeOf;
    this.#limits = limits;
  }

  /** Bytes held by the pool. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The newest buffer given back, if any. */
  take(): T | undefined {
    this.#used = true;
    const item = this.#items.pop();
    if (item !== undefined) this.#bytes -= this.#sizeOf(item);
    return item;
  }

  /**
   * The smallest buffer given back of at least `size` bytes (the newest of
   * those), if any: a connection receiving a small frame slowly does not
   * hold a large buffer while a fitting one was there.
   */
  takeAtLeast(size: number): T | undefined {
    this.#used = true;
    const items = this.#items;
    let best = -1;
    let bestSize = Infinity;
    for (let i = items.length - 1; i >= 0; i--) {
      const n = this.#sizeOf(items[i]);
      if (n >= size && n < bestSize) {
        best = i;
        bestSize = n;
        if (n === size) break;
      }
    }
    if (best < 0) return undefined;
    const [item] = items.splice(best, 1);
    this.#bytes -= bestSize;
    return item;
  }

  /**
   * Give a buffer back. When the pool is full, the oldest buffers make
   * room for it (the newest are the likeliest to fit what comes next).
   * The caller must not use it again, and nothing may still read it.
   */
  give(item: T): void {
    this.#used = true;
    const size = this.#sizeOf(item);
    const limits = this.#limits;
    if (size > limits.maxBytes) return;
    const items = this.#items;
    let drop = 0;
    while (
      items.length - drop >= limits.maxCount ||
      this.#bytes + size > limits.maxBytes
    ) {
      this.#bytes -= this.#sizeOf(items[drop++]);
    }
    if (drop > 0) items.splice(0, drop);
    items.push(item);
    this.#bytes += size;
    if (this.#bytes > limits.idleBytes && this.#timer === undefined) {
      this.#arm();
    }
  }

  #arm(): void {
    const timer = setTimeout(this.#sweep, this.#limits.sweepMs);
    // Never what keeps a process alive.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #onSweep(): void {
    this.#timer = undefined;
    if (this.#used) {
      this.#used = false;
      this.#arm();
      return;
    }
    // The oldest go first: the newest are the likeliest still cached.
    const items = this.#items;
    let drop = 0;
    while (this.#bytes > this.#limits.idleBytes && drop < items.length) {
      this.#bytes -= this.#sizeOf(items[drop++]);
    }
    items.splice(0, drop);
  }
}
