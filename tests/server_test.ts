// Eventer server behaviour (SPEC §4, server) over loopback sockets: with
// our client, and with fake clients (raw frames or our Chatter layer) that
// send what our client never would.

import assert from "node:assert/strict";
import { type Client, connect, EventerInitError } from "../client.ts";
import * as chatter from "../common/chatter/mod.ts";
import { ConnectionError } from "../common/chatter/mod.ts";
import {
  MsgType,
  readEvents,
  readInitRes,
  readQueryResult,
  writeInitReq,
  writeQueryParams,
  writeRegisterReq,
} from "../common/eventer/mod.ts";
import { Subscription } from "../common/event/mod.ts";
import type { Event, RegisterEvent, Status } from "../common/event/mod.ts";
import { type ConnectionInfo, listen } from "../server.ts";
import {
  captureLog,
  deadline,
  decode,
  delay,
  ev,
  gate,
  initReq,
  LOCAL,
  rawClient,
  RawPeer,
  releasing,
  stillPending,
  until,
} from "./_net.ts";

function registered(events: RegisterEvent[], server = 1): Event[] {
  return events.map((e, i) =>
    ev(e.type, i + 1, server, {
      sourceTimestamp: e.sourceTimestamp ?? null,
      payload: e.payload ?? null,
    })
  );
}

/** Send a query on a raw Chatter connection; resolves to its conversation. */
function rawQuery(conn: chatter.Connection): chatter.Conversation {
  return conn.sendNow(
    MsgType.QueryReq,
    (w) => writeQueryParams(w, { kind: "latest" }),
    { last: false },
  );
}

Deno.test("server: connection ids count from 1 per server", async () => {
  const ids: [string, number][] = [];
  const options = (name: string) => ({
    connectedCb: (info: ConnectionInfo) => void ids.push([name, info.id]),
  });
  await using a = await listen(LOCAL, options("a"));
  await using b = await listen(LOCAL, options("b"));
  await using _a1 = await connect(a.addresses[0], "a1");
  await using _a2 = await connect(a.addresses[0], "a2");
  await using _b1 = await connect(b.addresses[0], "b1");
  await using _a3 = await connect(a.addresses[0], "a3");
  assert.deepEqual(ids, [["a", 1], ["a", 2], ["b", 1], ["a", 3]]);
  assert.deepEqual(
    a.getConnInfos().map((i) => [i.id, i.clientName]),
    [[1, "a1"], [2, "a2"], [3, "a3"]],
  );
  assert.deepEqual(b.getConnInfos().map((i) => i.id), [1]);
});

Deno.test("server: a first message that is not MsgInitReq closes the connection", async () => {
  using log = captureLog();
  let connected = 0;
  await using server = await listen(LOCAL, {
    connectedCb: () => void connected++,
  });
  const firsts: [string, (w: chatter.Connection) => void][] = [
    ["query", (c) => rawQuery(c)],
    [
      "register",
      (c) =>
        c.sendNow(MsgType.RegisterReq, (w) => writeRegisterReq(w, []), {
          last: false,
        }),
    ],
    ["ack", (c) => c.sendNow(MsgType.EventsAck, null)],
    ["foreign", (c) => c.sendNow("Other.Thing", new Uint8Array([1, 2]))],
  ];
  for (const [what, send] of firsts) {
    await using conn = await chatter.connect(server.addresses[0]);
    send(conn);
    await assert.rejects(
      deadline(conn.receive(), 2000, what),
      ConnectionError,
      what,
    );
    const port = conn.localAddr.port;
    assert.ok(
      log.records.some((r) =>
        r.text.includes(`:${port}:`) && /not MsgInitReq/.test(r.text)
      ),
      what,
    );
  }
  assert.equal(connected, 0);
  assert.deepEqual(server.getConnInfos(), []);
});

