/**
 * Interop: the REFERENCE client (hat-event 0.9.44 driven by peer.py)
 * against OUR server (server.ts). Every case asserts what the reference
 * client actually received (its reports and command results) and what our
 * callbacks got from it.
 */

import assert from "node:assert/strict";

import {
  type ConnectionInfo,
  type Event,
  listen,
  type ListenOptions,
  type QueryParams,
  type QueryResult,
  type RegisterEvent,
  type Server,
} from "../../mod.ts";
import { MAX_TIMESTAMP, MIN_TIMESTAMP } from "../../common/event/mod.ts";
import {
  type ClientArgs,
  clientArgs,
  defer,
  eventFromPeer,
  hexToBytes,
  Inbox,
  isReport,
  JSON_VALUES,
  type Peer,
  PeerCommandError,
  registerEventToPeer,
  sleep,
  startPeer,
  startTap,
  type Tap,
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

interface Ours {
  server: Server;
  connected: Inbox<ConnectionInfo>;
  disconnected: Inbox<ConnectionInfo>;
  port: number;
}

/** Our server on port 0, with inboxes for the connection callbacks. */
async function ourServer(options: ListenOptions = {}): Promise<Ours> {
  const connected = new Inbox<ConnectionInfo>();
  const disconnected = new Inbox<ConnectionInfo>();
  const server = await listen({ hostname: HOST, port: 0 }, {
    ...options,
    connectedCb: async (info) => {
      connected.push(info);
      await options.connectedCb?.(info);
    },
    disconnectedCb: async (info, reason) => {
      disconnected.push(info);
      await options.disconnectedCb?.(info, reason);
    },
  });
  return { server, connected, disconnected, port: server.addresses[0].port };
}

function refClient(
  target: Ours | Tap,
  args: Omit<ClientArgs, "port"> = {},
): Promise<Peer> {
  return startPeer("client", clientArgs({ port: target.port, ...args }));
}

/** A ConnectionInfo as plain data (subscription as sorted query types). */
function plain(info: ConnectionInfo) {
  return {
    id: info.id,
    clientName: info.clientName,
    clientToken: info.clientToken,
    subscriptions: info.subscription.getQueryTypes().map((t) => t.join("/"))
      .sort(),
    serverId: info.serverId,
    persisted: info.persisted,
  };
}

function normalized(e: RegisterEvent): RegisterEvent {
  return {
    type: e.type,
    sourceTimestamp: e.sourceTimestamp ?? null,
    payload: e.payload ?? null,
  };
}

/** Register callback assigning ids like a real server would. */
function assigning(
  calls: Inbox<RegisterEvent[]>,
  opts: { server?: number; timestamp?: Event["timestamp"] } = {},
) {
  let session = 0;
  return (_info: ConnectionInfo, events: RegisterEvent[]): Event[] => {
    calls.push(events);
    session++;
    return events.map((e, i) => ({
      id: { server: opts.server ?? 1, session, instance: i + 1 },
      type: e.type,
      timestamp: opts.timestamp ?? { s: 1700000000, us: 0 },
      sourceTimestamp: e.sourceTimestamp ?? null,
      payload: e.payload ?? null,
    }));
  };
}

Deno.test("server init success: name, token, subscriptions, serverId, persisted", async () => {
  const ours = await ourServer({ status: "operational" });
  await using server = ours.server;
  const name = "klijent ž 日本 😀";
  const token = "žeton ć 😀";
  await using c1 = await refClient(ours, {
    name,
    token,
    subscriptions: [["a", "?", "c"], ["b", "*"], ["b", "x"], ["č", "😀"]],
    serverId: 7,
    persisted: true,
  });
  assert.deepEqual(c1.startup, { type: "init", seq: 1, status: "operational" });
  const info1 = await ours.connected.next();
  assert.deepEqual(plain(info1), {
    id: 1,
    clientName: name,
    clientToken: token,
    subscriptions: ["a/?/c", "b/*", "č/😀"],
    serverId: 7,
    persisted: true,
  });
  assert.deepEqual(server.getConnInfos(), [info1]);

  // every option absent
  await using c2 = await refClient(ours, { name: "plain" });
  assert.equal(c2.startup?.type, "init");
  const info2 = await ours.connected.next();
  assert.deepEqual(plain(info2), {
    id: 2,
    clientName: "plain",
    clientToken: null,
    subscriptions: [],
    serverId: null,
    persisted: false,
  });

  // the init response carries the current status
  await server.setStatus("starting");
  await using c3 = await refClient(ours, { name: "third" });
  assert.deepEqual(c3.startup, { type: "init", seq: 1, status: "starting" });
  assert.deepEqual(
    server.getConnInfos().map((i) => [i.id, i.clientName]),
    [[1, name], [2, "plain"], [3, "third"]],
  );

  // the reference client closing: disconnectedCb with its info
  await c1.closeEndpoint();
  await c1.next("closed");
  assert.equal(await ours.disconnected.next(), info1);
  assert.deepEqual(server.getConnInfos().map((i) => i.id), [2, 3]);
});

Deno.test("server init error: the reference gets the connectedCb's text", async () => {
  const text = "odbijen ž 日本 😀: no access";
  const ours = await ourServer({
    connectedCb: async (info) => {
      await sleep(1);
      if (info.clientName === "bad ž") throw new Error(text);
    },
  });
  await using server = ours.server;
  await using bad = await refClient(ours, { name: "bad ž", token: "t" });
  assert.deepEqual(bad.startup, { type: "init_error", seq: 1, error: text });
  const refused = await ours.connected.next();
  assert.deepEqual(
    [refused.id, refused.clientName, refused.clientToken],
    [1, "bad ž", "t"],
  );
  assert.deepEqual(server.getConnInfos(), []);
  await assert.rejects(bad.getStatus(), PeerCommandError);

  // others are accepted; refused ones still used up an id
  await using good = await refClient(ours, { name: "good" });
  assert.deepEqual(good.startup, { type: "init", seq: 1, status: "standby" });
  assert.deepEqual(server.getConnInfos().map((i) => [i.id, i.clientName]), [[
    2,
    "good",
  ]]);
  // disconnectedCb is for established connections only
  await ours.disconnected.expectNone(100);
});

Deno.test("server status changes reach the reference client", async () => {
  const ours = await ourServer();
  await using server = ours.server;
  await using c = await refClient(ours);
  assert.deepEqual(c.startup, { type: "init", seq: 1, status: "standby" });

  await server.setStatus("starting");
  assert.equal((await c.next("status")).status, "starting");
  await server.setStatus("starting"); // unchanged: nothing sent
  await server.setStatus("operational");
  await server.setStatus("stopping");
  await server.setStatus("standby");
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await c.next("status")).status);
  assert.deepEqual(statuses, ["operational", "stopping", "standby"]);
  await c.expectNone("status", 100);
  assert.deepEqual(await c.getStatus(), { status: "standby", isOpen: true });
  assert.equal(server.status, "standby");
});

