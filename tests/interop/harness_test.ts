/**
 * Proves the interop harness and the reference peer (peer.py) work, with a
 * reference server talking to reference clients (no TS implementation).
 */

import assert from "node:assert/strict";

import type {
  Event,
  QueryParams,
  RegisterEvent,
} from "../../common/event/mod.ts";
import {
  bytesToHex,
  clientArgs,
  eventFromPeer,
  eventToPeer,
  hexToBytes,
  isReport,
  parseLine,
  type Peer,
  PeerCommandError,
  type PeerEvent,
  queryParamsFromPeer,
  queryParamsToPeer,
  queryResultFromPeer,
  registerEventFromPeer,
  serverArgs,
  startPeer,
  stringifyLine,
  timestampFromPeer,
  timestampToPeer,
} from "./peer.ts";

const MIN_S = -(2n ** 63n);
const MAX_S = 2n ** 63n - 1n;

function ev(
  type: string[],
  server = 1,
  instance = 1,
  extra: Partial<Event> = {},
): Event {
  return {
    id: { server, session: 1, instance },
    type,
    timestamp: { s: 1700000000, us: 123456 },
    sourceTimestamp: null,
    payload: null,
    ...extra,
  };
}

function client(
  server: Peer,
  opts: Omit<Parameters<typeof clientArgs>[0], "port"> = {},
): Promise<Peer> {
  return startPeer("client", clientArgs({ port: server.port, ...opts }));
}

function types(events: PeerEvent[]): string[] {
  return events.map((e) => e.type.join("/"));
}

Deno.test("conversions keep precision", () => {
  assert.deepEqual(timestampToPeer({ s: MIN_S, us: 0 }), {
    s: "-9223372036854775808",
    us: 0,
  });
  assert.deepEqual(timestampFromPeer({ s: "9223372036854775807", us: 1 }), {
    s: MAX_S,
    us: 1,
  });
  assert.deepEqual(timestampFromPeer({ s: "-12", us: 5 }), { s: -12, us: 5 });
  assert.deepEqual(
    timestampFromPeer({ s: String(Number.MAX_SAFE_INTEGER), us: 0 }),
    { s: Number.MAX_SAFE_INTEGER, us: 0 },
  );
  assert.equal(
    typeof timestampFromPeer({ s: "9007199254740992", us: 0 }).s,
    "bigint",
  );
  assert.equal(bytesToHex(new Uint8Array([0, 1, 0xab, 0xff])), "0001abff");
  assert.deepEqual(hexToBytes("0001ABff"), new Uint8Array([0, 1, 0xab, 0xff]));
  assert.throws(() => hexToBytes("abc"));

  const line = '{"a": 12345678901234567890, "b": 1.5, "c": -3, "d": 1e+300}';
  const parsed = parseLine(line) as Record<string, unknown>;
  assert.deepEqual(parsed, {
    a: 12345678901234567890n,
    b: 1.5,
    c: -3,
    d: 1e300,
  });
  assert.equal(
    stringifyLine({ x: -(2n ** 70n), y: "ž" }),
    '{"x":-1180591620717411303424,"y":"ž"}',
  );

  const e = ev(["a"], 1, 1, {
    sourceTimestamp: { s: MAX_S, us: 999999 },
    payload: { kind: "binary", type: "t", data: new Uint8Array([1, 2]) },
  });
  assert.deepEqual(eventFromPeer(eventToPeer(e)), e);
  assert.throws(
    () =>
      eventFromPeer({
        ...eventToPeer(e),
        id: { server: 2 ** 60 as number, session: 1, instance: 1 },
      }),
    RangeError,
  );

  const params: QueryParams = { kind: "server", serverId: 3 };
  assert.deepEqual(queryParamsToPeer(params), { kind: "server", serverId: 3 });
  assert.deepEqual(queryParamsFromPeer(queryParamsToPeer(params)), {
    kind: "server",
    serverId: 3,
    persisted: false,
    maxResults: null,
    lastEventId: null,
  });
});

Deno.test("echo keeps big integers and non-ASCII text", async () => {
  await using server = await startPeer("server", serverArgs());
  const value = {
    big: 2n ** 64n + 1n,
    neg: -(2n ** 63n),
    small: 42,
    float: 0.1,
    text: "čćž 日本 😀 \ud800",
    nested: [null, true, { k: "v" }],
  };
  assert.deepEqual(await server.request({ cmd: "echo", value }), value);
  await assert.rejects(
    server.request({ cmd: "nope" } as never),
    (e: unknown) =>
      e instanceof PeerCommandError && e.errorType === "ValueError",
  );
});