Deno.test("server: connectedCb throwing answers error with its message; a client closing early is released at once", async () => {
  const messages = ["not you", "async no"];
  let calls = 0;
  await using server = await listen(LOCAL, {
    closeTimeout: 2000,
    connectedCb: async (info) => {
      calls++;
      if (info.clientName === "async") {
        await delay(5);
        throw new Error(messages[1]);
      }
      if (info.clientName === "string") throw "plain string";
      throw new Error(messages[0]);
    },
  });
  const addr = server.addresses[0];

  // Raw: the exact reply, then half-close: the server must close at once.
  using peer = await RawPeer.connect(addr);
  await peer.send({
    type: MsgType.InitReq,
    last: false,
    data: (w) => writeInitReq(w, initReq({ clientName: "raw" })),
  });
  const res = await peer.expect();
  assert.equal(res.type, MsgType.InitRes);
  assert.deepEqual([res.id, res.first, res.owner, res.last], [
    1,
    1,
    false,
    true,
  ]);
  assert.deepEqual(decode(res, readInitRes), {
    type: "error",
    error: "not you",
  });
  await peer.conn.closeWrite();
  const start = performance.now();
  await peer.eof(1500);
  assert.ok(performance.now() - start < 500, "server waited for closeTimeout");

  // Our client closes by itself.
  const t0 = performance.now();
  await assert.rejects(
    connect(addr, "async"),
    (e) => e instanceof EventerInitError && e.message === "async no",
  );
  await assert.rejects(
    connect(addr, "string"),
    (e) => e instanceof EventerInitError && e.message === "plain string",
  );
  assert.ok(performance.now() - t0 < 500);
  assert.equal(calls, 3);
  assert.deepEqual(server.getConnInfos(), []);
  // No handler is still sitting out its closeTimeout.
  const t1 = performance.now();
  await server.asyncClose();
  assert.ok(performance.now() - t1 < 500, "a handler waited for closeTimeout");
});

Deno.test("server: a refused client that stays is closed after closeTimeout", async () => {
  for (const closeTimeout of [undefined, 200]) {
    await using server = await listen(LOCAL, {
      closeTimeout,
      connectedCb: () => {
        throw new Error("no");
      },
    });
    using peer = await RawPeer.connect(server.addresses[0]);
    await peer.send({
      type: MsgType.InitReq,
      last: false,
      data: (w) => writeInitReq(w, initReq()),
    });
    const res = await peer.expect();
    const start = performance.now();
    assert.deepEqual(decode(res, readInitRes), { type: "error", error: "no" });
    assert.deepEqual(await peer.eof(3000), []);
    const waited = performance.now() - start;
    const expected = closeTimeout ?? 500;
    assert.ok(
      waited >= expected - 50 && waited < expected + 400,
      `closeTimeout ${closeTimeout}: closed after ${waited} ms`,
    );
  }
});

Deno.test("server: an invalid subscription is refused like a throwing connectedCb", async () => {
  let connected = 0;
  await using server = await listen(LOCAL, {
    closeTimeout: 50,
    connectedCb: () => void connected++,
  });
  using peer = await RawPeer.connect(server.addresses[0]);
  await peer.send({
    type: MsgType.InitReq,
    last: false,
    data: (w) => writeInitReq(w, initReq({ subscriptions: [["*", "a"]] })),
  });
  const res = decode(await peer.expect(), readInitRes);
  assert.equal(res.type, "error");
  assert.match((res as { error: string }).error, /invalid query type/);
  await peer.eof();
  assert.equal(connected, 0);
});

Deno.test("server: success answers the current status; the connection is in getConnInfos with every field", async () => {
  const infos: ConnectionInfo[] = [];
  const disconnected: ConnectionInfo[] = [];
  const release = gate();
  await using server = await listen(LOCAL, {
    status: "operational",
    connectedCb: async (info) => {
      infos.push(info);
      await release.promise;
    },
    disconnectedCb: (info) => void disconnected.push(info),
  });
  using _release = releasing(release);
  const connecting = connect(server.addresses[0], "full", {
    clientToken: "secret",
    subscriptions: [["a", "?"], ["b", "*"]],
    serverId: 5,
    persisted: true,
  });
  await until(() => infos.length === 1);
  // Not established before connectedCb returns.
  assert.deepEqual(server.getConnInfos(), []);
  release.resolve();
  const client = await connecting;
  assert.equal(client.status, "operational");
  const [info] = server.getConnInfos();
  assert.equal(info, infos[0]);
  assert.equal(info.id, 1);
  assert.equal(info.clientName, "full");
  assert.equal(info.clientToken, "secret");
  assert.ok(info.subscription instanceof Subscription);
  assert.deepEqual(
    new Set(info.subscription.getQueryTypes().map((t) => t.join("/"))),
    new Set(["a/?", "b/*"]),
  );
  assert.equal(info.serverId, 5);
  assert.equal(info.persisted, true);

  await client.asyncClose();
  await until(() => disconnected.length === 1);
  assert.equal(disconnected[0], info);
  assert.deepEqual(server.getConnInfos(), []);
});

