// Eventer client behaviour (SPEC §4, client) over loopback sockets: against
// our server, and against a fake server built on our Chatter layer that
// sends what our server never would.

import assert from "node:assert/strict";
import { connect, EventerInitError } from "../client.ts";
import type { Connection, Msg } from "../common/chatter/mod.ts";
import { ConnectionError, ProtocolError } from "../common/chatter/mod.ts";
import {
  MsgType,
  readInitReq,
  readQueryParams,
  readRegisterReq,
  writeEvents,
  writeInitRes,
  writeQueryResult,
  writeRegisterRes,
  writeStatus,
} from "../common/eventer/mod.ts";
import type { Event, QueryParams, Status } from "../common/event/mod.ts";
import { listen } from "../server.ts";
import {
  acceptInit,
  captureLog,
  chatterServer,
  deadline,
  decode,
  delay,
  ev,
  gate,
  LOCAL,
  releasing,
  stillPending,
  until,
} from "./_net.ts";

const E1 = ev(["a", "1"], 1, 1, {
  sourceTimestamp: { s: -5, us: 999999 },
  payload: { kind: "json", data: { x: [1, "two", null] } },
});
const E2 = ev(["a", "2"], 2, 1, {
  payload: { kind: "binary", type: "raw", data: new Uint8Array([0, 255]) },
});
const E3 = ev(["b"], 3, 2);

function notify(
  conn: Connection,
  events: readonly Event[],
  last: boolean,
) {
  return conn.sendNow(MsgType.EventsNotify, (w) => writeEvents(w, events), {
    last,
  });
}

function notifyStatus(conn: Connection, status: Status) {
  return conn.sendNow(MsgType.StatusNotify, (w) => writeStatus(w, status));
}

Deno.test("client: init success gives the status; MsgInitReq carries the options", async () => {
  await using fake = await chatterServer();
  const connecting = connect(fake.addr, "c1", {
    clientToken: "tok",
    subscriptions: [["a", "*"], ["a", "x"], ["b", "?"]],
    serverId: 7,
    persisted: true,
  });
  const conn = await fake.next();
  const req = await deadline(conn.receive(), 2000);
  assert.equal(req.type, MsgType.InitReq);
  assert.deepEqual(req.conv, { owner: false, firstId: 1 });
  assert.equal(req.first, true);
  assert.equal(req.last, false);
  const init = decode(req, readInitReq);
  assert.equal(init.clientName, "c1");
  assert.equal(init.clientToken, "tok");
  assert.deepEqual(
    new Set(init.subscriptions.map((t) => t.join("/"))),
    new Set(["a/*", "b/?"]),
  );
  assert.equal(init.serverId, 7);
  assert.equal(init.persisted, true);
  conn.sendNow(
    MsgType.InitRes,
    (w) => writeInitRes(w, { type: "success", status: "operational" }),
    { conv: req.conv },
  );
  await using client = await deadline(connecting, 2000);
  assert.equal(client.status, "operational");
  assert.equal(client.isOpen, true);
});

Deno.test("client: init defaults, and the status of our server", async () => {
  await using server = await listen(LOCAL, { status: "starting" });
  await using fake = await chatterServer();
  const connecting = connect(fake.addr, "c2");
  const conn = await fake.next();
  const req = await conn.receive();
  assert.deepEqual(decode(req, readInitReq), {
    clientName: "c2",
    clientToken: null,
    subscriptions: [],
    serverId: null,
    persisted: false,
  });
  await conn.asyncClose();
  await assert.rejects(connecting, ConnectionError);

  await using client = await connect(server.addresses[0], "c2");
  assert.equal(client.status, "starting");
});

Deno.test("client: init error raises EventerInitError with the server's text and closes", async () => {
  await using fake = await chatterServer();
  const connecting = connect(fake.addr, "refused");
  const conn = await fake.next();
  const req = await conn.receive();
  conn.sendNow(
    MsgType.InitRes,
    (w) => writeInitRes(w, { type: "error", error: "go away: ž" }),
    { conv: req.conv },
  );
  await assert.rejects(
    connecting,
    (e) =>
      e instanceof EventerInitError && e.message === "go away: ž" &&
      e.name === "EventerInitError",
  );
  // The client closed its side.
  await assert.rejects(deadline(conn.receive(), 2000), ConnectionError);
});

