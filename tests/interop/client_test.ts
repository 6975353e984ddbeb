/**
 * Interop: OUR client (client.ts) against the REFERENCE server (hat-event
 * 0.9.44 driven by peer.py). Every case asserts what the reference server
 * actually received (its callback reports) or replied.
 */

import assert from "node:assert/strict";

import {
  type Client,
  connect,
  ConnectionError,
  type ConnectOptions,
  type Event,
  EventerInitError,
  type QueryParams,
  type RegisterEvent,
  type Status,
} from "../../mod.ts";
import { MAX_TIMESTAMP, MIN_TIMESTAMP } from "../../common/event/mod.ts";
import {
  bytesToHex,
  defer,
  eventFromPeer,
  eventToPeer,
  Inbox,
  isReport,
  JSON_VALUES,
  type Peer,
  queryParamsFromPeer,
  queryResultFromPeer,
  registerEventFromPeer,
  type ServerArgs,
  serverArgs,
  sleep,
  startPeer,
  startTap,
  type Tap,
  timestampToPeer,
  track,
} from "./peer.ts";

const HOST = "127.0.0.1";
const MIN_S = "-9223372036854775808";
const MAX_S = "9223372036854775807";

function ev(
  type: string[],
  id: Partial<Event["id"]> = {},
  extra: Partial<Event> = {},
): Event {
  return {
    id: { server: 1, session: 1, instance: 1, ...id },
    type,
    timestamp: { s: 1700000000, us: 123456 },
    sourceTimestamp: null,
    payload: null,
    ...extra,
  };
}

function refServer(args: ServerArgs = {}): Promise<Peer> {
  return startPeer("server", serverArgs(args));
}

function addr(target: Peer | Tap): { hostname: string; port: number } {
  return { hostname: HOST, port: target.port };
}

/** Our client with inboxes for its callbacks. */
async function ourClient(
  target: Peer | Tap,
  name: string,
  options: Omit<ConnectOptions, "statusCb" | "eventsCb"> = {},
): Promise<
  { client: Client; events: Inbox<Event[]>; statuses: Inbox<Status> }
> {
  const events = new Inbox<Event[]>();
  const statuses = new Inbox<Status>();
  const client = await connect(addr(target), name, {
    ...options,
    statusCb: (_c, s) => statuses.push(s),
    eventsCb: (_c, e) => events.push(e),
  });
  return { client, events, statuses };
}

function types(events: readonly Event[]): string[] {
  return events.map((e) => e.type.join("/"));
}

/** The reference's view of a RegisterEvent we sent (absent fields null). */
function normalized(e: RegisterEvent): RegisterEvent {
  return {
    type: e.type,
    sourceTimestamp: e.sourceTimestamp ?? null,
    payload: e.payload ?? null,
  };
}

Deno.test("client init success: name, token, subscriptions, serverId, persisted", async () => {
  await using server = await refServer({ status: "operational" });
  const name = "klijent ž 日本 😀";
  const token = "žeton ć 😀 \u0000 end";
  await using client = await connect(addr(server), name, {
    clientToken: token,
    subscriptions: [["a", "?", "c"], ["b", "*"], ["b", "x"], ["č", "😀"]],
    serverId: 7,
    persisted: true,
  });
  assert.equal(client.status, "operational");
  assert.equal(client.isOpen, true);

  const connected = await server.next("connected");
  assert.equal(connected.error, null);
  const { subscriptions, ...info } = connected.info;
  assert.deepEqual(info, {
    id: 1,
    clientName: name,
    clientToken: token,
    serverId: 7,
    persisted: true,
  });
  assert.deepEqual(
    subscriptions.map((t) => t.join("/")).sort(),
    ["a/?/c", "b/*", "č/😀"],
  );
  assert.deepEqual(await server.getConnInfos(), [connected.info]);

  // every option absent: the reference sees None / [] / false
  await using plain = await connect(addr(server), "plain");
  assert.equal(plain.status, "operational");
  const second = await server.next(
    isReport("connected", (r) => r.info.clientName === "plain"),
  );
  assert.deepEqual(second.info, {
    id: 2,
    clientName: "plain",
    clientToken: null,
    subscriptions: [],
    serverId: null,
    persisted: false,
  });
  assert.equal((await server.getConnInfos()).length, 2);

  // initial status is whatever the server has at connect time
  await server.setStatus("starting");
  await using third = await connect(addr(server), "third");
  assert.equal(third.status, "starting");
});