Deno.test("init success, token, subscriptions, conn infos", async () => {
  await using server = await startPeer(
    "server",
    serverArgs({ status: "operational" }),
  );
  await using c = await client(server, {
    name: "client ž",
    token: "tok 😀",
    subscriptions: [["a", "?", "c"], ["b", "*"], ["b", "x"]],
    serverId: 7,
    persisted: true,
  });
  assert.deepEqual(c.startup, { type: "init", seq: 1, status: "operational" });

  const connected = await server.next("connected");
  assert.equal(connected.error, null);
  const { subscriptions, ...info } = connected.info;
  assert.deepEqual(info, {
    id: 1,
    clientName: "client ž",
    clientToken: "tok 😀",
    serverId: 7,
    persisted: true,
  });
  // the reference normalises: ["b", "x"] is covered by ["b", "*"]
  assert.deepEqual(
    subscriptions.map((t) => t.join("/")).sort(),
    ["a/?/c", "b/*"],
  );
  await server.next("connected_done");

  assert.deepEqual(await server.getConnInfos(), [connected.info]);
  assert.deepEqual(await c.getStatus(), {
    status: "operational",
    isOpen: true,
  });

  await using c2 = await client(server, { name: "second" });
  const second = await server.next(
    isReport("connected", (r) => r.info.clientName === "second"),
  );
  assert.deepEqual(second.info, {
    id: 2,
    clientName: "second",
    clientToken: null,
    subscriptions: [],
    serverId: null,
    persisted: false,
  });
  assert.equal((await server.getConnInfos()).length, 2);
  assert.equal(c2.startup?.type, "init");
});

Deno.test("init error text and status change", async () => {
  await using server = await startPeer(
    "server",
    serverArgs({ closeTimeout: 0.1 }),
  );
  await server.setConnectError("bad", "go away: ž");
  const [bad, good] = await Promise.all([
    client(server, { name: "bad" }),
    client(server, { name: "good" }),
  ]);
  await using _bad = bad;
  await using _good = good;
  assert.deepEqual(bad.startup, {
    type: "init_error",
    seq: 1,
    error: "go away: ž",
  });
  assert.deepEqual(good.startup, { type: "init", seq: 1, status: "standby" });
  const rejected = await server.next(
    isReport("connected", (r) => r.info.clientName === "bad"),
  );
  assert.equal(rejected.error, "go away: ž");
  assert.deepEqual(
    (await server.getConnInfos()).map((i) => i.clientName),
    ["good"],
  );
  await assert.rejects(bad.getStatus(), PeerCommandError);

  await server.setStatus("operational");
  assert.deepEqual(await good.next("status"), {
    type: "status",
    seq: 2,
    n: 1,
    status: "operational",
  });
  await server.setStatus("operational"); // unchanged: no notification
  await server.setStatus("stopping");
  assert.equal((await good.next("status")).status, "stopping");
  assert.deepEqual(await good.getStatus(), {
    status: "stopping",
    isOpen: true,
  });
});

Deno.test("notify: subscriptions, server id, persisted", async () => {
  await using server = await startPeer("server", serverArgs());
  const [any1, bStar, srv2, persisted] = await Promise.all([
    client(server, { name: "any1", subscriptions: [["a", "?"]] }),
    client(server, { name: "bstar", subscriptions: [["b", "*"]] }),
    client(server, { name: "srv2", subscriptions: [["*"]], serverId: 2 }),
    client(server, {
      name: "persisted",
      subscriptions: [["*"]],
      persisted: true,
    }),
  ]);
  await using _1 = any1;
  await using _2 = bStar;
  await using _3 = srv2;
  await using _4 = persisted;

  const events = [
    ev(["a"], 1, 1),
    ev(["a", "x"], 1, 2, {
      payload: { kind: "json", data: { v: 2n ** 60n, t: "ž" } },
    }),
    ev(["a", "x", "y"], 2, 3),
    ev(["b"], 2, 4),
    ev(["b", "c", "d"], 1, 5, {
      sourceTimestamp: { s: MIN_S, us: 0 },
      payload: { kind: "binary", type: "bin", data: new Uint8Array([0, 255]) },
    }),
  ];
  await server.notify(events, false);
  const marker = [ev(["a", "m"], 2, 6), ev(["b", "m"], 2, 7)];
  await server.notify(marker, false);
  await server.notify([ev(["p"], 1, 8)], true);

  const got = async (peer: Peer) => {
    const first = await peer.next("events");
    if (first.events.some((e) => e.type[1] === "m")) return [[], first.events];
    return [first.events, (await peer.next("events")).events];
  };

  const [a1, a1m] = await got(any1);
  assert.deepEqual(types(a1), ["a/x"]);
  assert.deepEqual(types(a1m), ["a/m"]);
  assert.deepEqual(eventFromPeer(a1[0]), events[1]);

  const [b, bm] = await got(bStar);
  assert.deepEqual(types(b), ["b", "b/c/d"]);
  assert.deepEqual(types(bm), ["b/m"]);
  assert.deepEqual(b.map(eventFromPeer), [events[3], events[4]]);

  const [s2, s2m] = await got(srv2);
  assert.deepEqual(types(s2), ["a/x/y", "b"]);
  assert.deepEqual(types(s2m), ["a/m", "b/m"]);

  const p = await persisted.next("events");
  assert.deepEqual(types(p.events), ["p"]);
  await persisted.expectNone("events", 100);
});