Deno.test("server: the register callback is awaited and its result answered; null or undefined is failure", async () => {
  const calls: [number, RegisterEvent[]][] = [];
  await using server = await listen(LOCAL, {
    registerCb: async (info, events) => {
      calls.push([info.id, events]);
      await delay(20);
      if (events[0].type[0] === "fail") return null;
      if (events[0].type[0] === "undef") return undefined;
      return registered(events, 9);
    },
  });
  await using client = await connect(server.addresses[0], "c");
  const events = [
    { type: ["x"], sourceTimestamp: { s: 3, us: 4 }, payload: null },
    {
      type: ["y", "z"],
      sourceTimestamp: null,
      payload: { kind: "json" as const, data: [1, { a: true }] },
    },
  ];
  assert.deepEqual(
    await client.register(events, true),
    registered(events, 9),
  );
  assert.equal(await client.register([{ type: ["fail"] }], true), null);
  assert.equal(await client.register([{ type: ["undef"] }], true), null);
  assert.deepEqual(calls.map(([id]) => id), [1, 1, 1]);
  assert.deepEqual(calls[0][1], events);
});

Deno.test("server: with no callbacks, register answers failure and query an empty result", async () => {
  await using server = await listen(LOCAL);
  await using client = await connect(server.addresses[0], "c");
  assert.equal(await client.register([{ type: ["a"] }], true), null);
  assert.deepEqual(await client.query({ kind: "latest" }), {
    events: [],
    moreFollows: false,
  });
});

Deno.test("server: a last MsgRegisterReq is handled but gets no answer", async () => {
  const calls: RegisterEvent[][] = [];
  await using server = await listen(LOCAL, {
    registerCb: (_info, events) => {
      calls.push(events);
      return registered(events);
    },
  });
  const { conn } = await rawClient(server.addresses[0]);
  await using _conn = conn;
  conn.sendNow(
    MsgType.RegisterReq,
    (w) => writeRegisterReq(w, [{ type: ["quiet"] }]),
    { last: true },
  );
  const conv = rawQuery(conn);
  const next = await deadline(conn.receive(), 2000);
  assert.equal(next.type, MsgType.QueryRes);
  assert.deepEqual(next.conv, conv);
  assert.equal(next.last, true);
  assert.deepEqual(decode(next, readQueryResult), {
    events: [],
    moreFollows: false,
  });
  assert.deepEqual(calls, [[{
    type: ["quiet"],
    sourceTimestamp: null,
    payload: null,
  }]]);
});

Deno.test("server: the query callback gets the info and parameters, and its result is answered", async () => {
  const seen: unknown[] = [];
  await using server = await listen(LOCAL, {
    queryCb: async (info, params) => {
      seen.push([info.clientName, params]);
      await delay(5);
      return { events: [ev(["q"], 4)], moreFollows: true };
    },
  });
  await using client = await connect(server.addresses[0], "querier");
  const result = await client.query({
    kind: "server",
    serverId: 2,
    persisted: true,
    maxResults: 10,
    lastEventId: { server: 2, session: 3, instance: 4 },
  });
  assert.deepEqual(result, { events: [ev(["q"], 4)], moreFollows: true });
  assert.deepEqual(seen, [["querier", {
    kind: "server",
    serverId: 2,
    persisted: true,
    maxResults: 10,
    lastEventId: { server: 2, session: 3, instance: 4 },
  }]]);
});