Deno.test("client: an init reply of another type or conversation is a protocol error", async () => {
  using _log = captureLog();
  await using fake = await chatterServer();
  const replies: [string, (conn: Connection, req: Msg) => void][] = [
    [
      "another type",
      (conn, req) =>
        conn.sendNow(MsgType.StatusNotify, (w) => writeStatus(w, "standby"), {
          conv: req.conv,
        }),
    ],
    ["another conversation", (conn) =>
      conn.sendNow(
        MsgType.InitRes,
        (w) => writeInitRes(w, { type: "success", status: "standby" }),
      )],
    [
      "a bad choice index",
      (conn, req) =>
        conn.sendNow(MsgType.InitRes, new Uint8Array([0x85]), {
          conv: req.conv,
        }),
    ],
    [
      "trailing bytes",
      (conn, req) =>
        conn.sendNow(MsgType.InitRes, new Uint8Array([0x80, 0x80, 0x80]), {
          conv: req.conv,
        }),
    ],
  ];
  for (const [what, reply] of replies) {
    const connecting = connect(fake.addr, "c");
    const conn = await fake.next();
    const req = await conn.receive();
    reply(conn, req);
    await assert.rejects(connecting, ProtocolError, what);
    await assert.rejects(deadline(conn.receive(), 2000), ConnectionError, what);
  }
});

Deno.test("client: a server closing before the init reply gives ConnectionError", async () => {
  await using fake = await chatterServer();
  const connecting = connect(fake.addr, "c");
  const conn = await fake.next();
  await conn.receive();
  conn.close();
  await assert.rejects(connecting, ConnectionError);
});

Deno.test("client: MsgStatusNotify updates status, then calls statusCb", async () => {
  await using fake = await chatterServer();
  const seen: [Status, Status, boolean][] = [];
  let client: Awaited<ReturnType<typeof connect>> | null = null;
  const connecting = connect(fake.addr, "c", {
    statusCb: (c, status) => {
      seen.push([status, c.status, c === client]);
    },
  });
  const conn = await fake.next();
  await acceptInit(conn, "standby");
  client = await connecting;
  await using _client = client;
  notifyStatus(conn, "operational");
  notifyStatus(conn, "stopping");
  await until(() => seen.length === 2, 2000, "status callbacks");
  assert.deepEqual(seen, [
    ["operational", "operational", true],
    ["stopping", "stopping", true],
  ]);
  assert.equal(client.status, "stopping");
});

Deno.test("client: status notified by our server reaches statusCb", async () => {
  await using server = await listen(LOCAL);
  const seen: Status[] = [];
  await using client = await connect(server.addresses[0], "c", {
    statusCb: (_c, s) => void seen.push(s),
  });
  assert.equal(client.status, "standby");
  await server.setStatus("operational");
  await until(() => seen.length === 1);
  assert.deepEqual(seen, ["operational"]);
  assert.equal(client.status, "operational");
});

Deno.test("client: MsgEventsAck answers a non-last notification only after eventsCb finished", async () => {
  await using fake = await chatterServer();
  const release = gate();
  const got: Event[][] = [];
  let finished = 0;
  const connecting = connect(fake.addr, "c", {
    eventsCb: async (_c, events) => {
      got.push(events);
      if (events[0].id.instance === 3) await release.promise;
      finished++;
    },
  });
  const conn = await fake.next();
  await acceptInit(conn);
  await using _client = await connecting;
  using _release = releasing(release);

  notify(conn, [E1, E2], true); // last: never acked
  const conv = notify(conn, [E3], false);
  await until(() => got.length === 2, 2000, "events callback");
  assert.deepEqual(got, [[E1, E2], [E3]]);
  const ack = conn.receive();
  assert.ok(await stillPending(ack, 150), "acked before the callback ended");
  assert.equal(finished, 1);
  release.resolve();
  const msg = await deadline(ack, 2000);
  assert.equal(finished, 2);
  assert.equal(msg.type, MsgType.EventsAck);
  assert.deepEqual(msg.conv, conv);
  assert.equal(msg.last, true);
  assert.equal(msg.data.length, 0);
});

