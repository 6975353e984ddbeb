// The Event Server in a monitor group, with a scripted Monitor Server
// (our Chatter layer playing it): standby until blessed, the engine while
// blessed, standby again when the blessing goes, closed with its monitor
// connection.

import assert from "node:assert/strict";
import * as chatter from "../common/chatter/mod.ts";
import { type BlessingRes, readMsgClient } from "../common/monitor/mod.ts";
import { connect } from "../client.ts";
import { listen } from "../server.ts";
import { EventServerError, startEventServer } from "../event_server/mod.ts";
import { parseServeArgs } from "../cli/serve.ts";
import { UsageError } from "../cli/_flags.ts";
import type { Event, Status } from "../common/event/mod.ts";
import { MsgType, writeInitRes } from "../common/eventer/mod.ts";
import { chatterServer, deadline, delay, LOCAL } from "./_net.ts";
import {
  componentInfo,
  eventServerData,
  sendState,
} from "./_scripted_monitor.ts";

async function until(cond: () => boolean, what: string, ms = 3000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(2);
  }
}

Deno.test("event server in a monitor group: standby until blessed, the engine only while blessed, closed with its monitor connection", async () => {
  let conn: chatter.Connection | null = null;
  await using monitor = await chatter.listen((c) => {
    conn = c;
  }, LOCAL);
  await using server = await startEventServer({
    db: ":memory:",
    port: 0,
    serverId: 7,
    serverToken: "t",
    monitor: { addr: monitor.addresses[0], group: "event" },
  });
  assert.equal(server.status, "standby");
  await until(() => conn !== null, "monitor connection");
  const received = async (): Promise<BlessingRes> => {
    const msg = await deadline(conn!.receive(), 2000, "MsgClient");
    const m = readMsgClient(msg.reader());
    assert.equal(m.name, "event-7");
    assert.equal(m.group, "event");
    assert.deepEqual(JSON.parse(m.data), {
      server_id: 7,
      eventer_server: { host: "127.0.0.1", port: server.addresses[0].port },
      server_token: "t",
    });
    return m.blessingRes;
  };
  const send = (req: number | null, res: number | null) =>
    sendState(conn!, [componentInfo(1, "event-7", null, req, res)]);
  assert.deepEqual(await received(), { token: null, ready: false });
  assert.deepEqual(await received(), { token: null, ready: true });

  const statuses: Status[] = [];
  const notified: Event[] = [];
  await using client = await connect(server.addresses[0], "c", {
    clientToken: "t",
    subscriptions: [["event", "7", "engine"]],
    statusCb: (_c, s) => void statuses.push(s),
    eventsCb: (_c, events) => void notified.push(...events),
  });
  assert.equal(client.status, "standby");
  const ev = [{ type: ["x"] }];
  assert.equal(await client.register(ev, true), null, "standby: failure");
  // Blessed, and the token shown back: the engine starts.
  await send(3, null);
  assert.deepEqual(await received(), { token: 3, ready: true });
  await send(3, 3);
  await until(() => server.status === "operational", "operational");
  assert.equal((await client.register(ev, true))?.[0].id.server, 7);
  // The blessing goes: the engine stops, then the token goes back.
  await send(null, 3);
  assert.deepEqual(await received(), { token: null, ready: true });
  assert.equal(server.status, "standby");
  assert.equal(await client.register(ev, true), null, "standby again");
  await until(() => notified.length === 2, "engine events");
  assert.deepEqual(notified.map((e) => e.payload), [
    { kind: "json", data: "STARTED" },
    { kind: "json", data: "STOPPED" },
  ]);
  assert.deepEqual(statuses, [
    "starting",
    "operational",
    "stopping",
    "standby",
  ]);
  // Queries are answered whatever the status.
  const latest = await client.query({ kind: "latest", eventTypes: [["x"]] });
  assert.equal(latest.events.length, 1);
  // Out of the monitor group, the server ends.
  await conn!.asyncClose();
  await deadline(server.waitClosed(), 3000, "server closed");
});

Deno.test("event server in a monitor group: an unreachable monitor fails the start", async () => {
  const l = Deno.listen(LOCAL);
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  await assert.rejects(
    startEventServer({
      db: ":memory:",
      port: 0,
      monitor: { addr: { hostname: "127.0.0.1", port }, group: "event" },
    }),
    (e: EventServerError) =>
      e instanceof EventServerError && e.code === "CONNECTION_REFUSED" &&
      e.message.startsWith("cannot join the Hat Monitor Server"),
  );
});

Deno.test("event server in a monitor group: --monitor HOST:PORT --group G [--name N]", async () => {
  const o = await parseServeArgs([
    "--monitor",
    "127.0.0.1:23010",
    "--group",
    "event",
    "--name",
    "ev",
  ]);
  assert.deepEqual(o?.monitor, {
    addr: { hostname: "127.0.0.1", port: 23010 },
    group: "event",
    name: "ev",
  });
  assert.equal((await parseServeArgs([]))?.monitor, undefined);
  for (
    const args of [
      ["--monitor", "127.0.0.1:23010"],
      ["--group", "event"],
      ["--monitor", "23010", "--group", "event"],
      ["--name", "ev"],
    ]
  ) {
    await assert.rejects(parseServeArgs(args), UsageError, args.join(" "));
  }
});

