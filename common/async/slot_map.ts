/**
 * A map from numeric keys to values that lets go of them at once.
 *
 * Requests waiting for responses were kept in a `Map`; with several
 * requests in flight on one connection, decoded responses then survived
 * young-generation GCs and were promoted (response batches are large, so
 * with several requests in flight GC took a large share of register
 * throughput). A V8 `Map` that rehashes keeps its old
 * table, which still points at the entries that were in it; once that
 * table is in the old generation, the scavenger treats those pointers as
 * roots, so everything reachable from a value that was ever in the map
 * (a resolver, its promise, the response it resolved with) lives until
 * the next full GC. Here the `Map` holds slot numbers only, and the
 * values sit in an array whose slots are cleared when taken.
 *
 * @module
 */

/**
 * Values by non-negative numeric key; `take` clears the value's slot at
 * once. The only entry of an otherwise empty map is kept in two fields,
 * not in the `Map`: one request in flight (a round trip) costs no `Map`
 * insertion and deletion.
 */
export class SlotMap<T> {
  #oneKey = -1;
  #oneValue: T | undefined = undefined;
  readonly #slots = new Map<number, number>();
  #values: (T | undefined)[] = [];
  #used = 0;
  readonly #free: number[] = [];

  /** Number of entries. */
  get size(): number {
    return this.#slots.size + (this.#oneKey < 0 ? 0 : 1);
  }

  /** Set the value under `key` (a non-negative number). */
  set(key: number, value: T): void {
    if (key === this.#oneKey || (this.#oneKey < 0 && this.#slots.size === 0)) {
      this.#oneKey = key;
      this.#oneValue = value;
      return;
    }
    let slot = this.#slots.get(key);
    if (slot === undefined) {
      slot = this.#free.pop() ?? this.#newSlot();
      this.#slots.set(key, slot);
    }
    this.#values[slot] = value;
  }

  /** The value under `key`, if any. */
  get(key: number): T | undefined {
    if (key === this.#oneKey) return this.#oneValue;
    const slot = this.#slots.get(key);
    return slot === undefined ? undefined : this.#values[slot];
  }

  /** Remove the value under `key` and return it, if any. */
  take(key: number): T | undefined {
    if (key === this.#oneKey) {
      const value = this.#oneValue;
      this.#oneKey = -1;
      this.#oneValue = undefined;
      return value;
    }
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    this.#slots.delete(key);
    const value = this.#values[slot];
    this.#values[slot] = undefined;
    this.#free.push(slot);
    return value;
  }

  /** Remove every entry and return their values. */
  takeAll(): T[] {
    const values: T[] = [];
    if (this.#oneKey >= 0) values.push(this.#oneValue as T);
    this.#oneKey = -1;
    this.#oneValue = undefined;
    for (const slot of this.#slots.values()) {
      values.push(this.#values[slot] as T);
    }
    this.#slots.clear();
    clear(this.#values);
    this.#used = 0;
    this.#free.length = 0;
    return values;
  }

  #newSlot(): number {
    const values = this.#values;
    if (this.#used === values.length) {
      // Grown by hand, not by V8: an array V8 grows leaves its old
      // storage pointing at the values, the very retention avoided here.
      const next: (T | undefined)[] = new Array(Math.max(4, values.length * 2));
      for (let i = 0; i < values.length; i++) next[i] = values[i];
      clear(values);
      this.#values = next;
    }
    return this.#used++;
  }
}

// Slot by slot: `fill(undefined)` does not let go of them either (the
// probe in tests/_gc_probe.ts still finds them).
function clear(values: unknown[]): void {
  for (let i = 0; i < values.length; i++) values[i] = undefined;
}