Deno.test("client: replies resolve while an events callback is still running", async () => {
  await using fake = await chatterServer();
  const results: unknown[] = [];
  const connecting = connect(fake.addr, "c", {
    eventsCb: async (c) => {
      results.push(await c.query({ kind: "latest" }));
      results.push(await c.register([{ type: ["r"] }], true));
    },
  });
  const conn = await fake.next();
  await acceptInit(conn);
  await using _client = await connecting;
  const conv = notify(conn, [E1], false);

  const q = await deadline(conn.receive(), 2000, "query from callback");
  assert.equal(q.type, MsgType.QueryReq);
  conn.sendNow(
    MsgType.QueryRes,
    (w) => writeQueryResult(w, { events: [E2], moreFollows: true }),
    { conv: q.conv },
  );
  const r = await deadline(conn.receive(), 2000, "register from callback");
  assert.equal(r.type, MsgType.RegisterReq);
  assert.equal(r.last, false);
  conn.sendNow(MsgType.RegisterRes, (w) => writeRegisterRes(w, [E3]), {
    conv: r.conv,
  });
  const ack = await deadline(conn.receive(), 2000, "ack");
  assert.equal(ack.type, MsgType.EventsAck);
  assert.deepEqual(ack.conv, conv);
  assert.deepEqual(results, [{ events: [E2], moreFollows: true }, [E3]]);
});

Deno.test("client: a callback querying our server during notifyEvents with ack does not deadlock", async () => {
  await using server = await listen(LOCAL, {
    queryCb: () => ({ events: [E2], moreFollows: false }),
  });
  const results: unknown[] = [];
  await using _client = await connect(server.addresses[0], "c", {
    subscriptions: [["*"]],
    eventsCb: async (c) => void results.push(await c.query({ kind: "latest" })),
  });
  await deadline(server.notifyEvents([E1], false, true), 2000, "ack");
  assert.deepEqual(results, [{ events: [E2], moreFollows: false }]);
});

Deno.test("client: notifications reach the callbacks one at a time, in arrival order", async () => {
  await using fake = await chatterServer();
  const order: string[] = [];
  let active = 0;
  let maxActive = 0;
  const track = async (what: string) => {
    active++;
    maxActive = Math.max(maxActive, active);
    order.push(what);
    await delay(15);
    active--;
  };
  const connecting = connect(fake.addr, "c", {
    statusCb: (_c, s) => track(`status:${s}`),
    eventsCb: (_c, evs) => track(`events:${evs[0].id.instance}`),
  });
  const conn = await fake.next();
  await acceptInit(conn);
  await using _client = await connecting;
  notifyStatus(conn, "starting");
  notify(conn, [E1], true);
  const conv = notify(conn, [E2], false);
  notifyStatus(conn, "operational");
  notify(conn, [E3], true);
  const ack = await deadline(conn.receive(), 2000);
  assert.deepEqual(ack.conv, conv);
  await until(() => order.length === 5 && active === 0, 2000, "callbacks");
  assert.deepEqual(order, [
    "status:starting",
    "events:1",
    "events:2",
    "status:operational",
    "events:3",
  ]);
  assert.equal(maxActive, 1);
});

Deno.test("client: register without response resolves once queued, with no reply", async () => {
  await using fake = await chatterServer();
  const connecting = connect(fake.addr, "c");
  const conn = await fake.next();
  await acceptInit(conn);
  await using client = await connecting;
  const events = [
    { type: ["a"], sourceTimestamp: { s: 1, us: 2 }, payload: null },
    { type: ["b", "c"], sourceTimestamp: null, payload: E1.payload },
  ];
  assert.equal(await deadline(client.register(events), 500), null);
  assert.equal(await deadline(client.register(events, false), 500), null);
  for (let i = 0; i < 2; i++) {
    const msg = await deadline(conn.receive(), 2000);
    assert.equal(msg.type, MsgType.RegisterReq);
    assert.equal(msg.last, true);
    assert.deepEqual(decode(msg, readRegisterReq), events);
  }
});

