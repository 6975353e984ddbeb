// client.events(), AbortSignal on connect/register/query, and the
// reconnecting client, over real loopback sockets.

import assert from "node:assert/strict";
import {
  connect,
  connectReconnecting,
  type Event,
  type EventType,
  listen,
  type ListenOptions,
  type RegisterEvent,
  type Server,
} from "../mod.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

function toEvents(events: RegisterEvent[], session: number): Event[] {
  return events.map((e, i) => ({
    id: { server: 1, session, instance: i + 1 },
    type: e.type,
    timestamp: { s: 1700000000 + session, us: 0 },
    sourceTimestamp: e.sourceTimestamp ?? null,
    payload: e.payload ?? null,
  }));
}

/** A server that registers and notifies what it registered. */
async function echoServer(
  options: ListenOptions = {},
  addr = LOCAL,
): Promise<Server> {
  let session = 0;
  const server: Server = await listen(addr, {
    status: "operational",
    registerCb: async (_info, events) => {
      const registered = toEvents(events, ++session);
      await server.notifyEvents(registered, false);
      return registered;
    },
    ...options,
  });
  return server;
}

Deno.test("events() yields notified batches in order and ends when the client closes", async () => {
  await using server = await echoServer();
  const client = await connect(server.addresses[0], "it", {
    subscriptions: [["a", "*"]],
  });
  const it = client.events();
  for (let i = 0; i < 3; i++) {
    await client.register([{ type: ["a", String(i)] }, { type: ["b"] }], true);
  }
  const seen: EventType[] = [];
  for await (const events of it) {
    seen.push(...events.map((e) => e.type));
    if (seen.length === 3) await client.asyncClose();
  }
  assert.deepEqual(seen, [["a", "0"], ["a", "1"], ["a", "2"]]);
  // An iterator asked for after close ends at once.
  assert.deepEqual(await client.events().next(), {
    value: undefined,
    done: true,
  });
});

Deno.test("breaking out of events() stops only that iterator", async () => {
  await using server = await echoServer();
  await using client = await connect(server.addresses[0], "it", {
    subscriptions: [["*"]],
  });
  const first = client.events();
  const second = client.events();
  await client.register([{ type: ["x"] }], true);
  for await (const _ of first) break;
  await client.register([{ type: ["y"] }], true);
  const a = await second.next();
  const b = await second.next();
  assert.deepEqual([a.value?.[0].type, b.value?.[0].type], [["x"], ["y"]]);
  assert.deepEqual(await first.next(), { value: undefined, done: true });
});

Deno.test("an aborted query rejects with the signal's reason and the connection stays usable", async () => {
  const gate = Promise.withResolvers<void>();
  await using server = await echoServer({
    queryCb: async () => {
      await gate.promise;
      return { events: [], moreFollows: false };
    },
  });
  await using client = await connect(server.addresses[0], "abort");
  const controller = new AbortController();
  const pending = client.query({ kind: "latest" }, {
    signal: controller.signal,
  });
  controller.abort(new Error("user gave up"));
  await assert.rejects(pending, /user gave up/);
  await assert.rejects(
    client.query({ kind: "latest" }, { signal: AbortSignal.timeout(20) }),
    (e: Error) => e.name === "TimeoutError",
  );
  gate.resolve();
  // The late replies are dropped; the next request works.
  const registered = await client.register(
    [{ type: ["still", "works"] }],
    true,
  );
  assert.deepEqual(registered?.[0].type, ["still", "works"]);
  assert.equal(client.isOpen, true);
});

Deno.test("connect honours an aborted signal", async () => {
  await using server = await echoServer();
  const controller = new AbortController();
  controller.abort(new Error("no"));
  await assert.rejects(
    connect(server.addresses[0], "x", { signal: controller.signal }),
    /no/,
  );
});

Deno.test("the reconnecting client redials after a server restart and re-sends its subscriptions", async () => {
  const seenSubscriptions: EventType[][] = [];
  const connectedCb: ListenOptions["connectedCb"] = (info) => {
    seenSubscriptions.push(info.subscription.getQueryTypes());
  };
  let server = await echoServer({ connectedCb });
  const addr = server.addresses[0];
  const states: boolean[] = [];
  const rc = connectReconnecting(addr, "rc", {
    subscriptions: [["a", "?"]],
    minDelay: 20,
    maxDelay: 100,
    connectionCb: (connected) => states.push(connected),
  });
  const batches = rc.events();
  try {
    await rc.register([{ type: ["a", "1"] }], true);
    await server.asyncClose();
    const lost = Promise.withResolvers<void>();
    const poll = setInterval(() => states.length === 2 && lost.resolve(), 5);
    await lost.promise.finally(() => clearInterval(poll));
    assert.equal(rc.client, null);
    server = await echoServer({ connectedCb }, addr);
    const registered = await rc.register([{ type: ["a", "2"] }], true);
    assert.deepEqual(registered?.[0].type, ["a", "2"]);
    const got = [(await batches.next()).value, (await batches.next()).value];
    assert.deepEqual(got.map((b) => b?.[0].type), [["a", "1"], ["a", "2"]]);
    assert.deepEqual(seenSubscriptions, [[["a", "?"]], [["a", "?"]]]);
    assert.deepEqual(states, [true, false, true]);
    assert.equal(rc.serverStatus, "operational");
  } finally {
    await rc.asyncClose();
    await server.asyncClose();
  }
  assert.deepEqual(await batches.next(), { value: undefined, done: true });
});
