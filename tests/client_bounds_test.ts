// The client's bounds (issue 27): events() buffers at most maxBatches and
// then stops reading, like the callback path; a signal ends an iterator;
// connect gives up after connectTimeout; the reconnecting client holds at
// most maxPending requests while disconnected. Over loopback sockets,
// against our server or a raw listener that never answers.

import assert from "node:assert/strict";
import { connect, DEFAULT_CONNECT_TIMEOUT } from "../client.ts";
import {
  type Address,
  BackpressureError,
  ConnectionError,
} from "../common/chatter/mod.ts";
import type { Event, RegisterEvent } from "../common/event/mod.ts";
import { MsgType } from "../common/eventer/mod.ts";
import {
  connectReconnecting,
  DEFAULT_RECONNECT_MAX_PENDING,
  ReconnectingQueueFullError,
} from "../reconnecting_client.ts";
import { listen, type Server } from "../server.ts";
import {
  captureLog,
  deadline,
  delay,
  ev,
  LOCAL,
  RawListener,
  stillPending,
  until,
} from "./_net.ts";

function operational(addr: Address = LOCAL): Promise<Server> {
  return listen(addr, { status: "operational" });
}

Deno.test("client bounds: a full events() iterator stops the reading, so notifyEvents with ack waits for its consumer", async () => {
  await using server = await operational();
  await using client = await connect(server.addresses[0], "slow", {
    subscriptions: [["a", "*"]],
  });
  const it = client.events({ maxBatches: 3 });
  const N = 20;
  let acked = 0;
  const notifying = (async () => {
    for (let i = 1; i <= N; i++) {
      await server.notifyEvents([ev(["a", String(i)], i)], false, true);
      acked = i;
    }
  })();
  await until(() => it.pending >= 3, 2000, "three batches buffered");
  // Batch 4 is neither taken from the connection nor acked: the server
  // waits for a consumer that takes nothing.
  assert.equal(await stillPending(notifying, 200), true);
  assert.equal(it.pending, 3);
  assert.equal(acked, 3);
  // Each batch taken lets one more in, and never more than the bound.
  const got: number[] = [];
  for (let n = 1; n <= N; n++) {
    const r = await deadline(it.next(), 2000, `batch ${n}`);
    got.push(r.value![0].id.instance);
    assert.ok(it.pending <= 3, `${it.pending} batches buffered`);
  }
  await deadline(notifying, 2000, "every notification acked");
  assert.deepEqual(got, Array.from({ length: N }, (_, i) => i + 1));
  assert.equal(acked, N);

  // Closing a client held back by a full iterator does not wait for the
  // consumer; the iterator gives what it holds, then ends.
  const more = (async () => {
    for (let i = N + 1; i <= N + 10; i++) {
      await server.notifyEvents([ev(["a", String(i)], i)], false, true);
    }
  })();
  await until(() => it.pending >= 3, 2000, "full again");
  await deadline(client.asyncClose(), 2000, "client to close");
  await deadline(more, 2000, "the acks to resolve on disconnect");
  const rest: number[] = [];
  for await (const batch of it) rest.push(batch[0].id.instance);
  assert.deepEqual(rest, rest.map((_, i) => N + 1 + i));
  assert.ok(rest.length >= 3 && rest.length <= 4, `${rest}`);
});

Deno.test("client bounds: a burst without ack reaches a slow for-await consumer whole and in order, with at most maxBatches buffered", async () => {
  await using server = await operational();
  await using client = await connect(server.addresses[0], "slow", {
    subscriptions: [["a", "*"]],
    receiveQueueSize: 8,
  });
  await until(() => server.getConnInfos().length === 1);
  const it = client.events({ maxBatches: 4 });
  const N = 300;
  // All queued at once: the socket and the client's inbox take what they
  // can, the rest waits on the server's side.
  for (let i = 1; i <= N; i++) {
    server.notifyEvents([ev(["a", String(i)], i)], false);
  }
  const got: number[] = [];
  let mostBuffered = 0;
  for await (const batch of it) {
    got.push(batch[0].id.instance);
    if (got.length === N) break;
    await delay(1); // slower than the server: time for the socket to fill
    mostBuffered = Math.max(mostBuffered, it.pending);
  }
  assert.deepEqual(got, Array.from({ length: N }, (_, i) => i + 1));
  assert.equal(mostBuffered, 4);
});