Deno.test("client init error: EventerInitError with the connected callback's text", async () => {
  await using server = await refServer();
  const text = "odbijen ž 日本 😀: no access";
  await server.setConnectError("bad ž", text);

  await assert.rejects(
    connect(addr(server), "bad ž", { clientToken: "t" }),
    (e: unknown) => {
      assert.ok(e instanceof EventerInitError, String(e));
      assert.equal(e.message, text);
      return true;
    },
  );
  const rejected = await server.next("connected");
  assert.equal(rejected.error, text);
  assert.equal(rejected.info.clientName, "bad ž");
  assert.equal(rejected.info.clientToken, "t");
  await server.next("connected_done");
  assert.deepEqual(await server.getConnInfos(), []);
  await server.expectNone("disconnected", 100);

  // the server keeps accepting others
  await using good = await connect(addr(server), "good");
  assert.equal(good.status, "standby");
  assert.deepEqual(
    (await server.getConnInfos()).map((i) => [i.id, i.clientName]),
    [[2, "good"]],
  );
});

Deno.test("client status changes reach statusCb and client.status", async () => {
  await using server = await refServer();
  const { client, statuses } = await ourClient(server, "status");
  await using _client = client;
  assert.equal(client.status, "standby");
  await statuses.expectNone(50);

  await server.setStatus("starting");
  assert.equal(await statuses.next(), "starting");
  assert.equal(client.status, "starting");
  await server.setStatus("operational");
  await server.setStatus("operational"); // unchanged: the reference is silent
  await server.setStatus("stopping");
  await server.setStatus("standby");
  assert.equal(await statuses.next(), "operational");
  assert.equal(await statuses.next(), "stopping");
  assert.equal(await statuses.next(), "standby");
  await statuses.expectNone(100);
  assert.equal(client.status, "standby");
});

Deno.test("client register: with/without response, failure, fixed, no callback", async () => {
  await using server = await refServer({ serverId: 9 });
  await using tap = startTap(addr(server));
  await using client = await connect(addr(tap), "reg");
  const ts = { s: -5, us: 999999 };
  await server.setRegister({ timestamp: timestampToPeer(ts), session: 10 });

  const regs: RegisterEvent[] = [
    {
      type: ["x", "y"],
      sourceTimestamp: { s: 1, us: 2 },
      payload: { kind: "json", data: { n: -(2n ** 62n), s: "日本", f: 1.5 } },
    },
    {
      type: ["x", "z"],
      payload: { kind: "binary", type: "raw", data: new Uint8Array([0, 7]) },
    },
    { type: [] },
    { type: ["n"], sourceTimestamp: null, payload: null },
  ];
  const result = await client.register(regs, true);
  const expected: Event[] = regs.map((r, i) => ({
    id: { server: 9, session: 10, instance: i + 1 },
    type: r.type,
    timestamp: ts,
    sourceTimestamp: r.sourceTimestamp ?? null,
    payload: r.payload ?? null,
  }));
  assert.deepEqual(result, expected);
  const reg = await server.next("register");
  assert.deepEqual(reg.events.map(registerEventFromPeer), regs.map(normalized));
  assert.deepEqual(reg.result?.map(eventFromPeer), expected);
  assert.equal(reg.info.clientName, "reg");

  // without response: resolves to null, the reference still registers and,
  // the request being `last`, sends nothing back
  assert.equal(await client.register([{ type: ["q"] }], false), null);
  assert.equal(await client.register([{ type: ["q2"] }]), null);
  const reg2 = await server.next("register");
  assert.deepEqual(reg2.events, [{
    type: ["q"],
    sourceTimestamp: null,
    payload: null,
  }]);
  assert.equal(reg2.result?.[0].id.session, 11);
  assert.deepEqual((await server.next("register")).events[0].type, ["q2"]);

  // failure
  await server.setRegister({ mode: "failure" });
  assert.equal(await client.register([{ type: ["f"] }], true), null);
  assert.equal((await server.next("register")).result, null);

  // fixed events, returned verbatim (sentinels, payloads, other server id)
  const fixed = [
    ev(["k", "ž"], { server: 42, session: 2 ** 40, instance: 3 }, {
      timestamp: MAX_TIMESTAMP,
      sourceTimestamp: MIN_TIMESTAMP,
      payload: { kind: "json", data: [1, { a: null }] },
    }),
    ev([], {}, {
      payload: { kind: "binary", type: "", data: new Uint8Array() },
    }),
  ];
  await server.setRegister({ mode: "fixed", events: fixed.map(eventToPeer) });
  assert.deepEqual(await client.register([{ type: ["f"] }], true), fixed);
  await server.next("register");

  // what crossed the wire: register requests and the only replies
  const requests = tap.select({
    dir: "c2s",
    type: "HatEventer.MsgRegisterReq",
  });
  assert.deepEqual(requests.map((f) => f.last), [
    false,
    true,
    true,
    false,
    false,
  ]);
  const replies = tap.select({ dir: "s2c", type: "HatEventer.MsgRegisterRes" });
  assert.deepEqual(
    replies.map((f) => [f.first, f.owner, f.last]),
    [requests[0], requests[3], requests[4]].map((r) => [r.id, false, true]),
  );

  // a reference server without register callback answers failure
  await using bare = await refServer({ noRegisterCb: true, noQueryCb: true });
  await using c2 = await connect(addr(bare), "bare");
  assert.equal(await c2.register([{ type: ["a"] }], true), null);
  assert.deepEqual(await c2.query({ kind: "latest" }), {
    events: [],
    moreFollows: false,
  });
});

