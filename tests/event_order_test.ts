import assert from "node:assert/strict";
import { compareEvents } from "../common/event/mod.ts";
import type { Event, Timestamp } from "../common/event/mod.ts";

function event(
  server: number,
  session: number,
  instance: number,
  timestamp: Timestamp = { s: 0, us: 0 },
): Event {
  return {
    id: { server, session, instance },
    type: ["a"],
    timestamp,
    sourceTimestamp: null,
    payload: null,
  };
}

Deno.test("same server and session: by instance, timestamps ignored", () => {
  const a = event(1, 1, 1, { s: 100, us: 0 });
  const b = event(1, 1, 2, { s: 5, us: 0 });
  assert.equal(compareEvents(a, b), -1);
  assert.equal(compareEvents(b, a), 1);
});

Deno.test("same server: by session, then instance", () => {
  const a = event(1, 1, 9, { s: 100, us: 0 });
  const b = event(1, 2, 1, { s: 5, us: 0 });
  assert.equal(compareEvents(a, b), -1);
  assert.equal(compareEvents(b, a), 1);
});

Deno.test("same id compares equal", () => {
  assert.equal(
    compareEvents(event(1, 2, 3), event(1, 2, 3, { s: 9, us: 0 })),
    0,
  );
});

Deno.test("different servers: by timestamp, ids ignored", () => {
  const a = event(2, 1, 1, { s: 10, us: 5 });
  const b = event(1, 9, 9, { s: 10, us: 6 });
  assert.equal(compareEvents(a, b), -1);
  assert.equal(compareEvents(b, a), 1);
  // Seconds may be number or bigint.
  const c = event(3, 1, 1, { s: 10n, us: 7 });
  assert.equal(compareEvents(c, b), 1);
  assert.equal(compareEvents(b, c), -1);
});

Deno.test("different servers, equal timestamps: first operand is smaller", () => {
  // As hat-event's Event.__lt__ (true both ways) and __gt__ (false both ways).
  const a = event(1, 1, 1, { s: 10, us: 0 });
  const b = event(2, 1, 1, { s: 10n, us: 0 });
  assert.equal(compareEvents(a, b), -1);
  assert.equal(compareEvents(b, a), -1);
});

Deno.test("orders one server's events like the reference's sorted()", () => {
  const events = [
    event(1, 2, 2),
    event(1, 1, 3),
    event(1, 2, 1),
    event(1, 1, 1),
    event(1, 10, 1),
  ];
  const ids = events.sort(compareEvents).map((e) =>
    [e.id.session, e.id.instance].join(".")
  );
  assert.deepEqual(ids, ["1.1", "1.3", "2.1", "2.2", "10.1"]);
});
