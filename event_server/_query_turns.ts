/**
 * Store queries run in turns of the event loop: a query's steps run until
 * the turn is spent, then timers and other sockets run before the next
 * ones, so a long query does not hold up other clients; while no other
 * client is about, in longer runs.
 *
 * @module
 */

import { TURN_MS, turnSpent, yieldToEventLoop } from "../common/async/mod.ts";
import type { QueryResult } from "../common/event/mod.ts";
import type { ConnectionId } from "../server.ts";
import type { SteppedQuery } from "../store/mod.ts";

/**
 * Milliseconds of steps between a query's yields while no other client
 * is about. A yield costs a query 2-3 ms here (a 0 ms timer): yielding
 * every TURN_MS made a timeseries page of 4,096 small events (20-30 ms of
 * steps) some 15 % slower end to end than run in one go, a latest query
 * over 100,000 types spend a third of its time yielding. With runs this
 * long, most queries are done before their first yield.
 */
export const ALONE_RUN_MS = 25;

/**
 * Milliseconds since another client's last request after which no other
 * client counts as about.
 */
export const QUIET_MS = 100;

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
  // The last two connections that sent a request, and when: the latest
  // other than any one connection is one of them.
  #last: [ConnectionId, number] = [-1, -Infinity];
  #before: [ConnectionId, number] = [-1, -Infinity];

  /** @param maxLong Most long queries under way at once. */
  constructor(maxLong: number) {
    this.#maxLong = maxLong;
  }

  /** A request of connection `conn` is being handled. */
  note(conn: ConnectionId): void {
    const now = performance.now();
    if (this.#last[0] !== conn) this.#before = this.#last;
    this.#last = [conn, now];
  }

  /**
   * Run `query` of connection `conn` to its result: at once when it is
   * done within its first run, else a promise. A run ends with the turn
   * when another client sent a request within QUIET_MS, else after
   * ALONE_RUN_MS.
   *
   * @throws What the query's steps throw (the promise rejects with it).
   */
  run(
    query: SteppedQuery,
    conn: ConnectionId,
  ): QueryResult | Promise<QueryResult> {
    return this.#runSteps(query, conn) ?? this.#runInTurns(query, conn);
  }

  async #runInTurns(
    query: SteppedQuery,
    conn: ConnectionId,
  ): Promise<QueryResult> {
    await this.#enter();
    try {
      for (;;) {
        await yieldToEventLoop();
        const result = this.#runSteps(query, conn);
        if (result !== undefined) return result;
      }
    } finally {
      this.#leave();
    }
  }

  // Steps of `query` until it answers or the run is over. A step is a far
  // larger unit of work than turnSpent counts on (it reads the clock every
  // 8th one), so the clock is read after every step too; turnSpent is
  // called even when not heeded, so that the steps count against the
  // process's budget.
  #runSteps(
    query: SteppedQuery,
    conn: ConnectionId,
  ): QueryResult | undefined {
    const [other, at] = this.#last[0] === conn ? this.#before : this.#last;
    const alone = other === conn || performance.now() - at > QUIET_MS;
    const end = performance.now() + (alone ? ALONE_RUN_MS : TURN_MS);
    for (;;) {
      const result = query.step();
      if (result !== undefined) return result;
      if ((turnSpent() && !alone) || performance.now() >= end) return;
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