Deno.test("client queries: all kinds, every optional field present and absent", async () => {
  await using server = await refServer();
  await using client = await connect(addr(server), "q");
  const resultEvents = [
    ev(["r", "1"], { server: 1, session: 1, instance: 1 }, {
      payload: { kind: "json", data: [1, "two", null] },
    }),
    ev(["r", "ž"], { server: 3, session: 2, instance: 2 }, {
      sourceTimestamp: { s: 0, us: 1 },
      payload: { kind: "binary", type: "t", data: new Uint8Array([9]) },
    }),
  ];
  const bigResult = { events: resultEvents, moreFollows: true };
  const ts = (s: number, us: number) => ({ s, us });

  const cases: [QueryParams, QueryParams][] = [
    [{ kind: "latest" }, { kind: "latest", eventTypes: null }],
    [
      { kind: "latest", eventTypes: null },
      { kind: "latest", eventTypes: null },
    ],
    [{ kind: "latest", eventTypes: [] }, { kind: "latest", eventTypes: [] }],
    [
      { kind: "latest", eventTypes: [["a", "*"], ["?"], [], ["ž", "?", "c"]] },
      { kind: "latest", eventTypes: [["a", "*"], ["?"], [], ["ž", "?", "c"]] },
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
        eventTypes: [["x"], ["y", "*"]],
        tFrom: ts(-1, 5),
        tTo: ts(2 ** 40, 0),
        sourceTFrom: ts(10, 999999),
        sourceTTo: ts(11, 0),
        order: "ascending",
        orderBy: "sourceTimestamp",
        maxResults: 100,
        lastEventId: { server: 1, session: 2, instance: 3 },
      },
      {
        kind: "timeseries",
        eventTypes: [["x"], ["y", "*"]],
        tFrom: ts(-1, 5),
        tTo: ts(2 ** 40, 0),
        sourceTFrom: ts(10, 999999),
        sourceTTo: ts(11, 0),
        order: "ascending",
        orderBy: "sourceTimestamp",
        maxResults: 100,
        lastEventId: { server: 1, session: 2, instance: 3 },
      },
    ],
    [
      // explicit defaults, only some optionals
      {
        kind: "timeseries",
        tTo: ts(5, 0),
        order: "descending",
        orderBy: "timestamp",
        maxResults: 1,
      },
      {
        kind: "timeseries",
        eventTypes: null,
        tFrom: null,
        tTo: ts(5, 0),
        sourceTFrom: null,
        sourceTTo: null,
        order: "descending",
        orderBy: "timestamp",
        maxResults: 1,
        lastEventId: null,
      },
    ],
    [
      { kind: "timeseries", orderBy: "sourceTimestamp" },
      {
        kind: "timeseries",
        eventTypes: null,
        tFrom: null,
        tTo: null,
        sourceTFrom: null,
        sourceTTo: null,
        order: "descending",
        orderBy: "sourceTimestamp",
        maxResults: null,
        lastEventId: null,
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
        serverId: 0,
        persisted: true,
        maxResults: 2 ** 31,
        lastEventId: { server: 4, session: 5, instance: 6 },
      },
      {
        kind: "server",
        serverId: 0,
        persisted: true,
        maxResults: 2 ** 31,
        lastEventId: { server: 4, session: 5, instance: 6 },
      },
    ],
  ];
  for (const [i, [params, expected]] of cases.entries()) {
    const reply = i % 2 ? bigResult : { events: [], moreFollows: false };
    await server.setQuery(reply);
    const result = await client.query(params);
    assert.deepEqual(result, reply, `case ${i}`);
    const q = await server.next("query");
    assert.deepEqual(queryParamsFromPeer(q.params), expected, `case ${i}`);
    assert.deepEqual(queryResultFromPeer(q.result), reply);
    assert.equal(q.info.clientName, "q");
  }
  // the raw report: the reference's own enum values for the defaults
  const raw = server.reports.filter(isReport("query"))[4].params;
  assert.equal(raw.kind, "timeseries");
  if (raw.kind === "timeseries") {
    assert.equal(raw.order, "descending");
    assert.equal(raw.orderBy, "timestamp");
  }
});