Deno.test("client: register with response resolves to the events, or null on failure; replies match by conversation", async () => {
  await using fake = await chatterServer();
  const connecting = connect(fake.addr, "c");
  const conn = await fake.next();
  await acceptInit(conn);
  await using client = await connecting;
  const ok = client.register([{ type: ["a"] }], true);
  const failed = client.register([{ type: ["b"] }], true);
  const m1 = await conn.receive();
  const m2 = await conn.receive();
  assert.equal(m1.last, false);
  assert.equal(m2.last, false);
  // Answer the second first.
  conn.sendNow(MsgType.RegisterRes, (w) => writeRegisterRes(w, null), {
    conv: m2.conv,
  });
  conn.sendNow(MsgType.RegisterRes, (w) => writeRegisterRes(w, [E1, E2]), {
    conv: m1.conv,
  });
  assert.equal(await deadline(failed, 2000), null);
  assert.deepEqual(await deadline(ok, 2000), [E1, E2]);
});

Deno.test("client: query resolves to the QueryResult; parameters reach the server with their defaults", async () => {
  const seen: QueryParams[] = [];
  await using server = await listen(LOCAL, {
    queryCb: (_info, params) => {
      seen.push(params);
      return { events: [E1, E3], moreFollows: true };
    },
  });
  await using client = await connect(server.addresses[0], "c");
  const res = await client.query({ kind: "timeseries", eventTypes: [["a"]] });
  assert.deepEqual(res, { events: [E1, E3], moreFollows: true });
  await client.query({ kind: "server", serverId: 3 });
  assert.deepEqual(seen, [
    {
      kind: "timeseries",
      eventTypes: [["a"]],
      tFrom: null,
      tTo: null,
      sourceTFrom: null,
      sourceTTo: null,
      order: "descending",
      orderBy: "timestamp",
      maxResults: null,
      lastEventId: null,
    },
    {
      kind: "server",
      serverId: 3,
      persisted: false,
      maxResults: null,
      lastEventId: null,
    },
  ]);
});

Deno.test("client: query on the wire is MsgQueryReq, new conversation, not last", async () => {
  await using fake = await chatterServer();
  const connecting = connect(fake.addr, "c");
  const conn = await fake.next();
  await acceptInit(conn);
  await using client = await connecting;
  const result = client.query({ kind: "latest", eventTypes: [["x", "?"]] });
  const msg = await conn.receive();
  assert.equal(msg.type, MsgType.QueryReq);
  assert.equal(msg.first, true);
  assert.equal(msg.last, false);
  assert.deepEqual(decode(msg, readQueryParams), {
    kind: "latest",
    eventTypes: [["x", "?"]],
  });
  conn.sendNow(
    MsgType.QueryRes,
    (w) => writeQueryResult(w, { events: [], moreFollows: false }),
    { conv: msg.conv },
  );
  assert.deepEqual(await deadline(result, 2000), {
    events: [],
    moreFollows: false,
  });
});

Deno.test("client: connection close rejects every pending request and closes the client", async () => {
  await using fake = await chatterServer();
  const connecting = connect(fake.addr, "c");
  const conn = await fake.next();
  await acceptInit(conn);
  const client = await connecting;
  const pending: Promise<unknown>[] = [
    client.query({ kind: "latest" }),
    client.register([{ type: ["a"] }], true),
    client.query({ kind: "server", serverId: 1 }),
  ];
  for (let i = 0; i < 3; i++) await conn.receive();
  assert.ok(await stillPending(Promise.any(pending), 20));
  await conn.asyncClose();
  for (const p of pending) {
    await assert.rejects(deadline(p, 2000), ConnectionError);
  }
  await deadline(client.waitClosed(), 2000);
  assert.equal(client.isOpen, false);
  await assert.rejects(client.query({ kind: "latest" }), ConnectionError);
  await assert.rejects(client.register([{ type: ["a"] }]), ConnectionError);
});

Deno.test("client: closing the client rejects its pending requests", async () => {
  await using fake = await chatterServer();
  const connecting = connect(fake.addr, "c");
  const conn = await fake.next();
  await acceptInit(conn);
  const client = await connecting;
  const rejected = assert.rejects(
    client.query({ kind: "latest" }),
    ConnectionError,
  );
  await conn.receive();
  await client.asyncClose();
  await rejected;
  await assert.rejects(deadline(conn.receive(), 2000), ConnectionError);
});