Deno.test("register with and without response, failure", async () => {
  await using server = await startPeer("server", serverArgs({ serverId: 9 }));
  await using c = await client(server, {
    name: "reg",
    subscriptions: [["auto", "*"]],
  });
  const ts = { s: -5, us: 999999 };
  await server.setRegister({ timestamp: timestampToPeer(ts), session: 10 });

  const regs: RegisterEvent[] = [
    {
      type: ["x", "y"],
      sourceTimestamp: { s: MAX_S, us: 999999 },
      payload: { kind: "json", data: { n: -(2n ** 62n), s: "日本", f: 1.5 } },
    },
    {
      type: ["x", "z"],
      payload: { kind: "binary", type: "raw", data: new Uint8Array([7]) },
    },
    { type: [] },
  ];
  const result = await c.register(regs, true);
  const expected: Event[] = regs.map((r, i) => ({
    id: { server: 9, session: 10, instance: i + 1 },
    type: r.type,
    timestamp: ts,
    sourceTimestamp: r.sourceTimestamp ?? null,
    payload: r.payload ?? null,
  }));
  assert.deepEqual(result, expected);
  const reg = await server.next("register");
  assert.deepEqual(reg.events.map(registerEventFromPeer), [
    regs[0],
    { ...regs[1], sourceTimestamp: null },
    { type: [], sourceTimestamp: null, payload: null },
  ]);
  assert.deepEqual(reg.result?.map(eventFromPeer), expected);
  assert.equal(reg.info.clientName, "reg");

  // without response: the call returns null, the server still gets it
  assert.equal(await c.register([{ type: ["q"] }], false), null);
  const reg2 = await server.next("register");
  assert.deepEqual(reg2.events, [{
    type: ["q"],
    sourceTimestamp: null,
    payload: null,
  }]);
  assert.equal(reg2.result?.[0].id.session, 11);

  await server.setRegister({ mode: "failure" });
  assert.equal(await c.register([{ type: ["f"] }], true), null);
  assert.equal((await server.next("register")).result, null);

  await server.setRegister({ mode: "fixed", events: [eventToPeer(ev(["k"]))] });
  assert.deepEqual(await c.register([{ type: ["f"] }], true), [ev(["k"])]);

  // current time
  await server.setRegister({ mode: "events", timestamp: null });
  const [now] = (await c.register([{ type: ["t"] }], true))!;
  assert.ok(Math.abs(Number(now.timestamp.s) - Date.now() / 1000) < 60);

  // register callback that also notifies what it registered
  await server.setRegister({ notify: { persisted: false, withAck: true } });
  const [auto] = (await c.register([{ type: ["auto", "1"] }], true))!;
  assert.deepEqual((await c.next("events")).events.map(eventFromPeer), [auto]);
  await server.next("auto_notify_returned");
});

Deno.test("register/query without server callbacks", async () => {
  await using server = await startPeer(
    "server",
    serverArgs({ noRegisterCb: true, noQueryCb: true, noConnectedCb: true }),
  );
  await using c = await client(server);
  assert.equal(await c.register([{ type: ["a"] }], true), null);
  assert.deepEqual(await c.query({ kind: "latest" }), {
    events: [],
    moreFollows: false,
  });
  await server.expectNone("connected", 0);
});