Deno.test("client timestamp sentinels: sourceTimestamp and query bounds", async () => {
  await using server = await refServer();
  const { client, events } = await ourClient(server, "ts", {
    subscriptions: [["*"]],
  });
  await using _client = client;
  await server.setRegister({ timestamp: timestampToPeer(MAX_TIMESTAMP) });

  const result = await client.register([
    { type: ["min"], sourceTimestamp: MIN_TIMESTAMP },
    { type: ["max"], sourceTimestamp: MAX_TIMESTAMP },
  ], true);
  const reg = await server.next("register");
  assert.deepEqual(reg.events.map((e) => e.sourceTimestamp), [
    { s: MIN_S, us: 0 },
    { s: MAX_S, us: 999999 },
  ]);
  assert.ok(result);
  assert.deepEqual(result.map((e) => e.sourceTimestamp), [
    MIN_TIMESTAMP,
    MAX_TIMESTAMP,
  ]);
  assert.deepEqual(result.map((e) => e.timestamp), [
    MAX_TIMESTAMP,
    MAX_TIMESTAMP,
  ]);
  assert.equal(typeof result[0].sourceTimestamp?.s, "bigint");

  // query bounds
  await client.query({
    kind: "timeseries",
    tFrom: MIN_TIMESTAMP,
    tTo: MAX_TIMESTAMP,
    sourceTFrom: MIN_TIMESTAMP,
    sourceTTo: MAX_TIMESTAMP,
  });
  const q = await server.next("query");
  assert.equal(q.params.kind, "timeseries");
  if (q.params.kind === "timeseries") {
    assert.deepEqual(q.params.tFrom, { s: MIN_S, us: 0 });
    assert.deepEqual(q.params.tTo, { s: MAX_S, us: 999999 });
    assert.deepEqual(q.params.sourceTFrom, { s: MIN_S, us: 0 });
    assert.deepEqual(q.params.sourceTTo, { s: MAX_S, us: 999999 });
  }

  // notified by the reference
  const notified = ev(["n"], {}, {
    timestamp: MIN_TIMESTAMP,
    sourceTimestamp: MAX_TIMESTAMP,
  });
  await server.notify([notified]);
  assert.deepEqual(await events.next(), [notified]);
});

