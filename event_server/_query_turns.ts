/**
 * Store queries run in turns of the event loop: after a first run, a
 * query's steps run until the turn is spent, then timers and other
 * sockets run before the next ones, so a long query does not hold up
 * other clients.
 *
 * @module
 */

import { TURN_MS, turnSpent, yieldToEventLoop } from "../common/async/mod.ts";
import type { QueryResult } from "../common/event/mod.ts";
import type { SteppedQuery } from "../store/mod.ts";

/**
 * Milliseconds a query runs in one go before it first yields: short
 * queries are answered at once, as when run in one go, and a medium one
 * yields a few times at most. A yield costs a query 2-3 ms here (a 0 ms
 * timer): yielding every TURN_MS from the start made a timeseries page of
 * 4,096 small events (20-30 ms of steps) 15 % slower end to end; from
 * 15 ms on, 3 %. Later runs end with the turn.
 */
export const FIRST_RUN_MS = 15;

/**
 * Runs stepped queries in turns, at most `maxLong` long ones at a time
 * (those not done within their first run; the others wait for one to
 * end, in arrival order).
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
   * Run `query` to its result: at once when it is done within its first
   * run, else a promise.
   *
   * @throws What the query's steps throw (the promise rejects with it).
   */
  run(query: SteppedQuery): QueryResult | Promise<QueryResult> {
    return runSteps(query, FIRST_RUN_MS, false) ?? this.#runInTurns(query);
  }

  async #runInTurns(query: SteppedQuery): Promise<QueryResult> {
    await this.#enter();
    try {
      for (;;) {
        await yieldToEventLoop();
        const result = runSteps(query, TURN_MS, true);
        if (result !== undefined) return result;
      }
    } finally {
      this.#leave();
    }
  }

  #enter(): Promise<void> | void {
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

// Steps of `query` until it answers or `ms` have passed, or, with
// `budget`, the process's turn budget is spent. A step is a far larger
// unit of work than turnSpent counts on (it reads the clock every 8th
// one), so the clock is read after every step too; turnSpent is called
// even when not heeded, so that the steps count against the budget.
function runSteps(
  query: SteppedQuery,
  ms: number,
  budget: boolean,
): QueryResult | undefined {
  const end = performance.now() + ms;
  for (;;) {
    const result = query.step();
    if (result !== undefined) return result;
    if ((turnSpent() && budget) || performance.now() >= end) return;
  }
}