Deno.test("queries of all kinds with every field", async () => {
  await using server = await startPeer("server", serverArgs());
  await using c = await client(server, { name: "q" });
  const resultEvents = [
    ev(["r", "1"], 1, 1, { payload: { kind: "json", data: [1, "two", null] } }),
    ev(["r", "2"], 3, 2, { sourceTimestamp: { s: 0, us: 1 } }),
  ];
  await server.setQuery({ events: resultEvents, moreFollows: true });

  const cases: [QueryParams, QueryParams][] = [
    [{ kind: "latest" }, { kind: "latest", eventTypes: null }],
    [
      { kind: "latest", eventTypes: [["a", "*"], ["?"], []] },
      { kind: "latest", eventTypes: [["a", "*"], ["?"], []] },
    ],
    [
      { kind: "timeseries" },
      {
        kind: "timeseries",
        eventTypes: null,
        tFrom: null,
        tTo: null,
        sourceTFrom: null,
        sourceTTo: null,
        order: "descending",
        orderBy: "timestamp",
        maxResults: null,
        lastEventId: null,
      },
    ],
    [
      {
        kind: "timeseries",
        eventTypes: [["x"]],
        tFrom: { s: MIN_S, us: 0 },
        tTo: { s: MAX_S, us: 999999 },
        sourceTFrom: { s: -1, us: 5 },
        sourceTTo: { s: 2 ** 40, us: 0 },
        order: "ascending",
        orderBy: "sourceTimestamp",
        maxResults: 100,
        lastEventId: { server: 1, session: 2, instance: 3 },
      },
      {
        kind: "timeseries",
        eventTypes: [["x"]],
        tFrom: { s: MIN_S, us: 0 },
        tTo: { s: MAX_S, us: 999999 },
        sourceTFrom: { s: -1, us: 5 },
        sourceTTo: { s: 2 ** 40, us: 0 },
        order: "ascending",
        orderBy: "sourceTimestamp",
        maxResults: 100,
        lastEventId: { server: 1, session: 2, instance: 3 },
      },
    ],
    [
      { kind: "server", serverId: 4 },
      {
        kind: "server",
        serverId: 4,
        persisted: false,
        maxResults: null,
        lastEventId: null,
      },
    ],
    [
      {
        kind: "server",
        serverId: 4,
        persisted: true,
        maxResults: 1,
        lastEventId: { server: 4, session: 5, instance: 6 },
      },
      {
        kind: "server",
        serverId: 4,
        persisted: true,
        maxResults: 1,
        lastEventId: { server: 4, session: 5, instance: 6 },
      },
    ],
  ];
  for (const [params, expected] of cases) {
    const result = await c.query(params);
    assert.deepEqual(result, { events: resultEvents, moreFollows: true });
    const q = await server.next("query");
    assert.deepEqual(queryParamsFromPeer(q.params), expected);
    assert.deepEqual(queryResultFromPeer(q.result), result);
    assert.equal(q.info.clientName, "q");
  }
});

Deno.test("notify with ack waits for the client's ack", async () => {
  await using server = await startPeer("server", serverArgs());
  await using c = await client(server, {
    subscriptions: [["*"]],
    eventsGate: "hold",
  });

  // with ack: notify returns only after the events callback finished
  let released = false;
  let returnedWhileHeld: boolean | undefined;
  const notified = server.notify([ev(["a"])], false, true).then(() => {
    returnedWhileHeld = !released;
  });
  const events = await c.next("events");
  assert.deepEqual(events.events.map(eventFromPeer), [ev(["a"])]);
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.equal(returnedWhileHeld, undefined);
  released = true;
  await c.gate("hold", true);
  await notified;
  assert.equal(returnedWhileHeld, false);
  const returned = await server.next("notify_returned");
  const connected = server.reports.find((r) => r.type === "connected")!;
  assert.ok(returned.seq > connected.seq);
  const done = await c.next("events_done");
  assert.equal(done.n, 1);

  // without ack: notify returns even while the callback is held
  await c.gate("hold", false);
  await server.notify([ev(["b"])], false, false);
  const held = await c.next("events");
  assert.deepEqual(types(held.events), ["b"]);
  await c.expectNone("events_done", 50);
  await c.gate("hold", true);
  await c.next("events_done");

  // with ack to a client that has nothing to receive returns at once
  await server.notify([ev(["c"])], true, true, 2000);
});

Deno.test("closing from either side; ping settings", async () => {
  await using server = await startPeer(
    "server",
    serverArgs({ pingDelay: 0.05, pingTimeout: 1 }),
  );
  const [c1, c2] = await Promise.all([
    client(server, { name: "c1", pingDelay: 0.05, pingTimeout: 1 }),
    client(server, { name: "c2", pingDelay: 0 }),
  ]);
  await using _c1 = c1;
  await using _c2 = c2;

  // pings are answered: both stay connected
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal((await server.getConnInfos()).length, 2);
  await c1.expectNone("closed", 0);

  // client closes
  await c1.closeEndpoint();
  await c1.next("closed");
  const disc = await server.next("disconnected");
  assert.equal(disc.info.clientName, "c1");
  await assert.rejects(c1.register([{ type: ["a"] }], true), PeerCommandError);

  // server closes
  await server.closeEndpoint();
  await c2.next("closed");
  assert.deepEqual(await c2.getStatus(), { status: "standby", isOpen: false });

  // closing stdin ends the processes cleanly
  await c2.close();
  assert.equal((await c2.status).code, 0);
  await server.close();
  assert.equal((await server.status).code, 0);
});

Deno.test("client connect error when nobody listens", async () => {
  let port: number;
  {
    await using server = await startPeer("server", serverArgs());
    port = server.port;
  }
  await using c = await startPeer("client", clientArgs({ port }));
  assert.equal(c.startup?.type, "connect_error");
});