Deno.test("client notify: subscriptions with ? and *, serverId, persisted", async () => {
  await using server = await refServer();
  const [any1, bStar, srv2, persisted, none, all] = await Promise.all([
    ourClient(server, "any1", { subscriptions: [["a", "?"]] }),
    ourClient(server, "bstar", { subscriptions: [["b", "*"]] }),
    ourClient(server, "srv2", { subscriptions: [["*"]], serverId: 2 }),
    ourClient(server, "persisted", {
      subscriptions: [["*"]],
      persisted: true,
    }),
    ourClient(server, "none"),
    ourClient(server, "all", { subscriptions: [["*"]], persisted: false }),
  ]);
  await using _1 = any1.client;
  await using _2 = bStar.client;
  await using _3 = srv2.client;
  await using _4 = persisted.client;
  await using _5 = none.client;
  await using _6 = all.client;

  const events = [
    ev(["a"], { server: 1, instance: 1 }),
    ev(["a", "x"], { server: 1, instance: 2 }, {
      payload: { kind: "json", data: { v: 2n ** 60n, t: "ž" } },
    }),
    ev(["a", "x", "y"], { server: 2, instance: 3 }),
    ev(["b"], { server: 2, instance: 4 }),
    ev(["b", "c", "d"], { server: 1, instance: 5 }, {
      sourceTimestamp: { s: -1, us: 0 },
      payload: { kind: "binary", type: "bin", data: new Uint8Array([0, 255]) },
    }),
    ev(["c"], { server: 3, instance: 6 }),
  ];
  await server.notify(events, false);
  await server.notify([ev(["p"], { instance: 7 })], true);

  assert.deepEqual(await any1.events.next(), [events[1]]);
  assert.deepEqual(await bStar.events.next(), [events[3], events[4]]);
  assert.deepEqual(types(await srv2.events.next()), ["a/x/y", "b"]);
  assert.deepEqual(await all.events.next(), events);
  assert.deepEqual(await persisted.events.next(), [ev(["p"], { instance: 7 })]);
  await Promise.all(
    [any1, bStar, srv2, persisted, none, all].map((c) =>
      c.events.expectNone(100)
    ),
  );
  assert.equal(none.events.items.length, 0);
});

Deno.test("client notify with ack: the reference returns only after our eventsCb finished", async () => {
  await using server = await refServer();
  await using tap = startTap(addr(server));
  const entered = new Inbox<Event[]>();
  let release = Promise.withResolvers<void>();
  let finished = false;
  let queried: unknown = null;
  await using client = await connect(addr(tap), "ack", {
    subscriptions: [["*"]],
    eventsCb: async (c, events) => {
      finished = false;
      entered.push(events);
      await release.promise;
      if (events[0].type[0] === "q") {
        // a callback may itself query (replies resolve meanwhile)
        queried = await c.query({ kind: "latest", eventTypes: [["q"]] });
      }
      finished = true;
    },
  });
  // on failure, release our callback before the client is closed
  await using _unblock = defer(() => release.resolve());

  let finishedAtReturn: boolean | undefined;
  const notify = track(
    server.notify([ev(["a"])], false, true).then(() => {
      finishedAtReturn = finished;
    }),
  );
  assert.deepEqual(await entered.next(), [ev(["a"])]);
  await sleep(300);
  assert.equal(
    notify.settled(),
    false,
    `notify returned before our ack (client open: ${client.isOpen}, ` +
      `wire: ${tap.frames.map((f) => `${f.dir} ${f.type}`).join(", ")})`,
  );
  await server.expectNone("notify_returned", 0);
  release.resolve();
  await notify.promise;
  assert.equal(finishedAtReturn, true);
  await server.next("notify_returned");

  // on the wire: notify not last, our ack in its conversation, last
  const [notifyFrame] = tap.select({
    dir: "s2c",
    type: "HatEventer.MsgEventsNotify",
  });
  assert.equal(notifyFrame.last, false);
  const [ackFrame] = tap.select({
    dir: "c2s",
    type: "HatEventer.MsgEventsAck",
  });
  assert.deepEqual(
    [ackFrame.first, ackFrame.owner, ackFrame.last, ackFrame.size],
    [notifyFrame.id, false, true, 0],
  );

  // without ack: returns while our callback is still running, no ack sent
  release = Promise.withResolvers();
  await server.notify([ev(["b"])], false, false);
  assert.deepEqual(await entered.next(), [ev(["b"])]);
  assert.equal(finished, false);
  release.resolve();
  await sleep(50);
  assert.equal(finished, true);
  assert.equal(
    tap.select({ dir: "s2c", type: "HatEventer.MsgEventsNotify" })[1].last,
    true,
  );
  assert.equal(
    tap.select({ dir: "c2s", type: "HatEventer.MsgEventsAck" }).length,
    1,
  );

  // with ack, the callback queries the same server before finishing
  release = Promise.withResolvers();
  release.resolve();
  await server.setQuery({ events: [ev(["q"])], moreFollows: false });
  finishedAtReturn = undefined;
  await server.notify([ev(["q"])], false, true).then(() => {
    finishedAtReturn = finished;
  });
  assert.equal(finishedAtReturn, true);
  assert.deepEqual(queried, { events: [ev(["q"])], moreFollows: false });
  assert.deepEqual(
    queryParamsFromPeer((await server.next("query")).params),
    { kind: "latest", eventTypes: [["q"]] },
  );
});