Deno.test("server: requests from one connection are handled one at a time, in arrival order", async () => {
  const order: string[] = [];
  let active = 0;
  let maxActive = 0;
  const handle = async (what: string, ms: number) => {
    active++;
    maxActive = Math.max(maxActive, active);
    order.push(what);
    await delay(ms);
    active--;
  };
  const slowGate = gate();
  await using server = await listen(LOCAL, {
    registerCb: async (info, events) => {
      if (info.clientName === "blocked") {
        await slowGate.promise;
        return null;
      }
      const name = events[0].type[0];
      await handle(name, 30 - 5 * Number(name.slice(1)));
      return registered(events);
    },
    queryCb: async (_info, params) => {
      const name = (params.kind === "latest" && params.eventTypes?.[0][0]) ||
        "?";
      await handle(name, 10);
      return { events: [], moreFollows: false };
    },
  });
  using _release = releasing(slowGate);
  await using client = await connect(server.addresses[0], "c");
  const requests = [
    client.register([{ type: ["r0"] }], true),
    client.query({ kind: "latest", eventTypes: [["q1"]] }),
    client.register([{ type: ["r2"] }], true),
    client.register([{ type: ["r3"] }]),
    client.query({ kind: "latest", eventTypes: [["q4"]] }),
    client.register([{ type: ["r5"] }], true),
  ];
  const results = await deadline(Promise.all(requests), 3000);
  assert.deepEqual(order, ["r0", "q1", "r2", "r3", "q4", "r5"]);
  assert.equal(maxActive, 1);
  assert.deepEqual(
    (results[5] as Event[]).map((e) => e.type),
    [["r5"]],
  );

  // Another connection is not held up by a busy one.
  await using blocked = await connect(server.addresses[0], "blocked");
  const stuck = blocked.register([{ type: ["x"] }], true);
  assert.ok(await stillPending(stuck, 30));
  await deadline(client.query({ kind: "latest" }), 1000);
  slowGate.resolve();
  assert.equal(await stuck, null);
});

Deno.test("server: with registerWindow, a connection's next register request goes to registerCb while the last one's answer waits; a query waits for every answer", async () => {
  const calls: string[] = [];
  const answers: PromiseWithResolvers<void>[] = [];
  await using server = await listen(LOCAL, {
    registerWindow: 2,
    registerCb: (_info, events) => {
      calls.push(events[0].type[0]);
      const answer = gate();
      answers.push(answer);
      return answer.promise.then(() => registered(events));
    },
    queryCb: () => {
      calls.push("q");
      return { events: [], moreFollows: false };
    },
  });
  await using client = await connect(server.addresses[0], "c");
  const done: string[] = [];
  const requests = [
    ...["r0", "r1", "r2"].map((name) =>
      client.register([{ type: [name] }], true).then((events) => {
        assert.deepEqual(events?.map((e) => e.type), [[name]]);
        done.push(name);
      })
    ),
    client.query({ kind: "latest" }).then(() => void done.push("q")),
  ];
  // Two registered at once; the third waits for room in the window.
  await until(() => calls.length === 2);
  assert.ok(await stillPending(requests[2], 50));
  assert.deepEqual(calls, ["r0", "r1"]);
  answers[0].resolve();
  await until(() => calls.length === 3);
  assert.deepEqual(calls, ["r0", "r1", "r2"]);
  // The query waits for the answers before it.
  assert.ok(await stillPending(requests[3], 50));
  assert.deepEqual(done, ["r0"]);
  answers[2].resolve();
  answers[1].resolve();
  await deadline(Promise.all(requests), 3000);
  assert.deepEqual(calls, ["r0", "r1", "r2", "q"]);
  assert.deepEqual(done.at(-1), "q");
});

Deno.test("server: MsgEventsAck is read while an earlier request's callback awaits it", async () => {
  let server: Awaited<ReturnType<typeof listen>> | null = null;
  await using s = await listen(LOCAL, {
    registerCb: async (_info, events) => {
      const result = registered(events);
      await server!.notifyEvents(result, false, true);
      return result;
    },
  });
  server = s;
  const notified: Event[][] = [];
  await using client = await connect(s.addresses[0], "c", {
    subscriptions: [["*"]],
    eventsCb: (_c, events) => void notified.push(events),
  });
  const result = await deadline(
    client.register([{ type: ["a"] }], true),
    2000,
    "register whose callback waits for an ack",
  );
  assert.deepEqual(notified, [result]);
});