Deno.test("server register: with/without response, failure, no callback", async () => {
  const calls = new Inbox<RegisterEvent[]>();
  let mode: "events" | "null" | "undefined" = "events";
  const assign = assigning(new Inbox(), { server: 9 });
  const ours = await ourServer({
    registerCb: (info, events) => {
      assert.equal(info.clientName, "reg");
      calls.push(events);
      return mode === "events"
        ? assign(info, events)
        : mode === "null"
        ? null
        : undefined;
    },
  });
  await using _server = ours.server;
  await using tap = startTap(ours.server.addresses[0]);
  await using c = await refClient(tap, { name: "reg" });

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
  ];
  const result = await c.register(regs, true);
  assert.deepEqual(await calls.next(), regs.map(normalized));
  assert.deepEqual(
    result,
    regs.map((r, i) => ({
      id: { server: 9, session: 1, instance: i + 1 },
      type: r.type,
      timestamp: { s: 1700000000, us: 0 },
      sourceTimestamp: r.sourceTimestamp ?? null,
      payload: r.payload ?? null,
    })),
  );

  // without response: the reference returns None, we get the events and
  // send nothing back
  assert.equal(await c.register([{ type: ["q"] }], false), null);
  assert.deepEqual(await calls.next(), [normalized({ type: ["q"] })]);

  // failure, as null and as undefined
  mode = "null";
  assert.equal(await c.register([{ type: ["f"] }], true), null);
  mode = "undefined";
  assert.equal(await c.register([{ type: ["u"] }], true), null);
  assert.equal(calls.items.length, 4);

  const requests = tap.select({
    dir: "c2s",
    type: "HatEventer.MsgRegisterReq",
  });
  assert.deepEqual(requests.map((f) => f.last), [false, true, false, false]);
  const replies = tap.select({ dir: "s2c", type: "HatEventer.MsgRegisterRes" });
  assert.deepEqual(
    replies.map((f) => [f.first, f.owner, f.last]),
    [requests[0], requests[2], requests[3]].map((r) => [r.id, false, true]),
  );
  // failure is the empty second choice: 1 byte (choice index 1, None)
  assert.deepEqual(replies.slice(1).map((f) => f.size), [1, 1]);

  // no callbacks at all: failure and an empty query result
  const bare = await ourServer();
  await using _bare = bare.server;
  await using c2 = await refClient(bare);
  assert.equal(await c2.register([{ type: ["a"] }], true), null);
  assert.deepEqual(await c2.query({ kind: "latest" }), {
    events: [],
    moreFollows: false,
  });
});

