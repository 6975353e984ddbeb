/**
 * Store queries run in turns of the event loop: a query's steps run until
 * the turn is spent, then timers and other sockets run before the next
 * ones, so a long query does not hold up other clients.
 *
 * @module
 */

import { TURN_MS, turnSpent, yieldToEventLoop } from "../common/async/mod.ts";
import type { QueryResult } from "../common/event/mod.ts";
import type { SteppedQuery } from "../store/mod.ts";

/**
 * Milliseconds of its own steps after which a query counts as long, and
 * waits for one of the long queries' places.
 */
const LONG_QUERY_MS = 2 * TURN_MS;

/**
 * Runs stepped queries in turns, at most `maxLong` long ones at a time.
 *
 * Each running query holds its result until answered (a 16 MiB latest
 * result is some 50 MB of heap): without the bound, clients sending long
 * queries together would make the heap grow with their number, where
 * queries run in one go were built one at a time.
 */
export class QueryTurns {
  readonly #maxLong: number;
  #long = 0;
  // Long queries waiting for a place, in arrival order.
  readonly #waiting: (() => void)[] = [];

  /** @param maxLong Most long queries under way at once. */
  constructor(maxLong: number) {
    this.#maxLong = maxLong;
  }

  /**
   * Run `query` to its result: at once when it is done within the turn,
   * else a promise.
   *
   * @throws What the query's steps throw (the promise rejects with it).
   */
  run(query: SteppedQuery): QueryResult | Promise<QueryResult> {
    const t = performance.now();
    return runSteps(query) ??
      this.#runInTurns(query, performance.now() - t);
  }

  async #runInTurns(
    query: SteppedQuery,
    worked: number,
  ): Promise<QueryResult> {
    let long = false;
    try {
      for (;;) {
        await yieldToEventLoop();
        if (!long && worked >= LONG_QUERY_MS) {
          await this.#longPlace();
          long = true;
        }
        const t = performance.now();
        const result = runSteps(query);
        worked += performance.now() - t;
        if (result !== undefined) return result;
      }
    } finally {
      if (long) this.#leave();
    }
  }

  #longPlace(): Promise<void> | void {
    if (this.#long < this.#maxLong) {
      this.#long++;
      return;
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  // The place goes to the next query waiting, if any.
  #leave(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#long--;
  }
}

// Steps of `query` until it answers or the turn is spent: by the process's
// budget, or after TURN_MS of steps. A step is a far larger unit of work
// than turnSpent counts on (it reads the clock every 8th one): left to it
// alone, a run of steps would keep the event loop waiting some 15 ms.
function runSteps(query: SteppedQuery): QueryResult | undefined {
  const end = performance.now() + TURN_MS;
  for (;;) {
    const result = query.step();
    if (result !== undefined) return result;
    if (turnSpent() || performance.now() >= end) return;
  }
}