Deno.test("client: an aborted request stops waiting; the connection stays usable", async () => {
  await using fake = await chatterServer();
  const connecting = connect(fake.addr, "c");
  const conn = await fake.next();
  await acceptInit(conn);
  await using client = await connecting;
  const controller = new AbortController();
  const aborted = client.query({ kind: "latest" }, {
    signal: controller.signal,
  });
  const first = await conn.receive();
  controller.abort(new Error("not interested"));
  await assert.rejects(aborted, /not interested/);
  const second = client.query({ kind: "latest" });
  const m2 = await conn.receive();
  // The late reply to the aborted request is ignored.
  for (const m of [first, m2]) {
    conn.sendNow(
      MsgType.QueryRes,
      (w) =>
        writeQueryResult(w, {
          events: m === m2 ? [E3] : [E1],
          moreFollows: false,
        }),
      { conv: m.conv },
    );
  }
  assert.deepEqual(await deadline(second, 2000), {
    events: [E3],
    moreFollows: false,
  });
  assert.equal(client.isOpen, true);
});

Deno.test("client: our client against our server, end to end", async () => {
  let next = 0;
  await using server = await listen(LOCAL, {
    status: "operational",
    registerCb: (_info, events) =>
      events.map((e) => ({
        id: { server: 1, session: 1, instance: ++next },
        type: e.type,
        timestamp: { s: 1700000000, us: 0 },
        sourceTimestamp: e.sourceTimestamp ?? null,
        payload: e.payload ?? null,
      })),
  });
  const notified: Event[][] = [];
  await using client = await connect(server.addresses[0], "e2e", {
    subscriptions: [["x", "*"]],
    eventsCb: (_c, events) => void notified.push(events),
  });
  const registered = await client.register([{ type: ["x", "y"] }], true);
  assert.deepEqual(registered?.map((e) => e.id.instance), [1]);
  await server.notifyEvents(registered!, false, true);
  assert.deepEqual(notified, [registered]);
  const [info] = server.getConnInfos();
  assert.equal(info.clientName, "e2e");
});

Deno.test("client and server: binary payloads kept from earlier messages stay intact as traffic goes on", async () => {
  // Decoded binary payloads are views into receive buffers (README): the
  // buffers must never be refilled while such a view exists.
  const payload = (i: number, n: number) =>
    new Uint8Array(n).map((_, j) => (i * 31 + j) & 0xff);
  const kept: Uint8Array[] = [];
  let next = 0;
  await using server = await listen(LOCAL, {
    status: "operational",
    registerCb: (_info, events) => {
      for (const e of events) {
        if (e.payload?.kind === "binary") kept.push(e.payload.data);
      }
      return events.map((e) => ({
        id: { server: 1, session: 1, instance: ++next },
        type: e.type,
        timestamp: { s: 1700000000, us: 0 },
        sourceTimestamp: null,
        payload: e.payload ?? null,
      }));
    },
  });
  const notified: Uint8Array[] = [];
  await using client = await connect(server.addresses[0], "views", {
    subscriptions: [["bin", "*"]],
    eventsCb: (_c, events) => {
      for (const e of events) {
        if (e.payload?.kind === "binary") notified.push(e.payload.data);
      }
    },
  });
  const registered: Uint8Array[] = [];
  // Small and large frames (the large ones grow and replace buffers).
  for (let i = 0; i < 60; i++) {
    const size = i % 3 === 0 ? 70_000 : 300;
    const events = await client.register([{
      type: ["bin", String(i)],
      payload: { kind: "binary", type: "t", data: payload(i, size) },
    }], true);
    registered.push((events![0].payload as { data: Uint8Array }).data);
    await server.notifyEvents(events!, false, true);
  }
  for (
    const [name, list] of [
      ["server callback", kept],
      ["register results", registered],
      ["notifications", notified],
    ] as const
  ) {
    assert.equal(list.length, 60, name);
    list.forEach((data, i) => {
      assert.deepEqual(data, payload(i, i % 3 === 0 ? 70_000 : 300), name);
    });
  }
});
