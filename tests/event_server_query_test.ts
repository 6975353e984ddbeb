// Long queries of the Event Server in turns (QueryTurns): at most two long
// ones at a time, yielding after a turn while another client is about.
// The load test with 200,000 types is tests/load/long_query_test.ts.

import assert from "node:assert/strict";
import {
  ALONE_RUN_MS,
  QueryTurns,
  QUIET_MS,
} from "../event_server/_query_turns.ts";
import { TURN_MS } from "../common/async/mod.ts";
import type { SteppedQuery } from "../store/mod.ts";

Deno.test("long queries run at most two at a time, short ones at once", async () => {
  // Fake stepped queries: each step busy for 1 ms. Past its first run
  // (and a step, and a margin), a query that steps holds a place.
  const PLACE = ALONE_RUN_MS + 5;
  const running = new Set<string>();
  let most = 0;
  const query = (name: string, steps: number): SteppedQuery => {
    let work = 0;
    let n = 0;
    return {
      step() {
        if (work >= PLACE) {
          running.add(name);
          most = Math.max(most, running.size);
        }
        const t = performance.now();
        while (performance.now() - t < 1);
        work += performance.now() - t;
        if (++n < steps) return;
        running.delete(name);
        return { events: [], moreFollows: name.length > 0 };
      },
    };
  };
  const turns = new QueryTurns(2);
  const long = ["a", "b", "c", "d"].map((name) =>
    turns.run(query(name, 80), 1)
  );
  assert.ok(long.every((r) => r instanceof Promise));
  // While they run, a short query is answered at once.
  await new Promise((resolve) => setTimeout(resolve, 30));
  const short = turns.run(query("short", 3), 2);
  assert.ok(!(short instanceof Promise));
  const results = await Promise.all(long);
  assert.deepEqual(
    results,
    long.map(() => ({ events: [], moreFollows: true })),
  );
  assert.equal(most, 2);
});

Deno.test("a query yields after a turn while another client is about, after 25 ms when not", async () => {
  const turns = new QueryTurns(2);
  // Steps (of 1 ms or more) done at once, before the query first yields,
  // and the time they took.
  const atOnce = (conn: number) => {
    let n = 0;
    const t = performance.now();
    const result = turns.run({
      step() {
        const t = performance.now();
        while (performance.now() - t < 1);
        return ++n === 40 ? { events: [], moreFollows: false } : undefined;
      },
    }, conn);
    return { steps: n, ms: performance.now() - t, result };
  };
  const quiet = atOnce(1);
  assert.ok(quiet.ms >= ALONE_RUN_MS && quiet.steps < 40, `${quiet.ms}`);
  await quiet.result;
  // Its own requests do not count; another connection's do, for a while.
  turns.note(1);
  const own = atOnce(1);
  assert.ok(own.ms >= ALONE_RUN_MS && own.steps < 40, `${own.ms}`);
  await own.result;
  turns.note(2);
  const busy = atOnce(1);
  assert.ok(busy.steps <= TURN_MS + 1, `${busy.steps} steps`);
  await busy.result;
  await new Promise((resolve) => setTimeout(resolve, QUIET_MS + 10));
  const later = atOnce(1);
  assert.ok(later.ms >= ALONE_RUN_MS && later.steps < 40, `${later.ms}`);
  await later.result;
});