Deno.test("server: an unknown message type closes that connection only", async () => {
  using log = captureLog();
  const disconnected: string[] = [];
  await using server = await listen(LOCAL, {
    queryCb: () => ({ events: [], moreFollows: false }),
    disconnectedCb: (info) => void disconnected.push(info.clientName),
  });
  await using good = await connect(server.addresses[0], "good");
  const bad: [string, (c: chatter.Connection) => void][] = [
    ["bogus", (c) => c.sendNow("HatEventer.MsgBogus", null)],
    ["status", (c) => c.sendNow(MsgType.StatusNotify, new Uint8Array([0x80]))],
    [
      "init again",
      (c) =>
        c.sendNow(MsgType.InitReq, (w) => writeInitReq(w, initReq()), {
          last: false,
        }),
    ],
    [
      "query result",
      (c) => c.sendNow(MsgType.QueryRes, new Uint8Array([0x80, 0])),
    ],
  ];
  for (const [what, send] of bad) {
    const { conn } = await rawClient(server.addresses[0], {
      clientName: what,
    });
    await using _conn = conn;
    send(conn);
    await assert.rejects(
      deadline(conn.receive(), 2000, what),
      ConnectionError,
    );
    await until(() => disconnected.includes(what), 2000, what);
    assert.ok(
      log.records.some((r) =>
        r.text.includes(`:${conn.localAddr.port}:`) &&
        /unexpected message type/.test(r.text)
      ),
      what,
    );
    assert.deepEqual(await good.query({ kind: "latest" }), {
      events: [],
      moreFollows: false,
    });
  }
  assert.deepEqual(server.getConnInfos().map((i) => i.clientName), ["good"]);
});

Deno.test("server: setStatus is a no-op when unchanged, else notifies every established connection only", async () => {
  const slowConnected = gate();
  const slowRelease = gate();
  await using server = await listen(LOCAL, {
    status: "standby",
    connectedCb: async (info) => {
      if (info.clientName === "slow") {
        slowConnected.resolve();
        await slowRelease.promise;
      }
    },
  });
  using _release = releasing(slowRelease);
  const addr = server.addresses[0];
  const seen: Record<string, Status[]> = { a: [], b: [] };
  await using _a = await connect(addr, "a", {
    statusCb: (_c, s) => void seen.a.push(s),
  });
  await using _b = await connect(addr, "b", {
    statusCb: (_c, s) => void seen.b.push(s),
  });
  // Not established yet: waiting in connectedCb, and not even initialised.
  using slow = await RawPeer.connect(addr);
  await slow.send({
    type: MsgType.InitReq,
    last: false,
    data: (w) => writeInitReq(w, initReq({ clientName: "slow" })),
  });
  await deadline(slowConnected.promise, 2000);
  using silent = await RawPeer.connect(addr);

  await server.setStatus("standby");
  await server.setStatus("operational");
  assert.equal(server.status, "operational");
  await until(() => seen.a.length && seen.b.length ? true : false);
  await server.setStatus("operational");
  await delay(20);
  assert.deepEqual(seen, { a: ["operational"], b: ["operational"] });

  slowRelease.resolve();
  const slowRes = await slow.expect();
  assert.equal(slowRes.type, MsgType.InitRes);
  assert.deepEqual(decode(slowRes, readInitRes), {
    type: "success",
    status: "operational",
  });
  await silent.send({
    type: MsgType.InitReq,
    last: false,
    data: (w) => writeInitReq(w, initReq({ clientName: "silent" })),
  });
  const silentRes = await silent.expect();
  assert.equal(silentRes.type, MsgType.InitRes);
  assert.deepEqual(decode(silentRes, readInitRes), {
    type: "success",
    status: "operational",
  });
  // Both now established: the next change reaches them.
  await server.setStatus("stopping");
  for (const peer of [slow, silent]) {
    const msg = await peer.expect();
    assert.equal(msg.type, MsgType.StatusNotify);
    assert.deepEqual([msg.owner, msg.first === msg.id, msg.last], [
      true,
      true,
      true,
    ]);
    assert.deepEqual([...msg.data], [0x83]);
  }
});