Deno.test("client batches of 10,000 events both ways", async () => {
  await using server = await refServer({ serverId: 3 });
  const { client, events } = await ourClient(server, "batch", {
    subscriptions: [["batch", "*"]],
  });
  await using _client = client;
  const ts = { s: 1700000000, us: 1 };
  await server.setRegister({ timestamp: timestampToPeer(ts), session: 1 });

  const regs: RegisterEvent[] = Array.from({ length: 10000 }, (_, i) => ({
    type: ["batch", `${i}`],
    payload: { kind: "json", data: i },
  }));
  const result = await client.register(regs, true);
  assert.equal(result?.length, 10000);
  const reg = await server.next("register", 20000);
  assert.equal(reg.events.length, 10000);
  assert.deepEqual(reg.events.map(registerEventFromPeer), regs.map(normalized));
  assert.deepEqual(
    result,
    regs.map((r, i) => ({
      id: { server: 3, session: 1, instance: i + 1 },
      type: r.type,
      timestamp: ts,
      sourceTimestamp: null,
      payload: r.payload,
    })),
  );

  // notified as one batch, in order
  await server.notify(result!, false, true, 20000);
  assert.deepEqual(await events.next(), result);

  // and as a query result
  await server.setQuery({ events: result!, moreFollows: true });
  assert.deepEqual(await client.query({ kind: "server", serverId: 3 }), {
    events: result,
    moreFollows: true,
  });
});

Deno.test("client 1 MB binary payload both ways", async () => {
  await using server = await refServer();
  const { client, events } = await ourClient(server, "mb", {
    subscriptions: [["mb"]],
  });
  await using _client = client;
  const data = new Uint8Array(1024 * 1024);
  for (let i = 0; i < data.length; i += 65536) {
    crypto.getRandomValues(data.subarray(i, i + 65536));
  }
  const payload = { kind: "binary", type: "blob ž", data } as const;

  const [registered] = (await client.register(
    [{ type: ["mb"], payload }],
    true,
  ))!;
  const reg = await server.next("register");
  const got = reg.events[0].payload;
  assert.equal(got?.kind, "binary");
  if (got?.kind === "binary") {
    assert.equal(got.type, "blob ž");
    assert.equal(got.data.length, 2 * data.length);
    assert.ok(got.data === bytesToHex(data), "reference got other bytes");
  }
  assert.deepEqual(registered.payload, payload);

  await server.notify([registered], false, true);
  const [notified] = await events.next();
  assert.deepEqual(notified.payload, payload);
});