Deno.test("server queries: all kinds, every optional field present and absent", async () => {
  const calls = new Inbox<QueryParams>();
  let reply: QueryResult = { events: [], moreFollows: false };
  const ours = await ourServer({
    queryCb: (info, params) => {
      assert.equal(info.clientName, "q");
      calls.push(params);
      return reply;
    },
  });
  await using _server = ours.server;
  await using c = await refClient(ours, { name: "q" });
  const bigResult: QueryResult = {
    events: [
      ev(["r", "1"], {}, { payload: { kind: "json", data: [1, "two", null] } }),
      ev(["r", "ž"], { server: 3, session: 2, instance: 2 }, {
        sourceTimestamp: { s: 0, us: 1 },
        payload: { kind: "binary", type: "t", data: new Uint8Array([9]) },
      }),
    ],
    moreFollows: true,
  };
  const ts = (s: number, us: number) => ({ s, us });
  const allNull = {
    eventTypes: null,
    tFrom: null,
    tTo: null,
    sourceTFrom: null,
    sourceTTo: null,
    maxResults: null,
    lastEventId: null,
  };

  // [what the reference client is asked, what our callback must get]
  const cases: [QueryParams, QueryParams][] = [
    [{ kind: "latest" }, { kind: "latest", eventTypes: null }],
    [{ kind: "latest", eventTypes: [] }, { kind: "latest", eventTypes: [] }],
    [
      { kind: "latest", eventTypes: [["a", "*"], ["?"], [], ["ž", "?", "c"]] },
      { kind: "latest", eventTypes: [["a", "*"], ["?"], [], ["ž", "?", "c"]] },
    ],
    // absent order/orderBy: the reference's defaults are what travels
    [
      { kind: "timeseries" },
      {
        kind: "timeseries",
        ...allNull,
        order: "descending",
        orderBy: "timestamp",
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
      { kind: "timeseries", order: "ascending", maxResults: 0 },
      {
        kind: "timeseries",
        ...allNull,
        order: "ascending",
        orderBy: "timestamp",
        maxResults: 0,
      },
    ],
    [
      { kind: "timeseries", orderBy: "sourceTimestamp", tFrom: ts(3, 4) },
      {
        kind: "timeseries",
        ...allNull,
        tFrom: ts(3, 4),
        order: "descending",
        orderBy: "sourceTimestamp",
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
    reply = i % 2 ? bigResult : { events: [], moreFollows: false };
    assert.deepEqual(await c.query(params), reply, `case ${i}`);
    assert.deepEqual(await calls.next(), expected, `case ${i}`);
  }
});

Deno.test("server timestamp sentinels: sourceTimestamp, timestamp, query bounds", async () => {
  const calls = new Inbox<RegisterEvent[]>();
  const params = new Inbox<QueryParams>();
  const ours = await ourServer({
    registerCb: assigning(calls, { timestamp: MAX_TIMESTAMP }),
    queryCb: (_info, p) => {
      params.push(p);
      return {
        events: [ev(["e"], {}, {
          timestamp: MIN_TIMESTAMP,
          sourceTimestamp: MAX_TIMESTAMP,
        })],
        moreFollows: false,
      };
    },
  });
  await using server = ours.server;
  await using c = await refClient(ours, { subscriptions: [["*"]] });

  // from the reference to us
  await c.request({
    cmd: "register",
    events: [
      { type: ["min"], sourceTimestamp: { s: MIN_S, us: 0 }, payload: null },
      {
        type: ["max"],
        sourceTimestamp: { s: MAX_S, us: 999999 },
        payload: null,
      },
    ],
    withResponse: true,
  });
  const got = await calls.next();
  assert.deepEqual(got.map((e) => e.sourceTimestamp), [
    MIN_TIMESTAMP,
    MAX_TIMESTAMP,
  ]);
  assert.equal(typeof got[0].sourceTimestamp?.s, "bigint");

  // from us to the reference, exact (raw report strings)
  const raw = await c.request<
    { timestamp: { s: string; us: number } }[]
  >({
    cmd: "register",
    events: [{ type: ["x"], sourceTimestamp: null, payload: null }],
    withResponse: true,
  });
  assert.deepEqual(raw[0].timestamp, { s: MAX_S, us: 999999 });

  await c.query({
    kind: "timeseries",
    tFrom: MIN_TIMESTAMP,
    tTo: MAX_TIMESTAMP,
    sourceTFrom: MIN_TIMESTAMP,
    sourceTTo: MAX_TIMESTAMP,
  });
  const p = await params.next();
  assert.equal(p.kind, "timeseries");
  if (p.kind === "timeseries") {
    assert.deepEqual(
      [p.tFrom, p.tTo, p.sourceTFrom, p.sourceTTo],
      [MIN_TIMESTAMP, MAX_TIMESTAMP, MIN_TIMESTAMP, MAX_TIMESTAMP],
    );
  }
  const result = await c.request<
    {
      events: {
        timestamp: { s: string; us: number };
        sourceTimestamp: { s: string; us: number };
      }[];
    }
  >({ cmd: "query", params: { kind: "latest" } });
  assert.deepEqual(result.events[0].timestamp, { s: MIN_S, us: 0 });
  assert.deepEqual(result.events[0].sourceTimestamp, { s: MAX_S, us: 999999 });

  await server.notifyEvents([
    ev(["n"], {}, { timestamp: MAX_TIMESTAMP, sourceTimestamp: MIN_TIMESTAMP }),
  ], false);
  const notified = (await c.next("events")).events[0];
  assert.deepEqual(notified.timestamp, { s: MAX_S, us: 999999 });
  assert.deepEqual(notified.sourceTimestamp, { s: MIN_S, us: 0 });
});

Deno.test("server notify: subscriptions with ? and *, serverId, persisted", async () => {
  const ours = await ourServer();
  await using server = ours.server;
  const clients = await Promise.all([
    refClient(ours, { name: "any1", subscriptions: [["a", "?"]] }),
    refClient(ours, { name: "bstar", subscriptions: [["b", "*"]] }),
    refClient(ours, { name: "srv2", subscriptions: [["*"]], serverId: 2 }),
    refClient(ours, {
      name: "persisted",
      subscriptions: [["p", "*"]],
      persisted: true,
    }),
    refClient(ours, { name: "none" }),
    refClient(ours, { name: "all", subscriptions: [["*"]] }),
    // same filter as "all": shares one encoding, must still get it
    refClient(ours, { name: "all2", subscriptions: [["*"]] }),
  ]);
  await using _c = {
    [Symbol.asyncDispose]: async () => {
      await Promise.all(clients.map((c) => c.close()));
    },
  };
  const [any1, bStar, srv2, persisted, none, all, all2] = clients;
  assert.equal(server.getConnInfos().length, 7);

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
  await server.notifyEvents(events, false);
  await server.notifyEvents([ev(["p"], { instance: 7 })], true);
  // nothing matches: nobody is notified, with ack returns at once
  await server.notifyEvents([ev(["zzz"], { server: 9 })], true, true);
  await server.notifyEvents([ev(["p"], { instance: 8 })], true, true);

  const got = async (c: Peer) =>
    (await c.next("events")).events.map(eventFromPeer);
  assert.deepEqual(await got(any1), [events[1]]);
  assert.deepEqual(await got(bStar), [events[3], events[4]]);
  assert.deepEqual(await got(srv2), [events[2], events[3]]);
  assert.deepEqual(await got(all), events);
  assert.deepEqual(await got(all2), events);
  assert.deepEqual(await got(persisted), [ev(["p"], { instance: 7 })]);
  assert.deepEqual(await got(persisted), [ev(["p"], { instance: 8 })]);
  await Promise.all(clients.map((c) => c.expectNone("events", 100)));
  assert.equal(none.reports.filter(isReport("events")).length, 0);
});

Deno.test("server notify with ack: resolves only after the reference client's callback", async () => {
  const ours = await ourServer();
  await using server = ours.server;
  await using tap = startTap(ours.server.addresses[0]);
  await using c = await refClient(tap, {
    subscriptions: [["*"]],
    eventsGate: "hold",
  });

  let opened = false;
  let openedAtResolve: boolean | undefined;
  const notify = track(
    server.notifyEvents([ev(["a"])], false, true).then(() => {
      openedAtResolve = opened;
    }),
  );
  const held = await c.next("events");
  assert.deepEqual(held.events.map(eventFromPeer), [ev(["a"])]);
  await sleep(300);
  assert.equal(notify.settled(), false, "resolved before the reference acked");
  await c.expectNone("events_done", 0);
  opened = true;
  await c.gate("hold", true);
  await notify.promise;
  assert.equal(openedAtResolve, true);
  await c.next("events_done");

  const [notifyFrame] = tap.select({
    dir: "s2c",
    type: "HatEventer.MsgEventsNotify",
  });
  assert.equal(notifyFrame.last, false);
  const [ack] = tap.select({ dir: "c2s", type: "HatEventer.MsgEventsAck" });
  assert.deepEqual(
    [ack.first, ack.owner, ack.last],
    [notifyFrame.id, false, true],
  );

  // without ack: resolves while the reference's callback is held
  await c.gate("hold", false);
  await server.notifyEvents([ev(["b"])], false, false);
  assert.deepEqual((await c.next("events")).events.map(eventFromPeer), [
    ev(["b"]),
  ]);
  await c.expectNone("events_done", 50);
  assert.equal(
    tap.select({ dir: "s2c", type: "HatEventer.MsgEventsNotify" })[1].last,
    true,
  );
  await c.gate("hold", true);
  await c.next("events_done");
  assert.equal(
    tap.select({ dir: "c2s", type: "HatEventer.MsgEventsAck" }).length,
    1,
  );
});

Deno.test("server notify with ack from inside the register callback (no deadlock)", async () => {
  const ref: { server?: Server } = {};
  const assign = assigning(new Inbox());
  const ours = await ourServer({
    registerCb: async (info, events) => {
      const result = assign(info, events);
      // the ack arrives while this callback is still running
      await ref.server!.notifyEvents(result, false, true);
      return result;
    },
  });
  ref.server = ours.server;
  await using _server = ours.server;
  await using c = await refClient(ours, { subscriptions: [["*"]] });
  const registered = await c.register([{ type: ["self"] }], true);
  assert.equal(registered?.length, 1);
  const notified = await c.next("events");
  assert.deepEqual(notified.events.map(eventFromPeer), registered);
});

Deno.test("server batches of 10,000 events both ways", async () => {
  const calls = new Inbox<RegisterEvent[]>();
  let queryResult: QueryResult = { events: [], moreFollows: false };
  const ours = await ourServer({
    registerCb: assigning(calls, { server: 3 }),
    queryCb: () => queryResult,
  });
  await using server = ours.server;
  await using c = await refClient(ours, { subscriptions: [["batch", "*"]] });

  const regs: RegisterEvent[] = Array.from({ length: 10000 }, (_, i) => ({
    type: ["batch", `${i}`],
    payload: { kind: "json", data: i },
  }));
  const result = await c.register(regs, true);
  assert.deepEqual(await calls.next(), regs.map(normalized));
  assert.equal(result?.length, 10000);
  assert.deepEqual(result?.[9999].id, {
    server: 3,
    session: 1,
    instance: 10000,
  });
  assert.deepEqual(result?.map((e) => e.payload), regs.map((r) => r.payload));

  await server.notifyEvents(result!, false, true);
  const notified = await c.next("events", 20000);
  assert.deepEqual(notified.events.map(eventFromPeer), result);

  queryResult = { events: result!, moreFollows: true };
  assert.deepEqual(await c.query({ kind: "server", serverId: 3 }), queryResult);
});

Deno.test("server 1 MB binary payload both ways", async () => {
  const calls = new Inbox<RegisterEvent[]>();
  const ours = await ourServer({ registerCb: assigning(calls) });
  await using server = ours.server;
  await using c = await refClient(ours, { subscriptions: [["mb"]] });
  const data = new Uint8Array(1024 * 1024);
  for (let i = 0; i < data.length; i += 65536) {
    crypto.getRandomValues(data.subarray(i, i + 65536));
  }
  const payload = { kind: "binary", type: "blob ž", data } as const;

  const result = await c.register([{ type: ["mb"], payload }], true);
  const [got] = await calls.next();
  assert.deepEqual(got.payload, payload);
  assert.deepEqual(result?.[0].payload, payload);

  await server.notifyEvents(result!, false, true);
  const notified = (await c.next("events")).events[0].payload;
  assert.equal(notified?.kind, "binary");
  if (notified?.kind === "binary") {
    assert.equal(notified.type, "blob ž");
    assert.deepEqual(hexToBytes(notified.data), data);
  }
});

Deno.test("server non-ASCII: event types, payload type, JSON strings", async () => {
  const calls = new Inbox<RegisterEvent[]>();
  const ours = await ourServer({ registerCb: assigning(calls) });
  await using server = ours.server;
  await using c = await refClient(ours, {
    name: "ne-ASCII ž 😀",
    token: "žeton 日本",
    subscriptions: [["događaj", "*"]],
  });
  assert.deepEqual(
    [server.getConnInfos()[0].clientName, server.getConnInfos()[0].clientToken],
    ["ne-ASCII ž 😀", "žeton 日本"],
  );
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
  const result = await c.register(regs, true);
  assert.deepEqual(await calls.next(), regs.map(normalized));
  assert.deepEqual(result?.map((e) => [e.type, e.payload]), [
    [regs[0].type, regs[0].payload],
    [regs[1].type, regs[1].payload],
  ]);
  await server.notifyEvents(result!, false);
  assert.deepEqual(
    (await c.next("events")).events.map(eventFromPeer),
    result,
  );
});

Deno.test("server JSON payloads of every JSON kind both ways", async () => {
  const calls = new Inbox<RegisterEvent[]>();
  const ours = await ourServer({ registerCb: assigning(calls) });
  await using server = ours.server;
  await using c = await refClient(ours, { subscriptions: [["json", "*"]] });
  const regs: RegisterEvent[] = JSON_VALUES.map(([name, data]) => ({
    type: ["json", name],
    payload: { kind: "json", data },
  }));
  // the reference client writes the JSON text (json.dumps)
  await c.request({
    cmd: "register",
    events: regs.map(registerEventToPeer),
    withResponse: false,
  });
  const got = await calls.next();
  for (const [i, [name, value]] of JSON_VALUES.entries()) {
    assert.deepEqual(got[i].payload, { kind: "json", data: value }, name);
  }
  assert.equal(typeof got[8].payload?.data, "bigint");
  assert.equal(typeof got[9].payload?.data, "bigint");

  // we write it: the reference parses the same values (exact integers)
  const result = await c.register(regs, true);
  for (const [i, [name, value]] of JSON_VALUES.entries()) {
    assert.deepEqual(result?.[i].payload?.data, value, name);
  }
  await server.notifyEvents(result!, false);
  const notified = await c.next("events");
  assert.deepEqual(
    notified.events.map((e) => e.payload?.data),
    JSON_VALUES.map(([, v]) => v),
  );
});

Deno.test("server ping: we ping (0.1 s), the reference client (pingDelay 0) pongs", async () => {
  const ours = await ourServer({ pingDelay: 100, pingTimeout: 200 });
  await using server = ours.server;
  await using tap = startTap(ours.server.addresses[0]);
  await using deaf = startTap(ours.server.addresses[0], {
    drop: (f) => f.type === "HatChatter.Pong",
  });
  await using c = await refClient(tap, { name: "pongs", pingDelay: 0 });
  await using control = await refClient(deaf, { name: "deaf", pingDelay: 0 });

  await sleep(1200);
  assert.deepEqual(await c.getStatus(), { status: "standby", isOpen: true });
  await c.expectNone("closed", 0);
  assert.deepEqual(server.getConnInfos().map((i) => i.clientName), ["pongs"]);
  const pings = tap.select({ type: "HatChatter.Ping" });
  const pongs = tap.select({ type: "HatChatter.Pong" });
  // ours: one ping per max(pingDelay, pingTimeout), about 6 in 1.2 s
  assert.ok(pings.length >= 3, `only ${pings.length} pings`);
  assert.ok(pings.every((p) => p.dir === "s2c" && p.owner && !p.last));
  assert.ok(pongs.length >= pings.length - 1);
  for (const pong of pongs) {
    assert.ok(pings.some((p) => p.id === pong.first));
    assert.deepEqual([pong.dir, pong.owner, pong.last], ["c2s", false, true]);
  }

  // control: with its pongs dropped we closed it
  await control.next("closed");
  const disc = await ours.disconnected.next();
  assert.equal(disc.clientName, "deaf");
  assert.ok(deaf.select({ type: "HatChatter.Pong" }).every((f) => f.dropped));
  assert.equal(
    deaf.select({ type: "HatChatter.Pong" }).length > 0,
    true,
  );
});

Deno.test("server ping: the reference client pings (0.1 s), we (pingDelay 0) pong", async () => {
  const ours = await ourServer({ pingDelay: 0 });
  await using server = ours.server;
  await using tap = startTap(ours.server.addresses[0]);
  await using deaf = startTap(ours.server.addresses[0], {
    drop: (f) => f.type === "HatChatter.Pong",
  });
  const opts = { pingDelay: 0.1, pingTimeout: 0.2 };
  await using c = await refClient(tap, { name: "pings", ...opts });
  await using control = await refClient(deaf, { name: "deaf", ...opts });

  await sleep(1200);
  // the reference would have closed after 0.3 s without our pongs
  assert.deepEqual(await c.getStatus(), { status: "standby", isOpen: true });
  await c.expectNone("closed", 0);
  const pings = tap.select({ type: "HatChatter.Ping" });
  const pongs = tap.select({ type: "HatChatter.Pong" });
  assert.ok(pings.length >= 5, `only ${pings.length} pings`);
  assert.ok(pings.every((p) => p.dir === "c2s" && p.owner && !p.last));
  assert.ok(pongs.length >= pings.length - 1);
  for (const pong of pongs) {
    assert.ok(pings.some((p) => p.id === pong.first));
    assert.deepEqual(
      [pong.dir, pong.owner, pong.last, pong.size],
      ["s2c", false, true, 0],
    );
  }
  assert.deepEqual(server.getConnInfos().map((i) => i.clientName), ["pings"]);

  // control: the reference closes when our pongs are dropped
  await control.next("closed");
  assert.equal((await ours.disconnected.next()).clientName, "deaf");
  assert.deepEqual(await control.getStatus(), {
    status: "standby",
    isOpen: false,
  });
});

Deno.test("server: the reference client vanishes mid-register; we keep serving", async () => {
  const entered = new Inbox<ConnectionInfo>();
  const release = Promise.withResolvers<void>();
  const assign = assigning(new Inbox());
  const ours = await ourServer({
    registerCb: async (info, events) => {
      entered.push(info);
      if (info.clientName === "vanish") await release.promise;
      return assign(info, events);
    },
  });
  await using server = ours.server;
  await using _unblock = defer(() => release.resolve());
  const vanish = await refClient(ours, {
    name: "vanish",
    subscriptions: [["*"]],
    eventsGate: "hold",
  });
  await using _vanish = vanish;
  const registering = track(vanish.register([{ type: ["r"] }], true));
  const info = await entered.next();
  assert.equal(info.clientName, "vanish");
  // a notification waiting for its ack, held by the reference's callback
  const notify = track(server.notifyEvents([ev(["n"])], false, true));
  await vanish.next("events");

  await vanish.kill();
  await assert.rejects(registering.promise);
  assert.equal(await ours.disconnected.next(), info);
  assert.deepEqual(server.getConnInfos(), []);
  // the pending ack resolves once its connection is gone
  await notify.promise;

  // the held callback returns into a closed connection: no harm done
  release.resolve();
  await sleep(50);
  assert.equal(server.isOpen, true);

  await using next = await refClient(ours, { name: "next" });
  const result = await next.register([{ type: ["n"] }], true);
  assert.deepEqual(result?.map((e) => e.type), [["n"]]);
  assert.deepEqual(await next.query({ kind: "latest" }), {
    events: [],
    moreFollows: false,
  });
  assert.deepEqual(server.getConnInfos().map((i) => [i.id, i.clientName]), [[
    2,
    "next",
  ]]);
});

Deno.test("server: we close with a reference query pending", async () => {
  const entered = new Inbox<QueryParams>();
  const release = Promise.withResolvers<void>();
  const ours = await ourServer({
    queryCb: async (_info, params) => {
      entered.push(params);
      await release.promise;
      return { events: [], moreFollows: false };
    },
  });
  await using server = ours.server;
  await using _unblock = defer(() => release.resolve());
  await using c = await refClient(ours, { name: "pending" });
  const query = track(c.query({ kind: "latest" }));
  await entered.next();

  server.close();
  await c.next("closed");
  await assert.rejects(
    query.promise,
    (e: unknown) =>
      e instanceof PeerCommandError && e.errorType === "ConnectionError",
  );
  assert.deepEqual(await c.getStatus(), { status: "standby", isOpen: false });
  release.resolve();
  await server.asyncClose();
  assert.equal((await ours.disconnected.next()).clientName, "pending");
});