Deno.test("server: notifyEvents filters by persisted flag, subscription and serverId, keeping order", async () => {
  await using server = await listen(LOCAL);
  const addr = server.addresses[0];
  const got: Record<string, Event[][]> = {};
  const client = (name: string, options: Parameters<typeof connect>[2]) => {
    got[name] = [];
    return connect(addr, name, {
      ...options,
      eventsCb: (_c, events) => void got[name].push(events),
    });
  };
  await using _a = await client("a", { subscriptions: [["a", "?"]] });
  await using _e = await client("e", { subscriptions: [["a", "?"]] });
  await using _b = await client("b", {
    subscriptions: [["b", "*"]],
    serverId: 2,
  });
  await using _c = await client("c", {
    subscriptions: [["*"]],
    persisted: true,
  });
  await using _f = await client("f", { subscriptions: [["?"]] });
  const { conn: d } = await rawClient(addr, { subscriptions: [["x"]] });
  await using _d = d;

  const e1 = ev(["a", "x"], 1, 1);
  const e2 = ev(["b"], 2, 2);
  const e3 = ev(["b", "c", "d"], 3, 2);
  const e4 = ev(["a", "x", "y"], 4, 2);
  const e5 = ev(["a"], 5, 1);
  const e6 = ev(["b", "q"], 6, 1);
  const e7 = ev(["a", "z"], 7, 2);
  const all = [e1, e2, e3, e4, e5, e6, e7];

  await deadline(server.notifyEvents(all, false, true), 2000, "acks");
  assert.deepEqual(got, {
    a: [[e1, e7]],
    e: [[e1, e7]],
    b: [[e2, e3]],
    c: [],
    f: [[e2, e5]],
  });
  await deadline(server.notifyEvents(all, true, true), 2000, "acks");
  assert.deepEqual(got.c, [all]);
  assert.equal(got.a.length, 1);

  // Nothing matched for d: the next thing it receives is its query's answer.
  const conv = rawQuery(d);
  const next = await deadline(d.receive(), 2000);
  assert.equal(next.type, MsgType.QueryRes);
  assert.deepEqual(next.conv, conv);
});

Deno.test("server: notifyEvents does not look at the events for connections without subscriptions", async () => {
  await using server = await listen(LOCAL);
  const addr = server.addresses[0];
  await using _g = await connect(addr, "gateway");
  await using _p = await connect(addr, "persisted", { persisted: true });
  const events = [ev(["a"], 1, 1), ev(["b", "c"], 2, 1)];
  const matches = Subscription.prototype.matches;
  let calls = 0;
  Subscription.prototype.matches = function (type) {
    calls++;
    return matches.call(this, type);
  };
  try {
    await deadline(server.notifyEvents(events, false, true), 2000, "acks");
    await deadline(server.notifyEvents(events, true, true), 2000, "acks");
  } finally {
    Subscription.prototype.matches = matches;
  }
  assert.equal(calls, 0);
});

Deno.test("server: notifyEvents without ack is sent as last; the raw bytes decode back", async () => {
  await using server = await listen(LOCAL);
  const { conn } = await rawClient(server.addresses[0], {
    subscriptions: [["*"]],
  });
  await using _conn = conn;
  const events = [ev(["p"], 1, 1, {
    payload: { kind: "binary", type: "t", data: new Uint8Array([9]) },
  })];
  await server.notifyEvents(events, false);
  const msg = await deadline(conn.receive(), 2000);
  assert.equal(msg.type, MsgType.EventsNotify);
  assert.equal(msg.first, true);
  assert.equal(msg.last, true);
  assert.deepEqual(decode(msg, readEvents), events);
});

Deno.test("server: large batches shared by many connections arrive intact, one after another", async () => {
  // A batch notified to several connections with the same subscription is
  // encoded once and written from that one buffer by each (no copy): the
  // next notifyEvents must not reuse it before every connection wrote it.
  await using server = await listen(LOCAL);
  const peers = await Promise.all(
    [0, 1, 2].map(() =>
      rawClient(server.addresses[0], { subscriptions: [["big", "*"]] })
    ),
  );
  const batch = (tag: string) =>
    Array.from({ length: 400 }, (_, i) =>
      ev(["big", tag], 1, i + 1, {
        payload: { kind: "json", data: { tag, i, text: "x".repeat(40) } },
      }));
  const a = batch("a");
  const b = batch("b");
  // Both queued in the same turn, before any write completed.
  const sent = [server.notifyEvents(a, false), server.notifyEvents(b, false)];
  await Promise.all(sent);
  for (const { conn } of peers) {
    await using _conn = conn;
    const first = await deadline(conn.receive(), 2000);
    const second = await deadline(conn.receive(), 2000);
    assert.ok(first.data.length > 16384, `${first.data.length} bytes`);
    assert.deepEqual(decode(first, readEvents), a);
    assert.deepEqual(decode(second, readEvents), b);
  }
});