Deno.test("client non-ASCII: event types, payload type, JSON strings", async () => {
  await using server = await refServer();
  const { client, events } = await ourClient(server, "ne-ASCII ž", {
    subscriptions: [["događaj", "*"]],
  });
  await using _client = client;
  await server.setRegister({ timestamp: timestampToPeer({ s: 1, us: 0 }) });
  const regs: RegisterEvent[] = [
    {
      type: ["događaj", "日本語", "😀", "\u00e9\u0301", ""],
      payload: {
        kind: "binary",
        type: "vrsta ž 😀",
        data: new TextEncoder().encode("ž"),
      },
    },
    {
      type: ["događaj", "json"],
      payload: {
        kind: "json",
        data: {
          "ključ ž": "vrijednost ć 日本 😀",
          "😀": ['\u0000\u001f"\\/\n\t', "\u2028\u2029", "\uffff"],
        },
      },
    },
  ];
  const result = await client.register(regs, true);
  const reg = await server.next("register");
  assert.deepEqual(reg.events.map(registerEventFromPeer), regs.map(normalized));
  assert.deepEqual(result?.map((e) => [e.type, e.payload]), [
    [regs[0].type, regs[0].payload],
    [regs[1].type, regs[1].payload],
  ]);
  // back through the reference's notification
  await server.notify(result!, false);
  assert.deepEqual(await events.next(), result);
});

Deno.test("client JSON payloads of every JSON kind both ways", async () => {
  await using server = await refServer();
  const { client, events } = await ourClient(server, "json", {
    subscriptions: [["json", "*"]],
  });
  await using _client = client;
  const regs: RegisterEvent[] = JSON_VALUES.map(([name, data]) => ({
    type: ["json", name],
    payload: { kind: "json", data },
  }));
  const result = await client.register(regs, true);
  const reg = await server.next("register");
  for (const [i, [name, value]] of JSON_VALUES.entries()) {
    // what the reference parsed (reported with exact integers)
    const got = reg.events[i].payload;
    assert.equal(got?.kind, "json", name);
    assert.deepEqual(got?.data, value, name);
    // what came back in the reference's response (reference's JSON text)
    assert.deepEqual(result?.[i].payload, { kind: "json", data: value }, name);
  }
  assert.equal(typeof (result?.[8].payload?.data), "bigint");
  // and through a reference notification
  await server.notify(result!, false);
  const notified = await events.next();
  assert.deepEqual(
    notified.map((e) => e.payload?.data),
    JSON_VALUES.map(([, v]) => v),
  );
});

function pingCounts(tap: Tap, conn: number) {
  const pings = tap.select({ conn, type: "HatChatter.Ping" });
  const pongs = tap.select({ conn, type: "HatChatter.Pong" });
  return { pings, pongs };
}

Deno.test("client ping: the reference pings, our client (pingDelay 0) must pong", async () => {
  // the reference: ping after 0.1 s idle, close if nothing within 0.2 s
  await using server = await refServer({ pingDelay: 0.1, pingTimeout: 0.2 });
  await using tap = startTap(addr(server));
  await using deaf = startTap(addr(server), {
    drop: (f) => f.type === "HatChatter.Pong",
  });
  await using client = await connect(addr(tap), "pongs", { pingDelay: 0 });
  await using control = await connect(addr(deaf), "deaf", { pingDelay: 0 });

  await sleep(1200);
  // kept alive only by our pongs (1.2 s >> 0.1 + 0.2 s)
  assert.equal(client.isOpen, true);
  assert.deepEqual(
    (await server.getConnInfos()).map((i) => i.clientName),
    ["pongs"],
  );
  const { pings, pongs } = pingCounts(tap, 1);
  assert.ok(pings.length >= 5, `only ${pings.length} pings`);
  assert.ok(pings.every((p) => p.dir === "s2c" && p.owner && !p.last));
  assert.ok(pongs.length >= pings.length - 1);
  for (const pong of pongs) {
    const ping = pings.find((p) => p.id === pong.first);
    assert.ok(ping, "pong outside a ping conversation");
    assert.deepEqual([pong.dir, pong.owner, pong.last, pong.size], [
      "c2s",
      false,
      true,
      0,
    ]);
  }
  // our pingDelay 0: we never pinged
  assert.equal(tap.select({ dir: "c2s", type: "HatChatter.Ping" }).length, 0);
  // still usable
  assert.deepEqual(await client.query({ kind: "latest" }), {
    events: [],
    moreFollows: false,
  });

  // control: the same with our pongs dropped is closed by the reference
  assert.equal(control.isOpen, false);
  const disc = await server.next("disconnected");
  assert.equal(disc.info.clientName, "deaf");
  assert.ok(deaf.select({ type: "HatChatter.Pong" }).every((f) => f.dropped));
  await assert.rejects(control.query({ kind: "latest" }), ConnectionError);
});