Deno.test("client bounds: a signal ends its events() iterator, also while waiting, and a full aborted iterator no longer holds the client back", async () => {
  await using server = await operational();
  await using client = await connect(server.addresses[0], "abort", {
    subscriptions: [["a", "*"]],
  });
  assert.throws(() => client.events({ maxBatches: 0 }), RangeError);

  // Aborted while its consumer waits in next().
  const waiting = new AbortController();
  const idle = client.events({ signal: waiting.signal });
  const next = idle.next();
  waiting.abort();
  assert.deepEqual(await deadline(next, 1000, "next() to end"), {
    value: undefined,
    done: true,
  });

  // Full and never consumed: the client stops reading until it is aborted.
  const stuck = new AbortController();
  const full = client.events({ maxBatches: 1, signal: stuck.signal });
  const other = client.events();
  await server.notifyEvents([ev(["a", "1"], 1)], false, true);
  const second = server.notifyEvents([ev(["a", "2"], 2)], false, true);
  assert.equal(await stillPending(second, 200), true);
  stuck.abort();
  await deadline(second, 2000, "the ack once aborted");
  assert.deepEqual(await full.next(), { value: undefined, done: true });
  const a = await deadline(other.next(), 1000);
  const b = await deadline(other.next(), 1000);
  assert.deepEqual([a.value?.[0].type, b.value?.[0].type], [["a", "1"], [
    "a",
    "2",
  ]]);

  // An iterator asked for with an aborted signal ends at once.
  assert.deepEqual(
    await client.events({ signal: AbortSignal.abort() }).next(),
    { value: undefined, done: true },
  );
});

Deno.test("client bounds: connect gives up after connectTimeout when the server never answers the init, with or without a signal", async () => {
  assert.equal(DEFAULT_CONNECT_TIMEOUT, 20_000);
  using listener = new RawListener();
  for (const signal of [undefined, new AbortController().signal]) {
    const accepted = listener.accept();
    const start = performance.now();
    const error = await deadline(
      connect(listener.addr, "silent", { connectTimeout: 300, signal }).then(
        () => null,
        (e: Error) => e,
      ),
      3000,
      "connect to give up",
    );
    const waited = performance.now() - start;
    assert.ok(error instanceof ConnectionError, String(error));
    assert.match(error.message, /timed out after 300 ms/);
    assert.ok(waited >= 250, `gave up after ${waited} ms`);
    // The init request was sent, then the connection closed.
    using peer = await accepted;
    const msgs = await peer.eof(2000);
    assert.deepEqual(msgs.map((m) => m.type), [MsgType.InitReq]);
  }
  // connectTimeout null: the signal alone governs.
  const accepted = listener.accept();
  await assert.rejects(
    connect(listener.addr, "silent", {
      connectTimeout: null,
      signal: AbortSignal.timeout(100),
    }),
    (e: Error) => e.name === "TimeoutError",
  );
  (await accepted).close();
});

// A loopback address nothing listens on (bound, then closed).
function freeAddress(): Address {
  const probe = Deno.listen(LOCAL);
  const { hostname, port } = probe.addr as Deno.NetAddr;
  probe.close();
  return { hostname, port };
}

function registered(events: RegisterEvent[]): Event[] {
  return events.map((e, i) => ev(e.type, i + 1));
}

