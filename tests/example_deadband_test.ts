// The example deadband module (examples/deadband.ts) in a running Event
// Server: a subscriber of the deadband types hears of significant changes
// only, in the session of the measurement that made them.

import assert from "node:assert/strict";
import { connect, type Event } from "../mod.ts";
import { startEventServer } from "../event_server/mod.ts";
import { info } from "../examples/deadband.ts";
import { until } from "./_net.ts";

Deno.test("example deadband module: forwards changes beyond the deadband", async () => {
  await using server = await startEventServer({
    db: ":memory:",
    port: 0,
    modules: [{
      info,
      conf: { subscriptions: [["measurement", "*"]], deadband: 0.5 },
    }],
  });
  const heard: Event[] = [];
  await using _sub = await connect(server.addresses[0], "sub", {
    subscriptions: [["deadband", "*"]],
    eventsCb: (_c, events) => void heard.push(...events),
  });
  await using c = await connect(server.addresses[0], "gateway");
  const values = [10, 10.2, 10.4, 10.6, 9.9, 9.8, 20];
  const sessions: number[] = [];
  for (const v of values) {
    const own = await c.register([{
      type: ["measurement", "t1"],
      payload: { kind: "json", data: v },
    }], true);
    sessions.push(own![0].id.session);
  }
  await until(() => heard.length === 4);
  assert.deepEqual(heard.map((e) => e.payload?.data), [10, 10.6, 9.9, 20]);
  assert.deepEqual(
    heard.map((e) => e.type),
    Array(4).fill(["deadband", "measurement", "t1"]),
  );
  // Each in the session of its measurement, right after it.
  assert.deepEqual(
    heard.map((e) => [e.id.session, e.id.instance]),
    [0, 3, 4, 6].map((i) => [sessions[i], 2]),
  );
});