Deno.test("client ping: our client pings (0.1 s), the reference (pingDelay 0) pongs", async () => {
  await using server = await refServer({ pingDelay: 0 });
  await using tap = startTap(addr(server));
  await using deaf = startTap(addr(server), {
    drop: (f) => f.type === "HatChatter.Pong",
  });
  const opts = { pingDelay: 100, pingTimeout: 200 };
  await using client = await connect(addr(tap), "pings", opts);
  const control = await connect(addr(deaf), "deaf", opts);
  await using _control = control;
  const started = performance.now();
  let closedAfter = -1;
  const controlClosed = track(
    control.waitClosing().then(() => {
      closedAfter = performance.now() - started;
    }),
  );

  await sleep(1200);
  assert.equal(client.isOpen, true);
  const { pings, pongs } = pingCounts(tap, 1);
  // one ping per max(pingDelay, pingTimeout) here: ours waits out the
  // timeout before the next idle check (the reference: pingDelay after the
  // pong), so expect about 6, not 12
  assert.ok(pings.length >= 3, `only ${pings.length} pings`);
  assert.ok(pings.every((p) => p.dir === "c2s" && p.owner && !p.last));
  assert.ok(pongs.length >= pings.length - 1);
  for (const pong of pongs) {
    assert.ok(pings.some((p) => p.id === pong.first));
    assert.deepEqual([pong.dir, pong.owner, pong.last], ["s2c", false, true]);
  }
  assert.equal(tap.select({ dir: "s2c", type: "HatChatter.Ping" }).length, 0);
  assert.equal(
    (await server.getConnInfos()).some((i) => i.clientName === "pings"),
    true,
  );

  // control: without pongs we give up after pingDelay + pingTimeout
  assert.equal(controlClosed.settled(), true);
  assert.equal(control.isOpen, false);
  assert.ok(
    closedAfter >= 250 && closedAfter < 1000,
    `closed after ${closedAfter} ms, expected about 300`,
  );
  const disc = await server.next("disconnected");
  assert.equal(disc.info.clientName, "deaf");
  await assert.rejects(
    control.register([{ type: ["x"] }], true),
    ConnectionError,
  );
});

Deno.test("client close: the reference server closes with requests pending", async () => {
  await using server = await refServer();
  const { client, events } = await ourClient(server, "pending");
  await using _client = client;
  await server.setCallbackGate("query", "hold");

  const query = track(client.query({ kind: "latest" }));
  const register = track(client.register([{ type: ["r"] }], true));
  const q = await server.next("query");
  assert.equal(q.info.clientName, "pending");
  await sleep(100);
  assert.equal(query.settled(), false);

  await server.closeEndpoint();
  await assert.rejects(query.promise, ConnectionError);
  await assert.rejects(register.promise, ConnectionError);
  await client.waitClosed();
  assert.equal(client.isOpen, false);
  await assert.rejects(client.query({ kind: "latest" }), ConnectionError);
  assert.equal(events.items.length, 0);
});

Deno.test("client close: we close with a request pending, the reference goes on", async () => {
  await using server = await refServer();
  await server.setCallbackGate("register", "hold");
  const client = await connect(addr(server), "leaver");
  const register = track(client.register([{ type: ["r"] }], true));
  const reg = await server.next("register");
  assert.equal(reg.info.clientName, "leaver");

  await client.asyncClose();
  await assert.rejects(register.promise, ConnectionError);

  // the reference notices only once its callback returned (it handles
  // requests inline), then calls disconnected and keeps serving others
  await server.gate("hold", true);
  await server.next("register_done");
  const disc = await server.next("disconnected");
  assert.deepEqual(disc.info, reg.info);
  await using next = await connect(addr(server), "next");
  const [registered] = (await next.register([{ type: ["n"] }], true))!;
  assert.deepEqual(registered.type, ["n"]);
  assert.deepEqual(
    (await server.getConnInfos()).map((i) => [i.id, i.clientName]),
    [[2, "next"]],
  );
});