Deno.test("event server in a monitor group: blessed, the engine waits while a peer it syncs from is not standby, and syncs that peer's events", async () => {
  let conn: chatter.Connection | null = null;
  await using monitor = await chatter.listen((c) => {
    conn = c;
  }, LOCAL);
  // The peer: an Eventer server (server id 9) holding one event of its own,
  // operational.
  const peerEvent: Event = {
    id: { server: 9, session: 4, instance: 1 },
    type: ["p"],
    timestamp: { s: 10, us: 0 },
    sourceTimestamp: null,
    payload: null,
  };
  const inits: string[] = [];
  await using peer = await listen(LOCAL, {
    status: "operational",
    connectedCb: (info) => void inits.push(info.clientName),
    queryCb: (_info, params) =>
      params.kind === "server" && params.lastEventId?.session !== 4
        ? { events: [peerEvent], moreFollows: false }
        : { events: [], moreFollows: false },
  });
  await using server = await startEventServer({
    db: ":memory:",
    port: 0,
    serverId: 7,
    monitor: { addr: monitor.addresses[0], group: "event" },
  });
  await until(() => conn !== null, "monitor connection");
  const send = (req: number | null, res: number | null) =>
    sendState(conn!, [
      componentInfo(1, "event-7", null, req, res),
      componentInfo(2, "event-9", eventServerData(9, peer.addresses[0].port)),
    ]);
  await send(null, null);
  await until(() => inits.length === 1, "sync connection to the peer");
  assert.equal(inits[0], "event/event-7");
  await using client = await connect(server.addresses[0], "c");
  await until(() => server.getConnInfos().length === 1, "client");
  const held = async () =>
    (await client.query({ kind: "server", serverId: 9, persisted: true }))
      .events;
  for (let i = 0; (await held()).length === 0; i++) {
    if (i > 300) throw new Error("peer's event not synced");
    await delay(10);
  }
  assert.deepEqual((await held()).map((e) => e.id), [peerEvent.id]);
  // Blessed and shown back, but the peer is operational: still standby.
  await send(3, null);
  await send(3, 3);
  await delay(300);
  assert.equal(server.status, "standby");
  // The peer goes standby: the engine starts.
  await peer.setStatus("standby");
  await until(() => server.status === "operational", "operational");
});

Deno.test("event server in a monitor group: closed while a sync connection is connecting, it closes, and the sync does not go on", async () => {
  let conn: chatter.Connection | null = null;
  await using monitor = await chatter.listen((c) => {
    conn = c;
  }, LOCAL);
  await using server = await startEventServer({
    db: ":memory:",
    port: 0,
    serverId: 7,
    monitor: { addr: monitor.addresses[0], group: "event" },
  });
  // The peer: a Chatter server that answers the sync client's MsgInitReq
  // only when told, as a peer resuming from a freeze does. (Disposed
  // before the server, so that a failing test does not hang.)
  await using peer = await chatterServer();
  await until(() => conn !== null, "monitor connection");
  await sendState(conn!, [
    componentInfo(1, "event-7"),
    componentInfo(2, "event-9", eventServerData(9, peer.addr.port)),
  ]);
  const sync = await peer.next();
  const init = await deadline(sync.receive(), 2000, "MsgInitReq");
  // Out of the monitor group while connecting; then the peer answers.
  await conn!.asyncClose();
  await until(() => !server.isOpen, "server closing");
  try {
    sync.sendNow(
      MsgType.InitRes,
      (w) => writeInitRes(w, { type: "success", status: "standby" }),
      { conv: init.conv },
    );
  } catch {
    // closed already: the connect was aborted
  }
  await deadline(server.waitClosed(), 3000, "server closed");
  await deadline(sync.waitClosed(), 3000, "sync connection closed");
});

Deno.test("event server in a monitor group: after its event loop stood still (a freeze), registrations are refused a moment, while the monitor's news is read", async () => {
  let conn: chatter.Connection | null = null;
  await using monitor = await chatter.listen((c) => {
    conn = c;
  }, LOCAL);
  await using server = await startEventServer({
    db: ":memory:",
    port: 0,
    serverId: 7,
    monitor: { addr: monitor.addresses[0], group: "event" },
  });
  await until(() => conn !== null, "monitor connection");
  const send = (req: number | null, res: number | null) =>
    sendState(conn!, [componentInfo(1, "event-7", null, req, res)]);
  await send(3, null);
  await send(3, 3);
  await until(() => server.status === "operational", "operational");
  await using client = await connect(server.addresses[0], "c");
  const ev = [{ type: ["x"] }];
  assert.notEqual(await client.register(ev, true), null);
  // The request is sent, then the process stands still 2.5 s (as frozen)
  // before the server reads it.
  const frozen = client.register(ev, true);
  const end = performance.now() + 2500;
  while (performance.now() < end) {
    // the event loop stands still
  }
  assert.equal(await frozen, null, "registered right after the stall");
  await delay(600);
  assert.notEqual(await client.register(ev, true), null);
  assert.equal(server.status, "operational");
});