Deno.test("reconnecting client: while disconnected it holds at most maxPending requests, rejects the next at once, and sends the held ones once connected", async () => {
  assert.equal(DEFAULT_RECONNECT_MAX_PENDING, 1024);
  using _log = captureLog(); // the refused redials
  const addr = freeAddress();
  const rc = connectReconnecting(addr, "rc", {
    maxPending: 3,
    minDelay: 20,
    maxDelay: 50,
  });
  let server: Server | null = null;
  try {
    const held = [1, 2].map((i) =>
      rc.register([{ type: ["a", String(i)] }], true)
    );
    // A request given up frees its place.
    const giveUp = new AbortController();
    const abandoned = rc.query({ kind: "latest" }, { signal: giveUp.signal });
    giveUp.abort();
    await assert.rejects(abandoned);
    held.push(rc.register([{ type: ["a", "3"] }], true));
    // Awaited below; observed now so that a failure before that reports
    // itself rather than their rejection on close.
    for (const p of held) p.catch(() => {});
    const refused = await deadline(
      Promise.allSettled([
        rc.register([{ type: ["a", "4"] }], true),
        rc.query({ kind: "latest" }),
      ]),
      500,
      "refusals",
    );
    for (const r of refused) {
      const error = r.status === "rejected" ? r.reason : null;
      assert.ok(error instanceof ReconnectingQueueFullError, String(error));
      assert.ok(error instanceof BackpressureError);
      assert.equal(error.maxPending, 3);
    }
    const seen: string[] = [];
    server = await listen(addr, {
      registerCb: (_info, events) => {
        seen.push(...events.map((e) => e.type.join("/")));
        return registered(events);
      },
    });
    const results = await deadline(Promise.all(held), 3000, "held requests");
    assert.deepEqual(results.map((r) => r?.[0].type), [["a", "1"], ["a", "2"], [
      "a",
      "3",
    ]]);
    assert.deepEqual(seen, ["a/1", "a/2", "a/3"]);
    // Connected: requests are not held, so not counted.
    const more = await Promise.all(
      [5, 6, 7, 8].map((i) => rc.register([{ type: ["a", String(i)] }], true)),
    );
    assert.deepEqual(more.map((r) => r?.[0].type[1]), ["5", "6", "7", "8"]);
  } finally {
    await rc.asyncClose();
    await server?.asyncClose();
  }
});

Deno.test("reconnecting client: a full events() iterator stops the reading, so notifyEvents with ack waits for its consumer; it does not hold up a reconnection", async () => {
  using _log = captureLog(); // a redial may be refused
  let server = await operational();
  const addr = server.addresses[0];
  const states: boolean[] = [];
  const rc = connectReconnecting(addr, "rc", {
    subscriptions: [["a", "*"]],
    minDelay: 20,
    maxDelay: 50,
    connectionCb: (connected) => states.push(connected),
  });
  try {
    await rc.waitConnected();
    await until(() => server.getConnInfos().length === 1);
    const it = rc.events({ maxBatches: 2 });
    const N = 10;
    let acked = 0;
    const notifying = (async () => {
      for (let i = 1; i <= N; i++) {
        await server.notifyEvents([ev(["a", String(i)], i)], false, true);
        acked = i;
      }
    })();
    await until(() => it.pending >= 2, 2000, "two batches buffered");
    assert.equal(await stillPending(notifying, 200), true);
    assert.equal(it.pending, 2);
    assert.equal(acked, 2);
    const got: number[] = [];
    for (let n = 1; n <= N; n++) {
      const r = await deadline(it.next(), 2000, `batch ${n}`);
      got.push(r.value![0].id.instance);
      assert.ok(it.pending <= 2, `${it.pending} batches buffered`);
    }
    await deadline(notifying, 2000, "every notification acked");
    assert.deepEqual(got, Array.from({ length: N }, (_, i) => i + 1));

    // Full again, and the server goes away: the client reconnects while
    // the consumer takes nothing.
    const more = (async () => {
      for (let i = N + 1; i <= N + 5; i++) {
        await server.notifyEvents([ev(["a", String(i)], i)], false, true);
      }
    })();
    await until(() => it.pending >= 2, 2000, "full again");
    await server.asyncClose();
    await more;
    server = await operational(addr);
    await until(() => states.length === 3, 3000, "reconnected");
    assert.deepEqual(states, [true, false, true]);
    assert.equal((await it.next()).value![0].id.instance, N + 1);
  } finally {
    await rc.asyncClose();
    await server.asyncClose();
  }
});