Deno.test("server: notifyEvents with ack waits for every notified connection's ack or close", async () => {
  await using server = await listen(LOCAL);
  const addr = server.addresses[0];
  const slowGate = gate();
  let slowCalls = 0;
  await using _slow = await connect(addr, "slow", {
    subscriptions: [["*"]],
    eventsCb: async (_c, events) => {
      slowCalls++;
      if (events[0].id.instance === 2) await slowGate.promise;
    },
  });
  using _release = releasing(slowGate);
  await using _fast = await connect(addr, "fast", { subscriptions: [["*"]] });
  // Filtered out: never notified, so never waited for.
  await using _other = await connect(addr, "other", {
    subscriptions: [["nothing"]],
    eventsCb: () => new Promise(() => {}),
  });
  const { conn: raw } = await rawClient(addr, { subscriptions: [["*"]] });

  // Without ack nothing is awaited.
  await deadline(server.notifyEvents([ev(["n"], 1)], false), 1000);
  const first = await raw.receive();
  assert.equal(first.last, true);

  const acked = server.notifyEvents([ev(["n"], 2)], false, true);
  const msg = await deadline(raw.receive(), 2000);
  assert.equal(msg.last, false);
  await until(() => slowCalls === 2);
  assert.ok(await stillPending(acked, 50));
  slowGate.resolve();
  assert.ok(await stillPending(acked, 50), "resolved before the raw ack");
  // An ack in another conversation does not count.
  raw.sendNow(MsgType.EventsAck, null, {
    conv: { owner: false, firstId: msg.conv.firstId + 100 },
  });
  assert.ok(await stillPending(acked, 50), "resolved by a foreign ack");
  raw.sendNow(MsgType.EventsAck, null, { conv: msg.conv });
  await deadline(acked, 2000, "ack");

  // A connection closing releases the wait.
  const closing = server.notifyEvents([ev(["n"], 3)], false, true);
  await deadline(raw.receive(), 2000);
  assert.ok(await stillPending(closing, 50));
  await raw.asyncClose();
  await deadline(closing, 2000, "release on close");
});

Deno.test("server: on disconnect, disconnectedCb runs for established connections only; its exception is swallowed", async () => {
  using log = captureLog();
  const disconnected: string[] = [];
  await using server = await listen(LOCAL, {
    closeTimeout: 50,
    connectedCb: (info) => {
      if (info.clientName === "refused") throw new Error("refused");
    },
    disconnectedCb: (info) => {
      disconnected.push(info.clientName);
      throw new Error(`cb failed for ${info.clientName}`);
    },
  });
  const addr = server.addresses[0];

  // Connected but never initialised.
  const peer = await RawPeer.connect(addr);
  await delay(10);
  peer.close();
  // Refused.
  await assert.rejects(connect(addr, "refused"), EventerInitError);

  const a = await connect(addr, "a");
  const b = await connect(addr, "b");
  assert.deepEqual(server.getConnInfos().map((i) => i.clientName), ["a", "b"]);
  await a.asyncClose();
  await until(() => disconnected.length === 1);
  assert.deepEqual(server.getConnInfos().map((i) => i.clientName), ["b"]);
  assert.ok(log.records.some((r) => /cb failed for a/.test(r.text)));
  // The server goes on serving.
  assert.deepEqual(await b.query({ kind: "latest" }), {
    events: [],
    moreFollows: false,
  });

  // Closing the server disconnects b, and waits for its callback.
  await server.asyncClose();
  assert.deepEqual(disconnected, ["a", "b"]);
  await deadline(b.waitClosed(), 2000);
});

Deno.test("server: closing the server closes its clients and rejects their pending requests", async () => {
  const release = gate();
  const entered = gate();
  const server = await listen(LOCAL, {
    queryCb: async () => {
      entered.resolve();
      await release.promise;
      return { events: [], moreFollows: false };
    },
  });
  await using _server = server;
  using _release = releasing(release);
  const clients: Client[] = [
    await connect(server.addresses[0], "a"),
    await connect(server.addresses[0], "b"),
  ];
  const pending = assert.rejects(
    clients[0].query({ kind: "latest" }),
    ConnectionError,
  );
  await entered.promise;
  server.close();
  await deadline(pending, 2000);
  for (const c of clients) await deadline(c.waitClosed(), 2000);
  release.resolve();
  await deadline(server.waitClosed(), 2000);
});
