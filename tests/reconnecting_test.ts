// The reconnecting client (issue 29): options in milliseconds, refused when
// they are not durations; register overloads. Over loopback sockets,
// against our server started and stopped.

import assert from "node:assert/strict";
import type { Address } from "../common/chatter/mod.ts";
import type { Event, RegisterEvent } from "../common/event/mod.ts";
import {
  connectReconnecting,
  type ReconnectOptions,
} from "../reconnecting_client.ts";
import { listen, type Server } from "../server.ts";
import { ev, LOCAL } from "./_net.ts";

// True when A and B are the same type (not merely assignable).
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends
  (<T>() => T extends B ? 1 : 2) ? true : false;
function assertType<_ extends true>(): void {}

function registered(events: RegisterEvent[]): Event[] {
  return events.map((e, i) => ev(e.type, i + 1));
}

function echo(addr: Address = LOCAL): Promise<Server> {
  return listen(addr, {
    status: "operational",
    registerCb: (_info, events) => registered(events),
  });
}

Deno.test("reconnecting client: register has the client's overloads, for true, false and a boolean", async () => {
  await using server = await echo();
  await using rc = connectReconnecting(server.addresses[0], "rc");
  const events = [{ type: ["a", "b"] }];
  const withResponse = await rc.register(events, true);
  const without = await rc.register(events, false);
  const omitted = await rc.register(events);
  const flag: boolean = Math.random() < 2;
  const either = await rc.register(events, flag);
  assertType<Equal<typeof withResponse, Event[] | null>>();
  assertType<Equal<typeof without, null>>();
  assertType<Equal<typeof omitted, null>>();
  assertType<Equal<typeof either, Event[] | null>>();
  assert.deepEqual(withResponse?.map((e) => e.type), [["a", "b"]]);
  assert.equal(without, null);
  assert.equal(omitted, null);
  assert.deepEqual(either?.map((e) => e.type), [["a", "b"]]);
});

Deno.test("reconnecting client: minDelay and maxDelay are milliseconds, and a value that is no duration is a TypeError naming the option", () => {
  const addr = { hostname: "127.0.0.1", port: 1 };
  const bad: [ReconnectOptions, RegExp][] = [
    [{ minDelay: -1 }, /^minDelay must be a finite non-negative number/],
    [{ minDelay: NaN }, /^minDelay must be/],
    [{ maxDelay: Infinity }, /^maxDelay must be/],
    [{ maxDelay: "100" as unknown as number }, /^maxDelay must be .*string/],
    [{ minDelay: 200, maxDelay: 100 }, /minDelay .* must not exceed maxDelay/],
    [{ minDelay: 20_000 }, /minDelay .* must not exceed maxDelay \(10000 ms/],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => connectReconnecting(addr, "rc", options),
      (e: Error) => e instanceof TypeError && message.test(e.message),
      JSON.stringify(options),
    );
  }
});
